import { formatCloseReason, parseCloseReason } from "@mtchat/protocol";
import { describe, expect, test } from "vitest";
import { backoffDelay, isRefusal } from "./reattach.ts";

describe("isRefusal", () => {
  test("44xx reasons are refusals, except rate_limited", () => {
    for (const kind of ["unauthorized", "forbidden", "not_found", "conflict", "payload_too_large", "invalid_update"] as const) {
      expect(isRefusal(parseCloseReason(formatCloseReason(kind, "no"))), kind).toBe(true);
    }
    expect(isRefusal(parseCloseReason(formatCloseReason("rate_limited", "slow down")))).toBe(false);
  });

  test("everything else passes and is retried: 4503, 4500, Hocuspocus's resets, socket reasons", () => {
    expect(isRefusal(parseCloseReason(formatCloseReason("unavailable", "reconnect")))).toBe(false);
    expect(isRefusal(parseCloseReason(formatCloseReason("internal", "oops")))).toBe(false);
    for (const reason of ["Reset Connection", "Server closed the connection", "server shutting down", "rate_limited: over 64 MiB", ""]) {
      expect(isRefusal(parseCloseReason(reason)), reason).toBe(false);
    }
  });
});

describe("backoffDelay", () => {
  const backoff = { minDelayMs: 100, maxDelayMs: 1000, factor: 2 };

  test("grows by the factor up to the cap, within the upper half of each step", () => {
    expect([0, 1, 2, 3, 4, 10].map((attempt) => backoffDelay(backoff, attempt, () => 1))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect([0, 1, 2, 3, 4, 10].map((attempt) => backoffDelay(backoff, attempt, () => 0))).toEqual([50, 100, 200, 400, 500, 500]);
  });
});
