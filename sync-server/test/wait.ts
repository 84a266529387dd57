/**
 * Resolves when `check` passes, re-checking whenever `subscribe` reports an
 * event (a document update, a status change): tests wait for events, not time.
 * The timeout only bounds a test that would otherwise hang.
 */
export const until = <T>(
  check: () => T | undefined | false,
  subscribe: (notify: () => void) => () => void,
  { timeoutMs = 10_000, what = "condition" }: { timeoutMs?: number; what?: string } = {},
): Promise<T> =>
  new Promise((resolve, reject) => {
    let unsubscribe = () => {};
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`timed out waiting for ${what}`));
    }, timeoutMs);
    const test = () => {
      let value: T | undefined | false;
      try {
        value = check();
      } catch (error) {
        clearTimeout(timer);
        unsubscribe();
        reject(error);
        return;
      }
      if (value !== undefined && value !== false) {
        clearTimeout(timer);
        unsubscribe();
        resolve(value);
      }
    };
    unsubscribe = subscribe(test);
    test();
  });

/**
 * For state outside this process (another process's database writes): retries
 * `check` with a short backoff until it passes or the deadline.
 */
export const eventually = async <T>(
  check: () => Promise<T | undefined | false>,
  { timeoutMs = 15_000, what = "condition" } = {},
): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  let delay = 10;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 250);
  }
};
