import type { Context, MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import type { VerifyToken } from "../auth/verify-token.ts";
import type { CorsOrigins } from "../projects/cors-origins.ts";
import { sendError } from "./errors.ts";
import { verifyRequestUser } from "./user-auth.ts";

/** What a host's page may send and read: MTChat's SDK sends X-Scope-Config (accepted and ignored, never trusted). */
const allowMethods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];
const allowHeaders = ["Authorization", "Content-Type", "Idempotency-Key", "X-Scope-Config"];
const exposeHeaders = ["Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy"];

/** The origin a user token's project allows, or null; the rest of the request is the routes' business. */
const userTokenOrigin = async (c: Context, origins: CorsOrigins, verifyToken: VerifyToken, origin: string): Promise<boolean | null> => {
  const pending = verifyRequestUser(c, verifyToken);
  if (!pending) return null;
  const decision = await pending;
  if (!decision.ok) return null;
  return origins.allows(decision.user.projectId, origin);
};

/**
 * CORS for pages on the host's domain. A preflight carries no credentials, so it is answered (without them, 204)
 * for an origin some project allows; the request itself then gets `Access-Control-Allow-Origin` only when its user
 * token's project allows the origin, and is refused with 403 otherwise, so a token cannot be used from a page its
 * project never named. Other origins get no CORS headers at all. Same-origin pages (the service's own) pass as ever.
 */
export const corsMiddleware = (origins: CorsOrigins, verifyToken: VerifyToken): MiddlewareHandler => {
  // Called only for an origin already found allowed, which it echoes.
  const headers = cors({ origin: (origin) => origin, allowMethods, allowHeaders, exposeHeaders, maxAge: 600 });
  return async (c, next) => {
    const origin = c.req.header("origin");
    if (!origin || origins.sameOrigin(origin, c.req.header("host"))) return next();
    if (c.req.method === "OPTIONS" && c.req.header("access-control-request-method")) {
      if (await origins.anyAllows(origin)) return headers(c, next);
      c.header("Vary", "Origin");
      return c.body(null, 204);
    }
    const forToken = await userTokenOrigin(c, origins, verifyToken, origin);
    if (forToken === true || (forToken === null && (await origins.anyAllows(origin)))) return headers(c, next);
    // Caches must not hand this answer to another origin.
    c.header("Vary", "Origin", { append: true });
    if (forToken === false) {
      return sendError(
        c,
        "forbidden",
        `pages on ${origin} may not use this project's tokens: add the origin with PUT /api/v1/management/cors-origins (or CORS_ALLOWED_ORIGINS for the default project)`,
      );
    }
    return next();
  };
};
