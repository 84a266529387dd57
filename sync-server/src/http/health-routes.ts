import type { FailingDocument, LagSummary, QuarantineStats } from "@mtchat/projections";
import { type Env, Hono, type Schema } from "hono";
import type { Metrics } from "../metrics.ts";
import { errorBody, sendError } from "./errors.ts";

/** A dependency the process needs to do its work; readiness asks each. */
export type ReadinessCheck = {
  /** Named in the 503 message, e.g. "postgres". */
  name: string;
  /** True when the dependency answers (and, for PostgreSQL, is migrated). */
  check: () => Promise<boolean>;
  /** Said when `check` is false, throws or takes longer than the timeout. */
  problem: string;
};

export type HealthDeps = {
  readiness: ReadinessCheck[];
  /** What `GET /health/detail` reports: this process's failing projections (null without the projections role) and quarantined updates. */
  healthDetail?: () => Promise<HealthDetail>;
  /** Served as `GET /metrics` in Prometheus's text format; absent: no such route. */
  metrics?: Metrics;
};

export type HealthDetail = {
  projection: { failing: FailingDocument[]; lag: LagSummary } | null;
  /** Null when the database could not be asked. */
  quarantine: QuarantineStats | null;
};

/** A probe answers within this even when a dependency hangs (a black-holed host, an exhausted pool). */
const readinessTimeoutMs = 2000;

const passes = (check: ReadinessCheck): Promise<boolean> =>
  new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), readinessTimeoutMs);
    check.check().then(
      (ok) => {
        clearTimeout(timer);
        resolve(ok);
      },
      () => {
        clearTimeout(timer);
        resolve(false);
      },
    );
  });

/** The health detail in the API's snake_case. */
const healthDetailBody = async (detail: (() => Promise<HealthDetail>) | undefined) => {
  let found: HealthDetail | null = null;
  let unavailable: string | null = null;
  try {
    found = detail ? await detail() : null;
  } catch (error) {
    unavailable = error instanceof Error ? error.message : String(error);
  }
  const failing = found?.projection?.failing ?? [];
  const projection = found?.projection;
  const quarantine = found?.quarantine;
  if (found && !quarantine) unavailable = "the database did not answer";
  return {
    status: failing.length > 0 || unavailable !== null ? "degraded" : "ok",
    projection: projection
      ? {
          failing: failing.map((doc) => ({
            doc_name: doc.docName,
            error: doc.error,
            since: doc.since,
            attempts: doc.attempts,
            retry_at: doc.retryAt,
          })),
          lag_ms: { p50: projection.lag.p50Ms, p99: projection.lag.p99Ms, max: projection.lag.maxMs, samples: projection.lag.count },
        }
      : null,
    quarantine: quarantine
      ? { rows: quarantine.rows, snapshots: quarantine.snapshots, documents: quarantine.documents, latest_at: quarantine.latestAt }
      : null,
    ...(unavailable !== null ? errorBody("unavailable", `the detail could not be read: ${unavailable}`) : {}),
  };
};

/**
 * `/health` (the process is up), `/health/ready` (its dependencies answer),
 * `/health/detail` and `/metrics`: the same routes on the full API and on the
 * small server of a process without the sync role, so an orchestrator probes
 * and scrapes every process alike.
 */
export const registerHealthRoutes = <E extends Env, S extends Schema, B extends string>(app: Hono<E, S, B>, deps: HealthDeps): void => {
  app.get("/health", (c) => c.json({ status: "ok" }));
  // Always 200, like /health: `status` says "degraded" while a document's projection keeps failing.
  app.get("/health/detail", async (c) => c.json(await healthDetailBody(deps.healthDetail)));
  app.get("/health/ready", async (c) => {
    const results = await Promise.all(deps.readiness.map(async (check) => ((await passes(check)) ? null : check)));
    const failed = results.filter((check): check is ReadinessCheck => check !== null);
    if (failed.length === 0) return c.json({ status: "ready" });
    const message = failed.map((check) => `${check.name}: ${check.problem}`).join("; ");
    return c.json({ status: "not_ready", ...errorBody("unavailable", message) }, 503);
  });
  const { metrics } = deps;
  if (metrics) {
    app.get("/metrics", async (c) => {
      c.header("content-type", metrics.registry.contentType);
      return c.body(await metrics.registry.metrics());
    });
  }
};

/** The HTTP server of a process without the sync role: health and metrics only. */
export const createOpsApp = (deps: HealthDeps & { onError: (error: unknown) => void }): Hono => {
  const app = new Hono();
  app.onError((error, c) => {
    deps.onError(error);
    return sendError(c, "internal", "something went wrong on our side; the request was not completed");
  });
  app.notFound((c) =>
    sendError(
      c,
      "not_found",
      `no route for ${c.req.method} ${c.req.path}: this process serves only /health, /health/ready, /health/detail and /metrics`,
    ),
  );
  registerHealthRoutes(app, deps);
  return app;
};
