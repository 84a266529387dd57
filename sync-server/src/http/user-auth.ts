import type { MiddlewareHandler } from "hono";
import type { User, VerifyToken } from "../auth/verify-token.ts";
import { sendError } from "./errors.ts";

/** The Chat API's identity: the user JWT's `sub` and signed scope claims; no query parameter or header can override them. */
export const userAuth =
  (verifyToken: VerifyToken): MiddlewareHandler<{ Variables: { user: User } }> =>
  async (c, next) => {
    const match = /^Bearer (.+)$/i.exec(c.req.header("authorization") ?? "");
    if (!match?.[1]) return sendError(c, "unauthorized", "send Authorization: Bearer <user token>");
    const verified = await verifyToken(match[1]);
    if (!verified.ok) return sendError(c, verified.kind, verified.reason);
    c.set("user", verified.user);
    await next();
    return undefined;
  };
