import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { sendError } from "./errors.ts";

const digest = (value: string) => createHash("sha256").update(value).digest();

/** Bearer ADMIN_API_TOKEN for the default project; compared in constant time. */
export const adminAuth = (adminApiToken: string | undefined): MiddlewareHandler<{ Variables: { projectId: string } }> => {
  const expected = adminApiToken ? digest(adminApiToken) : null;
  return async (c, next) => {
    if (!expected) return sendError(c, "forbidden", "the Management API is disabled: set ADMIN_API_TOKEN to enable it");
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer (.+)$/i.exec(header);
    if (!match?.[1]) return sendError(c, "unauthorized", "send Authorization: Bearer <ADMIN_API_TOKEN>");
    if (!timingSafeEqual(digest(match[1]), expected)) return sendError(c, "unauthorized", "the API token is not valid");
    c.set("projectId", "default");
    await next();
    return undefined;
  };
};
