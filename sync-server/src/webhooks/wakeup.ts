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

/** Longest pause between attempts while the database is away. */
export const maxBackoffMs = 5000;

export type Slots<T> = {
  /** Items worked on at once. */
  concurrency: number;
  /** How often to look for work when nothing woke the loop. */
  pollMs: number;
  /** How long to wait before each take, so wake-ups close together make one take (default none). */
  gatherMs?: number;
  stopped: () => boolean;
  /** Takes up to `free` items (claims them, fetches jobs). */
  take: (free: number) => Promise<T[]>;
  /** Works on one item; never rejects. */
  run: (item: T) => Promise<void>;
  /** A `take` that failed; the loop waits (backing off) and takes again. */
  onTakeError: (error: unknown) => void;
};

/**
 * A consumer loop: keeps up to `concurrency` items in flight, taking more as
 * slots free (a freed slot wakes it), and sleeps on `wakeup` once a take
 * finds less than it asked for, until woken or `pollMs` passes. Resolves once stopped and
 * every item in flight is done.
 */
export const runInSlots = async <T>(wakeup: Wakeup, slots: Slots<T>): Promise<void> => {
  const active = new Set<Promise<void>>();
  let failures = 0;
  while (!slots.stopped()) {
    if (active.size >= slots.concurrency) {
      await Promise.race(active);
      continue;
    }
    // What comes due meanwhile, and slots freeing meanwhile, are taken in this one take.
    if (slots.gatherMs) await new Promise((resolve) => setTimeout(resolve, slots.gatherMs));
    // Cleared before taking, so a wake-up that comes meanwhile is not lost.
    wakeup.clear();
    let items: T[];
    const free = slots.concurrency - active.size;
    try {
      items = await slots.take(free);
      failures = 0;
    } catch (error) {
      slots.onTakeError(error);
      failures += 1;
      if (!slots.stopped()) await wakeup.sleep(Math.min(250 * 2 ** failures, maxBackoffMs));
      continue;
    }
    for (const item of items) {
      // `run` handles its own failures; one that still rejects must not end the process.
      const running: Promise<void> = slots
        .run(item)
        .catch(() => undefined)
        .finally(() => {
          active.delete(running);
          wakeup.wake();
        });
      active.add(running);
    }
    // Fewer than asked: nothing else is due now, so taking again at once would come back empty. A wake-up
    // (new work, a slot freeing) since the take ends this sleep at once.
    if (items.length < free && !slots.stopped()) await wakeup.sleep(slots.pollMs);
  }
  await Promise.allSettled(active);
};
