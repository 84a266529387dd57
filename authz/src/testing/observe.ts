import {
  checkMark,
  checkNodeAttr,
  isBodyNode,
  isMessageField,
  isUuid,
  maxAttachments,
  maxBodyDepth,
  messagesOf,
  parseReactionKey,
} from "@mtchat/protocol";
import * as Y from "yjs";

/**
 * What a document holds as a reader sees it, read from Yjs's own structures
 * (not through the protocol's filtering readers), so a test can compare the
 * effect an update really had against what the rules allow.
 */
export type ObservedMessage = {
  /** The id of the message's map item: replacing a message changes it. */
  item: string;
  fields: Record<string, unknown>;
  /** Field keys that currently hold a value. */
  keys: string[];
  /** Content in the message map's list part, which no reader sees and no writer should put there. */
  listJunk: number;
  body: BodyTree | null;
  reactions: Record<string, unknown>;
};

export type BodyTree =
  | { element: string; attrs: Record<string, unknown>; children: BodyTree[] }
  | { text: { insert: unknown; attributes?: Record<string, unknown> }[] }
  | { other: string }
  | { tooDeep: true };

type AnyType = NonNullable<ReturnType<Y.Doc["share"]["get"]>>;

const readTree = (type: AnyType, depth: number): BodyTree => {
  if (depth > maxBodyDepth + 8) return { tooDeep: true };
  if (type instanceof Y.XmlText) return { text: type.toDelta() };
  if (type instanceof Y.XmlHook) return { other: "XmlHook" };
  if (type instanceof Y.XmlElement || type.constructor === Y.XmlFragment) {
    const fragment = type as Y.XmlFragment;
    return {
      element: type instanceof Y.XmlElement ? type.nodeName : "#fragment",
      attrs: type instanceof Y.XmlElement ? type.getAttributes() : {},
      children: fragment.toArray().map((child) => readTree(child as unknown as AnyType, depth + 1)),
    };
  }
  return { other: type.constructor.name };
};

export const observeBody = (value: unknown): BodyTree | null => (value instanceof Y.AbstractType ? readTree(value as AnyType, 0) : null);

export const observeMessages = (doc: Y.Doc): Map<string, ObservedMessage> => {
  const observed = new Map<string, ObservedMessage>();
  for (const [id, entry] of messagesOf(doc).entries()) {
    if (!(entry instanceof Y.Map)) {
      observed.set(id, { item: "not a map", fields: {}, keys: [], listJunk: 0, body: null, reactions: {} });
      continue;
    }
    const fields: Record<string, unknown> = {};
    for (const key of entry.keys()) {
      const value = entry.get(key);
      if (!(value instanceof Y.AbstractType)) fields[key] = value;
    }
    let listJunk = 0;
    for (let item = entry._start; item !== null; item = item.right) if (!item.deleted) listJunk += 1;
    const reactions = entry.get("reactions");
    const item = entry._item;
    observed.set(id, {
      item: item ? `${item.id.client}:${item.id.clock}` : "?",
      fields,
      keys: [...entry.keys()].sort(),
      listJunk,
      body: observeBody(entry.get("body")),
      reactions: reactions instanceof Y.Map ? Object.fromEntries([...reactions.entries()]) : {},
    });
  }
  return observed;
};

/** Root content no reader looks at: list items of the messages map, for one. */
export const rootListJunk = (doc: Y.Doc, root: string): number => {
  let junk = 0;
  for (let item = doc.share.get(root)?._start ?? null; item !== null; item = item.right) if (!item.deleted) junk += 1;
  return junk;
};

const textLength = (tree: BodyTree): number => {
  if ("text" in tree) return tree.text.reduce((sum, op) => sum + (typeof op.insert === "string" ? op.insert.length : 1), 0);
  if ("children" in tree) return tree.children.reduce((sum, child) => sum + textLength(child), 0);
  return 0;
};

export const bodyText = (tree: BodyTree | null): string => {
  if (tree === null) return "";
  if ("text" in tree) return tree.text.map((op) => (typeof op.insert === "string" ? op.insert : "")).join("");
  if ("children" in tree) return tree.children.map(bodyText).join("");
  return "";
};

/**
 * Why a body breaks the schema (elements, attributes, marks, depth, size), or
 * null when it holds only what the composer writes.
 */
export const bodyViolation = (tree: BodyTree | null, maxChars: number): string | null => {
  if (tree === null) return "no body";
  if ("element" in tree && tree.element !== "#fragment") return "the body is not a fragment";
  if (textLength(tree) > maxChars) return "the body is longer than allowed";
  const visit = (node: BodyTree, depth: number): string | null => {
    if ("tooDeep" in node) return "nested too deep";
    if ("other" in node) return `holds a ${node.other}`;
    if ("text" in node) {
      if (depth === 1) return "text directly in the body";
      for (const op of node.text) {
        if (typeof op.insert !== "string") return "an embed in text";
        for (const [mark, value] of Object.entries(op.attributes ?? {})) {
          const reason = checkMark(mark, value);
          if (reason) return reason;
        }
      }
      return null;
    }
    if (depth > 0) {
      if (!isBodyNode(node.element)) return `element ${node.element}`;
      if (depth > maxBodyDepth) return "nested too deep";
      for (const [key, value] of Object.entries(node.attrs)) {
        const reason = checkNodeAttr(node.element, key, value);
        if (reason) return reason;
      }
    }
    for (const child of node.children) {
      const reason = visit(child, depth + 1);
      if (reason) return reason;
    }
    return null;
  };
  return visit(tree, 0);
};

/** Why a message's plain fields break the schema, or null. */
export const fieldViolation = (message: ObservedMessage): string | null => {
  for (const key of message.keys) if (!isMessageField(key)) return `unknown field ${key}`;
  if (message.listJunk > 0) return "list content in a message map";
  const { fields } = message;
  if (fields.replyTo !== undefined && !(typeof fields.replyTo === "string" && isUuid(fields.replyTo))) return "replyTo is not a message id";
  if (fields.createdAt !== undefined && !(typeof fields.createdAt === "number" && Number.isFinite(fields.createdAt))) return "createdAt";
  if (fields.editedAt !== undefined && !(typeof fields.editedAt === "number" && Number.isFinite(fields.editedAt))) return "editedAt";
  if (fields.deleted !== undefined && typeof fields.deleted !== "boolean") return "deleted";
  if (fields.attachments !== undefined) {
    const list = fields.attachments;
    if (!Array.isArray(list) || list.length > maxAttachments) return "attachments";
    for (const ref of list as unknown[]) {
      if (ref === null || typeof ref !== "object") return "attachments";
      const keys = Object.keys(ref).sort().join(",");
      if (keys !== "id,mime,name,size") return `attachment keys ${keys}`;
    }
  }
  for (const [key, value] of Object.entries(message.reactions)) {
    if (!parseReactionKey(key)) return `reaction key ${key}`;
    if (typeof value !== "number") return "reaction value";
  }
  return null;
};
