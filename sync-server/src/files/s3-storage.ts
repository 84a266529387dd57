import type { Readable } from "node:stream";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import {
  assertSafeKey,
  type ByteRange,
  contentDisposition,
  FileNotFoundError,
  type FileStorage,
  type ObjectInfo,
  type PresignGetOptions,
  type PresignPutOptions,
} from "./file-storage.ts";

export type S3StorageOptions = {
  bucket: string;
  region: string;
  endpoint?: string | undefined;
  forcePathStyle: boolean;
  credentials?: { accessKeyId: string; secretAccessKey: string } | undefined;
};

const isMissing = (error: unknown) =>
  error instanceof S3ServiceException &&
  (error.name === "NotFound" || error.name === "NoSuchKey" || error.$metadata.httpStatusCode === 404);

const rangeHeader = (range: ByteRange | undefined) => (range ? `bytes=${range.start}-${range.end ?? ""}` : undefined);

/**
 * Files in an S3 bucket (AWS or S3-compatible). Clients upload and download
 * straight to and from S3 through presigned links, so file bytes never pass
 * through this server except when it inspects them.
 */
export class S3FileStorage implements FileStorage {
  readonly kind = "s3";
  private readonly client: S3Client;
  private readonly bucket: string;

  constructor(options: S3StorageOptions) {
    const config: S3ClientConfig = {
      region: options.region,
      forcePathStyle: options.forcePathStyle,
      // Checksums only where S3 requires them: presigned PUTs from browsers cannot add a checksum
      // header, and S3-compatible stores do not all support the SDK's default CRC32 trailers.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    };
    if (options.endpoint) config.endpoint = options.endpoint;
    if (options.credentials) config.credentials = options.credentials;
    this.client = new S3Client(config);
    this.bucket = options.bucket;
  }

  async presignPut(key: string, options: PresignPutOptions): Promise<string> {
    assertSafeKey(key);
    // The declared size is signed as the Content-Length, so S3 itself refuses any other size.
    const command = new PutObjectCommand({ Bucket: this.bucket, Key: key, ContentLength: options.maxBytes });
    return getSignedUrl(this.client, command, {
      expiresIn: options.expiresIn,
      signableHeaders: new Set(["content-length"]),
      ...(options.issuedAt !== undefined ? { signingDate: new Date(options.issuedAt) } : {}),
    });
  }

  async presignGet(key: string, options: PresignGetOptions): Promise<string> {
    assertSafeKey(key);
    const command = new GetObjectCommand({
      Bucket: this.bucket,
      Key: key,
      ResponseContentDisposition: contentDisposition(options.filename, options.contentType),
      ...(options.contentType ? { ResponseContentType: options.contentType } : {}),
    });
    return getSignedUrl(this.client, command, {
      expiresIn: options.expiresIn,
      ...(options.issuedAt !== undefined ? { signingDate: new Date(options.issuedAt) } : {}),
    });
  }

  async head(key: string): Promise<ObjectInfo | null> {
    assertSafeKey(key);
    try {
      const result = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { size: result.ContentLength ?? 0, version: result.ETag ?? result.LastModified?.toISOString() ?? "" };
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
  }

  async stream(key: string, range?: ByteRange): Promise<Readable> {
    assertSafeKey(key);
    try {
      const result = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: rangeHeader(range) }));
      return result.Body as Readable;
    } catch (error) {
      if (isMissing(error)) throw new FileNotFoundError(`no file at ${key}`);
      throw error;
    }
  }

  async read(key: string, range?: ByteRange): Promise<Uint8Array> {
    assertSafeKey(key);
    try {
      const result = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: rangeHeader(range) }));
      return (await result.Body?.transformToByteArray()) ?? new Uint8Array();
    } catch (error) {
      if (isMissing(error)) throw new FileNotFoundError(`no file at ${key}`);
      throw error;
    }
  }

  async put(key: string, bytes: Uint8Array, contentType: string): Promise<void> {
    assertSafeKey(key);
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: bytes, ContentType: contentType }));
  }

  async delete(key: string): Promise<void> {
    assertSafeKey(key);
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  close(): void {
    this.client.destroy();
  }
}
