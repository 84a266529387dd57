import { createHash } from "node:crypto";
import type { Context, MiddlewareHandler } from "hono";
import type pg from "pg";
import { type RateLimiterAbstract, RateLimiterMemory, RateLimiterPostgres, RateLimiterRes } from "rate-limiter-flexible";
import type { VerifyToken } from "../auth/verify-token.ts";
import type { ManagementVariables } from "./admin-auth.ts";
import { sendError } from "./errors.ts";
import { verifyRequestUser } from "./user-auth.ts";

/** A fixed-window budget: `points` requests per `windowS` seconds per caller. */
export type Limiter = { points: number; windowS: number; store: RateLimiterAbstract };

/**
 * A budget shared by every replica, kept in PostgreSQL (`rate_limits`, from
 * migration 0007): one upsert per request, atomic, so N processes count as
 * one. Should the database fail, an in-process limiter with the same budget
 * stands in, so requests keep being limited (per process) and served.
 * Returns null when the budget is 0 (limiting off).
 */
export const createLimiter = (pool: pg.Pool, name: string, points: number, windowS: number): Limiter | null => {
  if (points === 0) return null;
  const store = new RateLimiterPostgres({
    storeClient: pool,
    storeType: "pool",
    tableName: "rate_limits",
    tableCreated: true,
    keyPrefix: name,
    points,
    duration: windowS,
    insuranceLimiter: new RateLimiterMemory({ keyPrefix: name, points, duration: windowS }),
  });
  return { points, windowS, store };
};

/** The table's key column holds 255 characters; a project id plus a user id can exceed that. */
const storeKey = (key: string) => (key.length <= 200 ? key : createHash("sha256").update(key).digest("hex"));

const setHeaders = (c: Context, limiter: Limiter, result: RateLimiterRes): number => {
  const reset = Math.max(1, Math.ceil(result.msBeforeNext / 1000));
  // IETF draft "RateLimit header fields for HTTP": reset is in seconds from now.
  c.header("RateLimit-Limit", String(limiter.points));
  c.header("RateLimit-Remaining", String(Math.max(0, result.remainingPoints)));
  c.header("RateLimit-Reset", String(reset));
  c.header("RateLimit-Policy", `${limiter.points};w=${limiter.windowS}`);
  return reset;
};

/**
 * Hono middleware that spends one request of the caller's budget. `keyOf`
 * names the caller (null: not limited here, e.g. not authenticated). Over
 * budget: 429 `rate_limited` with Retry-After; every limited response, served
 * or refused, carries the RateLimit-* headers.
 */
export const rateLimit =
  (limiter: Limiter | null, keyOf: (c: Context) => string | null | Promise<string | null>): MiddlewareHandler =>
  async (c, next) => {
    if (!limiter) return next();
    const key = await keyOf(c);
    if (key === null) return next();
    let result: RateLimiterRes;
    try {
      result = await limiter.store.consume(storeKey(key));
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw rejection;
      const retryAfter = setHeaders(c, limiter, rejection);
      c.header("Retry-After", String(retryAfter));
      return sendError(
        c,
        "rate_limited",
        `too many requests: the limit is ${limiter.points} per ${limiter.windowS} s; retry in ${retryAfter} s`,
      );
    }
    await next();
    setHeaders(c, limiter, result);
    return undefined;
  };

/** The Chat API's caller: the verified token's project and user. Unauthenticated requests are left to `userAuth`. */
export const userCaller =
  (verifyToken: VerifyToken) =>
  async (c: Context): Promise<string | null> => {
    if (c.req.path.startsWith("/api/v1/management/")) return null;
    const decision = await verifyRequestUser(c, verifyToken);
    return decision?.ok ? `${decision.user.projectId}:${decision.user.userId}` : null;
  };

/** The Management API's caller, after `adminAuth`: each API key has its own budget, and so does the admin token. */
export const managementCaller = (c: Context<{ Variables: ManagementVariables }>): string => {
  const principal = c.get("principal");
  return principal.kind === "api_key" ? `key:${principal.keyId}` : "admin-token";
};
