import { type ErrorKind, errorKinds, formatCloseReason } from "@mtchat/protocol";

/**
 * Thrown from a Hocuspocus hook to refuse: Hocuspocus closes the document's
 * connection (or denies it at connect) with this code and reason, and the
 * update that caused it is never applied.
 */
export class Refusal extends Error {
  override name = "Refusal";
  readonly code: number;
  readonly reason: string;

  constructor(
    readonly kind: ErrorKind,
    detail: string,
  ) {
    super(detail);
    this.code = errorKinds[kind].ws;
    this.reason = formatCloseReason(kind, detail);
  }
}
