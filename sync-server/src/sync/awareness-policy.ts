/**
 * What a connection may put into a document's presence (Yjs awareness).
 * Presence is relayed to every participant and held while they are
 * connected, so its size follows what honest clients need: one client id per
 * open document (a couple after reloads), a few small fields (`online`,
 * `typing`), the user stamped by the server.
 */
export const awarenessLimits = {
  /** Client ids one connection may bring into a document's presence. */
  maxStatesPerConnection: 4,
  /** Client ids one user may hold in a document's presence, over all their tabs and devices. */
  maxStatesPerUser: 16,
  /** Largest state a client may set, in characters of JSON (before the server stamps the user). */
  maxStateChars: 4096,
  /**
   * Largest awareness frame, checked by the socket guard before Hocuspocus
   * decodes it: room for a full connection's worth of states, twice over.
   */
  maxFrameBytes: 32 * 1024,
} as const;

export type AwarenessLimits = { [K in keyof typeof awarenessLimits]: number };

export type PresenceUser = { userId: string; name: string | null };

export type AwarenessInput = {
  /**
   * The frame's states, decoded by Hocuspocus: edited in place, what is left
   * is what Hocuspocus applies and relays.
   */
  states: Map<number, Record<string, unknown>>;
  /** The authenticated sender. */
  user: PresenceUser;
  /** Client id → user who first spoke for it in this document; updated here. */
  claims: Map<number, string>;
  /** The states the document holds now, as stamped by this policy. */
  present: ReadonlyMap<number, Record<string, unknown>>;
  /** Client ids the sender's connection has already brought into the document. */
  held: ReadonlySet<number>;
};

export type AwarenessDrop = "scratch" | "claimed" | "not_an_object" | "too_large" | "connection_full" | "user_full";

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const isEmpty = (value: Record<string, unknown>) => {
  for (const _ in value) return false;
  return true;
};

/**
 * Stamps each state with its sender and drops what the limits do not allow;
 * returns why each dropped client id was dropped (empty for an honest frame).
 *
 * - Hocuspocus decodes the frame into a fresh `Awareness`, whose constructor
 *   sets its own local state `{}` first: that entry (first, empty, an id this
 *   document has never seen) is not the client's. Hocuspocus does not apply it
 *   (its clock is 0), but claimed and counted it would leave one claim behind
 *   per frame and take a slot of the limits below.
 * - A client id claimed by one user cannot speak for another.
 * - Only JSON objects no longer than `maxStateChars` (the client's own fields).
 * - New client ids up to `maxStatesPerConnection` per connection and
 *   `maxStatesPerUser` per user in this document; updates of ids already held
 *   always pass.
 */
export const admitAwareness = (
  { states, user, claims, present, held }: AwarenessInput,
  limits: AwarenessLimits = awarenessLimits,
): Map<number, AwarenessDrop> => {
  const dropped = new Map<number, AwarenessDrop>();
  const first = states.entries().next();
  if (!first.done) {
    const [clientId, state] = first.value;
    if (isPlainObject(state) && isEmpty(state) && !held.has(clientId) && !present.has(clientId)) dropped.set(clientId, "scratch");
  }
  let connectionCount = held.size;
  let userCount = 0;
  for (const state of present.values()) if ((state.user as { id?: unknown } | undefined)?.id === user.userId) userCount += 1;

  for (const [clientId, state] of states) {
    if (dropped.has(clientId)) continue;
    const owner = claims.get(clientId);
    const verdict: AwarenessDrop | null =
      owner !== undefined && owner !== user.userId
        ? "claimed"
        : !isPlainObject(state)
          ? "not_an_object"
          : JSON.stringify({ ...state, user: undefined }).length > limits.maxStateChars
            ? "too_large"
            : !held.has(clientId) && connectionCount >= limits.maxStatesPerConnection
              ? "connection_full"
              : !present.has(clientId) && userCount >= limits.maxStatesPerUser
                ? "user_full"
                : null;
    if (verdict) {
      dropped.set(clientId, verdict);
      continue;
    }
    if (!held.has(clientId)) connectionCount += 1;
    if (!present.has(clientId)) userCount += 1;
    claims.set(clientId, user.userId);
    (state as Record<string, unknown>).user = { id: user.userId, name: user.name };
  }
  for (const clientId of dropped.keys()) states.delete(clientId);
  pruneClaims(claims, present, states);
  return dropped;
};

/**
 * Claims outlive presence (a client that left may come back with its id), but
 * not without bound: past a multiple of the live states, claims of ids neither
 * present nor in this frame are forgotten.
 */
const pruneClaims = (claims: Map<number, string>, present: ReadonlyMap<number, unknown>, incoming: ReadonlyMap<number, unknown>) => {
  if (claims.size <= 2 * present.size + 256) return;
  for (const clientId of claims.keys()) if (!present.has(clientId) && !incoming.has(clientId)) claims.delete(clientId);
};
