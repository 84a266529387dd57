import { Readable } from "node:stream";
import type { ReadableStream as NodeWebStream } from "node:stream/web";
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { User, VerifyToken } from "../auth/verify-token.ts";
import { parseAttachmentKey } from "../files/file-keys.ts";
import type { FileService } from "../files/file-service.ts";
import { contentDisposition, UnsafeKeyError } from "../files/file-storage.ts";
import { filesRoute } from "../files/local-storage.ts";
import { ApiError, sendError } from "./errors.ts";
import { dataOf, errorResponses, errorSchema, json, routesFor } from "./schemas.ts";
import { userAuth } from "./user-auth.ts";

const presignSchema = z
  .object({
    dialog_id: z.string().uuid(),
    filename: z.string().trim().min(1).max(255).openapi({ description: "The file's name, without any path" }),
    content_type: z.string().trim().min(3).max(255).openapi({ description: "Declared MIME type; the bytes are checked at complete" }),
    size: z.number().int().min(0).openapi({ description: "Exact size in bytes; at most MAX_UPLOAD_BYTES" }),
  })
  .openapi("PresignUpload");

const presignedSchema = z
  .object({
    attachment_id: z.string().uuid().openapi({ description: "Refer to the file by this id in a message's attachments" }),
    upload_url: z.string().openapi({ description: "PUT the file's bytes here (no Authorization header) before it expires" }),
    method: z.literal("PUT"),
    key: z.string().openapi({ description: "dialogs/<dialog_id>/<attachment_id>/<sanitized filename>" }),
    s3_key: z.string().openapi({ description: "MTChat's name for key: a message may name the file by it in `attachments`" }),
    expires_in: z.number().openapi({ description: "Seconds the upload_url stays valid" }),
  })
  .openapi("PresignedUpload");

const attachmentSchema = z
  .object({
    id: z.string().uuid(),
    dialog_id: z.string().uuid(),
    uploader_id: z.string(),
    filename: z.string(),
    content_type: z.string().openapi({ description: "Declared at presign" }),
    mime: z.string().nullable().openapi({ description: "Detected from the bytes at complete" }),
    size: z.number().nullable(),
    width: z.number().nullable().openapi({ description: "Images: width in pixels as displayed" }),
    height: z.number().nullable().openapi({ description: "Images: height in pixels as displayed" }),
    thumbnail_width: z.number().nullable(),
    thumbnail_height: z.number().nullable(),
    status: z.enum(["pending", "ready", "rejected"]),
    rejection: z.object({ code: z.string(), message: z.string() }).nullable().openapi({ description: "Why a rejected file was refused" }),
    created_at: z.string(),
    url: z.string().nullable().openapi({ description: "Ready files: a signed download link" }),
    thumbnail_url: z.string().nullable().openapi({ description: "Ready images: a signed link to a WebP thumbnail of at most 320×320" }),
    expires_in: z.number().nullable().openapi({ description: "Seconds the links stay valid" }),
  })
  .openapi("Attachment");

const linksSchema = z.object({ url: z.string(), thumbnail_url: z.string().nullable(), expires_in: z.number() }).openapi("AttachmentLinks");

const attachmentParams = z.object({
  id: z
    .string()
    .uuid()
    .openapi({ param: { name: "id", in: "path" } }),
});

const route = routesFor("files", "userToken");
const errors = errorResponses;

const presign = route({
  method: "post",
  path: "/api/v1/upload/presign",
  summary: "Start an upload",
  request: { body: { ...json(presignSchema), required: true } },
  responses: {
    200: { description: "A pending attachment and the link to upload its bytes to", ...json(dataOf(presignedSchema)) },
    413: { description: "Larger than MAX_UPLOAD_BYTES", ...json(errorSchema) },
    415: { description: "A type outside UPLOAD_MIME_TYPES", ...json(errorSchema) },
    ...errors,
  },
});
const getAttachment = route({
  method: "get",
  path: "/api/v1/attachments/{id}",
  summary: "Read an attachment",
  request: { params: attachmentParams },
  responses: { 200: { description: "The attachment; ready ones with fresh links", ...json(dataOf(attachmentSchema)) }, ...errors },
});
const completeAttachment = route({
  method: "post",
  path: "/api/v1/attachments/{id}/complete",
  summary: "Complete an upload",
  request: { params: attachmentParams },
  responses: {
    200: { description: "Checked and ready (size, real type; images measured and thumbnailed)", ...json(dataOf(attachmentSchema)) },
    413: { description: "The stored file is larger than declared; it was deleted", ...json(errorSchema) },
    415: { description: "The file's real type is not allowed; it was deleted", ...json(errorSchema) },
    ...errors,
  },
});
const attachmentUrl = route({
  method: "get",
  path: "/api/v1/attachments/{id}/url",
  summary: "Get a download link",
  request: { params: attachmentParams },
  responses: { 200: { description: "Fresh signed links to a ready attachment", ...json(dataOf(linksSchema)) }, ...errors },
});

const fileParams = z.object({
  dialog_id: z
    .string()
    .uuid()
    .openapi({ param: { name: "dialog_id", in: "path" } }),
  file_id: z
    .string()
    .uuid()
    .openapi({ param: { name: "file_id", in: "path" } }),
  name: z
    .string()
    .min(1)
    .openapi({ param: { name: "name", in: "path" } }),
});
const signedQuery = z.object({
  expires: z.string().optional().openapi({ description: "Unix time the link expires" }),
  max: z.string().optional().openapi({ description: "PUT: most bytes accepted" }),
  type: z.string().optional().openapi({ description: "GET: Content-Type served" }),
  name: z.string().optional().openapi({ description: "GET: file name offered" }),
  sig: z.string().optional().openapi({ description: "HMAC-SHA256 signature of all of the above" }),
});
const filePath = `${filesRoute}/dialogs/{dialog_id}/{file_id}/{name}`;
const signedDescription = "Local storage only. The signed query string is the credential: no Authorization header.";

const uploadFile = createRoute({
  method: "put",
  path: filePath,
  summary: "Upload a file's bytes (signed link)",
  operationId: "putFileBytes",
  tags: ["files"],
  // The signed query string is the credential.
  security: [],
  description: signedDescription,
  request: {
    params: fileParams,
    query: signedQuery,
    body: { content: { "*/*": { schema: z.string().openapi({ format: "binary" }) } } },
  },
  responses: {
    201: { description: "Stored", ...json(dataOf(z.object({ key: z.string(), size: z.number() }))) },
    413: { description: "More bytes than the link allows", ...json(errorSchema) },
    ...errors,
  },
});
const downloadFile = createRoute({
  method: "get",
  path: filePath,
  summary: "Download a file (signed link)",
  operationId: "getFileBytes",
  tags: ["files"],
  security: [],
  description: `${signedDescription} Honours a single Range.`,
  request: { params: fileParams, query: signedQuery },
  responses: {
    200: { description: "The file's bytes", content: { "*/*": { schema: z.string().openapi({ format: "binary" }) } } },
    206: { description: "The requested range", content: { "*/*": { schema: z.string().openapi({ format: "binary" }) } } },
    ...errors,
  },
});

/** One `bytes=a-b`, `bytes=a-` or `bytes=-n` range within `size`; null for none, "unsatisfiable" past the end. */
const parseRange = (header: string | undefined, size: number): { start: number; end: number } | null | "unsatisfiable" => {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header?.trim() ?? "");
  if (!match || (match[1] === "" && match[2] === "")) return null;
  if (match[1] === "") {
    const suffix = Number(match[2]);
    return suffix === 0 ? "unsatisfiable" : { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === "" ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size || end < start) return "unsatisfiable";
  return { start, end };
};

/** The key a signed file route names, or a 400. */
const keyOf = (params: { dialog_id: string; file_id: string; name: string }): string => {
  const key = `dialogs/${params.dialog_id}/${params.file_id}/${params.name}`;
  try {
    parseAttachmentKey(key);
    return key;
  } catch (error) {
    if (error instanceof UnsafeKeyError) throw new ApiError("bad_request", error.message);
    throw error;
  }
};

/**
 * Files: presigned uploads and signed download links for participants
 * (user JWT), and, with local storage, the signed upload and download routes
 * themselves, which take no token: the link's signature is the credential.
 */
export const registerFileRoutes = <E extends { Variables: { user: User } }>(
  app: OpenAPIHono<E>,
  files: FileService,
  verifyToken: VerifyToken,
  publicUrl: string | undefined,
) => {
  /** Links this server serves are relative to it: PUBLIC_URL, or the origin the request came to. */
  const absolute = (c: Context, url: string) =>
    url.startsWith("/") ? `${publicUrl?.replace(/\/+$/, "") ?? new URL(c.req.url).origin}${url}` : url;

  app.use("/api/v1/upload/*", userAuth(verifyToken));
  app.use("/api/v1/attachments/*", userAuth(verifyToken));

  app.openapi(presign, async (c) => {
    const presigned = await files.presign(c.get("user"), c.req.valid("json"));
    return c.json({ data: { ...presigned, s3_key: presigned.key, upload_url: absolute(c, presigned.upload_url) } }, 200);
  });
  const withLinks = <T extends { url: string | null; thumbnail_url: string | null }>(c: Context, view: T): T => ({
    ...view,
    url: view.url && absolute(c, view.url),
    thumbnail_url: view.thumbnail_url && absolute(c, view.thumbnail_url),
  });
  app.openapi(getAttachment, async (c) => c.json({ data: withLinks(c, await files.get(c.get("user"), c.req.valid("param").id)) }, 200));
  app.openapi(completeAttachment, async (c) =>
    c.json({ data: withLinks(c, await files.complete(c.get("user"), c.req.valid("param").id)) }, 200),
  );
  app.openapi(attachmentUrl, async (c) => c.json({ data: withLinks(c, await files.links(c.get("user"), c.req.valid("param").id)) }, 200));

  app.openapi(uploadFile, async (c) => {
    const local = files.local;
    const key = keyOf(c.req.valid("param"));
    if (!local) throw new ApiError("not_found", "files are stored in S3: upload to the upload_url the presign returned");
    const verified = await local.signer.verify("PUT", key, new URL(c.req.url).searchParams);
    if (!verified.ok) throw new ApiError(verified.kind, verified.reason);
    const max = verified.grant.max ?? 0;
    const declaredLength = Number(c.req.header("content-length") ?? 0);
    if (declaredLength > max) {
      throw new ApiError("payload_too_large", `the upload is ${declaredLength} bytes, more than the ${max} declared for it`);
    }
    const raw = c.req.raw.body;
    const body = raw ? Readable.fromWeb(raw as NodeWebStream<Uint8Array>) : Readable.from([]);
    const stored = await local.receive(key, body, max);
    if (!stored.ok) throw new ApiError(stored.kind, stored.reason);
    return c.json({ data: { key, size: stored.size } }, 201);
  });

  app.openapi(downloadFile, async (c) => {
    const local = files.local;
    const key = keyOf(c.req.valid("param"));
    if (!local) throw new ApiError("not_found", "files are stored in S3: ask GET /api/v1/attachments/{id}/url for a link");
    const verified = await local.signer.verify("GET", key, new URL(c.req.url).searchParams);
    if (!verified.ok) throw new ApiError(verified.kind, verified.reason);
    const info = await local.head(key);
    if (!info) throw new ApiError("not_found", "this file no longer exists");
    const { grant } = verified;
    const headers = new Headers({
      "content-type": grant.type ?? "application/octet-stream",
      "content-disposition": contentDisposition(grant.name, grant.type),
      "x-content-type-options": "nosniff",
      "accept-ranges": "bytes",
      "cache-control": `private, max-age=${Math.max(0, grant.expires - Math.floor(Date.now() / 1000))}`,
    });
    const range = parseRange(c.req.header("range"), info.size);
    if (range === "unsatisfiable") {
      headers.set("content-range", `bytes */${info.size}`);
      return new Response(null, { status: 416, headers }) as never;
    }
    const stream = await local.stream(key, range ?? undefined);
    headers.set("content-length", String(range ? range.end - range.start + 1 : info.size));
    if (range) headers.set("content-range", `bytes ${range.start}-${range.end}/${info.size}`);
    const body = Readable.toWeb(stream) as unknown as ReadableStream<Uint8Array>;
    return new Response(body, { status: range ? 206 : 200, headers }) as never;
  });

  // Anything else under the files route is not a key this server could have signed.
  app.on(["GET", "PUT", "HEAD"], `${filesRoute}/*`, (c) =>
    sendError(c, "bad_request", "not a file key: expected /api/v1/files/dialogs/<dialog_id>/<attachment_id>/<name>"),
  );
};
