import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { defaultProjectId } from "../auth/verify-token.ts";
import { type ApiKeyScope, type ApiKeys, looksLikeApiKey } from "../projects/api-keys.ts";
import { sendError } from "./errors.ts";

const digest = (value: string) => createHash("sha256").update(value).digest();

/** Who called the Management API: the platform admin token (default project, every scope) or a project's API key. */
export type Principal = { kind: "admin_token" } | { kind: "api_key"; keyId: string; scopes: ApiKeyScope[] };

export type ManagementVariables = { projectId: string; principal: Principal };

/** `platform` is the admin token alone: it creates projects. */
type Required = ApiKeyScope | "platform";

/**
 * The scope a request needs, from its route: key and token-key management and
 * the CORS origins need admin, other reads need read and other writes need write. Decided by path so
 * that routes added later are covered without a line of their own.
 */
const requiredScope = (method: string, path: string): Required => {
  if (path.startsWith("/api/v1/management/projects")) return "platform";
  if (["api-keys", "jwt-keys", "cors-origins"].some((part) => path.startsWith(`/api/v1/management/${part}`))) return "admin";
  return method === "GET" || method === "HEAD" ? "read" : "write";
};

/** admin includes write and read: an admin key could mint keys with them anyway. */
const grants = (scopes: readonly ApiKeyScope[], needed: ApiKeyScope) => scopes.includes(needed) || scopes.includes("admin");

/**
 * The Management API's identity: `Bearer <ADMIN_API_TOKEN>` acts for the
 * default project with every scope (and is the platform admin); `Bearer <API
 * key>` acts for the key's own project with the key's scopes.
 */
export const adminAuth = (adminApiToken: string | undefined, apiKeys: ApiKeys): MiddlewareHandler<{ Variables: ManagementVariables }> => {
  const expected = adminApiToken ? digest(adminApiToken) : null;
  return async (c, next) => {
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer (.+)$/i.exec(header);
    const token = match?.[1];
    const needed = requiredScope(c.req.method, c.req.path);
    if (token && looksLikeApiKey(token)) {
      const verified = await apiKeys.authenticate(token);
      if (!verified.ok) return sendError(c, verified.kind, verified.reason);
      const { grant } = verified;
      if (needed === "platform") return sendError(c, "forbidden", "only ADMIN_API_TOKEN may manage projects");
      if (!grants(grant.scopes, needed))
        return sendError(c, "forbidden", `this API key lacks the "${needed}" scope; use a key created with it`);
      c.set("projectId", grant.projectId);
      c.set("principal", { kind: "api_key", keyId: grant.id, scopes: grant.scopes });
      await next();
      return undefined;
    }
    if (!expected) return sendError(c, "forbidden", "the Management API is disabled: set ADMIN_API_TOKEN to enable it");
    if (!token) return sendError(c, "unauthorized", "send Authorization: Bearer <ADMIN_API_TOKEN or API key>");
    if (!timingSafeEqual(digest(token), expected)) return sendError(c, "unauthorized", "the API token is not valid");
    c.set("projectId", defaultProjectId);
    c.set("principal", { kind: "admin_token" });
    await next();
    return undefined;
  };
};
