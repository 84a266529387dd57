import {
  isMessageField,
  isUserStateValue,
  isUuid,
  type MessageField,
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
import { type Decision, type Denial, deny } from "./decision.ts";
import { groupByClient, isDenial, Locator, type Locator as LocatorType, type Place, type Ref } from "./locate.ts";
import { systemUserId, type Writer } from "./writer.ts";

export type DocKind = "meta" | "segment" | "user";

export type ParsedUpdate = {
  update: Uint8Array;
  structs: Map<number, (Y.Item | Y.GC)[]>;
  deletes: Map<number, { clock: number; len: number }[]>;
};

/** Decodes an update for inspection. Malformed bytes are a denial, never an exception. */
export const parseUpdate = (update: Uint8Array): Decision<{ parsed: ParsedUpdate }> => {
  try {
    const { structs, ds } = Y.decodeUpdate(update);
    const deletes = new Map<number, { clock: number; len: number }[]>();
    for (const [client, items] of ds.clients)
      deletes.set(
        client,
        items.map(({ clock, len }) => ({ clock, len })),
      );
    return { ok: true, parsed: { update, structs: groupByClient(structs), deletes } };
  } catch {
    return deny("invalid_update", "the update could not be decoded");
  }
};

export type InspectContext = {
  /** The server's current document. It is read, never changed. */
  doc: Y.Doc;
  docKind: DocKind;
  writer: Writer;
  /** Hard cap on messages in one segment; offline merges may pass the soft size, never this. */
  maxMessagesPerSegment: number;
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
};

type NewMessage = { id: string; fields: Set<MessageField> };

/**
 * Decides whether `writer` may apply `parsed` to `ctx.doc`. Every new struct is
 * located and checked against the dialog schema's rules; every deletion is
 * checked against the item it removes. Structs the server already holds are
 * echoes and pass. The rules:
 * - segment: a user creates messages only as their own author, with kind
 *   "text", once per id; edits and deletes only inside their own messages, and
 *   never immutable fields; admins may also soft-delete others' messages.
 * - reactions: any participant but read-only ones adds and removes only their own, on any message.
 * - meta: a user writes only their own read cursor; everything else is the server's.
 * - user state: well-formed keys and values only (the server lets only the owner in).
 * - potential participants write nothing; read-only participants only their read cursor;
 *   channel subscribers react and move their cursor.
 */
export const inspectUpdate = (parsed: ParsedUpdate, ctx: InspectContext): Decision<Accepted> => {
  const locator = new Locator(ctx.doc, parsed.structs);
  const rules: Rules =
    ctx.docKind === "segment" ? new SegmentRules(ctx, locator) : ctx.docKind === "meta" ? new MetaRules(ctx) : new UserStateRules();
  const newClientIds: number[] = [];
  let changes = 0;

  for (const [client, structs] of parsed.structs) {
    let expected = Y.getState(ctx.doc.store, client);
    let carriesNew = false;
    for (const struct of structs) {
      const end = struct.id.clock + struct.length;
      if (end <= expected) continue;
      if (struct.id.clock > expected) {
        return deny("invalid_update", "the update skips structs the server has not seen; send the missing changes first");
      }
      expected = end;
      carriesNew = true;
      changes += 1;
      if (!(struct instanceof Y.Item)) continue;
      if (struct.content instanceof Y.ContentDoc) return deny("invalid_update", "subdocuments are not allowed in a dialog");
      const place = locator.locate({ where: "update", item: struct });
      if (isDenial(place)) return place;
      if (place.inert) continue;
      const verdict = rules.insert(struct, place);
      if (verdict) return verdict;
    }
    if (carriesNew) newClientIds.push(client);
  }

  for (const [client, ranges] of parsed.deletes) {
    const state = Y.getState(ctx.doc.store, client);
    const known = ctx.doc.store.clients.get(client) ?? [];
    const updateEnd = lastClock(parsed.structs.get(client));
    for (const { clock, len } of ranges) {
      const end = clock + len;
      if (end > Math.max(state, updateEnd)) return deny("invalid_update", "the update deletes items the server does not have");
      if (clock >= state) continue;
      for (let index = Y.findIndexSS(known, clock); index < known.length; index += 1) {
        const struct = known[index] as Y.Item | Y.GC;
        if (struct.id.clock >= Math.min(end, state)) break;
        if (!(struct instanceof Y.Item) || struct.deleted) continue;
        const place = locator.locate({ where: "doc", item: struct });
        if (isDenial(place)) return place;
        if (place.inert) continue;
        const verdict = rules.remove(place);
        if (verdict) return verdict;
        changes += 1;
      }
    }
  }

  const final = rules.finish();
  if (final) return final;
  return { ok: true, empty: changes === 0, newClientIds, newMessageIds: rules.newMessageIds(), attachmentRefs: rules.attachmentRefs };
};

const lastClock = (structs: readonly (Y.Item | Y.GC)[] | undefined): number => {
  const last = structs?.at(-1);
  return last ? last.id.clock + last.length : 0;
};

interface Rules {
  readonly attachmentRefs: Record<string, unknown>[];
  insert(item: Y.Item, place: Place): Denial | null;
  remove(place: Place): Denial | null;
  finish(): Denial | null;
  newMessageIds(): string[];
}

const singleValue = (item: Y.Item): { ok: true; value: unknown } | { ok: false } => {
  if (!(item.content instanceof Y.ContentAny) || item.content.arr.length !== 1) return { ok: false };
  return { ok: true, value: item.content.arr[0] };
};

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value);

const canWriteContent = (writer: Writer): boolean => writer.access === "member" || writer.access === "admin";
const canReact = (writer: Writer): boolean => canWriteContent(writer) || writer.access === "subscriber";

class SegmentRules implements Rules {
  readonly attachmentRefs: Record<string, unknown>[] = [];
  private readonly created = new Map<Y.Item, NewMessage>();
  private readonly createdIds = new Set<string>();

  constructor(
    private readonly ctx: InspectContext,
    readonly _locator: LocatorType,
  ) {}

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
      return created ? null : this.mayEditExisting(place.top, field, "edit");
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

  remove(place: Place): Denial | null {
    if (place.root !== segmentRoots.messages) return deny("forbidden", `nothing may be deleted from "${place.root}"`);
    if (place.keys[1] === "reactions" && place.keys.length > 2) return this.react(place, null);
    if (!canWriteContent(this.ctx.writer)) return this.noContent();
    if (place.keys.length === 1) return deny("forbidden", "messages are never removed; set deleted instead");
    const field = place.keys[1];
    if (typeof field !== "string" || !isMessageField(field)) return deny("invalid_update", "unknown message field");
    const spec = messageFields[field];
    const nested = place.keys.length > 2;
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
    return null;
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
    if (!(item.content instanceof Y.ContentType) || !(item.content.type instanceof Y.Map)) {
      return deny("invalid_update", "a message must be a map");
    }
    // An entry for a key that already exists would replace that message when
    // Yjs resolves the concurrent map writes, so ids are single-use.
    if (this.ctx.doc.getMap(segmentRoots.messages)._map.has(messageId) || this.createdIds.has(messageId)) {
      return deny("conflict", `message ${messageId} already exists`);
    }
    this.createdIds.add(messageId);
    this.created.set(item, { id: messageId, fields: new Set() });
    return null;
  }

  /** Whether the writer may change an existing message: their own, or (admins) deleting another's. */
  private mayEditExisting(top: Ref, field: MessageField, action: "edit" | "delete"): Denial | null {
    const owner = ownerOf(top.item);
    if (owner === this.ctx.writer.userId) return null;
    if (owner === systemUserId) return deny("forbidden", "system messages are written by the server only");
    const moderating = field === "deleted" || (field === "body" && action === "delete");
    if (this.ctx.writer.access === "admin" && moderating) return null;
    return deny("forbidden", "you may change only your own messages");
  }

  private validateField(item: Y.Item, field: MessageField): Denial | null {
    const spec = messageFields[field];
    if (spec.value === "xml") {
      return item.content instanceof Y.ContentType && item.content.type instanceof Y.XmlFragment
        ? null
        : deny("invalid_update", `"${field}" must be a rich-text fragment`);
    }
    if (spec.value === "map") {
      return item.content instanceof Y.ContentType && item.content.type instanceof Y.Map
        ? null
        : deny("invalid_update", `"${field}" must be a map`);
    }
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
        if (!Array.isArray(value) || !value.every(isPlainObject)) return deny("invalid_update", "attachments must be a list of objects");
        this.attachmentRefs.push(...value);
        return null;
      default:
        if (spec.value === "number")
          return typeof value === "number" && Number.isFinite(value) ? null : deny("invalid_update", `"${field}" must be a number`);
        if (spec.value === "boolean") return typeof value === "boolean" ? null : deny("invalid_update", `"${field}" must be true or false`);
        return deny("invalid_update", `"${field}" cannot be written by a client`);
    }
  }
}

/**
 * The owner of an existing message. `author` and `kind` are immutable and were
 * checked against the writer when the message was created, so they identify it.
 */
const ownerOf = (top: Y.Item): string | null => {
  if (!(top.content instanceof Y.ContentType) || !(top.content.type instanceof Y.Map)) return null;
  const message = top.content.type as Y.Map<unknown>;
  if (message.get("kind") === messageKinds.system) return systemUserId;
  const author = message.get("author");
  return typeof author === "string" ? author : null;
};

class MetaRules implements Rules {
  readonly attachmentRefs = [];
  constructor(private readonly ctx: InspectContext) {}

  insert(item: Y.Item, place: Place): Denial | null {
    const denied = this.ownCursor(place);
    if (denied) return denied;
    const single = singleValue(item);
    const value = single.ok ? single.value : undefined;
    if (!isPlainObject(value) || typeof value.messageId !== "string" || !isUuid(value.messageId) || typeof value.readAt !== "number") {
      return deny("invalid_update", "a read cursor is {messageId, readAt}");
    }
    return null;
  }

  remove(place: Place): Denial | null {
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
 * rich-text fragment each, holding only what an editor writes (elements, text, formatting, attributes).
 */
class UserStateRules implements Rules {
  readonly attachmentRefs = [];
  insert(item: Y.Item, place: Place): Denial | null {
    if (parseDraftRoot(place.root)) return this.draft(item);
    const denied = this.check(place);
    if (denied) return denied;
    const parsed = parseUserStateKey(place.keys[0] as string);
    const single = singleValue(item);
    if (!parsed || !single.ok || !isUserStateValue(parsed.field, single.value)) {
      return deny("invalid_update", "pinned and notifications are true or false; archived is {archived, through}");
    }
    return null;
  }

  remove(place: Place): Denial | null {
    // Deleting draft text is what an editor does; a root itself cannot be removed.
    if (parseDraftRoot(place.root)) return null;
    return this.check(place);
  }

  finish(): Denial | null {
    return null;
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

  /** Content written into a draft's fragment: rich-text elements, text, formatting and attributes only. */
  private draft(item: Y.Item): Denial | null {
    const content = item.content;
    if (content instanceof Y.ContentType) {
      return content.type instanceof Y.XmlText || (content.type instanceof Y.XmlElement && !(content.type instanceof Y.XmlHook))
        ? null
        : deny("invalid_update", "a draft holds only rich-text elements and text");
    }
    return content instanceof Y.ContentString ||
      content instanceof Y.ContentFormat ||
      content instanceof Y.ContentAny ||
      content instanceof Y.ContentEmbed ||
      content instanceof Y.ContentDeleted
      ? null
      : deny("invalid_update", "a draft holds only rich-text elements and text");
  }
}
