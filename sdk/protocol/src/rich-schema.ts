/**
 * The schema of a rich body (a message's `body`, a draft): exactly the node
 * types, marks and attributes the SDK's composer (Tiptap, y-prosemirror
 * layout) produces. The server refuses anything else on write, and readers
 * drop anything else, so REST and webhook consumers only ever get content a
 * renderer can show safely: links are http(s) or mailto, and no attribute
 * carries markup, script or styling.
 */

/** A link target a renderer may follow: http(s) or mailto, absolute; null for anything else. */
export const safeHref = (href: unknown): string | null => {
  if (typeof href !== "string") return null;
  const trimmed = href.trim();
  try {
    const url = new URL(trimmed, "https://invalid.invalid/");
    if (url.origin === "https://invalid.invalid") return null;
    return url.protocol === "https:" || url.protocol === "http:" || url.protocol === "mailto:" ? url.href : null;
  } catch {
    return null;
  }
};

type AttrRule = (value: unknown) => boolean;

const text =
  (max: number, pattern?: RegExp): AttrRule =>
  (value) =>
    typeof value === "string" && value.length > 0 && value.length <= max && (pattern === undefined || pattern.test(value));
const orNull =
  (rule: AttrRule): AttrRule =>
  (value) =>
    value === null || rule(value);

/** Longest link a body may hold. */
export const maxHrefLength = 2048;

/** Element node types (`Y.XmlElement` names) and the attributes each may carry. */
export const bodyNodes: Record<string, Record<string, AttrRule>> = {
  paragraph: {},
  blockquote: {},
  bulletList: {},
  orderedList: {
    start: (value) => typeof value === "number" && Number.isSafeInteger(value) && value >= 0 && value <= 1_000_000_000,
    type: orNull((value) => value === "1" || value === "a" || value === "A" || value === "i" || value === "I"),
  },
  listItem: {},
  codeBlock: { language: orNull(text(32, /^[\w+#.-]+$/)) },
  hardBreak: {},
  mention: { id: text(256), label: orNull(text(256)), mentionSuggestionChar: orNull(text(4)) },
};

/** Marks (text formatting attributes in the y-prosemirror layout) and the attributes each may carry. */
export const bodyMarks: Record<string, Record<string, AttrRule>> = {
  bold: {},
  italic: {},
  strike: {},
  code: {},
  underline: {},
  link: {
    href: (value) => typeof value === "string" && value.length <= maxHrefLength && safeHref(value) !== null,
    target: orNull((value) => value === "_blank"),
    rel: orNull(text(64, /^[a-z ]+$/)),
    class: (value) => value === null,
    title: orNull(text(256)),
  },
};

/** Attributes a mark must carry when it starts (a mark ends with the value null). */
const requiredMarkAttrs: Record<string, string[]> = { link: ["href"] };

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value) && Object.getPrototypeOf(value) === Object.prototype;

export const isBodyNode = (name: string): boolean => Object.hasOwn(bodyNodes, name);

/** Why an element's attribute is not allowed, or null when it is. A null value removes an attribute. */
export const checkNodeAttr = (node: string, key: string, value: unknown): string | null => {
  const rules = Object.hasOwn(bodyNodes, node) ? bodyNodes[node] : undefined;
  if (!rules) return `"${node}" is not an element a body may hold`;
  const rule = Object.hasOwn(rules, key) ? rules[key] : undefined;
  if (!rule) return `"${node}" takes no attribute "${key}"`;
  return value === null || rule(value) ? null : `attribute "${key}" of "${node}" has a value the composer never writes`;
};

/** Why a text formatting attribute (a mark boundary) is not allowed, or null when it is. */
export const checkMark = (key: string, value: unknown): string | null => {
  const rules = Object.hasOwn(bodyMarks, key) ? bodyMarks[key] : undefined;
  if (!rules) return `"${key}" is not a mark a body may hold`;
  if (value === null) return null;
  if (!isPlainObject(value)) return `mark "${key}" must hold its attributes as an object`;
  for (const [attr, attrValue] of Object.entries(value)) {
    const rule = Object.hasOwn(rules, attr) ? rules[attr] : undefined;
    if (!rule || !(attrValue === null || rule(attrValue))) {
      return key === "link" && attr === "href"
        ? "links must be http(s) or mailto addresses"
        : `mark "${key}" takes no attribute "${attr}" with that value`;
    }
  }
  for (const attr of requiredMarkAttrs[key] ?? []) {
    if (value[attr] === null || value[attr] === undefined) return `mark "${key}" needs "${attr}"`;
  }
  return null;
};

/** The attributes of a node or mark as a reader should see them: only allowed ones, or null when the whole node or mark must go. */
export const allowedAttrs = (kind: "node" | "mark", name: string, attrs: Record<string, unknown>): Record<string, unknown> | null => {
  const table = kind === "node" ? bodyNodes : bodyMarks;
  const rules = Object.hasOwn(table, name) ? table[name] : undefined;
  if (!rules) return null;
  if (kind === "mark" && checkMark(name, attrs) !== null) return null;
  const kept: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(attrs)) {
    const rule = Object.hasOwn(rules, key) ? rules[key] : undefined;
    if (rule && value !== null && rule(value)) kept[key] = value;
  }
  return kept;
};
