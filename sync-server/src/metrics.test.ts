import type pg from "pg";
import { expect, test } from "vitest";
import { createMetrics, outboxDepthReader, watchOnScrape } from "./metrics.ts";

test("gauges are read on scrape; an outbox count that fails leaves no stale sample", async () => {
  const metrics = createMetrics();
  let connections = 3;
  let depth: () => Promise<{ outbox: number; deliveries: number }> = async () => ({ outbox: 2, deliveries: 7 });
  watchOnScrape(metrics, {
    connections: () => connections,
    documents: () => 5,
    failingProjections: () => 1,
    outboxDepth: () => depth(),
  });
  metrics.appends.inc();
  metrics.deliveries.inc({ outcome: "delivered" });
  metrics.projectionLag.observe(0.02);
  let text = await metrics.registry.metrics();
  expect(text).toContain("mtchat_websocket_connections 3");
  expect(text).toContain("mtchat_documents_loaded 5");
  expect(text).toContain("mtchat_projection_failing_documents 1");
  expect(text).toContain('mtchat_webhook_outbox_depth{stage="outbox"} 2');
  expect(text).toContain('mtchat_webhook_outbox_depth{stage="deliveries"} 7');
  expect(text).toContain("mtchat_log_appends_total 1");
  expect(text).toContain('mtchat_webhook_deliveries_total{outcome="delivered"} 1');
  expect(text).toContain('mtchat_projection_lag_seconds_bucket{le="0.025"} 1');
  expect(text).toContain("nodejs_heap_size_used_bytes");

  connections = 4;
  depth = async () => Promise.reject(new Error("connect ECONNREFUSED"));
  text = await metrics.registry.metrics();
  expect(text).toContain("mtchat_websocket_connections 4");
  expect(text).not.toContain("mtchat_webhook_outbox_depth{");
});

test("the outbox count is one query per second however often it is scraped, and a failure is not kept", async () => {
  let queries = 0;
  let fail = false;
  const pool = {
    query: async () => {
      queries += 1;
      if (fail) throw new Error("connect ECONNREFUSED");
      return { rows: [{ outbox: 1, deliveries: 2 }] };
    },
  } as unknown as pg.Pool;
  const read = outboxDepthReader(pool, 60_000);
  expect(await Promise.all([read(), read(), read()])).toEqual(Array(3).fill({ outbox: 1, deliveries: 2 }));
  expect(queries).toBe(1);
  const fresh = outboxDepthReader(pool, 60_000);
  fail = true;
  await expect(fresh()).rejects.toThrow("ECONNREFUSED");
  fail = false;
  expect(await fresh()).toEqual({ outbox: 1, deliveries: 2 });
  expect(queries).toBe(3);
});
