import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { backoffMs, judge, maxRetryAfterMs, nextDelayMs, parseRetryAfter } from "./retry-policy.ts";

const policy = { maxAttempts: 5, baseMs: 1000, maxMs: 60_000 };

describe("which answers are retried", () => {
  test("2xx is delivered; 4xx fails for good except 408 and 429; 5xx and network errors are retried", () => {
    const verdict = (status: number) => judge({ status, retryAfter: null }).kind;
    expect([200, 201, 204].map(verdict)).toEqual(["delivered", "delivered", "delivered"]);
    expect([400, 401, 403, 404, 410, 422, 301, 302].map(verdict)).toEqual(Array(8).fill("fail"));
    expect([408, 429, 500, 502, 503, 504].map(verdict)).toEqual(Array(6).fill("retry"));
    expect(judge({ error: "fetch failed: ECONNREFUSED" }).kind).toBe("retry");
    // A destination the outbound guard refuses would be refused again: no retry.
    expect(judge({ error: "refused to connect to 127.0.0.1, a loopback address", final: true }).kind).toBe("fail");
  });

  test("Retry-After is read as seconds or an HTTP date, bounded, and ignored when unreadable", () => {
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(parseRetryAfter("7", now)).toBe(7000);
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:00:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("Wed, 31 Dec 2025 00:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("999999", now)).toBe(maxRetryAfterMs);
    expect(parseRetryAfter("soon", now)).toBeNull();
    expect(parseRetryAfter(null, now)).toBeNull();
    expect(judge({ status: 429, retryAfter: "3" })).toEqual({ kind: "retry", retryAfterMs: 3000 });
  });
});

describe("backoff", () => {
  test("each delay lies in the upper half of a ceiling that doubles per attempt up to the maximum", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 60 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (attempt, r) => {
        const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1));
        const delay = backoffMs(attempt, policy, () => r);
        expect(delay).toBeGreaterThanOrEqual(Math.floor(ceiling / 2));
        expect(delay).toBeLessThanOrEqual(ceiling);
      }),
    );
  });

  test("the jitter is real: retries of the same attempt spread over the window", () => {
    const delays = Array.from({ length: 200 }, () => backoffMs(4, policy));
    expect(new Set(delays).size).toBeGreaterThan(100);
    expect(Math.min(...delays)).toBeLessThan(5000);
    expect(Math.max(...delays)).toBeGreaterThan(7000);
  });

  test("no delay once the attempts are used up or the failure is final; Retry-After is waited for at least", () => {
    expect(nextDelayMs(5, { kind: "retry", retryAfterMs: null }, policy)).toBeNull();
    expect(nextDelayMs(1, { kind: "fail" }, policy)).toBeNull();
    fc.assert(
      fc.property(fc.integer({ min: 0, max: maxRetryAfterMs }), (retryAfterMs) => {
        const delay = nextDelayMs(1, { kind: "retry", retryAfterMs }, policy) as number;
        expect(delay).toBeGreaterThanOrEqual(retryAfterMs);
        expect(delay).toBeLessThanOrEqual(Math.round(retryAfterMs * 1.1));
      }),
    );
  });
});
