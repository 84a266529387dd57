import type { RichNode } from "@mtchat/protocol";
import * as Y from "yjs";

type Mark = NonNullable<RichNode["marks"]>[number];

const markAttributes = (marks: Mark[] | undefined): Record<string, unknown> | undefined => {
  if (!marks || marks.length === 0) return undefined;
  // y-prosemirror's layout: each mark is a text attribute named after it, holding its attrs.
  return Object.fromEntries(marks.map((mark) => [mark.type, mark.attrs ?? {}]));
};

const appendChildren = (parent: Y.XmlFragment | Y.XmlElement, nodes: RichNode[], at = 0): void => {
  const children: (Y.XmlElement | Y.XmlText)[] = [];
  let run: { text: string; attributes: Record<string, unknown> | undefined }[] = [];
  const flush = () => {
    if (run.length === 0) return;
    const text = new Y.XmlText();
    let offset = 0;
    for (const part of run) {
      text.insert(offset, part.text, part.attributes ?? {});
      offset += part.text.length;
    }
    children.push(text);
    run = [];
  };
  for (const node of nodes) {
    if (node.type === "text") {
      if (node.text) run.push({ text: node.text, attributes: markAttributes(node.marks) });
      continue;
    }
    flush();
    const element = new Y.XmlElement(node.type);
    for (const [key, value] of Object.entries(node.attrs ?? {})) {
      if (value !== null && value !== undefined) element.setAttribute(key, value as string);
    }
    appendChildren(element, node.content ?? []);
    children.push(element);
  }
  flush();
  if (children.length > 0) parent.insert(at, children);
};

/**
 * Writes ProseMirror JSON (what Tiptap's `getJSON()` returns) into a fresh
 * fragment in the y-prosemirror layout, the layout a message body has, so
 * an editor bound to it later (editing) reads it back exactly.
 */
export const fragmentFromJson = (doc: RichNode): Y.XmlFragment => {
  const fragment = new Y.XmlFragment();
  appendChildren(fragment, doc.content ?? []);
  return fragment;
};

/** Appends ProseMirror JSON's content to the end of a fragment already in a document (a draft, a body being replaced). */
export const appendJson = (fragment: Y.XmlFragment, doc: RichNode): void => appendChildren(fragment, doc.content ?? [], fragment.length);

/** Whether a body has any visible content (text, a mention, …), so empty messages are not sent. */
export const isBlank = (doc: RichNode): boolean => {
  const visit = (node: RichNode): boolean => {
    if (node.type === "text") return (node.text ?? "").trim().length > 0;
    if (node.type === "mention" || node.type === "image") return true;
    return (node.content ?? []).some(visit);
  };
  return !visit(doc);
};

/** User ids mentioned in a body (Tiptap's mention nodes carry the id). */
export const mentionsOf = (doc: RichNode): string[] => {
  const found = new Set<string>();
  const visit = (node: RichNode) => {
    if (node.type === "mention" && typeof node.attrs?.id === "string") found.add(node.attrs.id);
    for (const child of node.content ?? []) visit(child);
  };
  visit(doc);
  return [...found];
};
