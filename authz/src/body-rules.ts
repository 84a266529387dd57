import { checkMark, checkNodeAttr, isBodyNode, maxBodyDepth } from "@mtchat/protocol";
import * as Y from "yjs";
import { type Denial, deny } from "./decision.ts";
import type { AnyType, Place } from "./locate.ts";

type Content = Y.Item["content"];

/**
 * What a rich body (a message's `body` fragment, a draft root) may hold: the
 * composer's elements with their attributes, text with the composer's marks,
 * nested no deeper than `maxBodyDepth`. `depth` counts the item's position
 * below the body: 1 for a child of the body itself.
 */
export const checkBodyItem = (item: Y.Item, place: Place, depth: number): Denial | null => {
  const { parent, parentSub } = place;
  const content = item.content;
  if (depth > maxBodyDepth + 1) return deny("invalid_update", `a body may nest at most ${maxBodyDepth} elements deep`);
  if (depth === 1) {
    if (parentSub !== null) return deny("invalid_update", "a body takes no attributes");
    return checkChild(content, depth);
  }
  if (parent instanceof Y.XmlText) {
    if (parentSub !== null) return deny("invalid_update", "text takes no attributes; formatting is written as marks");
    if (content instanceof Y.ContentString || content instanceof Y.ContentDeleted) return null;
    if (content instanceof Y.ContentFormat) {
      const reason = checkMark(content.key, content.value);
      return reason ? deny("invalid_update", reason) : null;
    }
    return deny("invalid_update", "text holds only characters and formatting");
  }
  if (parent instanceof Y.XmlElement && !(parent instanceof Y.XmlHook)) {
    if (parentSub === null) return checkChild(content, depth);
    if (content instanceof Y.ContentDeleted) return checkNodeAttr(parent.nodeName, parentSub, null) ? refusedAttr(parent, parentSub) : null;
    if (!(content instanceof Y.ContentAny) || content.arr.length !== 1) return deny("invalid_update", "an attribute holds one plain value");
    const reason = checkNodeAttr(parent.nodeName, parentSub, content.arr[0]);
    return reason ? deny("invalid_update", reason) : null;
  }
  return deny("invalid_update", "a body holds only the composer's elements and text");
};

const refusedAttr = (parent: Y.XmlElement, key: string): Denial =>
  deny("invalid_update", `"${parent.nodeName}" takes no attribute "${key}"`);

const checkChild = (content: Content, depth: number): Denial | null => {
  if (content instanceof Y.ContentDeleted) return null;
  if (!(content instanceof Y.ContentType)) return deny("invalid_update", "a body's elements hold only elements and text");
  const type = content.type;
  if (type instanceof Y.XmlText) return depth === 1 ? deny("invalid_update", "text belongs inside a paragraph") : null;
  if (type instanceof Y.XmlHook || !(type instanceof Y.XmlElement))
    return deny("invalid_update", "a body holds only the composer's elements and text");
  if (!isBodyNode(type.nodeName)) return deny("invalid_update", `"${type.nodeName}" is not an element the composer writes`);
  if (depth > maxBodyDepth) return deny("invalid_update", `a body may nest at most ${maxBodyDepth} elements deep`);
  return null;
};

/** The amount of a body: characters of text and attribute values, and nodes (elements, text runs, mark boundaries). */
export type BodySize = { chars: number; nodes: number };

const stringLength = (value: unknown): number => {
  if (typeof value === "string") return value.length;
  if (value !== null && typeof value === "object") {
    let total = 0;
    for (const inner of Object.values(value)) total += typeof inner === "string" ? inner.length : 0;
    return total;
  }
  return 0;
};

/** What `count` clocks of an item add to its body's size (content types, formats and embeds are one node each). */
export const sizeOf = (content: Content, count: number): BodySize => {
  if (content instanceof Y.ContentString) return { chars: count, nodes: 0 };
  if (content instanceof Y.ContentAny)
    return { chars: content.arr.slice(0, count).reduce((sum, value) => sum + stringLength(value), 0), nodes: 0 };
  if (content instanceof Y.ContentFormat) return { chars: stringLength(content.value), nodes: 1 };
  if (content instanceof Y.ContentType || content instanceof Y.ContentEmbed) return { chars: 0, nodes: 1 };
  return { chars: 0, nodes: 0 };
};

/**
 * The size of an existing body in the server's document, leaving out what
 * `removed` reports as deleted by the update (whole subtrees when a type goes).
 * Walks the body's items once, iteratively.
 */
export const existingSize = (body: AnyType, removed: (item: Y.Item) => number): BodySize => {
  const total: BodySize = { chars: 0, nodes: 0 };
  const types: AnyType[] = [body];
  for (let type = types.pop(); type !== undefined; type = types.pop()) {
    const items: Y.Item[] = [];
    for (let item = type._start; item !== null; item = item.right) items.push(item);
    for (const item of type._map.values()) items.push(item);
    for (const item of items) {
      if (item.deleted) continue;
      const kept = item.length - removed(item);
      if (kept <= 0) continue;
      const size = sizeOf(item.content, kept);
      total.chars += size.chars;
      total.nodes += size.nodes;
      if (item.content instanceof Y.ContentType) types.push(item.content.type);
    }
  }
  return total;
};
