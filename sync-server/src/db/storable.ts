/**
 * What PostgreSQL can store. `text` and `jsonb` cannot hold NUL (U+0000), and
 * `jsonb` refuses an unpaired UTF-16 surrogate (JSON.stringify writes it as a
 * `\ud800` escape). A request carrying either fails deep inside a query, a 500,
 * or worse, is written into a dialog's document whose projection then fails on
 * every retry. So input is checked at the edge, before anything is written.
 */

/** Why PostgreSQL could not store `value`; null when it can. */
export const textProblem = (value: string): string | null => {
  if (value.includes("\u0000")) return "contains a NUL character (U+0000); remove it";
  if (/\p{Cs}/u.test(value)) return "contains an unpaired UTF-16 surrogate, which is not text";
  return null;
};

const isoInstant = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3})(\d{3})?Z$/;

/**
 * An instant as `Date#toISOString` writes it (or with microseconds, as
 * PostgreSQL keeps them), in years 1 to 9999: PostgreSQL's timestamptz reads
 * all of them (year 0 and offsets past ±15:59 it refuses). Only a real
 * calendar date round-trips: V8 reads 2024-02-30 as 1 March, PostgreSQL
 * refuses it.
 */
export const isStorableInstant = (value: string): boolean => {
  const millis = isoInstant.exec(value)?.[1];
  if (!millis || millis.startsWith("0000")) return false;
  const time = Date.parse(`${millis}Z`);
  return !Number.isNaN(time) && new Date(time).toISOString() === `${millis}Z`;
};

/** Deepest nesting of objects and arrays accepted in a request (host `meta` included): far more than any real one needs. */
export const maxInputDepth = 32;

export type InputProblem = { path: string[]; problem: string };

/**
 * The first string or key, in document order, of a parsed request value that
 * PostgreSQL could not store, or the first object nested deeper than
 * {@link maxInputDepth}; null when all of it can be stored. Iterative, so no
 * nesting exhausts the stack.
 */
export const inputProblem = (input: unknown): InputProblem | null => {
  const stack: { value: unknown; path: string[] }[] = [{ value: input, path: [] }];
  for (let next = stack.pop(); next; next = stack.pop()) {
    const { value, path } = next;
    if (typeof value === "string") {
      const problem = textProblem(value);
      if (problem) return { path, problem };
      continue;
    }
    if (typeof value !== "object" || value === null) continue;
    if (path.length >= maxInputDepth) return { path, problem: `is nested deeper than ${maxInputDepth} levels` };
    const entries = Object.entries(value);
    for (const [key] of entries) {
      const problem = textProblem(key);
      if (problem) return { path: [...path, key], problem: `is a key that ${problem}` };
    }
    for (let index = entries.length - 1; index >= 0; index -= 1) {
      const [key, child] = entries[index] as [string, unknown];
      stack.push({ value: child, path: [...path, key] });
    }
  }
  return null;
};
