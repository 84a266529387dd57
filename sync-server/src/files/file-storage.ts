import type { Readable } from "node:stream";

/** Inclusive byte offsets, as in an HTTP Range header; `end` unset reads to the end. */
export type ByteRange = { start: number; end?: number };

export type ObjectInfo = {
  size: number;
  /** Changes whenever the object's bytes are replaced (an ETag); a ready attachment remembers it. */
  version: string;
};

export type PresignPutOptions = {
  expiresIn: number;
  /** The declared size: the most bytes the link accepts (S3 signs it as the exact Content-Length). */
  maxBytes: number;
  /** When the link's lifetime starts, in ms; tests back-date it. Default: now. */
  issuedAt?: number;
};

export type PresignGetOptions = {
  expiresIn: number;
  /** The type the download is served with. */
  contentType?: string;
  /** The name a browser saves it under. */
  filename?: string;
  issuedAt?: number;
};

/**
 * Where attachment bytes live. Clients upload and download through signed
 * links, never through an authenticated route, so large files bypass the API
 * process wherever the store can serve them itself (S3). Implementations:
 * local disk (links served by this server) and S3.
 */
export interface FileStorage {
  readonly kind: "local" | "s3";
  /** A link that accepts one HTTP PUT of the object's bytes until it expires. Relative links are under this server. */
  presignPut(key: string, options: PresignPutOptions): Promise<string>;
  /** A link that serves the object with HTTP GET until it expires. */
  presignGet(key: string, options: PresignGetOptions): Promise<string>;
  /** Size and version, or null when there is no such object. */
  head(key: string): Promise<ObjectInfo | null>;
  /** The object's bytes (or a range of them); throws FileNotFoundError. */
  read(key: string, range?: ByteRange): Promise<Uint8Array>;
  /** The object's bytes as a stream, for content sniffing and serving; throws FileNotFoundError. */
  stream(key: string, range?: ByteRange): Promise<Readable>;
  /** Stores bytes the server made itself (thumbnails), replacing any object at the key. */
  put(key: string, bytes: Uint8Array, contentType: string): Promise<void>;
  /** Removes the object; removing a missing object is not an error. */
  delete(key: string): Promise<void>;
  /** Releases connections (the service is stopping). */
  close(): void;
}

export class UnsafeKeyError extends Error {
  override name = "UnsafeKeyError";
}

export class FileNotFoundError extends Error {
  override name = "FileNotFoundError";
}

const maxKeyBytes = 1024;

/**
 * Throws unless `key` is a plain relative path: non-empty segments of
 * printable characters, no `.` or `..` segment, no backslash, no leading
 * slash, and nothing that decodes (once or more) into any of those. Both
 * implementations call it on every key, before touching anything.
 */
export const assertSafeKey = (key: string): void => {
  const problem = keyProblem(key);
  if (problem) throw new UnsafeKeyError(`unsafe file key ${JSON.stringify(key)}: ${problem}`);
};

const keyProblem = (key: string): string | null => {
  if (key.length === 0) return "empty";
  if (Buffer.byteLength(key) > maxKeyBytes) return `longer than ${maxKeyBytes} bytes`;
  for (const form of decodedForms(key)) {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters (NUL above all) are what this refuses
    if (/[\u0000-\u001f\u007f]/.test(form)) return "control characters";
    if (form.includes("\\")) return "backslash";
    if (form.startsWith("/") || /^[a-zA-Z]:/.test(form)) return "absolute path";
    if (form.split("/").some((segment) => segment === "" || segment === "." || segment === "..")) return "empty, . or .. segment";
  }
  return null;
};

/** The string and every distinct result of percent-decoding it again, so `%252e%252e` is caught too. */
export const decodedForms = (value: string): string[] => {
  const forms = [value];
  let current = value;
  for (let round = 0; round < 4; round += 1) {
    let next: string;
    try {
      next = decodeURIComponent(current);
    } catch {
      break;
    }
    if (next === current) break;
    forms.push(next);
    current = next;
  }
  return forms;
};

/** Types a browser may show in place; anything else downloads, so an HTML or SVG upload never runs on our origin. */
const inlineTypes = /^(image\/(png|jpeg|gif|webp|avif|bmp)|audio\/.+|video\/.+|application\/pdf)$/;

/** A Content-Disposition with an ASCII fallback and the real (UTF-8) name. */
export const contentDisposition = (filename: string | undefined, contentType: string | undefined): string => {
  const kind = contentType && inlineTypes.test(contentType) ? "inline" : "attachment";
  if (!filename) return kind;
  const ascii = filename.replace(/[^\x20-\x7e]|["\\]/g, "_");
  return `${kind}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(filename)}`;
};
