import { type ErrorKind, errorKinds, isErrorKind } from "./error-kinds.ts";

/**
 * Hocuspocus multiplexes many documents over one WebSocket and closes a single
 * document with a reason string only (the socket-level close code is not sent
 * per document). We therefore put the 44xx code at the front of the reason:
 * `"4403 forbidden: you may edit only your own messages"`.
 */
export type CloseReason = { code: number; kind: ErrorKind; message: string };

export const formatCloseReason = (kind: ErrorKind, message: string): string => `${errorKinds[kind].ws} ${kind}: ${message}`;

const reasonPattern = /^(\d{4}) ([a-z_]+): ([\s\S]*)$/;

/** Parses a reason produced by {@link formatCloseReason}; returns null for anything else. */
export const parseCloseReason = (reason: string): CloseReason | null => {
  const match = reasonPattern.exec(reason);
  if (!match) return null;
  const [, code, kind, message] = match;
  if (code === undefined || kind === undefined || message === undefined || !isErrorKind(kind)) return null;
  return { code: Number(code), kind, message };
};
