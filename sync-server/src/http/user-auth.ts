import type { Decision } from "@mtchat/authz";
import type { Context, MiddlewareHandler } from "hono";
import type { User, VerifyToken } from "../auth/verify-token.ts";
import { sendError } from "./errors.ts";

const verified = new WeakMap<Request, Promise<Decision<{ user: User }>>>();

/**
 * The request's user token, verified once per request (the rate limiter and
 * `userAuth` both need it); null when there is no bearer token.
 */
export const verifyRequestUser = (c: Context, verifyToken: VerifyToken): Promise<Decision<{ user: User }>> | null => {
  const match = /^Bearer (.+)$/i.exec(c.req.header("authorization") ?? "");
  if (!match?.[1]) return null;
  let decision = verified.get(c.req.raw);
  if (!decision) {
    decision = verifyToken(match[1]);
    verified.set(c.req.raw, decision);
  }
  return decision;
};

/** The Chat API's identity: the user JWT's `sub` and signed scope claims; no query parameter or header can override them. */
export const userAuth =
  (verifyToken: VerifyToken): MiddlewareHandler<{ Variables: { user: User } }> =>
  async (c, next) => {
    const pending = verifyRequestUser(c, verifyToken);
    if (!pending) return sendError(c, "unauthorized", "send Authorization: Bearer <user token>");
    const decision = await pending;
    if (!decision.ok) return sendError(c, decision.kind, decision.reason);
    c.set("user", decision.user);
    await next();
    return undefined;
  };
