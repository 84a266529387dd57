import * as Y from "yjs";
import { maxBodyDepth } from "./limits.ts";
import { allowedAttrs } from "./rich-schema.ts";

/**
 * The dialog's Yjs schema, version 1. This file is the one place that names
 * roots and fields; the server, the authorization policy, the projection and
 * the SDK all import it.
 *
 * Meta document (`dialog/<id>`):
 * - `meta`: Y.Map, server-owned. Keys in {@link metaKeys}.
 * - `participants`: Y.Map<userId, ParticipantEntry>, server-owned.
 * - `reads`: Y.Map<userId, ReadCursor>; each user writes only their own key.
 *
 * Segment document (`dialog/<id>/seg/<n>`):
 * - `messages`: Y.Map<messageId (UUIDv7), Y.Map>, one nested map per message
 *   with the fields in {@link messageFields}. The body is a Y.XmlFragment in
 *   the y-prosemirror layout, so Tiptap's collaboration extension binds to it.
 */
export const schemaVersion = 1;

export const metaRoots = { meta: "meta", participants: "participants", reads: "reads" } as const;
export const segmentRoots = { messages: "messages" } as const;

export const metaKeys = {
  schemaVersion: "schemaVersion",
  dialogId: "dialogId",
  projectId: "projectId",
  objectType: "objectType",
  objectId: "objectId",
  title: "title",
  objectUrl: "objectUrl",
  createdBy: "createdBy",
  createdAt: "createdAt",
  hostMeta: "hostMeta",
  accessScopes: "accessScopes",
  headSegment: "headSegment",
  segmentSize: "segmentSize",
  /** One of {@link dialogKinds}; absent means `object`. */
  kind: "kind",
  /** When the host last changed the title, object URL or meta (ms); names the dialog.updated event it causes. */
  updatedAt: "updatedAt",
  /** The newest message (by arrival) when the server auto-archived the dialog; see `isArchived`. */
  autoArchivedThrough: "autoArchivedThrough",
} as const;

/**
 * - `object`: bound to a host business object (the default);
 * - `direct`: one-to-one, one per pair of users (get-or-create);
 * - `self`: a user's notes to self;
 * - `group`: a named group of participants;
 * - `channel`: only admins post; everyone else reads (and reacts).
 */
export const dialogKinds = { object: "object", direct: "direct", self: "self", group: "group", channel: "channel" } as const;
export type DialogKind = (typeof dialogKinds)[keyof typeof dialogKinds];

export const participantRoles = { member: "member", admin: "admin", readonly: "readonly" } as const;
export type ParticipantRole = (typeof participantRoles)[keyof typeof participantRoles];

export type ParticipantEntry = {
  displayName: string;
  company: string | null;
  role: ParticipantRole;
  joinedAt: number;
};

export type AccessScope = { tenant_uid: string; scope_level1: string[]; scope_level2: string[] };

export type ReadCursor = { messageId: string; readAt: number };

export const messageKinds = { text: "text", system: "system" } as const;
export type MessageKind = (typeof messageKinds)[keyof typeof messageKinds];

/**
 * How each message field may be written. `mutable: false` fields are set once,
 * in the update that creates the message; `serverOnly` fields never come from
 * a client.
 */
export const messageFields = {
  author: { value: "string", requiredOnCreate: true, mutable: false, serverOnly: false },
  kind: { value: "string", requiredOnCreate: true, mutable: false, serverOnly: false },
  createdAt: { value: "number", requiredOnCreate: true, mutable: false, serverOnly: false },
  body: { value: "xml", requiredOnCreate: true, mutable: false, serverOnly: false },
  replyTo: { value: "string", requiredOnCreate: false, mutable: false, serverOnly: false },
  attachments: { value: "array", requiredOnCreate: false, mutable: true, serverOnly: false },
  editedAt: { value: "number", requiredOnCreate: false, mutable: true, serverOnly: false },
  deleted: { value: "boolean", requiredOnCreate: false, mutable: true, serverOnly: false },
  system: { value: "object", requiredOnCreate: false, mutable: false, serverOnly: true },
  /**
   * Y.Map of reactions, created with the message (so concurrent reactors never
   * race to create it), keyed by {@link reactionKey}; each user adds and
   * removes only their own keys. The value is the time of the reaction.
   */
  reactions: { value: "map", requiredOnCreate: false, mutable: false, serverOnly: false },
} as const;
export type MessageField = keyof typeof messageFields;
export const isMessageField = (key: string): key is MessageField => Object.hasOwn(messageFields, key);

export type AttachmentRef = { id: string; name: string; mime: string; size: number };

/** Longest reaction a user may add: one emoji with modifiers, or a short code. */
export const maxReactionLength = 32;

/** A reaction's key in a message's `reactions` map: unambiguous whatever the user id holds. */
export const reactionKey = (userId: string, emoji: string): string => JSON.stringify([userId, emoji]);

/** The user and emoji of a reaction key, or null when the key is not one {@link reactionKey} makes. */
export const parseReactionKey = (key: string): { userId: string; emoji: string } | null => {
  try {
    const parsed: unknown = JSON.parse(key);
    if (!Array.isArray(parsed) || parsed.length !== 2) return null;
    const [userId, emoji] = parsed as unknown[];
    if (typeof userId !== "string" || typeof emoji !== "string") return null;
    if (emoji.length === 0 || emoji.length > maxReactionLength || /\s/.test(emoji)) return null;
    return reactionKey(userId, emoji) === key ? { userId, emoji } : null;
  } catch {
    return null;
  }
};

export const reactionsOf = (entry: Y.Map<unknown>): Y.Map<number> | null => {
  const reactions = entry.get("reactions");
  return reactions instanceof Y.Map ? (reactions as Y.Map<number>) : null;
};

/** A message as plain data, read from its Y.Map. */
export type MessageView = {
  id: string;
  author: string;
  kind: MessageKind;
  createdAt: number;
  text: string;
  body: RichNode;
  replyTo: string | null;
  attachments: AttachmentRef[];
  editedAt: number | null;
  deleted: boolean;
  system: Record<string, unknown> | null;
  /** Emoji → the users who reacted with it, in key order. */
  reactions: Record<string, string[]>;
};

/** ProseMirror-style JSON of a body, the shape Tiptap's `getJSON()` returns. */
export type RichNode = {
  type: string;
  attrs?: Record<string, unknown>;
  content?: RichNode[];
  text?: string;
  marks?: { type: string; attrs?: Record<string, unknown> }[];
};

export const messagesOf = (segment: Y.Doc): Y.Map<Y.Map<unknown>> => segment.getMap(segmentRoots.messages);
export const metaOf = (meta: Y.Doc): Y.Map<unknown> => meta.getMap(metaRoots.meta);
export const participantsOf = (meta: Y.Doc): Y.Map<ParticipantEntry> => meta.getMap(metaRoots.participants);
export const readsOf = (meta: Y.Doc): Y.Map<ReadCursor> => meta.getMap(metaRoots.reads);

/** Fills an empty fragment with one paragraph per line of plain text. */
export const writePlainText = (fragment: Y.XmlFragment, text: string): void => {
  const paragraphs = text.split("\n").map((line) => {
    const paragraph = new Y.XmlElement("paragraph");
    if (line.length > 0) paragraph.insert(0, [new Y.XmlText(line)]);
    return paragraph;
  });
  fragment.insert(0, paragraphs);
};

export type NewMessage = {
  id: string;
  author: string;
  createdAt: number;
  text: string;
  kind?: MessageKind;
  replyTo?: string | null;
  attachments?: AttachmentRef[];
  system?: Record<string, unknown>;
};

/** Writes a message into a segment document in one transaction (one update). */
export const createMessage = (segment: Y.Doc, message: NewMessage): Y.Map<unknown> => {
  const entry = new Y.Map<unknown>();
  segment.transact(() => {
    messagesOf(segment).set(message.id, entry as Y.Map<unknown>);
    entry.set("author", message.author);
    entry.set("kind", message.kind ?? messageKinds.text);
    entry.set("createdAt", message.createdAt);
    if (message.replyTo) entry.set("replyTo", message.replyTo);
    if (message.attachments && message.attachments.length > 0) entry.set("attachments", message.attachments);
    if (message.system) entry.set("system", message.system);
    const body = new Y.XmlFragment();
    entry.set("body", body);
    writePlainText(body, message.text);
    entry.set("reactions", new Y.Map<number>());
  });
  return entry;
};

/** Adds or removes the user's reaction on a message. */
export const setReaction = (entry: Y.Map<unknown>, userId: string, emoji: string, on: boolean, at: number): void => {
  const reactions = reactionsOf(entry);
  if (!reactions) throw new Error("this message takes no reactions");
  if (on) reactions.set(reactionKey(userId, emoji), at);
  else reactions.delete(reactionKey(userId, emoji));
};

/** Replaces a message's text and stamps `editedAt`. */
export const editMessageText = (entry: Y.Map<unknown>, text: string, editedAt: number): void => {
  const body = entry.get("body");
  if (!(body instanceof Y.XmlFragment)) throw new Error("message has no body fragment");
  const apply = () => {
    body.delete(0, body.length);
    writePlainText(body, text);
    entry.set("editedAt", editedAt);
  };
  if (entry.doc) entry.doc.transact(apply);
  else apply();
};

/** Soft-deletes a message: the entry stays (so history and receipts keep their anchor), its body is emptied. */
export const deleteMessage = (entry: Y.Map<unknown>): void => {
  const apply = () => {
    const body = entry.get("body");
    if (body instanceof Y.XmlFragment) body.delete(0, body.length);
    entry.set("deleted", true);
  };
  if (entry.doc) entry.doc.transact(apply);
  else apply();
};

const textNodes = (text: Y.XmlText): RichNode[] =>
  (text.toDelta() as { insert: unknown; attributes?: Record<string, unknown> }[]).flatMap((op) => {
    if (typeof op.insert !== "string") return [];
    const node: RichNode = { type: "text", text: op.insert };
    const marks = Object.entries(op.attributes ?? {}).flatMap(([type, value]) => {
      const attrs = allowedAttrs("mark", type, value !== null && typeof value === "object" ? (value as Record<string, unknown>) : {});
      if (attrs === null) return [];
      return [Object.keys(attrs).length > 0 ? { type, attrs } : { type }];
    });
    if (marks.length > 0) node.marks = marks;
    return [node];
  });

/**
 * Reads children into ProseMirror JSON by the body schema: elements it does not
 * know give way to their children, attributes and marks it does not know are
 * dropped, and nothing deeper than {@link maxBodyDepth} is read, so a body
 * written by any client reads safely and in bounded time and stack.
 */
const nodesOf = (children: (Y.XmlElement | Y.XmlText | Y.XmlHook)[], depth: number): RichNode[] =>
  depth > maxBodyDepth
    ? []
    : children.flatMap((child): RichNode[] => {
        if (child instanceof Y.XmlText) return textNodes(child);
        if (!(child instanceof Y.XmlElement)) return [];
        const content = nodesOf(child.toArray(), depth + 1);
        const attrs = allowedAttrs("node", child.nodeName, child.getAttributes());
        if (attrs === null) return content;
        const node: RichNode = { type: child.nodeName };
        if (Object.keys(attrs).length > 0) node.attrs = attrs;
        if (content.length > 0) node.content = content;
        return [node];
      });

/** The body as ProseMirror JSON (`{type: "doc", content: [...]}`). */
export const bodyToJson = (fragment: Y.XmlFragment): RichNode => ({ type: "doc", content: nodesOf(fragment.toArray(), 1) });

const plainOf = (node: RichNode): string => {
  if (node.type === "text") return node.text ?? "";
  if (node.type === "hardBreak") return "\n";
  if (node.type === "mention") return `@${String(node.attrs?.label ?? node.attrs?.id ?? "")}`;
  return (node.content ?? []).map(plainOf).join("");
};

/** Plain text of a body: block nodes become lines. Used for search and previews. */
export const bodyToPlainText = (body: RichNode): string => (body.content ?? []).map(plainOf).join("\n").replace(/\n+$/, "");

const stringOr = (value: unknown, fallback: string): string => (typeof value === "string" ? value : fallback);
const numberOr = <T>(value: unknown, fallback: T): number | T => (typeof value === "number" && Number.isFinite(value) ? value : fallback);

const isAttachmentRef = (value: unknown): value is AttachmentRef => {
  if (value === null || typeof value !== "object") return false;
  const ref = value as Record<string, unknown>;
  return typeof ref.id === "string" && typeof ref.name === "string" && typeof ref.mime === "string" && typeof ref.size === "number";
};

const readReactions = (entry: Y.Map<unknown>): Record<string, string[]> => {
  const byEmoji: Record<string, string[]> = Object.create(null);
  for (const key of [...(reactionsOf(entry)?.keys() ?? [])].sort()) {
    const reaction = parseReactionKey(key);
    if (!reaction) continue;
    byEmoji[reaction.emoji] ??= [];
    byEmoji[reaction.emoji]?.push(reaction.userId);
  }
  return byEmoji;
};

/**
 * Reads a message defensively: documents are written by clients, so a field
 * of the wrong type reads as its empty value instead of throwing.
 */
export const readMessage = (id: string, entry: Y.Map<unknown>): MessageView => {
  const bodyValue = entry.get("body");
  const body = bodyValue instanceof Y.XmlFragment ? bodyToJson(bodyValue) : { type: "doc" };
  const attachments = entry.get("attachments");
  const system = entry.get("system");
  return {
    id,
    author: stringOr(entry.get("author"), ""),
    kind: entry.get("kind") === messageKinds.system ? messageKinds.system : messageKinds.text,
    createdAt: numberOr(entry.get("createdAt"), 0),
    text: bodyToPlainText(body),
    body,
    replyTo: typeof entry.get("replyTo") === "string" ? (entry.get("replyTo") as string) : null,
    attachments: Array.isArray(attachments) ? attachments.filter(isAttachmentRef) : [],
    editedAt: numberOr(entry.get("editedAt"), null),
    deleted: entry.get("deleted") === true,
    system: system !== null && typeof system === "object" && !Array.isArray(system) ? (system as Record<string, unknown>) : null,
    reactions: readReactions(entry),
  };
};
