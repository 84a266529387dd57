/** What one attempt came to. `final`: asking again would get the same answer (the outbound guard refused the destination). */
export type AttemptResult = { status: number; retryAfter: string | null } | { error: string; final?: boolean };

export type Verdict = { kind: "delivered" } | { kind: "retry"; retryAfterMs: number | null } | { kind: "fail" };

/** Retry-After is honoured up to this long; a receiver asking for more is retried after this. */
export const maxRetryAfterMs = 3_600_000;

/** Retry-After as delta-seconds or an HTTP date; null when absent or unreadable. */
export const parseRetryAfter = (value: string | null, now = Date.now()): number | null => {
  if (!value) return null;
  const trimmed = value.trim();
  const ms = /^\d+$/.test(trimmed) ? Number(trimmed) * 1000 : Date.parse(trimmed) - now;
  if (!Number.isFinite(ms)) return null;
  return Math.min(Math.max(ms, 0), maxRetryAfterMs);
};

/**
 * 2xx is delivered. A receiver's 4xx means the request itself is unwelcome and
 * would be refused again, so it is not retried, except 408 (timeout) and 429
 * (slow down). 5xx and network errors are transient: retried. Redirects are
 * not followed (a moved endpoint is a configuration to fix) and fail, as does
 * a destination the outbound guard refuses (internal, or resolving there).
 */
export const judge = (result: AttemptResult): Verdict => {
  if ("error" in result) return result.final ? { kind: "fail" } : { kind: "retry", retryAfterMs: null };
  const { status } = result;
  if (status >= 200 && status < 300) return { kind: "delivered" };
  if (status === 408 || status === 429 || status >= 500) return { kind: "retry", retryAfterMs: parseRetryAfter(result.retryAfter) };
  return { kind: "fail" };
};

export type RetryPolicy = { maxAttempts: number; baseMs: number; maxMs: number };

/**
 * Exponential backoff with "equal jitter": the ceiling doubles per attempt
 * (base, 2·base, 4·base … up to max) and the delay is drawn uniformly from its
 * upper half, so retries of many endpoints failing together spread out, yet
 * never come sooner than half the ceiling.
 */
export const backoffMs = (attempt: number, policy: RetryPolicy, random: () => number = Math.random): number => {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 40));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
};

/** The delay before the next attempt after `attempts` failed ones, or null when none is left. */
export const nextDelayMs = (attempts: number, verdict: Verdict, policy: RetryPolicy, random: () => number = Math.random): number | null => {
  if (verdict.kind !== "retry" || attempts >= policy.maxAttempts) return null;
  // A receiver that says when to come back is believed, even past the backoff; up to
  // 10% more spreads out the endpoints it told the same thing.
  if (verdict.retryAfterMs !== null) return Math.round(verdict.retryAfterMs * (1 + random() / 10));
  return backoffMs(attempts, policy, random);
};
