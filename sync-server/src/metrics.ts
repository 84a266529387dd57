import type pg from "pg";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/**
 * The process's Prometheus metrics, in one registry served at `/metrics`.
 * Counters and the histogram are passed down to the parts that count (the
 * log, the WebSocket edge, the projector, the dispatcher); gauges that can be
 * read at any time are read on scrape (`watchOnScrape`). Every name is listed
 * in the README's "Operating it" section.
 */
export type Metrics = {
  readonly registry: Registry;
  /** Rows this process appended to the document log (client and server writes). */
  readonly appends: Counter;
  /** WebSocket requests refused, by error kind and by the hook that refused. */
  readonly refusals: Counter<"kind" | "hook">;
  /** From a log row's append to the commit of its projection, in seconds. */
  readonly projectionLag: Histogram;
  /** Webhook delivery attempts, by outcome: delivered, retry (scheduled again) or dead (dead-lettered). */
  readonly deliveries: Counter<"outcome">;
};

/** Counting stops here, so a scrape costs the same however large a backlog grows. */
const depthCap = 100_000;
/** A scrape answers within this even when the database does not. */
const depthTimeoutMs = 1500;

export const createMetrics = (): Metrics => {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    appends: new Counter({ name: "mtchat_log_appends_total", help: "Rows appended to the document log.", registers: [registry] }),
    refusals: new Counter({
      name: "mtchat_refusals_total",
      help: "WebSocket authentications and updates refused, by error kind and hook.",
      labelNames: ["kind", "hook"] as const,
      registers: [registry],
    }),
    projectionLag: new Histogram({
      name: "mtchat_projection_lag_seconds",
      help: "Seconds from a log row's append to the commit of its projection.",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    deliveries: new Counter({
      name: "mtchat_webhook_deliveries_total",
      help: "Webhook delivery attempts, by outcome (delivered, retry, dead).",
      labelNames: ["outcome"] as const,
      registers: [registry],
    }),
  };
};

/** What a process can read on scrape; each present source becomes a gauge. */
export type ScrapeSources = {
  /** Open WebSocket connections (document connections, as Hocuspocus counts them). */
  connections?: () => number;
  /** Documents loaded in memory. */
  documents?: () => number;
  /** Documents whose projection keeps failing here. */
  failingProjections?: () => number;
  /** The webhook backlog: outbox rows not yet fanned out, and deliveries not yet delivered or dead. */
  outboxDepth?: () => Promise<OutboxDepth>;
};

export type OutboxDepth = { outbox: number; deliveries: number };

export const watchOnScrape = (metrics: Metrics, sources: ScrapeSources): void => {
  const registers = [metrics.registry];
  const { connections, documents, failingProjections, outboxDepth } = sources;
  if (connections) {
    new Gauge({
      name: "mtchat_websocket_connections",
      help: "Open WebSocket connections to documents.",
      registers,
      collect() {
        this.set(connections());
      },
    });
  }
  if (documents) {
    new Gauge({
      name: "mtchat_documents_loaded",
      help: "Documents loaded in memory.",
      registers,
      collect() {
        this.set(documents());
      },
    });
  }
  if (failingProjections) {
    new Gauge({
      name: "mtchat_projection_failing_documents",
      help: "Documents whose projection keeps failing in this process.",
      registers,
      collect() {
        this.set(failingProjections());
      },
    });
  }
  if (outboxDepth) {
    new Gauge({
      name: "mtchat_webhook_outbox_depth",
      help: `Webhook backlog: outbox rows not fanned out (stage=outbox), deliveries pending (stage=deliveries); counted up to ${depthCap}.`,
      labelNames: ["stage"] as const,
      registers,
      async collect() {
        try {
          const depth = await outboxDepth();
          this.set({ stage: "outbox" }, depth.outbox);
          this.set({ stage: "deliveries" }, depth.deliveries);
        } catch {
          // Unknown while the database is away: no sample rather than a stale one.
          this.reset();
        }
      },
    });
  }
};

/**
 * The webhook backlog, counted over the partial indexes of migration 0006 and
 * kept for a second, so frequent scrapes by several scrapers cost one query.
 */
export const outboxDepthReader = (pool: pg.Pool, cacheMs = 1000): (() => Promise<OutboxDepth>) => {
  let cached: { at: number; value: Promise<OutboxDepth> } | null = null;
  return () => {
    const now = Date.now();
    if (cached && now - cached.at < cacheMs) return cached.value;
    const counted = pool
      .query<{ outbox: number; deliveries: number }>(
        `SELECT (SELECT count(*)::int FROM (SELECT 1 FROM webhook_outbox WHERE fanned_out_at IS NULL LIMIT $1) o) AS outbox,
                (SELECT count(*)::int FROM (SELECT 1 FROM webhook_deliveries WHERE state = 'pending' LIMIT $1) d) AS deliveries`,
        [depthCap],
      )
      .then(({ rows }) => ({ outbox: rows[0]?.outbox ?? 0, deliveries: rows[0]?.deliveries ?? 0 }));
    let timer: NodeJS.Timeout | undefined;
    const value = Promise.race([
      counted,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("the database did not answer in time")), depthTimeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
    counted.catch(() => undefined);
    cached = { at: now, value };
    // A failed count is not kept: the next scrape asks again.
    value.catch(() => {
      if (cached?.value === value) cached = null;
    });
    return value;
  };
};
