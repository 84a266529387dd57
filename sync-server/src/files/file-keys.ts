import { assertSafeKey, decodedForms, UnsafeKeyError } from "./file-storage.ts";

/** Room for the uuid folder, the thumbnail suffix and a temporary name within a 255-byte file name. */
const maxNameBytes = 180;
const uuid = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
const keyPattern = new RegExp(`^dialogs/(${uuid})/(${uuid})/([^/]+)$`);

/**
 * Why a client-supplied file name is refused, or null. A name is a name, not a
 * path: separators, NUL and other control characters, `.` and `..` are
 * refused, also when percent-encoded, so a traversal attempt gets a clear 400
 * instead of being quietly rewritten.
 */
export const filenameProblem = (name: string): string | null => {
  for (const form of decodedForms(name)) {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: NUL and friends are what this refuses
    if (/[\u0000-\u001f\u007f]/.test(form)) return "it contains control characters";
    if (/[/\\]/.test(form)) return "it contains a path separator (send the bare file name)";
    if (form.trim() === "." || form.trim() === "..") return "it is . or ..";
  }
  return null;
};

const truncateBytes = (text: string, maxBytes: number): string => {
  let out = "";
  for (const char of text) {
    if (Buffer.byteLength(out + char) > maxBytes) break;
    out += char;
  }
  return out;
};

/**
 * The name used in storage keys: letters and digits of any script, space and
 * `._()+-`; anything else becomes `_`. No leading dot (hidden files, and our
 * own temporary names), no trailing dot or space, at most 180 bytes with the
 * extension kept.
 */
export const sanitizeFilename = (name: string): string => {
  const cleaned = name
    .normalize("NFC")
    .replace(/[^\p{L}\p{M}\p{N} ._()+-]/gu, "_")
    .replace(/_{2,}/g, "_")
    .replace(/^[.\s]+/, "")
    .replace(/[.\s]+$/, "");
  if (Buffer.byteLength(cleaned) <= maxNameBytes) return cleaned || "file";
  const dot = cleaned.lastIndexOf(".");
  const extension = dot > 0 && cleaned.length - dot <= 16 ? cleaned.slice(dot) : "";
  const base = truncateBytes(cleaned.slice(0, cleaned.length - extension.length), maxNameBytes - Buffer.byteLength(extension));
  return `${base.replace(/[.\s]+$/, "")}${extension}` || "file";
};

/** `dialogs/<dialog_id>/<attachment_id>/<sanitized name>`: every object of a dialog sits under its prefix. */
export const attachmentKey = (dialogId: string, attachmentId: string, filename: string): string => {
  const key = `dialogs/${dialogId}/${attachmentId}/${sanitizeFilename(filename)}`;
  assertSafeKey(key);
  return key;
};

/** The thumbnail sits next to its original; the suffix keeps it from colliding with any upload's name. */
export const thumbnailKey = (key: string): string => `${key}.thumb.webp`;

/**
 * The parts of a key this server could have made, or an UnsafeKeyError. Keys
 * arriving in a link are checked with this before anything else.
 */
export const parseAttachmentKey = (key: string): { dialogId: string; attachmentId: string; name: string } => {
  assertSafeKey(key);
  const match = keyPattern.exec(key);
  const [, dialogId, attachmentId, name] = match ?? [];
  if (!dialogId || !attachmentId || !name || sanitizeFilename(name) !== name) {
    throw new UnsafeKeyError(`not a file key: ${JSON.stringify(key)} (expected dialogs/<dialog_id>/<attachment_id>/<name>)`);
  }
  return { dialogId, attachmentId, name };
};
