import { type Decision, deny } from "@mtchat/authz";
import { fileTypeFromStream } from "file-type";
import sharp from "sharp";
import type { FileStorage } from "./file-storage.ts";

/** How much of a file without a signature is read to decide whether it is text. */
const textSampleBytes = 64 * 1024;

/** Types with no magic bytes: they are accepted by their declared type when the bytes are plain text. */
const textTypes = new Set(["text/plain", "text/csv"]);

/** Types sharp decodes in its prebuilt binaries; these get dimensions and a thumbnail. */
const thumbnailTypes = new Set(["image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/tiff"]);

export const thumbnailMaxSide = 320;

const looksLikeText = (bytes: Uint8Array): boolean => {
  try {
    // `stream: true` keeps a multi-byte character cut at the end of the sample from counting as invalid.
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes, { stream: true });
    // biome-ignore lint/suspicious/noControlCharactersInRegex: text files have no control characters besides tab, newlines and form feed
    return !/[\u0000-\u0008\u000b\u000e-\u001f\u007f]/.test(text);
  } catch {
    return false;
  }
};

/**
 * The file's real type, from its bytes (file-type reads the signature,
 * streaming no further than it needs), checked against the allowlist. What
 * the client declared only counts for text, which has no signature.
 */
export const detectMime = async (
  storage: FileStorage,
  key: string,
  declared: string,
  allowed: ReadonlySet<string>,
): Promise<Decision<{ mime: string }>> => {
  const stream = await storage.stream(key);
  let detected: string | undefined;
  try {
    detected = (await fileTypeFromStream(stream))?.mime;
  } finally {
    stream.destroy();
  }
  const allowedList = [...allowed].join(", ");
  if (detected) {
    if (allowed.has(detected)) return { ok: true, mime: detected };
    return deny(
      "unsupported_media_type",
      `the file's content is ${detected} (declared ${declared}), which is not allowed; allowed types: ${allowedList}`,
    );
  }
  if (textTypes.has(declared) && allowed.has(declared) && looksLikeText(await storage.read(key, { start: 0, end: textSampleBytes - 1 }))) {
    return { ok: true, mime: declared };
  }
  return deny(
    "unsupported_media_type",
    `the file's content is not a recognized type (declared ${declared}); allowed types: ${allowedList}`,
  );
};

export type ImageFacts = {
  width: number;
  height: number;
  /** A WebP of at most 320×320; null for images too large to decode safely. */
  thumbnail: { bytes: Uint8Array; width: number; height: number } | null;
};

/** Decoding costs about 4 bytes a pixel: bigger images are measured (from their header) but not thumbnailed. */
export const maxThumbnailPixels = 50_000_000;

/** Whether `describeImage` applies to a type. */
export const isThumbnailType = (mime: string): boolean => thumbnailTypes.has(mime);

/**
 * Dimensions as displayed (EXIF orientation applied) and a WebP thumbnail that
 * fits in 320×320. An image whose header cannot be read is refused, since its
 * signature promised an image.
 */
export const describeImage = async (bytes: Uint8Array): Promise<Decision<ImageFacts>> => {
  try {
    // Reading the header decodes no pixels, so no limit is needed to measure.
    const metadata = await sharp(bytes, { limitInputPixels: false }).metadata();
    const { width, height } = metadata.autoOrient;
    if (width * height > maxThumbnailPixels) return { ok: true, width, height, thumbnail: null };
    const { data, info } = await sharp(bytes, { limitInputPixels: maxThumbnailPixels })
      .autoOrient()
      .resize({ width: thumbnailMaxSide, height: thumbnailMaxSide, fit: "inside", withoutEnlargement: true })
      .webp({ quality: 80 })
      .toBuffer({ resolveWithObject: true });
    return { ok: true, width, height, thumbnail: { bytes: data, width: info.width, height: info.height } };
  } catch (error) {
    return deny("unsupported_media_type", `the image could not be decoded (${error instanceof Error ? error.message : String(error)})`);
  }
};
