import { randomUUID } from "node:crypto";
import * as encoding from "lib0/encoding";
import type pg from "pg";
import * as Y from "yjs";

/**
 * Test helpers (`@mtchat/projections/testing`, not part of the public API):
 * writing straight into the log, as a legacy or buggy server would have, and
 * updates that Yjs cannot apply cleanly.
 */

/** Registers a dialog (or any document owner) and resolves with its id. */
export const registerDialog = async (db: Pick<pg.Pool, "query">, projectId = "default"): Promise<string> => {
  const id = randomUUID();
  await db.query("INSERT INTO dialog_registry (id, project_id) VALUES ($1, $2)", [id, projectId]);
  return id;
};

/** Appends an update to a document's log at its next seq (`mtchat_append`); resolves with that seq. */
export const appendRow = async (
  db: Pick<pg.Pool, "query">,
  docName: string,
  dialogId: string,
  update: Uint8Array,
  options: { userId?: string; messageIds?: readonly string[] } = {},
): Promise<number> => {
  const { rows } = await db.query<{ seq: string }>("SELECT mtchat_append($1, $2, $3, $4, $5::bigint[], $6::uuid[]) AS seq", [
    docName,
    dialogId,
    update,
    options.userId ?? "tester",
    [],
    options.messageIds ?? [],
  ]);
  return Number(rows[0]?.seq);
};

/** Runs `mutate` on `doc` and resolves with the update it made (empty when nothing changed). */
export const updateOf = (doc: Y.Doc, mutate: (doc: Y.Doc) => void): Uint8Array => {
  const before = Y.encodeStateVector(doc);
  doc.transact(() => mutate(doc));
  return Y.encodeStateAsUpdate(doc, before);
};

const contentString = 4;
const hasOrigin = 0x80;

/**
 * Two structs of one client where the first has its origin at the second, a
 * forward reference: `Y.applyUpdate` throws on it (after integrating nothing).
 */
export const forwardReference = (client: number, root = "messages"): Uint8Array => {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, 1); // clients
  encoding.writeVarUint(encoder, 2); // structs of this client
  encoding.writeVarUint(encoder, client);
  encoding.writeVarUint(encoder, 0); // first clock
  encoding.writeUint8(encoder, hasOrigin | contentString);
  encoding.writeVarUint(encoder, client);
  encoding.writeVarUint(encoder, 1);
  encoding.writeVarString(encoder, "a");
  encoding.writeUint8(encoder, contentString); // no origin: the parent follows
  encoding.writeVarUint(encoder, 1); // the parent is a root, by name
  encoding.writeVarString(encoder, root);
  encoding.writeVarString(encoder, "b");
  encoding.writeVarUint(encoder, 0); // empty delete set
  return encoding.toUint8Array(encoder);
};

/** A struct whose origin is a struct of `missingClient`, which the document lacks: it stays in `pendingStructs`. */
export const missingDependency = (client: number, missingClient: number): Uint8Array => {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, 1);
  encoding.writeVarUint(encoder, 1);
  encoding.writeVarUint(encoder, client);
  encoding.writeVarUint(encoder, 0);
  encoding.writeUint8(encoder, hasOrigin | contentString);
  encoding.writeVarUint(encoder, missingClient);
  encoding.writeVarUint(encoder, 5);
  encoding.writeVarString(encoder, "x");
  encoding.writeVarUint(encoder, 0);
  return encoding.toUint8Array(encoder);
};

/** An update that only deletes `length` structs of `client` from `clock` on. */
export const deletion = (client: number, clock: number, length: number): Uint8Array => {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, 0); // no structs
  encoding.writeVarUint(encoder, 1); // delete set: one client
  encoding.writeVarUint(encoder, client);
  encoding.writeVarUint(encoder, 1); // one range
  encoding.writeVarUint(encoder, clock);
  encoding.writeVarUint(encoder, length);
  return encoding.toUint8Array(encoder);
};

/** Deletes clocks 0..2 of `missingClient`, which the document lacks: it stays in `pendingDs`. */
export const missingDeletion = (missingClient: number): Uint8Array => deletion(missingClient, 0, 3);
