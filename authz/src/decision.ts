import type { ErrorKind } from "@mtchat/protocol";

/** Authorization never throws: it returns one of these. */
export type Denial = { ok: false; kind: ErrorKind; reason: string };
export type Decision<T = object> = ({ ok: true } & T) | Denial;

export const deny = (kind: ErrorKind, reason: string): Denial => ({ ok: false, kind, reason });
