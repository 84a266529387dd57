import { randomBytes } from "node:crypto";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createMessage, segmentDocName } from "@mtchat/protocol";
import S3rver from "s3rver";
import sharp from "sharp";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as Y from "yjs";
import { RawClient } from "./clients.ts";
import { fileStorageConformance } from "./file-storage-conformance.ts";
import { createDialog, type DialogData, startServer, type TestServer, tokenFor, useServer } from "./harness.ts";
import { eventually } from "./wait.ts";

const maxUpload = 300_000;
const bucket = "mtchat-files";

type Presigned = { attachment_id: string; upload_url: string; key: string; expires_in: number; method: string };
type Attachment = {
  id: string;
  status: string;
  filename: string;
  mime: string | null;
  size: number | null;
  width: number | null;
  height: number | null;
  thumbnail_width: number | null;
  thumbnail_height: number | null;
  url: string | null;
  thumbnail_url: string | null;
  rejection: { code: string; message: string } | null;
};
type Links = { url: string; thumbnail_url: string | null; expires_in: number };
type ErrorBody = { error: { code: string; message: string } };

const pdf = Buffer.from("%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n");
/** The start of a Windows executable: the DOS header and stub every PE file begins with. */
const exe = Buffer.concat([
  Buffer.from("MZ"),
  Buffer.alloc(58),
  Buffer.from("This program cannot be run in DOS mode.\r\n"),
  randomBytes(400),
]);

/** A real S3-compatible server (s3rver) on a free loopback port, storing under a fresh temporary directory. */
const useS3rver = (env: Record<string, string>) => {
  let server: S3rver | undefined;
  let directory = "";
  beforeAll(async () => {
    directory = await mkdtemp(path.join(tmpdir(), "mtchat-s3rver-"));
    server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory, configureBuckets: [{ name: bucket }] });
    const { port } = await server.run();
    Object.assign(env, {
      S3_ENDPOINT: `http://127.0.0.1:${port}`,
      S3_BUCKET: bucket,
      S3_REGION: "us-east-1",
      S3_ACCESS_KEY_ID: "S3RVER",
      S3_SECRET_ACCESS_KEY: "S3RVER",
      S3_FORCE_PATH_STYLE: "true",
    });
  });
  afterAll(async () => {
    await server?.close();
    await rm(directory, { recursive: true, force: true });
  });
};

/** A data directory of its own, so local files never land in the repository's ./data. */
const useDataDir = (env: Record<string, string>) => {
  beforeAll(async () => {
    env.DATA_DIR = await mkdtemp(path.join(tmpdir(), "mtchat-files-"));
  });
  afterAll(async () => {
    if (env.DATA_DIR) await rm(env.DATA_DIR, { recursive: true, force: true });
  });
};

describe.each(["local", "s3"] as const)("files in %s storage", (kind) => {
  // Filled by the hooks below before the server's own hook reads it (hooks run in registration order).
  const env: Record<string, string> = { MAX_UPLOAD_BYTES: String(maxUpload) };
  useDataDir(env);
  if (kind === "s3") useS3rver(env);
  const fixture = useServer("external", `files_${kind}`, env);

  let t: TestServer;
  let dialog: DialogData;
  let otherDialog: DialogData;
  const tokens: Record<"alice" | "bob" | "rita" | "pat" | "stranger", string> = {} as never;

  beforeAll(async () => {
    t = fixture.t;
    dialog = await createDialog(t, ["alice", "bob"], {
      access_scopes: [{ tenant_uid: "tenant-1", scope_level1: ["ops"], scope_level2: [] }],
    });
    await t.api("POST", `/api/v1/management/dialogs/${dialog.id}/participants`, {
      user_id: "rita",
      display_name: "Rita",
      role: "readonly",
    });
    otherDialog = await createDialog(t, ["alice"]);
    Object.assign(tokens, {
      alice: await tokenFor("alice"),
      bob: await tokenFor("bob"),
      rita: await tokenFor("rita"),
      pat: await tokenFor("pat", { scope_level1: ["ops"] }),
      stranger: await tokenFor("stranger", { scope_level1: ["finance"] }),
    });
  });

  const presign = (token: string, body: Record<string, unknown>) =>
    t.api<{ data: Presigned } & ErrorBody>("POST", "/api/v1/upload/presign", { dialog_id: dialog.id, ...body }, token);
  const complete = (id: string, token = tokens.alice) =>
    t.api<{ data: Attachment } & ErrorBody>("POST", `/api/v1/attachments/${id}/complete`, undefined, token);
  const links = (id: string, token = tokens.alice) =>
    t.api<{ data: Links } & ErrorBody>("GET", `/api/v1/attachments/${id}/url`, undefined, token);
  const put = (url: string, bytes: Uint8Array) => fetch(url, { method: "PUT", body: bytes });
  /** Presigns and uploads; returns the presign answer. */
  const uploaded = async (filename: string, contentType: string, bytes: Uint8Array, size = bytes.length) => {
    const presigned = await presign(tokens.alice, { filename, content_type: contentType, size });
    expect(presigned.status, JSON.stringify(presigned.body)).toBe(200);
    const response = await put(presigned.body.data.upload_url, bytes);
    return { ...presigned.body.data, response };
  };

  test("a participant presigns, uploads, completes and downloads; a REST message carries the attachment", async () => {
    const presigned = await presign(tokens.alice, { filename: "report.pdf", content_type: "application/pdf", size: pdf.length });
    expect(presigned.status).toBe(200);
    const { attachment_id: id, key, upload_url, expires_in } = presigned.body.data;
    expect(key).toBe(`dialogs/${dialog.id}/${id}/report.pdf`);
    expect(expires_in).toBe(900);
    expect(upload_url).toMatch(kind === "local" ? new RegExp(`^${t.httpUrl}/api/v1/files/`) : new RegExp(`^${env.S3_ENDPOINT}/${bucket}/`));

    // Nothing to complete or download before the bytes arrive.
    expect(await complete(id)).toMatchObject({
      status: 409,
      body: { error: { code: "conflict", message: expect.stringMatching(/not been uploaded/) } },
    });
    expect(await links(id)).toMatchObject({ status: 409 });

    expect((await put(upload_url, pdf)).ok).toBe(true);
    const completed = await complete(id);
    expect(completed).toMatchObject({
      status: 200,
      body: {
        data: { id, status: "ready", filename: "report.pdf", mime: "application/pdf", size: pdf.length, width: null, thumbnail_url: null },
      },
    });

    // Bob, a participant, reads it through a fresh link; the bytes are the same.
    const bobLinks = await links(id, tokens.bob);
    expect(bobLinks.status).toBe(200);
    const download = await fetch(bobLinks.body.data.url);
    expect(download.status).toBe(200);
    expect(download.headers.get("content-type")).toBe("application/pdf");
    expect(Buffer.from(await download.arrayBuffer()).equals(pdf)).toBe(true);

    // Sent with a message over REST: the message carries the reference.
    const sent = await t.api<{ data: { attachments: unknown[]; content: string } }>(
      "POST",
      `/api/v1/dialogs/${dialog.id}/messages`,
      { content: "the report", attachment_ids: [id] },
      tokens.alice,
    );
    expect(sent).toMatchObject({
      status: 201,
      body: { data: { content: "the report", attachments: [{ id, name: "report.pdf", mime: "application/pdf", size: pdf.length }] } },
    });
    // A message may be only an attachment.
    const bare = await t.api("POST", `/api/v1/dialogs/${dialog.id}/messages`, { attachment_ids: [id] }, tokens.alice);
    expect(bare).toMatchObject({ status: 201, body: { data: { content: "", attachments: [{ id }] } } });
    expect(await t.api("POST", `/api/v1/dialogs/${dialog.id}/messages`, { content: "  " }, tokens.alice)).toMatchObject({ status: 400 });

    // Nobody else may attach Alice's file, and it cannot move to another dialog.
    expect(
      await t.api("POST", `/api/v1/dialogs/${dialog.id}/messages`, { content: "mine now", attachment_ids: [id] }, tokens.bob),
    ).toMatchObject({
      status: 403,
      body: { error: { code: "forbidden", message: expect.stringMatching(/uploaded by someone else/) } },
    });
    expect(
      await t.api("POST", `/api/v1/dialogs/${otherDialog.id}/messages`, { content: "moved", attachment_ids: [id] }, tokens.alice),
    ).toMatchObject({ status: 403, body: { error: { message: expect.stringMatching(/another dialog/) } } });
    expect(
      await t.api(
        "POST",
        `/api/v1/dialogs/${dialog.id}/messages`,
        { content: "ghost", attachment_ids: ["018f0000-0000-7000-8000-000000000000"] },
        tokens.alice,
      ),
    ).toMatchObject({ status: 404 });
  });

  test("only participants may upload to a dialog or read its files", async () => {
    const body = { filename: "notes.txt", content_type: "text/plain", size: 5 };
    expect(await presign(tokens.stranger, body)).toMatchObject({ status: 404, body: { error: { code: "not_found" } } });
    expect(await presign(tokens.pat, body)).toMatchObject({ status: 403, body: { error: { code: "forbidden" } } });
    expect(await presign(tokens.rita, body)).toMatchObject({
      status: 403,
      body: { error: { message: expect.stringMatching(/read-only/) } },
    });
    expect(await t.api("POST", "/api/v1/upload/presign", { dialog_id: dialog.id, ...body }, null)).toMatchObject({ status: 401 });

    const { attachment_id: id, response } = await uploaded("notes.txt", "text/plain", Buffer.from("hello"));
    expect(response.ok).toBe(true);
    expect(await complete(id)).toMatchObject({ status: 200, body: { data: { status: "ready", mime: "text/plain" } } });
    expect(await links(id, tokens.stranger)).toMatchObject({ status: 404 });
    expect(await links(id, tokens.pat)).toMatchObject({ status: 403 });
    expect(await complete(id, tokens.pat)).toMatchObject({ status: 403 });
    expect(await t.api("GET", `/api/v1/attachments/${id}`, undefined, tokens.stranger)).toMatchObject({ status: 404 });
    // A read-only participant reads files.
    expect(await links(id, tokens.rita)).toMatchObject({ status: 200 });
    // Bob may read it but not complete someone else's upload.
    expect(await complete(id, tokens.bob)).toMatchObject({ status: 403 });
  });

  test("a file over the limit is refused at presign, and bytes beyond the declared size never become ready", async () => {
    expect(await presign(tokens.alice, { filename: "big.zip", content_type: "application/zip", size: maxUpload + 1 })).toMatchObject({
      status: 413,
      body: { error: { code: "payload_too_large" } },
    });

    const text = Buffer.from("x".repeat(5000));
    const { attachment_id: id, key, response } = await uploaded("small.txt", "text/plain", text, 100);
    if (kind === "local") {
      // Counted while streaming: the upload is cut off and nothing is stored.
      expect(response.status).toBe(413);
      expect(await complete(id)).toMatchObject({ status: 409 });
      // Without a Content-Length (chunked), the byte counter cuts the stream off.
      const chunked = await presign(tokens.alice, { filename: "chunked.txt", content_type: "text/plain", size: 100 });
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let index = 0; index < 10; index += 1) controller.enqueue(new Uint8Array(1000).fill(120));
          controller.close();
        },
      });
      const streamed = await fetch(chunked.body.data.upload_url, { method: "PUT", body, duplex: "half" } as RequestInit);
      expect(streamed.status).toBe(413);
      expect(await t.server.files.storage.head(chunked.body.data.key)).toBeNull();
    } else {
      // s3rver, unlike S3, does not check the signed Content-Length: the size is checked when the file is completed.
      expect(response.ok).toBe(true);
      expect(await complete(id)).toMatchObject({
        status: 413,
        body: { error: { code: "payload_too_large", message: expect.stringMatching(/5000 bytes, more than the 100 declared/) } },
      });
      expect(await complete(id)).toMatchObject({ status: 413 });
    }
    expect(await t.server.files.storage.head(key)).toBeNull();
    expect(await links(id)).toMatchObject({ status: 409 });
  });

  test("a file's real type decides: an executable renamed to .png is refused and deleted", async () => {
    const { attachment_id: id, key, response } = await uploaded("cat.png", "image/png", exe);
    expect(response.ok).toBe(true);
    const refused = await complete(id);
    expect(refused).toMatchObject({
      status: 415,
      body: {
        error: { code: "unsupported_media_type", message: expect.stringMatching(/application\/x-msdownload \(declared image\/png\)/) },
      },
    });
    expect(await t.server.files.storage.head(key)).toBeNull();
    expect(await links(id)).toMatchObject({ status: 409 });
    expect(
      await t.api("POST", `/api/v1/dialogs/${dialog.id}/messages`, { content: "cute", attachment_ids: [id] }, tokens.alice),
    ).toMatchObject({
      status: 415,
    });
    expect(await t.api<{ data: Attachment }>("GET", `/api/v1/attachments/${id}`, undefined, tokens.alice)).toMatchObject({
      status: 200,
      body: { data: { status: "rejected", rejection: { code: "unsupported_media_type" } } },
    });

    // Binary declared as text is not text.
    const binary = await uploaded("notes.txt", "text/plain", Buffer.concat([Buffer.from([0, 1, 2, 3]), randomBytes(200)]));
    expect(await complete(binary.attachment_id)).toMatchObject({ status: 415 });
    // A type outside the allowlist is refused before anything is uploaded.
    expect(
      await presign(tokens.alice, { filename: "setup.exe", content_type: "application/x-msdownload", size: exe.length }),
    ).toMatchObject({
      status: 415,
    });
  });

  test("a WebSocket client's message may reference only its own checked uploads, described truthfully", async () => {
    const good = await uploaded("report.pdf", "application/pdf", pdf);
    const bad = await uploaded("dog.png", "image/png", exe);
    const bobs = await presign(tokens.bob, { filename: "bob.pdf", content_type: "application/pdf", size: pdf.length });
    await put(bobs.body.data.upload_url, pdf);
    const ref = { id: good.attachment_id, name: "report.pdf", mime: "application/pdf", size: pdf.length };

    /** Sends one message with `attachments` as a raw client; resolves with the close reason, or null when accepted. */
    const sendWith = async (attachments: Record<string, unknown>[]) => {
      const raw = await RawClient.connect(t.wsUrl, segmentDocName(dialog.id, 0), tokens.alice);
      await raw.handshake();
      const before = Y.encodeStateVector(raw.doc);
      const id = uuidv7();
      createMessage(raw.doc, { id, author: "alice", createdAt: Date.now(), text: "see attached", attachments: attachments as never });
      raw.sendUpdate(Y.encodeStateAsUpdate(raw.doc, before));
      // The handshake already brought one status; an accepted update brings a second.
      const event = await raw.waitFor(
        (e) => e.type === "closed" || (e.type === "status" && raw.events.filter((x) => x.type === "status").length >= 2),
      );
      raw.close();
      return { id, closed: event.type === "closed" ? (event as { reason: string }).reason : null };
    };

    expect((await sendWith([{ ...ref, mime: "image/png" }])).closed).toMatch(
      /^4422 invalid_update: attachment .* must be described as uploaded/,
    );
    expect((await sendWith([{ id: bad.attachment_id, name: "dog.png", mime: "image/png", size: exe.length }])).closed).toMatch(
      /^4415 unsupported_media_type/,
    );
    expect(
      (await sendWith([{ id: bobs.body.data.attachment_id, name: "bob.pdf", mime: "application/pdf", size: pdf.length }])).closed,
    ).toMatch(/^4403 forbidden: attachment .* was uploaded by someone else/);
    const accepted = await sendWith([ref]);
    expect(accepted.closed).toBeNull();
    await eventually(async () => {
      const { rows } = await t.server.pool.query("SELECT attachments FROM messages WHERE dialog_id = $1 AND id = $2", [
        dialog.id,
        accepted.id,
      ]);
      return rows[0]?.attachments?.[0]?.id === good.attachment_id;
    });
  });

  test("path traversal is refused with 400 wherever a file name or key is accepted", async () => {
    for (const filename of [
      "../../etc/passwd",
      "..\\..\\boot.ini",
      "/etc/passwd",
      "..%2F..%2Fetc%2Fpasswd",
      "%252e%252e%252fsecret",
      "a\u0000.png",
      "..",
    ]) {
      expect(await presign(tokens.alice, { filename, content_type: "text/plain", size: 1 }), filename).toMatchObject({
        status: 400,
        body: { error: { code: "bad_request" } },
      });
    }
    const odd = await presign(tokens.alice, { filename: "my report: v2?.pdf", content_type: "application/pdf", size: 1 });
    expect(odd.body.data.key).toMatch(/\/my report_ v2_\.pdf$/);

    const base = `${t.httpUrl}/api/v1/files`;
    const prefix = `${base}/dialogs/${dialog.id}/${odd.body.data.attachment_id}`;
    for (const url of [
      `${prefix}/..%2F..%2F..%2Fetc%2Fpasswd`,
      `${prefix}/%252e%252e%252fpasswd`,
      `${prefix}/a%00.txt`,
      `${prefix}/%2Fetc%2Fpasswd`,
      `${base}/..%2F..%2Fetc%2Fpasswd`,
      `${base}/dialogs/not-a-uuid/${odd.body.data.attachment_id}/x.txt`,
    ]) {
      for (const method of ["GET", "PUT"]) {
        const response = await fetch(url, { method, ...(method === "PUT" ? { body: "x" } : {}) });
        expect(response.status, `${method} ${url}`).toBe(400);
      }
    }
  });

  test("images get their dimensions as displayed and a WebP thumbnail of at most 320 pixels", async () => {
    const png = await sharp({ create: { width: 800, height: 600, channels: 3, background: { r: 200, g: 30, b: 30 } } })
      .png()
      .toBuffer();
    const { attachment_id: id, response } = await uploaded("red.png", "image/png", png);
    expect(response.ok).toBe(true);
    const completed = await complete(id);
    expect(completed).toMatchObject({
      status: 200,
      body: { data: { mime: "image/png", width: 800, height: 600, thumbnail_width: 320, thumbnail_height: 240 } },
    });
    const thumbnail = await fetch(completed.body.data.thumbnail_url as string);
    expect(thumbnail.headers.get("content-type")).toBe("image/webp");
    const thumbnailMeta = await sharp(Buffer.from(await thumbnail.arrayBuffer())).metadata();
    expect(thumbnailMeta).toMatchObject({ format: "webp", width: 320, height: 240 });
    expect((await links(id)).body.data.thumbnail_url).toEqual(expect.any(String));

    // A camera JPEG stored sideways (EXIF orientation 6) is measured and thumbnailed upright.
    const sideways = await sharp({ create: { width: 800, height: 600, channels: 3, background: "#3060c0" } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const photo = await uploaded("photo.jpg", "image/jpeg", sideways);
    expect(await complete(photo.attachment_id)).toMatchObject({
      status: 200,
      body: { data: { mime: "image/jpeg", width: 600, height: 800, thumbnail_width: 240, thumbnail_height: 320 } },
    });

    // A small image is not enlarged.
    const small = await sharp({ create: { width: 40, height: 30, channels: 4, background: "#00000080" } })
      .webp()
      .toBuffer();
    const icon = await uploaded("icon.webp", "image/webp", small);
    expect(await complete(icon.attachment_id)).toMatchObject({
      body: { data: { width: 40, height: 30, thumbnail_width: 40, thumbnail_height: 30 } },
    });
  });

  test("bytes sent again to an upload link after the file was checked are never served", async () => {
    const { attachment_id: id, upload_url } = await uploaded("letter.txt", "text/plain", Buffer.from("dear bob"));
    expect(await complete(id)).toMatchObject({ status: 200 });
    const again = await put(upload_url, Buffer.concat([exe.subarray(0, 8)]));
    if (kind === "local") {
      // Local files are written once.
      expect(again.status).toBe(409);
      const download = await fetch((await links(id)).body.data.url);
      expect(await download.text()).toBe("dear bob");
    } else {
      // S3 lets the link overwrite until it expires; the changed version is caught before any link is handed out.
      expect(again.ok).toBe(true);
      expect(await links(id)).toMatchObject({
        status: 409,
        body: { error: { message: expect.stringMatching(/replaced after it was checked/) } },
      });
      expect(await t.api("POST", `/api/v1/dialogs/${dialog.id}/messages`, { attachment_ids: [id] }, tokens.alice)).toMatchObject({
        status: 409,
      });
    }
  });

  describe("storage conformance", () => {
    fileStorageConformance(() => ({
      storage: fixture.t.server.files.storage,
      resolve: (url) => (url.startsWith("/") ? `${fixture.t.httpUrl}${url}` : url),
    }));
  });
});

describe("links this server signs itself (local storage)", () => {
  const env: Record<string, string> = {};
  useDataDir(env);
  const fixture = useServer("external", "files_links", env);

  test("every file route is in the OpenAPI document", async () => {
    const { body } = await fixture.t.api<{ paths: Record<string, Record<string, unknown>> }>("GET", "/api/v1/openapi.json");
    expect(Object.keys(body.paths["/api/v1/upload/presign"] ?? {})).toEqual(["post"]);
    expect(Object.keys(body.paths["/api/v1/attachments/{id}"] ?? {})).toEqual(["get"]);
    expect(Object.keys(body.paths["/api/v1/attachments/{id}/complete"] ?? {})).toEqual(["post"]);
    expect(Object.keys(body.paths["/api/v1/attachments/{id}/url"] ?? {})).toEqual(["get"]);
    expect(Object.keys(body.paths["/api/v1/files/dialogs/{dialog_id}/{file_id}/{name}"] ?? {}).sort()).toEqual(["get", "put"]);
  });

  test("a tampered link is refused; the generated secret is kept in DATA_DIR and survives a restart", async () => {
    const { t } = fixture;
    const dialog = await createDialog(t, ["alice"]);
    const alice = await tokenFor("alice");
    const presigned = await t.api<{ data: Presigned }>(
      "POST",
      "/api/v1/upload/presign",
      { dialog_id: dialog.id, filename: "a.txt", content_type: "text/plain", size: 3 },
      alice,
    );
    const id = presigned.body.data.attachment_id;
    expect((await fetch(presigned.body.data.upload_url, { method: "PUT", body: "abc" })).status).toBe(201);
    expect((await t.api("POST", `/api/v1/attachments/${id}/complete`, undefined, alice)).status).toBe(200);
    const { body } = await t.api<{ data: Links }>("GET", `/api/v1/attachments/${id}/url`, undefined, alice);
    const url = new URL(body.data.url);
    expect((await fetch(url)).status).toBe(200);

    const tampered = (change: (copy: URL) => void) => {
      const copy = new URL(url);
      change(copy);
      return copy;
    };
    for (const changed of [
      tampered((copy) => copy.searchParams.set("sig", `${url.searchParams.get("sig")?.slice(0, -2)}AA`)),
      tampered((copy) => copy.searchParams.set("expires", String(Number(url.searchParams.get("expires")) + 86_400))),
      tampered((copy) => copy.searchParams.set("type", "text/html")),
      tampered((copy) => copy.searchParams.delete("sig")),
      tampered((copy) => {
        copy.pathname = copy.pathname.replace(/a\.txt$/, "b.txt");
      }),
    ]) {
      const response = await fetch(changed);
      expect(response.status, changed.toString()).toBe(403);
      expect(((await response.json()) as ErrorBody).error.code).toBe("forbidden");
    }
    // An upload link is not a download link, nor the other way round.
    expect((await fetch(presigned.body.data.upload_url)).status).toBe(403);
    expect((await fetch(url, { method: "PUT", body: "abc" })).status).toBe(403);

    const secretFile = path.join(env.DATA_DIR as string, "file-url-secret");
    expect((await stat(secretFile)).mode & 0o777).toBe(0o600);
    // Another process on the same data directory (a restart, or a replica) honours the link.
    const second = await startServer({ ...fixture.env.env, ...env });
    try {
      const moved = new URL(url);
      moved.port = String(second.server.port());
      const response = await fetch(moved);
      expect(response.status).toBe(200);
      expect(await response.text()).toBe("abc");
      const ranged = await fetch(moved, { headers: { range: "bytes=1-" } });
      expect(ranged.status).toBe(206);
      expect(await ranged.text()).toBe("bc");
    } finally {
      await second.stop();
    }
  });
});
