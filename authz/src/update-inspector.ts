import {
  isMessageField,
  isUserStateValue,
  isUuid,
  type MessageField,
  maxAttachments,
  maxBodyDepth,
  messageFields,
  messageKinds,
  metaRoots,
  parseDraftRoot,
  parseReactionKey,
  parseUserStateKey,
  segmentRoots,
  userStateRoots,
} from "@mtchat/protocol";
import * as Y from "yjs";
import { type BodySize, checkBodyItem, existingSize, sizeOf } from "./body-rules.ts";
import { type CanonicalUpdate, canonicalize, encodeCanonical, integrationOrder } from "./canonical.ts";
import { type Decision, type Denial, deny, denyMissing } from "./decision.ts";
import { type AnyType, type Place, Placer, type Ref } from "./locate.ts";
import { systemUserId, type Writer } from "./writer.ts";

export type DocKind = "meta" | "segment" | "user";

export type InspectContext = {
  /** The server's current document. It is read, never changed. */
  doc: Y.Doc;
  docKind: DocKind;
  writer: Writer;
  /** Hard cap on messages in one segment; offline merges may pass the soft size, never this. */
  maxMessagesPerSegment: number;
  /** Longest body (message or draft) in characters, and most nodes in it: `MAX_MESSAGE_CHARS`. */
  maxMessageChars: number;
};

export type Accepted = {
  /** Nothing new: every struct and deletion is already in the server's document. */
  empty: boolean;
  /** Client ids that carry new structs; the caller binds each to the writer or refuses. */
  newClientIds: number[];
  /** Messages this update creates, in update order. */
  newMessageIds: string[];
  /**
   * Attachment references the update writes (new messages and edits), as the
   * client wrote them. The caller checks them against the uploaded files:
   * that needs I/O, which this pure policy does not do.
   */
  attachmentRefs: Record<string, unknown>[];
  /**
   * The canonical update: what the server logs and applies instead of the
   * client's bytes. Yjs integrates it exactly as it was judged (see canonical.ts).
   */
  update: Uint8Array;
};

/** Deepest key path any document of the schema has: a mark inside text inside the deepest element of a message body. */
const maxKeys = maxBodyDepth + 4;

/**
 * Decides whether `writer` may apply `update` to `ctx.doc`. The update is first
 * made canonical (clipped as Yjs clips it, in the order Yjs integrates it), so
 * every struct is judged where Yjs will put it; every deletion is judged
 * against the item it removes. Structs the server already holds are echoes
 * and pass. The rules:
 * - segment: a user creates messages only as their own author, with kind
 *   "text", once per id; edits and deletes only inside their own messages, and
 *   never immutable fields; admins may also soft-delete others' messages.
 * - bodies (messages and drafts) hold only the composer's elements, marks and
 *   attributes, no deeper than `maxBodyDepth`, no larger than `maxMessageChars`.
 * - reactions: any participant but read-only ones adds and removes only their own, on any message.
 * - meta: a user writes only their own read cursor; everything else is the server's.
 * - user state: well-formed keys and values only (the server lets only the owner in).
 * - potential participants write nothing; read-only participants only their read cursor;
 *   channel subscribers react and move their cursor.
 */
export const inspectUpdate = (update: Uint8Array, ctx: InspectContext): Decision<Accepted> => {
  const canonicalized = canonicalize(ctx.doc, update);
  if (!canonicalized.ok) return canonicalized;
  const { canonical } = canonicalized;
  if (ctx.writer.access === "potential" && canonical.clients.size > 0) return deny("forbidden", "join the dialog before writing to it");
  const ordered = integrationOrder(ctx.doc, canonical);
  if (!ordered.ok) return ordered;

  const placer = new Placer(ctx.doc, canonical.clients, maxKeys);
  const removed = removedBy(canonical);
  const rules: Rules =
    ctx.docKind === "segment"
      ? new SegmentRules(ctx, removed)
      : ctx.docKind === "meta"
        ? new MetaRules(ctx)
        : new UserStateRules(ctx, removed);
  const inert = new Set<Y.Item | Y.GC>();
  for (const struct of ordered.order) {
    if (!(struct instanceof Y.Item)) {
      placer.markGarbage(struct);
      continue;
    }
    if (struct.content instanceof Y.ContentDoc) return deny("invalid_update", "subdocuments are not allowed in a dialog");
    const place = placer.place(struct);
    if ("ok" in place) return place;
    if (place.inert) {
      inert.add(struct);
      continue;
    }
    const verdict = rules.insert(struct, place);
    if (verdict) return verdict;
  }

  let deletions = 0;
  for (const [client, ranges] of canonical.deletes) {
    const state = Y.getState(ctx.doc.store, client);
    const updateStructs = canonical.clients.get(client) ?? [];
    const last = updateStructs.at(-1);
    const end = last ? last.id.clock + last.length : state;
    for (const range of ranges) {
      const rangeEnd = range.clock + range.len;
      if (rangeEnd > end) return denyMissing("the update deletes items the server does not have");
      const known = ctx.doc.store.clients.get(client) ?? [];
      if (range.clock < state) {
        for (let index = Y.findIndexSS(known, range.clock); index < known.length; index += 1) {
          const struct = known[index] as Y.Item | Y.GC;
          if (struct.id.clock >= Math.min(rangeEnd, state)) break;
          if (!(struct instanceof Y.Item) || struct.deleted) continue;
          const place = placer.locateDocItem(struct);
          if ("ok" in place) return place;
          if (place.inert) continue;
          const verdict = rules.remove(struct, place);
          if (verdict) return verdict;
          deletions += 1;
        }
      }
      for (let index = firstEndingAfter(updateStructs, range.clock); index < updateStructs.length; index += 1) {
        const struct = updateStructs[index] as Y.Item | Y.GC;
        if (struct.id.clock >= rangeEnd) break;
        if (!(struct instanceof Y.Item) || inert.has(struct)) continue;
        const place = placer.placedOf(struct);
        if (!place || place.inert) continue;
        const verdict = rules.remove(struct, place);
        if (verdict) return verdict;
      }
    }
  }

  const final = rules.finish();
  if (final) return final;
  return {
    ok: true,
    empty: canonical.clients.size === 0 && deletions === 0,
    newClientIds: [...canonical.clients.keys()],
    newMessageIds: rules.newMessageIds(),
    attachmentRefs: rules.attachmentRefs,
    update: encodeCanonical(canonical, inert),
  };
};

/** Index of the first of a client's contiguous structs that ends after `clock`. */
const firstEndingAfter = (structs: readonly (Y.Item | Y.GC)[], clock: number): number => {
  let low = 0;
  let high = structs.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    const struct = structs[mid] as Y.Item | Y.GC;
    if (struct.id.clock + struct.length <= clock) low = mid + 1;
    else high = mid;
  }
  return low;
};

/** How many clocks of an item the update's delete set removes (0 when none). */
const removedBy = (canonical: CanonicalUpdate) => (item: Y.Item | Y.GC) => {
  const ranges = canonical.deletes.get(item.id.client);
  if (!ranges) return 0;
  const start = item.id.clock;
  const end = start + item.length;
  let low = 0;
  let high = ranges.length - 1;
  // The first range that ends after the item starts.
  while (low < high) {
    const mid = (low + high) >>> 1;
    const range = ranges[mid] as { clock: number; len: number };
    if (range.clock + range.len <= start) low = mid + 1;
    else high = mid;
  }
  let covered = 0;
  for (let index = low; index < ranges.length; index += 1) {
    const range = ranges[index] as { clock: number; len: number };
    if (range.clock >= end) break;
    covered += Math.max(0, Math.min(end, range.clock + range.len) - Math.max(start, range.clock));
  }
  return covered;
};

type Removed = ReturnType<typeof removedBy>;

interface Rules {
  readonly attachmentRefs: Record<string, unknown>[];
  insert(item: Y.Item, place: Place): Denial | null;
  remove(item: Y.Item, place: Place): Denial | null;
  finish(): Denial | null;
  newMessageIds(): string[];
}

const singleValue = (item: Y.Item): { ok: true; value: unknown } | { ok: false } => {
  if (!(item.content instanceof Y.ContentAny) || item.content.arr.length !== 1) return { ok: false };
  return { ok: true, value: item.content.arr[0] };
};

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value);

const hasExactly = (value: Record<string, unknown>, keys: readonly string[]): boolean => {
  const own = Object.keys(value);
  return own.length === keys.length && keys.every((key) => Object.hasOwn(value, key));
};

const isAttachmentRef = (value: unknown): boolean =>
  isPlainObject(value) &&
  hasExactly(value, ["id", "name", "mime", "size"]) &&
  typeof value.id === "string" &&
  value.id.length <= 64 &&
  typeof value.name === "string" &&
  value.name.length <= 255 &&
  typeof value.mime === "string" &&
  value.mime.length <= 127 &&
  typeof value.size === "number" &&
  Number.isSafeInteger(value.size) &&
  value.size >= 0;

const exactType = (item: Y.Item, type: typeof Y.XmlFragment | typeof Y.Map): boolean =>
  item.content instanceof Y.ContentType && item.content.type.constructor === type;

const canWriteContent = (writer: Writer): boolean => writer.access === "member" || writer.access === "admin";
const canReact = (writer: Writer): boolean => canWriteContent(writer) || writer.access === "subscriber";

/**
 * The bodies an update writes into, and the size each reaches: what the server
 * holds (less what the update deletes) plus what the update adds.
 */
class BodyBudget {
  private readonly touched = new Map<string, { existing: AnyType | null; added: Y.Item[] }>();

  constructor(
    private readonly limit: number,
    private readonly removed: Removed,
  ) {}

  add(key: string, existing: () => AnyType | null, item: Y.Item): void {
    let entry = this.touched.get(key);
    if (!entry) {
      entry = { existing: existing(), added: [] };
      this.touched.set(key, entry);
    }
    entry.added.push(item);
  }

  check(): Denial | null {
    for (const { existing, added } of this.touched.values()) {
      const size: BodySize = existing ? existingSize(existing, this.removed) : { chars: 0, nodes: 0 };
      for (const item of added) {
        const kept = item.length - this.removed(item);
        if (kept <= 0) continue;
        const more = sizeOf(item.content, kept);
        size.chars += more.chars;
        size.nodes += more.nodes;
      }
      if (size.chars > this.limit) return deny("payload_too_large", `a message or draft may hold at most ${this.limit} characters`);
      if (size.nodes > this.limit)
        return deny("payload_too_large", `a message or draft may hold at most ${this.limit} paragraphs and marks`);
    }
    return null;
  }
}

type NewMessage = { id: string; fields: Set<MessageField> };

class SegmentRules implements Rules {
  readonly attachmentRefs: Record<string, unknown>[] = [];
  private readonly created = new Map<Y.Item, NewMessage>();
  private readonly createdIds = new Set<string>();
  private readonly bodies: BodyBudget;

  constructor(
    private readonly ctx: InspectContext,
    removed: Removed,
  ) {
    this.bodies = new BodyBudget(ctx.maxMessageChars, removed);
  }

  insert(item: Y.Item, place: Place): Denial | null {
    if (place.root !== segmentRoots.messages) return deny("invalid_update", `unknown root "${place.root}" in a segment`);
    const [messageId, field, ...deeper] = place.keys;
    if (field === "reactions" && deeper.length > 0) return this.react(place, item);
    if (!canWriteContent(this.ctx.writer)) return this.noContent();
    if (typeof messageId !== "string") return deny("invalid_update", "messages are keyed by id");
    if (place.keys.length === 1) return this.createMessage(item, messageId);

    const created = place.top.where === "update" ? this.created.get(place.top.item) : undefined;
    if (place.top.where === "update" && !created) return deny("invalid_update", "a message's content must be created with it");
    if (field === undefined || field === null || !isMessageField(field)) {
      return deny("invalid_update", `unknown message field "${String(field)}"`);
    }
    const spec = messageFields[field];
    if (deeper.length > 0) {
      // Inside a nested type: only the rich body has one.
      if (spec.value !== "xml") return deny("invalid_update", `field "${field}" has no nested content`);
      const denied = created ? null : this.mayEditExisting(place.top, field, "edit");
      if (denied) return denied;
      const invalid = checkBodyItem(item, place, deeper.length);
      if (invalid) return invalid;
      this.bodies.add(messageId, () => (created ? null : bodyOf(place.top.item)), item);
      return null;
    }
    if (spec.serverOnly) return deny("forbidden", `only the server writes "${field}"`);
    if (created) {
      created.fields.add(field);
    } else {
      if (!spec.mutable) return deny("forbidden", `"${field}" cannot change after a message is sent`);
      const denied = this.mayEditExisting(place.top, field, "edit");
      if (denied) return denied;
    }
    return this.validateField(item, field);
  }

  remove(_item: Y.Item, place: Place): Denial | null {
    if (place.root !== segmentRoots.messages) return deny("forbidden", `nothing may be deleted from "${place.root}"`);
    if (place.keys[1] === "reactions" && place.keys.length > 2) return this.react(place, null);
    if (!canWriteContent(this.ctx.writer)) return this.noContent();
    if (place.keys.length === 1) return deny("forbidden", "messages are never removed; set deleted instead");
    const field = place.keys[1];
    if (typeof field !== "string" || !isMessageField(field)) return deny("invalid_update", "unknown message field");
    const spec = messageFields[field];
    const nested = place.keys.length > 2;
    if (nested && spec.value !== "xml") return deny("invalid_update", `field "${field}" has no nested content`);
    if (!nested && !spec.mutable) return deny("forbidden", `"${field}" cannot change after a message is sent`);
    return this.mayEditExisting(place.top, field, "delete");
  }

  finish(): Denial | null {
    for (const message of this.created.values()) {
      for (const [field, spec] of Object.entries(messageFields)) {
        if (spec.requiredOnCreate && !message.fields.has(field as MessageField)) {
          return deny("invalid_update", `message ${message.id} was sent without "${field}"`);
        }
      }
    }
    const existing = this.ctx.doc.getMap(segmentRoots.messages)._map.size;
    if (existing + this.created.size > this.ctx.maxMessagesPerSegment) {
      return deny("conflict", "this segment is full; write to the dialog's head segment");
    }
    return this.bodies.check();
  }

  newMessageIds(): string[] {
    return [...this.created.values()].map((message) => message.id);
  }

  private noContent(): Denial {
    if (this.ctx.writer.access === "potential") return deny("forbidden", "join the dialog before writing to it");
    if (this.ctx.writer.access === "subscriber") return deny("forbidden", "only admins post in a channel");
    return deny("forbidden", "read-only participants cannot write messages");
  }

  /** Adding (`item`) or removing (null) one reaction: only the writer's own, on a message that exists. */
  private react(place: Place, item: Y.Item | null): Denial | null {
    if (!canReact(this.ctx.writer)) return this.noContent();
    if (place.top.where === "update" && !this.created.has(place.top.item)) {
      return deny("invalid_update", "a message's content must be created with it");
    }
    const key = place.keys[2];
    const reaction = place.keys.length === 3 && typeof key === "string" ? parseReactionKey(key) : null;
    if (!reaction) return deny("invalid_update", "a reaction is keyed by [user id, emoji]");
    if (reaction.userId !== this.ctx.writer.userId) return deny("forbidden", "you may add or remove only your own reactions");
    if (item === null) return null;
    const single = singleValue(item);
    return single.ok && typeof single.value === "number" && Number.isFinite(single.value)
      ? null
      : deny("invalid_update", "a reaction's value is the time it was made");
  }

  private createMessage(item: Y.Item, messageId: string): Denial | null {
    if (!isUuid(messageId)) return deny("invalid_update", "a message id must be a lowercase UUID");
    if (!exactType(item, Y.Map)) return deny("invalid_update", "a message must be a map");
    // An entry for a key that already exists would replace that message when
    // Yjs resolves the concurrent map writes, so ids are single-use.
    if (this.ctx.doc.getMap(segmentRoots.messages)._map.has(messageId) || this.createdIds.has(messageId)) {
      return deny("conflict", `message ${messageId} already exists`);
    }
    this.createdIds.add(messageId);
    this.created.set(item, { id: messageId, fields: new Set() });
    return null;
  }

  /** Whether the writer may change a message: their own (created now, or before), or (admins) deleting another's. */
  private mayEditExisting(top: Ref, field: MessageField, action: "edit" | "delete"): Denial | null {
    const owner = top.where === "update" ? (this.created.has(top.item) ? this.ctx.writer.userId : null) : ownerOf(top.item);
    if (owner === this.ctx.writer.userId) return null;
    if (owner === systemUserId) return deny("forbidden", "system messages are written by the server only");
    const moderating = field === "deleted" || (field === "body" && action === "delete");
    if (this.ctx.writer.access === "admin" && moderating) return null;
    return deny("forbidden", "you may change only your own messages");
  }

  private validateField(item: Y.Item, field: MessageField): Denial | null {
    const spec = messageFields[field];
    if (spec.value === "xml")
      return exactType(item, Y.XmlFragment) ? null : deny("invalid_update", `"${field}" must be a rich-text fragment`);
    if (spec.value === "map") return exactType(item, Y.Map) ? null : deny("invalid_update", `"${field}" must be a map`);
    const single = singleValue(item);
    if (!single.ok) return deny("invalid_update", `"${field}" must hold one plain value`);
    const { value } = single;
    switch (field) {
      case "author":
        return value === this.ctx.writer.userId ? null : deny("forbidden", "you may send messages only as yourself");
      case "kind":
        return value === messageKinds.text ? null : deny("forbidden", "only the server sends system messages");
      case "replyTo":
        return typeof value === "string" && isUuid(value) ? null : deny("invalid_update", "replyTo must be a message id");
      case "attachments":
        if (!Array.isArray(value) || value.length > maxAttachments || !value.every(isAttachmentRef)) {
          return deny("invalid_update", `attachments must be a list of at most ${maxAttachments} {id, name, mime, size}`);
        }
        this.attachmentRefs.push(...(value as Record<string, unknown>[]));
        return null;
      default:
        if (spec.value === "number")
          return typeof value === "number" && Number.isFinite(value) ? null : deny("invalid_update", `"${field}" must be a number`);
        if (spec.value === "boolean") return typeof value === "boolean" ? null : deny("invalid_update", `"${field}" must be true or false`);
        return deny("invalid_update", `"${field}" cannot be written by a client`);
    }
  }
}

const messageMapOf = (top: Y.Item): Y.Map<unknown> | null =>
  top.content instanceof Y.ContentType && top.content.type instanceof Y.Map ? (top.content.type as Y.Map<unknown>) : null;

/**
 * The owner of an existing message. `author` and `kind` are immutable and were
 * checked against the writer when the message was created, so they identify it.
 */
const ownerOf = (top: Y.Item): string | null => {
  const message = messageMapOf(top);
  if (!message) return null;
  if (message.get("kind") === messageKinds.system) return systemUserId;
  const author = message.get("author");
  return typeof author === "string" ? author : null;
};

const bodyOf = (top: Y.Item): AnyType | null => {
  const body = messageMapOf(top)?.get("body");
  return body instanceof Y.AbstractType ? body : null;
};

class MetaRules implements Rules {
  readonly attachmentRefs = [];
  constructor(private readonly ctx: InspectContext) {}

  insert(item: Y.Item, place: Place): Denial | null {
    const denied = this.ownCursor(place);
    if (denied) return denied;
    const single = singleValue(item);
    const value = single.ok ? single.value : undefined;
    if (
      !isPlainObject(value) ||
      !hasExactly(value, ["messageId", "readAt"]) ||
      typeof value.messageId !== "string" ||
      !isUuid(value.messageId) ||
      typeof value.readAt !== "number" ||
      !Number.isFinite(value.readAt)
    ) {
      return deny("invalid_update", "a read cursor is {messageId, readAt}");
    }
    return null;
  }

  remove(_item: Y.Item, place: Place): Denial | null {
    return this.ownCursor(place);
  }

  finish(): Denial | null {
    return null;
  }

  newMessageIds(): string[] {
    return [];
  }

  private ownCursor(place: Place): Denial | null {
    if (place.root !== metaRoots.reads) return deny("forbidden", `"${place.root}" is written by the server only`);
    if (this.ctx.writer.access === "potential") return deny("forbidden", "join the dialog before writing to it");
    if (place.keys.length !== 1 || place.keys[0] !== this.ctx.writer.userId) {
      return deny("forbidden", "you may move only your own read cursor");
    }
    return null;
  }
}

/**
 * A user's own state document: the server admits only its owner, so only the shape is checked here.
 * Root `dialogs`: flat keys `<dialog>/<field>` with plain values. Roots `draft/<dialog id>`: a
 * rich body each, under the same schema and limits as a message's.
 */
class UserStateRules implements Rules {
  readonly attachmentRefs = [];
  private readonly drafts: BodyBudget;

  constructor(
    private readonly ctx: InspectContext,
    removed: Removed,
  ) {
    this.drafts = new BodyBudget(ctx.maxMessageChars, removed);
  }

  insert(item: Y.Item, place: Place): Denial | null {
    if (parseDraftRoot(place.root)) {
      const invalid = checkBodyItem(item, place, place.keys.length);
      if (invalid) return invalid;
      this.drafts.add(place.root, () => this.ctx.doc.share.get(place.root) ?? null, item);
      return null;
    }
    const denied = this.check(place);
    if (denied) return denied;
    const parsed = parseUserStateKey(place.keys[0] as string);
    const single = singleValue(item);
    if (!parsed || !single.ok || !isUserStateValue(parsed.field, single.value)) {
      return deny("invalid_update", "pinned and notifications are true or false; archived is {archived, through}");
    }
    return null;
  }

  remove(_item: Y.Item, place: Place): Denial | null {
    // Deleting draft text is what an editor does; a root itself cannot be removed.
    if (parseDraftRoot(place.root)) return null;
    return this.check(place);
  }

  finish(): Denial | null {
    return this.drafts.check();
  }

  newMessageIds(): string[] {
    return [];
  }

  private check(place: Place): Denial | null {
    if (place.root !== userStateRoots.dialogs) return deny("invalid_update", `unknown root "${place.root}" in a user's state`);
    const key = place.keys[0];
    if (place.keys.length !== 1 || typeof key !== "string" || !parseUserStateKey(key)) {
      return deny("invalid_update", "user state is keyed <dialog id>/<pinned|notifications|archived>");
    }
    return null;
  }
}
