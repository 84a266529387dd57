import * as encoding from "lib0/encoding";
import * as Y from "yjs";
import { type Decision, deny, denyMissing } from "./decision.ts";

/**
 * An update as the server will apply it. The client's bytes are never applied
 * anywhere: the inspector judges, and the server logs and applies, this
 * canonical form, in which every struct's declared position is the one Yjs
 * integrates.
 *
 * Yjs does not integrate a struct where its bytes say when the struct starts
 * inside a clock range the document already holds: it drops the known part and
 * attaches the rest to the previous item of the same client, whatever parent
 * the struct declared. A hostile client uses that to slip a value under
 * another key (a message's `author`) while declaring a harmless one (its own
 * body). So the canonical form clips every such struct exactly as Yjs does,
 * and writes the rest with the origin Yjs gives it, the previous item of its
 * client; judged from there, its real parent is the one the rules see.
 *
 * A well-behaved client's updates are unchanged by this: a resend after a
 * reconnect, or a merged offline update computed against an older state
 * vector, overlaps only with its own contiguous text, where the previous item
 * of the client is exactly where the struct continues.
 */
export type CanonicalUpdate = {
  /** New structs per client, contiguous from the server's state for that client. */
  clients: Map<number, (Y.Item | Y.GC)[]>;
  /** Deleted ranges per client, sorted and merged. */
  deletes: Map<number, { clock: number; len: number }[]>;
};

type Struct = Y.Item | Y.GC | Y.Skip;

const gap = denyMissing("the update skips changes the server has not seen; send the missing changes first");

/**
 * Decodes an update and clips it against the server's document. Refuses what a
 * well-behaved client never sends and Yjs cannot integrate whole: gaps in a
 * client's clocks (Yjs would park the rest as pending) and a client's structs
 * split into separate runs. Malformed bytes are a denial, never an exception.
 */
export const canonicalize = (doc: Y.Doc, update: Uint8Array): Decision<{ canonical: CanonicalUpdate }> => {
  let decoded: { structs: Struct[]; ds: ReturnType<typeof Y.decodeUpdate>["ds"] };
  try {
    decoded = Y.decodeUpdate(update);
  } catch {
    return deny("invalid_update", "the update could not be decoded");
  }
  const clients = new Map<number, (Y.Item | Y.GC)[]>();
  const seen = new Set<number>();
  let current: { client: number; next: number; known: number; list: (Y.Item | Y.GC)[] } | null = null;
  for (const struct of decoded.structs) {
    const { client, clock } = struct.id;
    if (current === null || current.client !== client) {
      if (seen.has(client)) return deny("invalid_update", "each client's changes must come in one run");
      seen.add(client);
      current = { client, next: clock, known: Y.getState(doc.store, client), list: [] };
    }
    if (clock !== current.next) return deny("invalid_update", "a client's changes must be contiguous");
    current.next = clock + struct.length;
    if (struct instanceof Y.Skip) return gap;
    const end = clock + struct.length;
    if (end <= current.known) continue;
    if (current.list.length === 0 && clock > current.known) return gap;
    const offset = current.known - clock;
    current.list.push(offset > 0 ? clip(struct, offset) : struct);
    if (current.list.length === 1) clients.set(client, current.list);
  }
  const deletes = new Map<number, { clock: number; len: number }[]>();
  for (const [client, items] of decoded.ds.clients) {
    const ranges = items
      .filter((item: { len: number }) => item.len > 0)
      .map(({ clock, len }: { clock: number; len: number }) => ({ clock, len }))
      .sort((a: { clock: number }, b: { clock: number }) => a.clock - b.clock);
    const merged: { clock: number; len: number }[] = [];
    for (const range of ranges) {
      const last = merged.at(-1);
      if (last && range.clock <= last.clock + last.len) last.len = Math.max(last.len, range.clock + range.len - last.clock);
      else merged.push(range);
    }
    if (merged.length > 0) deletes.set(client, merged);
  }
  return { ok: true, canonical: { clients, deletes } };
};

/** The part of a struct Yjs integrates when the server already holds its first `offset` clocks. */
const clip = (struct: Y.Item | Y.GC, offset: number): Y.Item | Y.GC => {
  const id = Y.createID(struct.id.client, struct.id.clock + offset);
  if (struct instanceof Y.GC) return new Y.GC(id, struct.length - offset);
  return new Y.Item(
    id,
    null,
    Y.createID(struct.id.client, struct.id.clock + offset - 1),
    null,
    struct.rightOrigin,
    null,
    null,
    struct.content.splice(offset),
  );
};

/**
 * The order in which Yjs integrates the canonical structs, found by running its
 * own algorithm (`integrateStructs`: clients from the highest id down, each
 * struct's missing dependency first) without changing anything. Refuses what
 * Yjs would throw on or leave pending, either of which would leave a logged
 * update that cannot be applied: a reference to a later struct of the same
 * client (Yjs looks those up without checking and throws), a dependency the
 * server does not have, and dependency cycles between clients.
 */
export const integrationOrder = (doc: Y.Doc, canonical: CanonicalUpdate): Decision<{ order: (Y.Item | Y.GC)[] }> => {
  const refs = new Map<number, { i: number; list: (Y.Item | Y.GC)[] }>();
  for (const [client, list] of canonical.clients) refs.set(client, { i: 0, list });
  const state = new Map<number, number>();
  const stateOf = (client: number) => state.get(client) ?? Y.getState(doc.store, client);
  const pending = denyMissing("the update depends on changes the server does not have; send them first");

  /** The client whose struct `struct` needs first, null when nothing is missing, or a denial. */
  const missing = (struct: Y.Item | Y.GC): number | null | typeof pending => {
    if (!(struct instanceof Y.Item)) return null;
    const parentId = struct.parent instanceof Y.ID ? struct.parent : null;
    for (const id of [struct.origin, struct.rightOrigin, parentId]) {
      if (id === null) continue;
      if (id.client === struct.id.client) {
        if (id.clock >= struct.id.clock) return deny("invalid_update", "an item refers to a later change of its own client");
      } else if (id.clock >= stateOf(id.client)) {
        return id.client;
      }
    }
    return null;
  };

  const order: (Y.Item | Y.GC)[] = [];
  const ids = [...refs.keys()].sort((a, b) => a - b);
  const stack: (Y.Item | Y.GC)[] = [];
  const nextTarget = () => {
    while (ids.length > 0) {
      const target = refs.get(ids[ids.length - 1] as number);
      if (target && target.i < target.list.length) return target;
      ids.pop();
    }
    return null;
  };
  let target = nextTarget();
  let head: Y.Item | Y.GC | undefined = target?.list[target.i++];
  while (head !== undefined) {
    if (stateOf(head.id.client) !== head.id.clock) return pending;
    const need = missing(head);
    if (typeof need === "object" && need !== null) return need;
    if (need !== null) {
      stack.push(head);
      const dependency = refs.get(need);
      if (!dependency || dependency.i >= dependency.list.length) return pending;
      head = dependency.list[dependency.i++];
      continue;
    }
    order.push(head);
    state.set(head.id.client, head.id.clock + head.length);
    if (stack.length > 0) {
      head = stack.pop();
    } else if (target && target.i < target.list.length) {
      head = target.list[target.i++];
    } else {
      target = nextTarget();
      head = target?.list[target.i++];
    }
  }
  return { ok: true, order };
};

/**
 * Encodes the canonical update (Yjs update format v1). Structs in `inert`
 * become GC structs of the same length: Yjs would discard their content
 * anyway, so the log keeps only the clocks they take.
 */
export const encodeCanonical = (canonical: CanonicalUpdate, inert: ReadonlySet<Y.Item | Y.GC>): Uint8Array => {
  const encoder = new Y.UpdateEncoderV1();
  const clients = [...canonical.clients.entries()].sort((a, b) => b[0] - a[0]);
  encoding.writeVarUint(encoder.restEncoder, clients.length);
  for (const [client, structs] of clients) {
    encoding.writeVarUint(encoder.restEncoder, structs.length);
    encoder.writeClient(client);
    encoding.writeVarUint(encoder.restEncoder, (structs[0] as Y.Item | Y.GC).id.clock);
    for (const struct of structs) {
      if (inert.has(struct)) new Y.GC(struct.id, struct.length).write(encoder, 0);
      else struct.write(encoder, 0);
    }
  }
  const deletes = [...canonical.deletes.entries()].sort((a, b) => b[0] - a[0]);
  encoding.writeVarUint(encoder.restEncoder, deletes.length);
  for (const [client, ranges] of deletes) {
    encoder.resetDsCurVal();
    encoding.writeVarUint(encoder.restEncoder, client);
    encoding.writeVarUint(encoder.restEncoder, ranges.length);
    for (const range of ranges) {
      encoder.writeDsClock(range.clock);
      encoder.writeDsLen(range.len);
    }
  }
  return encoder.toUint8Array();
};
