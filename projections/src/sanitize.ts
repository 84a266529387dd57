import { isUuid } from "@mtchat/protocol";
import * as Y from "yjs";

/**
 * Turns whatever a document holds into values PostgreSQL accepts. Documents
 * are written by clients (and by older or buggy versions of the inspector), so
 * the projection may meet any value a Yjs document can carry: text and jsonb
 * cannot hold NUL, jsonb refuses unpaired UTF-16 surrogates, `uuid` columns
 * refuse anything else, timestamps and integers have ranges, and JSON has no
 * bigint, binary or cyclic values. Each reader here maps such a value to the
 * nearest value the tables can hold, and never throws.
 */

const nul = "\u0000";
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const hasLoneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Text for display (message text, names, titles): NUL removed, unpaired surrogates replaced by U+FFFD. */
export const cleanText = (value: string): string => {
  const withoutNul = value.includes(nul) ? value.replaceAll(nul, "") : value;
  return hasLoneSurrogate.test(withoutNul) ? withoutNul.replace(loneSurrogate, "\uFFFD") : withoutNul;
};

/** Display text, or null when the value is not a string. */
export const textOrNull = (value: unknown): string | null => (typeof value === "string" ? cleanText(value) : null);

/**
 * An identifier shown in a row (a message's author, who reacted): NUL becomes
 * U+FFFD instead of vanishing, so `"alice\u0000"` is never shown as `"alice"`.
 */
export const cleanId = (value: string): string => {
  const marked = value.includes(nul) ? value.replaceAll(nul, "\uFFFD") : value;
  return hasLoneSurrogate.test(marked) ? marked.replace(loneSurrogate, "\uFFFD") : marked;
};

/** True when an identifier can be stored exactly as it is: rows that grant access are only written for such ids. */
export const isExactText = (value: string): boolean => !value.includes(nul) && !hasLoneSurrogate.test(value);

/**
 * Longest identifier kept in a b-tree indexed column (user ids of participants
 * and read cursors, tenants of access scopes): an index entry holds at most
 * about 2,700 bytes, and 512 characters are at most 2,048 bytes of UTF-8.
 * The Management API allows 256.
 */
export const maxKeyChars = 512;

/** An identifier that can be stored exactly and indexed. */
export const isKeyText = (value: string): boolean => value.length <= maxKeyChars && isExactText(value);

/** A lowercase UUID (the only form the protocol writes), or null. */
export const uuidOrNull = (value: unknown): string | null => (typeof value === "string" && isUuid(value) ? value : null);

/** The first `max` UTF-16 units of `value`, never ending in half of a surrogate pair. */
export const truncateText = (value: string, max: number): string => {
  if (value.length <= max) return value;
  const end = max > 0 && /[\uD800-\uDBFF]/.test(value.charAt(max - 1)) ? max - 1 : max;
  return value.slice(0, Math.max(0, end));
};

/** The latest time PostgreSQL's timestamptz and JavaScript's Date both hold: 9999-12-31T23:59:59.999Z. */
const maxTimeMs = 253_402_300_799_999;

/** Milliseconds to an ISO time PostgreSQL accepts (clamped to 1970..9999), or null when the value is not a finite number. */
export const toTime = (ms: unknown): string | null => {
  if (typeof ms !== "number" || !Number.isFinite(ms)) return null;
  return new Date(Math.trunc(Math.min(Math.max(ms, 0), maxTimeMs))).toISOString();
};

/** An integer in [min, max]; `fallback` for anything that is not a finite number. */
export const clampInt = (value: unknown, min: number, max: number, fallback: number): number => {
  if (typeof value !== "number" || !Number.isFinite(value)) return fallback;
  return Math.min(Math.max(Math.trunc(value), min), max);
};

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * Deepest JSON written: a body is at most `maxBodyDepth` (24) elements deep,
 * which its JSON doubles (node, content array); anything deeper is cut off.
 */
export const maxJsonDepth = 64;

/**
 * Any value a document holds as JSON jsonb accepts: strings cleaned (keys
 * too), non-finite numbers as null, bigints as numbers (or strings beyond
 * 2^53), Yjs types by their content, binary, sub-documents and anything
 * deeper than {@link maxJsonDepth} as null.
 */
export const jsonSafe = (value: unknown, depth = 0): JsonValue => {
  switch (typeof value) {
    case "string":
      return cleanText(value);
    case "boolean":
      return value;
    case "number":
      // -0 is written as 0 by JSON anyway.
      return Number.isFinite(value) ? value || 0 : null;
    case "bigint":
      return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
    case "object":
      break;
    default:
      return null;
  }
  if (value === null || depth >= maxJsonDepth || value instanceof Uint8Array || value instanceof Y.Doc) return null;
  if (Array.isArray(value) || value instanceof Y.Array) {
    const items: unknown[] = value instanceof Y.Array ? value.toArray() : value;
    return Array.from(items, (item) => jsonSafe(item, depth + 1));
  }
  if (value instanceof Y.Text) return cleanText(value.toString());
  if (value instanceof Y.AbstractType && !(value instanceof Y.Map)) return null;
  const entries = value instanceof Y.Map ? [...(value as Y.Map<unknown>).entries()] : Object.entries(value);
  // A null prototype: a key such as "__proto__" is then an ordinary key.
  const out: { [key: string]: JsonValue } = Object.create(null);
  for (const [key, item] of entries) out[cleanText(key)] = jsonSafe(item, depth + 1);
  return out;
};

/** {@link jsonSafe}, and an empty object for anything that is not an object. */
export const jsonObject = (value: unknown): { [key: string]: JsonValue } => {
  const safe = jsonSafe(value);
  return safe !== null && typeof safe === "object" && !Array.isArray(safe) ? safe : {};
};
