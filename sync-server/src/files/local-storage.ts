import { randomUUID } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { link, mkdir, open, rename, rm, rmdir, stat } from "node:fs/promises";
import path from "node:path";
import { type Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { type Decision, deny } from "@mtchat/authz";
import {
  assertSafeKey,
  type ByteRange,
  FileNotFoundError,
  type FileStorage,
  type ObjectInfo,
  type PresignGetOptions,
  type PresignPutOptions,
  UnsafeKeyError,
} from "./file-storage.ts";
import type { UrlSigner } from "./url-signing.ts";

/** Where this server serves its signed file links; the key follows, one path segment per key segment. */
export const filesRoute = "/api/v1/files";

export const linkPath = (key: string): string => `${filesRoute}/${key.split("/").map(encodeURIComponent).join("/")}`;

class TooLarge extends Error {}

const isMissing = (error: unknown) => (error as NodeJS.ErrnoException).code === "ENOENT";

/**
 * Files on local disk under one root, with links this server signs (HMAC) and
 * serves itself (`file-routes.ts`). Every key is resolved and checked to stay
 * under the root before any file is opened.
 */
export class LocalFileStorage implements FileStorage {
  readonly kind = "local";
  readonly root: string;

  constructor(
    root: string,
    readonly signer: UrlSigner,
    private readonly now: () => number = Date.now,
  ) {
    this.root = path.resolve(root);
  }

  /** The file of a key; never outside the root, whatever the key. */
  pathOf(key: string): string {
    assertSafeKey(key);
    const full = path.resolve(this.root, key);
    if (!full.startsWith(`${this.root}${path.sep}`)) throw new UnsafeKeyError(`file key ${JSON.stringify(key)} leaves the storage root`);
    return full;
  }

  private expiry(options: { expiresIn: number; issuedAt?: number }): number {
    return Math.floor((options.issuedAt ?? this.now()) / 1000) + options.expiresIn;
  }

  async presignPut(key: string, options: PresignPutOptions): Promise<string> {
    this.pathOf(key);
    const query = await this.signer.sign({ method: "PUT", key, expires: this.expiry(options), max: options.maxBytes });
    return `${linkPath(key)}?${query}`;
  }

  async presignGet(key: string, options: PresignGetOptions): Promise<string> {
    this.pathOf(key);
    const grant = { method: "GET" as const, key, expires: this.expiry(options), type: options.contentType, name: options.filename };
    return `${linkPath(key)}?${await this.signer.sign(grant)}`;
  }

  async head(key: string): Promise<ObjectInfo | null> {
    try {
      const info = await stat(this.pathOf(key));
      if (!info.isFile()) return null;
      return { size: info.size, version: `${info.ino}-${info.size}-${Math.round(info.mtimeMs)}` };
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
  }

  async read(key: string, range?: ByteRange): Promise<Uint8Array> {
    const file = this.pathOf(key);
    const handle = await open(file, "r").catch((error: unknown) => {
      throw isMissing(error) ? new FileNotFoundError(`no file at ${key}`) : error;
    });
    try {
      const { size } = await handle.stat();
      const start = Math.min(range?.start ?? 0, size);
      const end = Math.min(range?.end ?? size - 1, size - 1);
      const buffer = Buffer.alloc(Math.max(0, end - start + 1));
      let offset = 0;
      while (offset < buffer.length) {
        const { bytesRead } = await handle.read(buffer, offset, buffer.length - offset, start + offset);
        if (bytesRead === 0) break;
        offset += bytesRead;
      }
      return buffer.subarray(0, offset);
    } finally {
      await handle.close();
    }
  }

  async stream(key: string, range?: ByteRange): Promise<Readable> {
    const file = this.pathOf(key);
    if (!(await this.head(key))) throw new FileNotFoundError(`no file at ${key}`);
    return createReadStream(file, { start: range?.start ?? 0, ...(range?.end !== undefined ? { end: range.end } : {}) });
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    const file = this.pathOf(key);
    await mkdir(path.dirname(file), { recursive: true });
    const temporary = path.join(path.dirname(file), `.${randomUUID()}.part`);
    try {
      const handle = await open(temporary, "wx");
      try {
        await handle.writeFile(bytes);
      } finally {
        await handle.close();
      }
      await rename(temporary, file);
    } finally {
      await rm(temporary, { force: true });
    }
  }

  async delete(key: string): Promise<void> {
    const file = this.pathOf(key);
    await rm(file, { force: true });
    // The attachment's folder goes with its last file; a folder still in use stays (ENOTEMPTY).
    await rmdir(path.dirname(file)).catch(() => undefined);
  }

  close(): void {}

  /**
   * Stores the body of a signed PUT: streamed to a temporary file through a
   * byte counter that aborts past `maxBytes`, then linked into place, which
   * fails if the key exists. So an object is written once: a file that was
   * checked and finalized can never be swapped afterwards through its link.
   */
  async receive(key: string, body: Readable, maxBytes: number): Promise<Decision<{ size: number }>> {
    const file = this.pathOf(key);
    await mkdir(path.dirname(file), { recursive: true });
    const temporary = path.join(path.dirname(file), `.${randomUUID()}.part`);
    let size = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        size += chunk.length;
        callback(size > maxBytes ? new TooLarge() : null, chunk);
      },
    });
    try {
      await pipeline(body, counter, createWriteStream(temporary, { flags: "wx" }));
      await link(temporary, file);
      return { ok: true, size };
    } catch (error) {
      if (error instanceof TooLarge) {
        return deny(
          "payload_too_large",
          `the upload is larger than the ${maxBytes} bytes declared for it; ask for a new link with the right size`,
        );
      }
      if ((error as NodeJS.ErrnoException).code === "EEXIST") {
        return deny("conflict", "this file was already uploaded; a file is written once (ask for a new upload link)");
      }
      throw error;
    } finally {
      await rm(temporary, { force: true });
    }
  }
}
