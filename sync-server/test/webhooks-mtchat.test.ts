import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createDialog, prepareStorage, startServer, type TestEnv, type TestServer, tokenFor } from "./harness.ts";
import { eventually } from "./wait.ts";

/**
 * A receiver written for MTChat, as its README's handler is: it checks `X-Webhook-Signature: sha256=HMAC(secret, raw
 * body)` and switches on the body's snake_case `type`, reading `payload`. The service sends to it in MTChat's format
 * (WEBHOOK_FORMAT=mtchat), and it needs no change.
 */
const secret = "mtchat-receiver-secret-0123456789";
type MtchatEvent = { id: string; type: string; timestamp: string; payload: Record<string, unknown> };
const events: MtchatEvent[] = [];
const refused: string[] = [];
let receiver: Server;
let storage: TestEnv;
let t: TestServer;

beforeAll(async () => {
  receiver = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      const expected = Buffer.from(`sha256=${createHmac("sha256", secret).update(raw).digest("hex")}`);
      const given = Buffer.from(String(request.headers["x-webhook-signature"] ?? ""));
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        refused.push(raw);
        response.writeHead(401).end();
        return;
      }
      const event = JSON.parse(raw) as MtchatEvent;
      expect(request.headers["x-webhook-event"]).toBe(event.type.replace("_", "."));
      events.push(event);
      response.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  storage = await prepareStorage("external", "webhooks_mtchat");
  t = await startServer({
    ...storage.env,
    WEBHOOK_URL: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/webhooks/mtchat`,
    WEBHOOK_SECRET: secret,
    WEBHOOK_FORMAT: "mtchat",
    NOTIFICATION_DELAY_SECS: "1",
  });
}, 60_000);

afterAll(async () => {
  await t?.stop();
  receiver?.close();
  await storage?.cleanup();
});

test("message_new, participant_joined and notification_pending reach a receiver written for MTChat, signed as MTChat signs", async () => {
  const dialog = await createDialog(t, ["user-1", "user-2"], { title: "Order #1234 Discussion" });
  const sent = await t.api<{ data: { id: string } }>(
    "POST",
    `/api/v1/dialogs/${dialog.id}/messages`,
    { content: "Pallets loaded" },
    await tokenFor("user-1"),
  );
  expect(sent.status).toBe(201);
  expect(
    await t.api("POST", `/api/v1/management/dialogs/${dialog.id}/participants`, { user_id: "user-3", display_name: "Carol" }),
  ).toMatchObject({
    status: 201,
  });
  const of = (type: string) => events.filter((event) => event.type === type && event.payload.dialog_id === dialog.id);
  await eventually(
    async () =>
      of("message_new").length > 0 &&
      of("participant_joined").some((event) => event.payload.user_id === "user-3") &&
      of("notification_pending").length > 0,
    {
      what: "the three MTChat events",
      timeoutMs: 20_000,
    },
  );

  // The dialog's "chat created" system message comes first, as MTChat's message_type system with no sender.
  expect(of("message_new")[0]?.payload.message).toMatchObject({ message_type: "system", sender_id: null });
  const message = of("message_new").find((event) => (event.payload.message as { message_type: string }).message_type === "user");
  expect(message).toMatchObject({
    id: expect.any(String),
    timestamp: expect.any(String),
    payload: {
      dialog_id: dialog.id,
      object_id: dialog.object_id,
      object_type: "order",
      message: { id: sent.body.data.id, sender_id: "user-1", content: "Pallets loaded", reply_to: null, message_type: "user" },
    },
  });
  expect(of("participant_joined").find((event) => event.payload.user_id === "user-3")?.payload).toMatchObject({
    dialog_id: dialog.id,
    joined_as: "participant",
    joined_at: expect.any(String),
  });
  // What MTChat's README handler reads: sendPushNotification(event.payload.recipient_id, event.payload.message).
  expect(of("notification_pending").map((event) => event.payload.recipient_id)).toEqual(["user-2"]);
  expect(of("notification_pending")[0]?.payload).toMatchObject({
    chat_title: "Order #1234 Discussion",
    message: { id: sent.body.data.id, content: "Pallets loaded" },
  });
  expect(refused).toEqual([]);

  // The endpoint says which format it speaks.
  const endpoints = await t.api<{ data: { id: string; format: string }[] }>("GET", "/api/v1/management/webhooks/endpoints");
  expect(endpoints.body.data).toEqual([expect.objectContaining({ id: "default", format: "mtchat" })]);
});
