import { request } from "node:http";
import { describe, expect, test } from "vitest";
import { historyPageBytes } from "../src/chat/chat-service.ts";
import { createDialog, type TestServer, tokenFor, useServer } from "./harness.ts";

type Message = { id: string; content: string };
type History = { messages: Message[]; has_more_before: boolean; has_more_after: boolean };

const b64 = (text: string) => Buffer.from(text).toString("base64url");
const dashes = "-".repeat(36);
const someId = "0190a000-0000-7000-8000-000000000000";
const now = new Date().toISOString();
const badRequest = { status: 400, body: { error: { code: "bad_request", message: expect.any(String) } } };

/** A request whose body is written by `write`, answered as soon as the server answers, read or not. */
const rawRequest = (
  t: TestServer,
  path: string,
  headers: Record<string, string>,
  write: (chunk: (bytes: Buffer) => boolean, end: () => void) => void,
) =>
  new Promise<{ status: number; body: unknown; sent: number }>((resolve, reject) => {
    let sent = 0;
    const req = request(`${t.httpUrl}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()), sent }));
    });
    // The server may close the connection once it has answered: that is the point.
    req.on("error", (error) => (sent > 0 ? undefined : reject(error)));
    write(
      (bytes) => {
        sent += bytes.length;
        return req.write(bytes);
      },
      () => req.end(),
    );
  });

describe("input the fuzzer found answers 400, not 500, and writes nothing", () => {
  const fixture = useServer("external", "rest_inputs");

  test("cursors are checked field by field: uuid shape, dates PostgreSQL accepts, safe integers", async () => {
    const { t } = fixture;
    const alice = await tokenFor("alice");
    const listCursor = (fields: Record<string, unknown>) =>
      b64(JSON.stringify({ asOf: now, pinned: false, at: now, id: someId, ...fields }));
    const deadLetterCursor = (fields: Record<string, unknown>) => b64(JSON.stringify({ at: now, id: someId, ...fields }));
    const refused = {
      ...badRequest,
      body: { error: { code: "bad_request", message: expect.stringMatching(/cursor is not one this API gave out/) } },
    };
    for (const cursor of [
      listCursor({ id: dashes }),
      listCursor({ at: "+275760-09-13T00:00:00.000Z" }),
      listCursor({ asOf: "2024-02-30T00:00:00.000Z" }),
      listCursor({ asOf: "0000-01-01T00:00:00.000Z" }),
      listCursor({ pinned: "yes" }),
      listCursor({ extra: 1 }),
      b64("1e21"),
      "%%%",
    ]) {
      expect(await t.api("GET", `/api/v1/dialogs?cursor=${encodeURIComponent(cursor)}`, undefined, alice), cursor).toMatchObject(refused);
    }
    for (const cursor of [
      b64("1e21"),
      b64("9223372036854775808"),
      b64('{"offset":1e21}'),
      b64('{"offset":9223372036854775808}'),
      b64('{"offset":-1}'),
    ]) {
      expect(await t.api("GET", `/api/v1/search?q=x&cursor=${cursor}`, undefined, alice), cursor).toMatchObject(refused);
    }
    for (const cursor of [
      deadLetterCursor({ id: dashes }),
      deadLetterCursor({ at: "+275760-09-13T00:00:00.000Z" }),
      deadLetterCursor({ at: "2024-02-30T00:00:00.000Z" }),
      b64(`${now}|${dashes}`),
    ]) {
      expect(await t.api("GET", `/api/v1/management/webhooks/dead-letters?cursor=${cursor}`), cursor).toMatchObject(refused);
    }
  });

  test("NUL and unpaired surrogates are refused wherever a string reaches PostgreSQL, naming the field", async () => {
    const { t } = fixture;
    const alice = await tokenFor("alice");
    const dialog = await createDialog(t, ["alice"]);
    const messages = `/api/v1/dialogs/${dialog.id}/messages`;
    const cases: [string, string, unknown, string | undefined, RegExp][] = [
      ["GET", "/api/v1/dialogs/by-object/%25/%00", undefined, alice, /object_id: .*NUL/],
      ["GET", "/api/v1/dialogs/by-object/order/a%00b/list", undefined, alice, /object_id: .*NUL/],
      ["GET", "/api/v1/dialogs?search=a%00b", undefined, alice, /search: .*NUL/],
      ["GET", "/api/v1/search?q=a%00b", undefined, alice, /q: .*NUL/],
      ["POST", messages, { content: "a\u0000b" }, alice, /content: .*NUL/],
      ["POST", messages, { content: "a\ud800b" }, alice, /content: .*surrogate/],
      ["POST", "/api/v1/dialogs/direct", { user_id: "a\u0000b" }, alice, /user_id: .*NUL/],
      ["PUT", `${messages}/${someId}/reactions/%00`, undefined, alice, /emoji: .*NUL/],
      ["POST", "/api/v1/management/dialogs", { object_id: "a\u0000b", object_type: "order" }, undefined, /object_id: .*NUL/],
      [
        "POST",
        "/api/v1/management/dialogs",
        { object_id: "o", object_type: "order", meta: { deep: { "k\u0000": 1 } } },
        undefined,
        /meta\.deep\..*key/,
      ],
      [
        "POST",
        "/api/v1/management/dialogs",
        { object_id: "o", object_type: "order", meta: { list: ["\udc00"] } },
        undefined,
        /meta\.list\.0: /,
      ],
      [
        "POST",
        `/api/v1/management/dialogs/${dialog.id}/participants`,
        { user_id: "bob", display_name: "B\u0000b" },
        undefined,
        /display_name/,
      ],
      ["DELETE", `/api/v1/management/dialogs/${dialog.id}/participants/a%00b`, undefined, undefined, /user_id: .*NUL/],
      ["POST", "/api/v1/management/api-keys", { name: "a\u0000b", scopes: ["read"] }, undefined, /name: .*NUL/],
      ["DELETE", "/api/v1/management/api-keys/a%00b", undefined, undefined, /key_id: .*NUL/],
    ];
    for (const [method, path, body, token, message] of cases) {
      const response = await t.api(method, path, body, token);
      expect(response, `${method} ${path} ${JSON.stringify(body)}`).toMatchObject({
        status: 400,
        body: { error: { code: "bad_request", message } },
      });
    }

    // Nothing of it was written, and the dialog's projection is not stuck on it: the next honest message shows up.
    const honest = await t.api<{ data: Message }>("POST", messages, { content: "ab" }, alice);
    expect(honest).toMatchObject({ status: 201, body: { data: { content: "ab" } } });
    const history = await t.api<{ data: History }>("GET", messages, undefined, alice);
    expect(history.body.data.messages.map((message) => message.content).filter(Boolean)).toEqual(["ab"]);
    const keys = await t.api<{ data: { name: string }[] }>("GET", "/api/v1/management/api-keys");
    expect(keys.body.data.map((key) => key.name)).not.toContain("a\u0000b");
  });

  test("a token's sub with NUL is refused (401); control characters in its name are dropped from the display name", async () => {
    const { t } = fixture;
    expect(await t.api("GET", "/api/v1/dialogs", undefined, await tokenFor("al\u0000ice"))).toMatchObject({
      status: 401,
      body: { error: { code: "unauthorized", message: expect.stringMatching(/sub/) } },
    });
    expect(await t.api("GET", "/api/v1/search?q=x", undefined, await tokenFor("alice", { tenant_uid: "t\u0000" }))).toMatchObject({
      status: 401,
    });
    const bob = await tokenFor("bob", { name: "Bo\u0000b\u0007 \u001b[31mRed" });
    const self = await t.api<{ data: { id: string } }>("POST", "/api/v1/dialogs/self", undefined, bob);
    expect(self.status).toBe(200);
    expect(await t.api("GET", `/api/v1/dialogs/${self.body.data.id}/participants`, undefined, bob)).toMatchObject({
      status: 200,
      body: { data: [{ user_id: "bob", display_name: "Bob [31mRed" }] },
    });
  });

  test("out-of-range numbers, non-uuid ids and instants PostgreSQL refuses are 400s", async () => {
    const { t } = fixture;
    const alice = await tokenFor("alice");
    const dialog = await createDialog(t, ["alice"]);
    for (const path of [
      `/api/v1/dialogs/${dialog.id}/messages?limit=0`,
      `/api/v1/dialogs/${dialog.id}/messages?limit=1e400`,
      `/api/v1/dialogs/${dialog.id}/messages?limit=abc`,
      `/api/v1/dialogs/${dialog.id}/messages?limit=9223372036854775808`,
      `/api/v1/dialogs/${dialog.id}/messages?before=${dashes}`,
      `/api/v1/dialogs/${dashes}`,
      "/api/v1/dialogs?limit=-1",
      "/api/v1/search?q=x&limit=101",
    ]) {
      expect(await t.api("GET", path, undefined, alice), path).toMatchObject(badRequest);
    }
    // Written as JSON literals: JSON.stringify would round the second one and cannot write the last.
    const presign = JSON.stringify({ dialog_id: dialog.id, filename: "a.txt", content_type: "text/plain" }).slice(0, -1);
    for (const size of ["1e21", "9223372036854775808", "-1", "1.5", "1e999"]) {
      expect(await t.api("POST", "/api/v1/upload/presign", `${presign},"size":${size}}`, alice), size).toMatchObject(badRequest);
    }
    for (const expires_at of [
      "2999-01-01T00:00:00+23:59",
      "2024-02-30T00:00:00Z",
      "9999-12-31T23:59:59-01:00",
      "+275760-09-13T00:00:00Z",
    ]) {
      const response = await t.api("POST", "/api/v1/management/api-keys", { name: "k", scopes: ["read"], expires_at });
      // +23:59 is ISO 8601 but past PostgreSQL's ±15:59: it is stored in UTC instead.
      expect(response, expires_at).toMatchObject(expires_at.endsWith("+23:59") ? { status: 201 } : badRequest);
    }
  });
});

describe("request bodies are capped before they are read", () => {
  const fixture = useServer("external", "rest_body_limit", { MAX_MESSAGE_CHARS: "1000", MAX_JSON_BODY_BYTES: "12000" });

  test("a body over MAX_JSON_BODY_BYTES gets 413 unread, declared or streamed", async () => {
    const { t } = fixture;
    const alice = await tokenFor("alice");
    const dialog = await createDialog(t, ["alice"]);
    const path = `/api/v1/dialogs/${dialog.id}/messages`;
    const tooLarge = { status: 413, body: { error: { code: "payload_too_large", message: expect.stringMatching(/MAX_JSON_BODY_BYTES/) } } };

    // Declares 25 MB and sends 1 KB: the answer comes without waiting for the rest.
    const declared = await rawRequest(t, path, { authorization: `Bearer ${alice}`, "content-length": String(25 * 1024 * 1024) }, (write) =>
      write(Buffer.alloc(1024, " ")),
    );
    expect(declared).toMatchObject(tooLarge);

    // Streams without a length: refused once past the cap, long before 25 MB.
    const streamed = await rawRequest(t, path, { authorization: `Bearer ${alice}`, "transfer-encoding": "chunked" }, (write) => {
      const chunk = Buffer.alloc(4096, " ");
      const pump = () => {
        for (let index = 0; index < 6400; index += 1) if (!write(chunk)) return;
      };
      pump();
    });
    expect(streamed).toMatchObject(tooLarge);
    expect(streamed.sent).toBeLessThan(25 * 1024 * 1024);
    // A streamed body under the cap is read as usual.
    const small = await rawRequest(t, path, { authorization: `Bearer ${alice}`, "transfer-encoding": "chunked" }, (write, end) => {
      write(Buffer.from('{"content":'));
      write(Buffer.from('"streamed"}'));
      end();
    });
    expect(small).toMatchObject({ status: 201, body: { data: { content: "streamed" } } });

    // Before authentication too: nobody gets the server to read more than the cap.
    expect(await t.api("POST", "/api/v1/management/dialogs", "x".repeat(20_000), null)).toMatchObject(tooLarge);
    expect(await t.api("POST", path, { content: "fits" }, alice)).toMatchObject({ status: 201 });
  });

  test("REST message content is limited by MAX_MESSAGE_CHARS, not a constant", async () => {
    const { t } = fixture;
    const alice = await tokenFor("alice");
    const dialog = await createDialog(t, ["alice"]);
    const path = `/api/v1/dialogs/${dialog.id}/messages`;
    const sent = await t.api<{ data: Message }>("POST", path, { content: "x".repeat(1000) }, alice);
    expect(sent).toMatchObject({ status: 201 });
    expect(await t.api("POST", path, { content: "x".repeat(1001) }, alice)).toMatchObject({
      status: 400,
      body: { error: { code: "bad_request", message: expect.stringMatching(/at most 1000 characters \(MAX_MESSAGE_CHARS\)/) } },
    });
    expect(await t.api("PUT", `${path}/${sent.body.data.id}`, { content: "y".repeat(1001) }, alice)).toMatchObject({ status: 400 });
    expect(await t.api("PUT", `${path}/${sent.body.data.id}`, { content: "y".repeat(1000) }, alice)).toMatchObject({ status: 200 });
  });

  test("the signed upload route is not capped by MAX_JSON_BODY_BYTES: files keep MAX_UPLOAD_BYTES", async () => {
    const { t } = fixture;
    const alice = await tokenFor("alice");
    const dialog = await createDialog(t, ["alice"]);
    const bytes = Buffer.alloc(50_000, "a");
    const presigned = await t.api<{ data: { upload_url: string; attachment_id: string } }>(
      "POST",
      "/api/v1/upload/presign",
      { dialog_id: dialog.id, filename: "notes.txt", content_type: "text/plain", size: bytes.length },
      alice,
    );
    expect(presigned.status).toBe(200);
    expect((await fetch(presigned.body.data.upload_url, { method: "PUT", body: bytes })).status).toBe(201);
    expect(await t.api("POST", `/api/v1/attachments/${presigned.body.data.attachment_id}/complete`, undefined, alice)).toMatchObject({
      status: 200,
      body: { data: { status: "ready", size: bytes.length } },
    });
  });
});

describe("history pages", () => {
  const fixture = useServer("external", "rest_history_bytes");

  test("a page of long messages stops at the byte budget, and paging still returns every message once, in order", async () => {
    const { t } = fixture;
    const alice = await tokenFor("alice");
    const dialog = await createDialog(t, ["alice"]);
    const path = `/api/v1/dialogs/${dialog.id}/messages`;
    // The longest messages REST takes by default; a page of 200 of them would be about 8 MB.
    const ids: string[] = [];
    for (let index = 0; index < 40; index += 1) {
      const response = await t.api<{ data: Message }>("POST", path, { content: `${index} ${"é".repeat(19_990)}` }, alice);
      expect(response.status).toBe(201);
      ids.push(response.body.data.id);
    }
    const page = async (query: string) => {
      const response = await fetch(`${t.httpUrl}${path}?limit=200${query}`, { headers: { authorization: `Bearer ${alice}` } });
      const text = await response.text();
      const data = (JSON.parse(text) as { data: History }).data;
      const texts = data.messages.filter((message) => message.content !== "");
      expect(Buffer.byteLength(text)).toBeLessThan(historyPageBytes + 4096);
      return { ...data, ids: texts.map((message) => message.id) };
    };

    const latest = await page("");
    expect(latest.ids.length).toBeGreaterThan(0);
    expect(latest.ids.length).toBeLessThan(40);
    expect(latest).toMatchObject({ has_more_before: true, has_more_after: false });
    expect(latest.ids).toEqual(ids.slice(-latest.ids.length));

    // Backwards from the newest, then forwards from the oldest: each covers all 40, once, in order.
    const backwards = [...latest.ids];
    for (let current = latest; current.has_more_before; ) {
      current = await page(`&before=${backwards[0]}`);
      backwards.unshift(...current.ids);
    }
    expect(backwards).toEqual(ids);
    const forwards = [ids[0] as string];
    for (let more = true; more; ) {
      const current = await page(`&after=${forwards.at(-1)}`);
      forwards.push(...current.ids);
      more = current.has_more_after;
    }
    expect(forwards).toEqual(ids);

    // Around a message: the message itself, its neighbours nearest first, and more on both sides.
    const around = await page(`&around=${ids[20]}`);
    expect(around.ids).toContain(ids[20]);
    expect(around).toMatchObject({ has_more_before: true, has_more_after: true });
    const start = ids.indexOf(around.ids[0] as string);
    expect(around.ids).toEqual(ids.slice(start, start + around.ids.length));
  });
});
