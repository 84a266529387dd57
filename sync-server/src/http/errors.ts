import { type ErrorKind, errorKinds } from "@mtchat/protocol";
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/** An error a route handler throws to answer with the documented envelope. */
export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly kind: ErrorKind,
    message: string,
  ) {
    super(message);
  }
}

export const errorBody = (kind: ErrorKind, message: string) => ({ error: { code: kind, message } });

export const sendError = (c: Context, kind: ErrorKind, message: string) =>
  c.json(errorBody(kind, message), errorKinds[kind].http as ContentfulStatusCode);
