import { messagesOf } from "@mtchat/protocol";
import * as encoding from "lib0/encoding";
import * as Y from "yjs";

/** How a server-side write is built. */
export type WriteHow = {
  /**
   * The write only adds new messages (a REST send, a system message): it needs
   * none of the document's content, only its client's clock, so it is built on
   * an empty scratch document and costs the size of the message, not of the segment.
   */
  onlyNewMessages?: boolean;
};

/** An update holding only a GC run over `[0, clock)` of one client: the scratch document starts that client at `clock`. */
const clockAt = (clientId: number, clock: number): Uint8Array => {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, 1);
  encoding.writeVarUint(encoder, 1);
  encoding.writeVarUint(encoder, clientId);
  encoding.writeVarUint(encoder, 0);
  // Info 0 is a GC struct, followed by its length.
  encoding.writeUint8(encoder, 0);
  encoding.writeVarUint(encoder, clock);
  encoding.writeVarUint(encoder, 0);
  return encoding.toUint8Array(encoder);
};

/**
 * Runs `mutate` on a scratch copy writing as `clientId` and returns the update
 * it made, with the messages it created; null when it changed nothing. The
 * live document is never touched: the caller judges, logs and only then
 * applies the update.
 */
export const buildWrite = (
  document: Y.Doc,
  clientId: number,
  mutate: (doc: Y.Doc) => void,
  onlyNewMessages: boolean,
): { update: Uint8Array; newMessageIds: string[] } | null => {
  const existing = new Set(onlyNewMessages ? [] : messagesOf(document)._map.keys());
  const scratch = new Y.Doc();
  try {
    if (!onlyNewMessages) Y.applyUpdate(scratch, Y.encodeStateAsUpdate(document));
    else {
      const clock = Y.getState(document.store, clientId);
      if (clock > 0) Y.applyUpdate(scratch, clockAt(clientId, clock));
    }
    // Set after loading: Yjs picks a new client id when a loaded update carries structs of its own.
    scratch.clientID = clientId;
    // Each transaction's own update holds only what it changed: its structs and its deletions, never the
    // scratch document's delete set (which, on the empty one, counts the clock run as deleted).
    const made: Uint8Array[] = [];
    scratch.on("update", (update: Uint8Array) => made.push(update));
    mutate(scratch);
    if (made.length === 0) return null;
    return {
      update: made.length === 1 ? (made[0] as Uint8Array) : Y.mergeUpdates(made),
      newMessageIds: [...messagesOf(scratch)._map.keys()].filter((id) => !existing.has(id)),
    };
  } finally {
    scratch.destroy();
  }
};
