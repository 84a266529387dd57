import { createECDH, randomBytes } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { decrypt } from "http_ece";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createDialog, prepareStorage, startServer, type TestEnv, type TestServer, tokenFor } from "./harness.ts";
import { eventually } from "./wait.ts";

/**
 * A stand-in for a browser vendor's push service (FCM, Mozilla autopush,
 * Apple): the real ones cannot be run here. It takes pushes on loopback as
 * they would (RFC 8030 POSTs), records them, and answers each path with the
 * statuses the test chose, in turn (201 unless told).
 */
class StandInPushService {
  readonly received: { path: string; headers: IncomingHttpHeaders; body: Buffer }[] = [];
  readonly answers = new Map<string, number[]>();
  private constructor(private readonly server: Server) {}

  static async start(): Promise<StandInPushService> {
    const server = createServer();
    const service = new StandInPushService(server);
    server.on("request", (request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        const path = request.url ?? "/";
        service.received.push({ path, headers: request.headers, body: Buffer.concat(chunks) });
        const planned = service.answers.get(path) ?? [];
        response.writeHead((planned.length > 1 ? planned.shift() : planned[0]) ?? 201).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return service;
  }

  url(path: string): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}${path}`;
  }

  to(path: string) {
    return this.received.filter((push) => push.path === path);
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** A browser's side of a subscription: its P-256 key pair and auth secret, made here as a browser makes them. */
const browserKeys = () => {
  const ecdh = createECDH("prime256v1");
  ecdh.generateKeys();
  const auth = randomBytes(16).toString("base64url");
  return { ecdh, auth, json: { p256dh: ecdh.getPublicKey().toString("base64url"), auth } };
};

type Payload = { type: string; dialog_id: string; title: string; sender_name: string; preview: string; unread_count: number };

let pushService: StandInPushService;
let storage: TestEnv;
let t: TestServer;

beforeAll(async () => {
  pushService = await StandInPushService.start();
  storage = await prepareStorage("external", "web_push");
  // OUTBOUND_ALLOW_PRIVATE=127.0.0.1 (the harness's) is what lets the stand-in be plain http on loopback.
  t = await startServer({ ...storage.env, NOTIFICATION_DELAY_SECS: "1", WEBHOOK_POLL_MS: "500" });
});

afterAll(async () => {
  await t?.stop();
  await pushService?.stop();
  await storage?.cleanup();
});

const send = async (dialogId: string, token: string, content: string) => {
  const response = await t.api<{ data: { id: string } }>("POST", `/api/v1/dialogs/${dialogId}/messages`, { content }, token);
  expect(response.status).toBe(201);
  return response.body.data.id;
};

const subscribe = (token: string, endpoint: string, keys: { p256dh: string; auth: string }) =>
  t.api<{ data: { id: string } }>("POST", "/api/v1/push/subscriptions", { endpoint, expirationTime: null, keys }, token);

const subscriptionsOf = async (userId: string) =>
  (await t.server.pool.query("SELECT endpoint FROM push_subscriptions WHERE user_id = $1", [userId])).rows.map((row) => row.endpoint);

describe("web push", { timeout: 30_000 }, () => {
  test("a message to an offline participant is pushed to their browser, encrypted to it and signed with the server's VAPID key", async () => {
    const [alice, bob] = await Promise.all([tokenFor("alice"), tokenFor("bob")]);
    const key = await t.api<{ data: { public_key: string } }>("GET", "/api/v1/push/vapid-public-key", undefined, bob);
    expect(key.status).toBe(200);
    const publicKey = key.body.data.public_key;
    expect(Buffer.from(publicKey, "base64url")).toHaveLength(65);

    const browser = browserKeys();
    expect(await subscribe(bob, pushService.url("/push/bob"), browser.json)).toMatchObject({ status: 201 });
    const dialog = await createDialog(t, ["alice", "bob"], { title: "Order #88 · reefers" });
    const messageId = await send(dialog.id, alice, "The pallets arrive on Tuesday at 9, dock 4");

    const [push] = await eventually(async () => (pushService.to("/push/bob").length > 0 ? pushService.to("/push/bob") : undefined), {
      what: "bob's push",
    });
    if (!push) throw new Error("unreachable");
    expect(push.headers["content-encoding"]).toBe("aes128gcm");
    expect(Number(push.headers.ttl)).toBeGreaterThan(0);
    // VAPID (RFC 8292): a JWT for the push service's origin, with the key browsers subscribed with.
    const vapid = /^vapid t=([^,]+), k=(.+)$/.exec(String(push.headers.authorization));
    expect(vapid?.[2]).toBe(publicKey);
    expect(decodeProtectedHeader(vapid?.[1] ?? "")).toMatchObject({ alg: "ES256" });
    expect(decodeJwt(vapid?.[1] ?? "")).toMatchObject({ aud: new URL(pushService.url("/")).origin });
    // Only the browser's keys open it.
    const payload = JSON.parse(
      decrypt(push.body, { version: "aes128gcm", privateKey: browser.ecdh, authSecret: browser.auth }).toString(),
    ) as Payload;
    expect(payload).toEqual({
      type: "message",
      dialog_id: dialog.id,
      title: "Order #88 · reefers",
      sender_name: "ALICE",
      preview: "The pallets arrive on Tuesday at 9, dock 4",
      unread_count: 1,
      message_id: messageId,
    });
    expect(push.body.includes(Buffer.from("pallets"))).toBe(false);
  });

  test("a user who muted the dialog gets no push", async () => {
    const [alice, carol] = await Promise.all([tokenFor("alice"), tokenFor("carol")]);
    const browser = browserKeys();
    const subscribed = await subscribe(carol, pushService.url("/push/carol"), browser.json);
    expect(subscribed.status).toBe(201);
    const dialog = await createDialog(t, ["alice", "carol"]);
    expect(await t.api("POST", `/api/v1/dialogs/${dialog.id}/notifications`, { enabled: false }, carol)).toMatchObject({ status: 200 });
    await eventually(
      async () =>
        (
          await t.server.pool.query(
            "SELECT 1 FROM user_dialog_state WHERE dialog_id = $1 AND user_id = 'carol' AND NOT notifications_enabled",
            [dialog.id],
          )
        ).rowCount === 1,
      { what: "the mute to be projected" },
    );
    await send(dialog.id, alice, "Nobody should be woken by this");
    const windowOf = async () =>
      (await t.server.pool.query("SELECT 1 FROM webhook_pending_notifications WHERE dialog_id = $1 AND user_id = 'carol'", [dialog.id]))
        .rowCount ?? 0;
    // Carol's window opens, and closes (muted) without queuing a push for her browser.
    await eventually(async () => (await windowOf()) === 1, { what: "carol's window" });
    await eventually(async () => (await windowOf()) === 0, { what: "carol's window to close" });
    const { rows } = await t.server.pool.query(
      "SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'web-push' AND data ->> 'subscription_id' = $1",
      [subscribed.body.data.id],
    );
    expect(rows[0]).toEqual({ n: 0 });
    expect(pushService.to("/push/carol")).toEqual([]);
  });

  test("a subscription the push service answers 410 for is deleted", async () => {
    const [alice, dave] = await Promise.all([tokenFor("alice"), tokenFor("dave")]);
    pushService.answers.set("/push/dave-gone", [410]);
    expect(await subscribe(dave, pushService.url("/push/dave-gone"), browserKeys().json)).toMatchObject({ status: 201 });
    expect(await subscribe(dave, pushService.url("/push/dave-live"), browserKeys().json)).toMatchObject({ status: 201 });
    const dialog = await createDialog(t, ["alice", "dave"]);
    await send(dialog.id, alice, "Are you still there?");
    await eventually(async () => pushService.to("/push/dave-gone").length === 1 && pushService.to("/push/dave-live").length === 1, {
      what: "both of dave's pushes",
    });
    await eventually(async () => (await subscriptionsOf("dave")).length === 1, { what: "the gone subscription to be deleted" });
    expect(await subscriptionsOf("dave")).toEqual([pushService.url("/push/dave-live")]);
  });

  test("a push the push service could not take (503) is sent again", async () => {
    const [alice, frank] = await Promise.all([tokenFor("alice"), tokenFor("frank")]);
    pushService.answers.set("/push/frank", [503, 201]);
    const browser = browserKeys();
    expect(await subscribe(frank, pushService.url("/push/frank"), browser.json)).toMatchObject({ status: 201 });
    const dialog = await createDialog(t, ["alice", "frank"]);
    await send(dialog.id, alice, "Second time lucky");
    // pg-boss retries the job after its retry delay (5 s, then backing off).
    const pushes = await eventually(async () => (pushService.to("/push/frank").length >= 2 ? pushService.to("/push/frank") : undefined), {
      what: "the retried push",
      timeoutMs: 25_000,
    });
    const last = pushes.at(-1);
    if (!last) throw new Error("unreachable");
    const payload = JSON.parse(
      decrypt(last.body, { version: "aes128gcm", privateKey: browser.ecdh, authSecret: browser.auth }).toString(),
    ) as Payload;
    expect(payload).toMatchObject({ dialog_id: dialog.id, preview: "Second time lucky" });
    expect(await subscriptionsOf("frank")).toEqual([pushService.url("/push/frank")]);
  });

  test("bad subscriptions get a 400 envelope; unsubscribing and erasing the user remove them", async () => {
    const erin = await tokenFor("erin");
    const keys = browserKeys().json;
    const bad = [
      { endpoint: "ftp://push.example.com/x", keys },
      { endpoint: "http://push.example.com/x", keys },
      { endpoint: "not a url", keys },
      { endpoint: "https://10.1.2.3/push", keys },
      { endpoint: "https://push.example.com/x", keys: { p256dh: keys.p256dh.slice(0, 40), auth: keys.auth } },
      { endpoint: "https://push.example.com/x", keys: { p256dh: keys.p256dh, auth: "!!" } },
      { endpoint: "https://push.example.com/x" },
    ];
    for (const body of bad) {
      const answer = await t.api<{ error: { code: string; message: string } }>("POST", "/api/v1/push/subscriptions", body, erin);
      expect({ body, status: answer.status, code: answer.body.error?.code }).toEqual({ body, status: 400, code: "bad_request" });
      expect(answer.body.error.message.length).toBeGreaterThan(0);
    }
    expect(await t.api("POST", "/api/v1/push/subscriptions", { endpoint: pushService.url("/push/x"), keys }, null)).toMatchObject({
      status: 401,
      body: { error: { code: "unauthorized" } },
    });
    expect(await subscriptionsOf("erin")).toEqual([]);

    const endpoint = pushService.url("/push/erin");
    expect(await subscribe(erin, endpoint, keys)).toMatchObject({ status: 201 });
    const query = `?endpoint=${encodeURIComponent(endpoint)}`;
    expect(await t.api("DELETE", `/api/v1/push/subscriptions${query}`, undefined, erin)).toMatchObject({ status: 200 });
    expect(await t.api("DELETE", `/api/v1/push/subscriptions${query}`, undefined, erin)).toMatchObject({
      status: 404,
      body: { error: { code: "not_found" } },
    });

    expect(await subscribe(erin, endpoint, keys)).toMatchObject({ status: 201 });
    expect(await t.api("DELETE", "/api/v1/management/users/erin")).toMatchObject({ status: 200 });
    expect(await subscriptionsOf("erin")).toEqual([]);
  });
});
