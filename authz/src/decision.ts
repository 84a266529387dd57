import type { ErrorKind } from "@mtchat/protocol";

/** Authorization never throws: it returns one of these. */
/** `missing`: the update needs changes the server's copy lacks (it may be behind another node; catch up and judge again). */
export type Denial = { ok: false; kind: ErrorKind; reason: string; missing?: true };
export type Decision<T = object> = ({ ok: true } & T) | Denial;

export const deny = (kind: ErrorKind, reason: string): Denial => ({ ok: false, kind, reason });

/** Refuses an update that depends on changes the server does not have (yet). */
export const denyMissing = (reason: string): Denial => ({ ok: false, kind: "invalid_update", reason, missing: true });
