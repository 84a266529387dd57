import { expect, test } from "vitest";
import { createMetrics } from "../metrics.ts";
import { createOpsApp } from "./health-routes.ts";

const opsApp = (check: () => Promise<boolean>) => {
  const errors: unknown[] = [];
  const app = createOpsApp({
    readiness: [{ name: "postgres", check, problem: "the database is unreachable or not migrated" }],
    healthDetail: async () => ({ projection: null, quarantine: { rows: 0, snapshots: 0, documents: 0, latestAt: null } }),
    metrics: createMetrics(),
    onError: (error) => errors.push(error),
  });
  return { app, errors };
};

test("a worker-only process serves health, readiness, the detail and metrics, and nothing else", async () => {
  const { app } = opsApp(async () => true);
  expect(await (await app.request("/health")).json()).toEqual({ status: "ok" });
  const ready = await app.request("/health/ready");
  expect([ready.status, await ready.json()]).toEqual([200, { status: "ready" }]);
  expect(await (await app.request("/health/detail")).json()).toMatchObject({ status: "ok", projection: null, quarantine: { rows: 0 } });
  const metrics = await app.request("/metrics");
  expect(metrics.headers.get("content-type")).toMatch(/^text\/plain/);
  const text = await metrics.text();
  for (const name of ["mtchat_log_appends_total", "mtchat_refusals_total", "mtchat_projection_lag_seconds", "process_cpu_seconds_total"]) {
    expect(text).toContain(`# TYPE ${name}`);
  }
  const other = await app.request("/api/v1/dialogs");
  expect([other.status, await other.json()]).toEqual([404, { error: { code: "not_found", message: expect.stringContaining("/health") } }]);
});

test("readiness answers 503 in the error envelope when a check fails, throws or hangs", { timeout: 10_000 }, async () => {
  const envelope = {
    status: "not_ready",
    error: { code: "unavailable", message: "postgres: the database is unreachable or not migrated" },
  };
  for (const check of [async () => false, async () => Promise.reject(new Error("ECONNREFUSED")), () => new Promise<boolean>(() => {})]) {
    const response = await opsApp(check).app.request("/health/ready");
    expect([response.status, await response.json()]).toEqual([503, envelope]);
  }
});
