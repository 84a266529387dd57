import * as encoding from "lib0/encoding";
import * as Y from "yjs";

/**
 * Hand-built Yjs updates, for tests that speak as an attacker would: any
 * origin, parent, key, clock and content, whether or not a Yjs client would
 * ever write it.
 */
export type RawStruct =
  | {
      kind: "item";
      origin?: Y.ID | null;
      rightOrigin?: Y.ID | null;
      /** A root name or the id of the parent item; written only when both origins are null, as Yjs does. */
      parent?: string | Y.ID | null;
      parentSub?: string | null;
      content: Y.Item["content"];
    }
  | { kind: "gc"; length: number }
  | { kind: "skip"; length: number };

export type RawClientStructs = { client: number; clock: number; structs: RawStruct[] };

const lengthOf = (struct: RawStruct): number => (struct.kind === "item" ? struct.content.getLength() : struct.length);

/** Encodes structs (and deleted ranges) in Yjs update format v1, exactly as given. */
export const rawUpdate = (clients: RawClientStructs[], deletes: { client: number; ranges: [clock: number, len: number][] }[] = []) => {
  const encoder = new Y.UpdateEncoderV1();
  encoding.writeVarUint(encoder.restEncoder, clients.length);
  for (const { client, clock, structs } of clients) {
    encoding.writeVarUint(encoder.restEncoder, structs.length);
    encoder.writeClient(client);
    encoding.writeVarUint(encoder.restEncoder, clock);
    let at = clock;
    for (const struct of structs) {
      const id = Y.createID(client, at);
      if (struct.kind === "gc") new Y.GC(id, struct.length).write(encoder, 0);
      else if (struct.kind === "skip") new Y.Skip(id, struct.length).write(encoder, 0);
      else {
        const origin = struct.origin ?? null;
        const rightOrigin = struct.rightOrigin ?? null;
        const parent = origin === null && rightOrigin === null ? (struct.parent ?? null) : null;
        // Item.write reads a string or an ID from `parent` when both origins are null.
        new Y.Item(
          id,
          null,
          origin,
          null,
          rightOrigin,
          parent as unknown as Y.Item["parent"],
          struct.parentSub ?? null,
          struct.content,
        ).write(encoder, 0);
      }
      at += lengthOf(struct);
    }
  }
  encoding.writeVarUint(encoder.restEncoder, deletes.length);
  for (const { client, ranges } of deletes) {
    encoder.resetDsCurVal();
    encoding.writeVarUint(encoder.restEncoder, client);
    encoding.writeVarUint(encoder.restEncoder, ranges.length);
    for (const [clock, len] of ranges) {
      encoder.writeDsClock(clock);
      encoder.writeDsLen(len);
    }
  }
  return encoder.toUint8Array();
};

/** The item holding a message's field (or the message's own map when `field` is omitted) in a document. */
export const itemOf = (doc: Y.Doc, messageId: string, field?: string): Y.Item => {
  const entry = doc.getMap("messages").get(messageId) as Y.Map<unknown> | undefined;
  if (!entry?._item) throw new Error(`no message ${messageId}`);
  if (field === undefined) return entry._item;
  const item = entry._map.get(field);
  if (!item) throw new Error(`message ${messageId} has no ${field}`);
  return item;
};

/** The bytes a client would send for whatever `change` does to its copy. */
export const changeOf = (doc: Y.Doc, change: () => void): Uint8Array => {
  const before = Y.encodeStateVector(doc);
  change();
  return Y.encodeStateAsUpdate(doc, before);
};
