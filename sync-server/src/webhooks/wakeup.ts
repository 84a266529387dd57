/**
 * A consumer loop's wake-up: `wake()` (something was queued for it) ends the
 * current `sleep`, or the next one at once if it comes while the loop is busy,
 * so a wake-up is never lost between looking for work and going to sleep.
 */
export class Wakeup {
  private woken = false;
  private resolve: (() => void) | null = null;
  private readonly timers = new Set<NodeJS.Timeout>();

  /** Called before looking for work: a wake-up from then on ends the next sleep. */
  clear(): void {
    this.woken = false;
  }

  /** Until woken, or `ms` passes; returns at once if woken since `clear()`. */
  sleep(ms: number): Promise<void> {
    if (this.woken) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.resolve = null;
        resolve();
      }
      this.resolve = done;
    });
  }

  wake(): void {
    this.woken = true;
    this.resolve?.();
  }

  /** Wakes at `at` (ms since the epoch); past a minute the caller's polling finds the work anyway. */
  wakeAt(at: number, slackMs = 5): void {
    const wait = at - Date.now();
    if (wait <= 0) {
      this.wake();
      return;
    }
    if (wait > 60_000) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.wake();
    }, wait + slackMs);
    timer.unref();
    this.timers.add(timer);
  }

  /** Drops pending timers and ends any sleep (the loop is stopping). */
  close(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.wake();
  }
}
