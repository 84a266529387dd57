import { enqueueEvent, eventId, Projector } from "@mtchat/projections";
import { segmentDocName } from "@mtchat/protocol";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { openDoc, openSocket } from "./clients.ts";
import { createDialog, prepareStorage, startServer, type TestEnv, type TestServer, tokenFor } from "./harness.ts";
import { eventually } from "./wait.ts";
import { type Received, type WebhookBody, WebhookReceiver } from "./webhook-receiver.ts";

const secret = "receiver-secret-0123456789abcdef";
/** Small backoff so retries happen within a test; no notification.pending unless a block asks for it. */
const fastRetries = {
  WEBHOOK_SECRET: secret,
  WEBHOOK_RETRY_BASE_MS: "20",
  WEBHOOK_RETRY_MAX_MS: "200",
  WEBHOOK_MAX_ATTEMPTS: "1000",
  WEBHOOK_POLL_MS: "500",
  NOTIFICATION_DELAY_SECS: "3600",
};

type Setup = { receiver: WebhookReceiver; t: TestServer; env: Record<string, string>; storage: TestEnv };

/** A receiver, then a server on fresh storage whose WEBHOOK_URL points at it. */
const useWebhookServer = (label: string, extra: Record<string, string> = {}): Setup => {
  const setup = {} as Setup;
  beforeAll(async () => {
    setup.receiver = await WebhookReceiver.start(secret);
    setup.storage = await prepareStorage("external", label);
    setup.env = { ...setup.storage.env, ...fastRetries, WEBHOOK_URL: setup.receiver.url, ...extra };
    setup.t = await startServer(setup.env);
  });
  afterAll(async () => {
    await setup.t?.stop();
    await setup.receiver?.stop();
    await setup.storage?.cleanup();
  });
  return setup;
};

const send = async (t: TestServer, dialogId: string, token: string, content: string): Promise<string> => {
  const response = await t.api<{ data: { id: string } }>("POST", `/api/v1/dialogs/${dialogId}/messages`, { content }, token);
  expect(response.status).toBe(201);
  return response.body.data.id;
};

type Payload = { message?: { id: string; content: string }; participant?: { user_id: string } };
/** An event as a short line: its kind and what it is about (message content, or participant). */
const line = (request: Received) => {
  const data = request.body.data as Payload;
  return `${request.event} ${data.message ? data.message.content || data.message.id : (data.participant?.user_id ?? "")}`;
};
const contentOf = (request: { body: WebhookBody }) => (request.body.data as Payload).message?.content;

describe("webhook delivery", () => {
  const setup = useWebhookServer("webhooks");

  test("message and participant events arrive signed, complete and in order per dialog; endpoints filter events", async () => {
    const { t, receiver } = setup;
    const [alice, bob] = await Promise.all([tokenFor("alice"), tokenFor("bob")]);

    // A generated secret is shown once, on creation.
    const generated = await t.api<{ data: { id: string; secret: string } }>("POST", "/api/v1/management/webhooks/endpoints", {
      url: "http://127.0.0.1:9/unused",
    });
    expect(generated).toMatchObject({ status: 201, body: { data: { secret: expect.stringMatching(/^whsec_/), events: null } } });
    expect(await t.api("DELETE", `/api/v1/management/webhooks/endpoints/${generated.body.data.id}`)).toMatchObject({ status: 200 });
    expect(await t.api("DELETE", `/api/v1/management/webhooks/endpoints/${generated.body.data.id}`)).toMatchObject({ status: 404 });
    expect(await t.api("POST", "/api/v1/management/webhooks/endpoints", { url: "ftp://example.test/x", events: ["nope"] })).toMatchObject({
      status: 400,
      body: { error: { code: "bad_request" } },
    });

    // A second endpoint, through the Management API, for new messages only, with its own secret.
    const filteredSecret = "filtered-endpoint-secret-0123456789";
    const filtered = await WebhookReceiver.start(filteredSecret);
    const endpoint = await t.api<{ data: { id: string } }>("POST", "/api/v1/management/webhooks/endpoints", {
      url: filtered.url,
      secret: filteredSecret,
      events: ["message.new"],
    });
    expect(endpoint).toMatchObject({ status: 201, body: { data: { events: ["message.new"], source: "api" } } });
    const listed = await t.api<{ data: { id: string; source: string; secret?: string }[] }>("GET", "/api/v1/management/webhooks/endpoints");
    expect(listed.body.data.map((row) => [row.id, row.source, row.secret])).toEqual([
      ["default", "config", undefined],
      [endpoint.body.data.id, "api", undefined],
    ]);

    try {
      const first = await createDialog(t, ["alice", "bob"]);
      const second = await createDialog(t, ["alice", "bob"]);
      // Operations on the two dialogs interleave.
      const hello = await send(t, first.id, alice, "hello");
      await send(t, second.id, bob, "other dialog");
      const hi = await send(t, first.id, bob, "hi");
      expect(await t.api("PUT", `/api/v1/dialogs/${first.id}/messages/${hello}`, { content: "hello, edited" }, alice)).toMatchObject({
        status: 200,
      });
      await send(t, second.id, alice, "other again");
      expect(await t.api("DELETE", `/api/v1/dialogs/${first.id}/messages/${hi}`, undefined, bob)).toMatchObject({ status: 200 });
      await t.api("POST", `/api/v1/management/dialogs/${first.id}/participants`, { user_id: "carol", display_name: "Carol" });
      await t.api("DELETE", `/api/v1/management/dialogs/${first.id}/participants/carol`);
      await send(t, first.id, alice, "last");

      const expectedFirst = [
        "dialog.created ",
        "participant.joined alice",
        "participant.joined bob",
        "message.new", // the chat_created system message
        "message.new hello",
        "message.new hi",
        "message.edited hello, edited",
        `message.deleted ${hi}`,
        "participant.joined carol",
        "participant.left carol",
        "message.new last",
      ];
      const expectedSecond = [
        "dialog.created ",
        "participant.joined alice",
        "participant.joined bob",
        "message.new",
        "message.new other dialog",
        "message.new other again",
      ];
      const seen = (dialogId: string, count: number) => () => receiver.deliveredOf(dialogId).length >= count;
      await receiver.until(seen(first.id, expectedFirst.length), "the first dialog's events");
      await receiver.until(seen(second.id, expectedSecond.length), "the second dialog's events");
      // The system message has no content: its line ends with its id.
      const linesOf = (dialogId: string) =>
        receiver.deliveredOf(dialogId).map((request) => line(request).replace(/^message\.new [0-9a-f-]{36}$/, "message.new"));
      expect(linesOf(first.id)).toEqual(expectedFirst);
      expect(linesOf(second.id)).toEqual(expectedSecond);

      const all = [...receiver.deliveredOf(first.id), ...receiver.deliveredOf(second.id)];
      expect(receiver.rejected).toEqual([]);
      expect(new Set(all.map((request) => request.id)).size).toBe(all.length);
      for (const request of all) {
        expect(request.id).toBe(request.body.id);
        expect(request.event).toBe(request.body.event);
        expect(request.body.project_id).toBe("default");
      }
      const newHello = all.find((request) => request.event === "message.new" && contentOf(request) === "hello");
      expect(newHello?.body).toMatchObject({
        event: "message.new",
        created_at: expect.any(String),
        data: {
          dialog_id: first.id,
          object_type: "order",
          object_id: first.object_id,
          message: {
            id: hello,
            sender_id: "alice",
            message_type: "text",
            content: "hello",
            reply_to_id: null,
            sent_at: expect.any(String),
          },
        },
      });
      expect(all.find((request) => line(request) === "participant.left carol")?.body.data).toMatchObject({
        dialog_id: first.id,
        participant: { user_id: "carol", display_name: "Carol" },
      });

      // The filtered endpoint got the new messages and nothing else: "last" came after carol's events in that dialog's order.
      await filtered.until(
        () => filtered.received.some((request) => contentOf(request) === "last"),
        "the filtered endpoint's last message",
      );
      expect(filtered.rejected).toEqual([]);
      expect(filtered.received.map((request) => request.event)).toEqual(filtered.received.map(() => "message.new"));
      expect(filtered.of(first.id).map(contentOf)).toEqual(["", "hello", "hi", "last"]);
    } finally {
      await t.api("DELETE", `/api/v1/management/webhooks/endpoints/${endpoint.body.data.id}`);
      await filtered.stop();
    }
    const after = await t.api<{ data: unknown[] }>("GET", "/api/v1/management/webhooks/endpoints");
    expect(after.body.data).toHaveLength(1);
  });

  test("a receiver that fails (503), then refuses connections, then comes back gets every event once, in order", async () => {
    const { t, receiver } = setup;
    const alice = await tokenFor("alice");
    const dialog = await createDialog(t, ["alice", "bob"]);
    await receiver.until(() => receiver.deliveredOf(dialog.id).length >= 4, "the dialog's creation events");

    let up = false;
    receiver.behave(dialog.id, () => (up ? { status: 200 } : { status: 503 }));
    const sent = [await send(t, dialog.id, alice, "m1"), await send(t, dialog.id, alice, "m2")];
    const firstId = await receiver.until(() => {
      const failures = receiver.of(dialog.id).filter((request) => request.status === 503);
      return failures.length >= 3 && failures[0]?.id;
    }, "three failed attempts");
    // Every failed attempt so far was the first message's event: the second waits behind it.
    expect(
      new Set(
        receiver
          .of(dialog.id)
          .filter((request) => request.status === 503)
          .map((request) => request.id),
      ),
    ).toEqual(new Set([firstId]));

    await receiver.down();
    const attemptsAtDown = await attemptsOf(t, firstId);
    await eventually(
      async () => {
        const { attempts, last_error } = await deliveryOf(t, firstId);
        return attempts >= attemptsAtDown + 2 && /ECONNREFUSED/.test(last_error ?? "");
      },
      { what: "attempts against a refused connection" },
    );
    sent.push(await send(t, dialog.id, alice, "m3"));
    up = true;
    await receiver.up();

    await receiver.until(() => receiver.deliveredOf(dialog.id).length >= 7, "every event once the receiver is back");
    const delivered = receiver.deliveredOf(dialog.id);
    // After the creation events: dialog.created, two joins, the chat_created message.
    expect(delivered.slice(4).map(contentOf)).toEqual(["m1", "m2", "m3"]);
    expect(delivered.slice(4).map((request) => (request.body.data as Payload).message?.id)).toEqual(sent);
    expect(new Set(delivered.map((request) => request.id)).size).toBe(delivered.length);
    // The retries carried the same id and the same body as the delivery that finally succeeded.
    const firstAttempts = receiver.of(dialog.id).filter((request) => request.id === firstId);
    expect(firstAttempts.length).toBeGreaterThanOrEqual(4);
    expect(new Set(firstAttempts.map((request) => request.raw)).size).toBe(1);
    expect(await deadLetterIds(t)).not.toContain(firstId);
  });

  test("a 400 is not retried: the event goes to the dead-letter list, and a replay delivers it with the same id", async () => {
    const { t, receiver } = setup;
    const alice = await tokenFor("alice");
    const dialog = await createDialog(t, ["alice", "bob"]);
    let replayed = false;
    receiver.behave(dialog.id, (request) => (contentOf(request) === "poison" && !replayed ? { status: 400 } : { status: 200 }));
    const poison = await send(t, dialog.id, alice, "poison");
    await send(t, dialog.id, alice, "after");
    await receiver.until(
      () => receiver.deliveredOf(dialog.id).some((request) => contentOf(request) === "after"),
      "the message after the poison",
    );

    // "after" went out once the poison was given up on: the poison was tried exactly once.
    const poisoned = receiver.of(dialog.id).filter((request) => contentOf(request) === "poison");
    expect(poisoned.map((request) => request.status)).toEqual([400]);
    const eventIdOfPoison = poisoned[0]?.id as string;

    const listed = await t.api<{
      data: { dead_letters: { id: string; event_id: string; attempts: number; last_status: number; payload: unknown }[] };
    }>("GET", "/api/v1/management/webhooks/dead-letters");
    const dead = listed.body.data.dead_letters.find((letter) => letter.event_id === eventIdOfPoison);
    expect(dead).toMatchObject({
      attempts: 1,
      last_status: 400,
      event: "message.new",
      dialog_id: dialog.id,
      payload: { id: eventIdOfPoison, data: { message: { id: poison, content: "poison" } } },
    });

    replayed = true;
    expect(await t.api("POST", `/api/v1/management/webhooks/dead-letters/${dead?.id}/replay`)).toMatchObject({
      status: 202,
      body: { data: { event_id: eventIdOfPoison } },
    });
    const redelivered = await receiver.until(
      () => receiver.deliveredOf(dialog.id).find((request) => request.id === eventIdOfPoison),
      "the replayed delivery",
    );
    expect(redelivered.raw).toBe(poisoned[0]?.raw);
    const again = await t.api<{ data: { dead_letters: { id: string }[] } }>("GET", "/api/v1/management/webhooks/dead-letters");
    expect(again.body.data.dead_letters.map((letter) => letter.id)).not.toContain(dead?.id);
    expect(await t.api("POST", `/api/v1/management/webhooks/dead-letters/${dead?.id}/replay`)).toMatchObject({
      status: 404,
      body: { error: { code: "not_found" } },
    });
    expect(await t.api("POST", "/api/v1/management/webhooks/dead-letters/not-an-id/replay")).toMatchObject({
      status: 400,
      body: { error: { code: "bad_request" } },
    });
    expect(await t.api("GET", "/api/v1/management/webhooks/dead-letters?cursor=garbage")).toMatchObject({
      status: 400,
      body: { error: { code: "bad_request" } },
    });
    expect(await t.api("GET", "/api/v1/management/webhooks/dead-letters", undefined, null)).toMatchObject({ status: 401 });
  });

  test("a 429 with Retry-After is retried, no sooner than the receiver asked", async () => {
    const { t, receiver } = setup;
    const dialog = await createDialog(t, ["alice"]);
    receiver.behave(dialog.id, (request, attempt) =>
      request.event === "message.new" && contentOf(request) === "slow down" && attempt === 1
        ? { status: 429, headers: { "retry-after": "1" } }
        : { status: 200 },
    );
    await send(t, dialog.id, await tokenFor("alice"), "slow down");
    const done = await receiver.until(
      () => receiver.deliveredOf(dialog.id).find((request) => contentOf(request) === "slow down"),
      "the retried delivery",
    );
    const attempts = receiver.of(dialog.id).filter((request) => request.id === done.id);
    expect(attempts.map((request) => request.status)).toEqual([429, 200]);
    expect((attempts[1]?.at ?? 0) - (attempts[0]?.at ?? 0)).toBeGreaterThanOrEqual(1000);
  });

  test("enqueueEvent adds an event inside the caller's transaction: committed once, rolled back never", async () => {
    const { t, receiver } = setup;
    const dialog = await createDialog(t, ["alice"]);
    const archived = {
      id: eventId(dialog.id, "dialog.archived", "test"),
      projectId: "default",
      dialogId: dialog.id,
      event: "dialog.archived" as const,
      data: { dialog_id: dialog.id, object_type: "order", object_id: dialog.object_id, reason: "inactive" },
    };
    const client = await t.server.pool.connect();
    try {
      await client.query("BEGIN");
      expect(await enqueueEvent(client, archived)).toBe(true);
      await client.query("COMMIT");
      await client.query("BEGIN");
      expect(await enqueueEvent(client, archived)).toBe(false);
      expect(await enqueueEvent(client, { ...archived, id: eventId(dialog.id, "dialog.archived", "rolled back") })).toBe(true);
      await client.query("ROLLBACK");
    } finally {
      client.release();
    }
    // A later event of the same dialog: anything enqueued before it would have arrived first.
    await send(t, dialog.id, await tokenFor("alice"), "sentinel");
    await receiver.until(() => receiver.deliveredOf(dialog.id).some((request) => contentOf(request) === "sentinel"), "the sentinel");
    const events = receiver.deliveredOf(dialog.id).filter((request) => request.event === "dialog.archived");
    expect(events.map((request) => request.body)).toEqual([
      expect.objectContaining({ id: archived.id, event: "dialog.archived", data: archived.data }),
    ]);
  });

  test("dialog.created, dialog.updated, message.read and dialog.deleted let a host follow a dialog's life and read state", async () => {
    const { t, receiver } = setup;
    const dialog = await createDialog(t, ["alice", "bob"], { title: "Order 12", meta: { stage: "open" } });
    const alice = await tokenFor("alice");
    const hello = await send(t, dialog.id, alice, "hello");
    expect(await t.api("PATCH", `/api/v1/management/dialogs/${dialog.id}`, { title: "Order 12 (paid)" })).toMatchObject({ status: 200 });
    expect(await t.api("POST", `/api/v1/dialogs/${dialog.id}/read`, { message_id: hello }, await tokenFor("bob"))).toMatchObject({
      status: 200,
    });
    expect(await t.api("DELETE", `/api/v1/management/dialogs/${dialog.id}`)).toMatchObject({ status: 200 });
    const of = (event: string) => receiver.deliveredOf(dialog.id).filter((request) => request.event === event);
    await receiver.until(() => of("dialog.deleted").length === 1, "the deletion");
    expect(of("dialog.created").map((request) => request.body.data)).toEqual([
      expect.objectContaining({
        dialog_id: dialog.id,
        object_type: "order",
        object_id: dialog.object_id,
        title: "Order 12",
        meta: { stage: "open" },
      }),
    ]);
    expect(of("dialog.updated").map((request) => request.body.data)).toEqual([
      expect.objectContaining({ title: "Order 12 (paid)", changed: ["title"], previous: { title: "Order 12" } }),
    ]);
    expect(of("message.read").map((request) => request.body.data)).toEqual([
      expect.objectContaining({ dialog_id: dialog.id, user_id: "bob", last_read_message_id: hello, read_at: expect.any(String) }),
    ]);
    expect(of("dialog.deleted")[0]?.body.data).toMatchObject({
      dialog_id: dialog.id,
      object_id: dialog.object_id,
      title: "Order 12 (paid)",
    });
    // In the dialog's order: created first, deleted last.
    const events = receiver.deliveredOf(dialog.id).map((request) => request.event);
    expect(events[0]).toBe("dialog.created");
    expect(events.at(-1)).toBe("dialog.deleted");
  });

  test("re-projecting from zero emits no event again", async () => {
    const { t, receiver } = setup;
    const dialog = await createDialog(t, ["alice", "bob"]);
    const alice = await tokenFor("alice");
    const first = await send(t, dialog.id, alice, "one");
    await t.api("PUT", `/api/v1/dialogs/${dialog.id}/messages/${first}`, { content: "one, edited" }, alice);
    await send(t, dialog.id, alice, "two");
    await receiver.until(() => receiver.deliveredOf(dialog.id).length >= 7, "the dialog's events");
    const outboxSize = async () => Number((await t.server.pool.query("SELECT count(*) AS n FROM webhook_outbox")).rows[0].n);
    const before = await outboxSize();

    await t.server.pool.query("TRUNCATE dialogs, participants, access_scopes, messages, read_cursors, projection_checkpoints");
    const { rows } = await t.server.pool.query<{ doc_name: string }>("SELECT doc_name FROM doc_heads ORDER BY doc_name");
    const projector = new Projector(t.server.pool);
    for (const row of rows) await projector.catchUp(row.doc_name);
    for (const row of rows) await projector.catchUp(row.doc_name);
    expect(await outboxSize()).toBe(before);

    await send(t, dialog.id, alice, "three");
    await receiver.until(() => receiver.deliveredOf(dialog.id).some((request) => contentOf(request) === "three"), "the next message");
    expect(receiver.of(dialog.id).map(line)).toEqual([
      "dialog.created ",
      "participant.joined alice",
      "participant.joined bob",
      expect.stringMatching(/^message\.new /),
      "message.new one",
      "message.edited one, edited",
      "message.new two",
      "message.new three",
    ]);
  });
});

describe("webhook dispatcher restarts and gives up", () => {
  const setup = useWebhookServer("webhooks_restart", { WEBHOOK_MAX_ATTEMPTS: "3" });

  test("after the last attempt an event goes to the dead-letter list, which pages newest first", async () => {
    const { t, receiver } = setup;
    const dialog = await createDialog(t, ["alice"]);
    // Only the two messages fail (the dialog's own events may be delivered before this takes effect).
    receiver.behave(dialog.id, (request) => (contentOf(request)?.startsWith("never") ? { status: 500 } : { status: 200 }));
    const alice = await tokenFor("alice");
    await send(t, dialog.id, alice, "never");
    await send(t, dialog.id, alice, "never again");
    const attemptsAt = (content: string) => receiver.of(dialog.id).filter((request) => contentOf(request) === content);
    const id = await receiver.until(() => attemptsAt("never").length === 3 && attemptsAt("never")[0]?.id, "three attempts");
    const dead = await eventually(async () => (await deadLetterIds(t)).includes(id), { what: "the dead letter" });
    expect(dead).toBe(true);
    expect(await deliveryOf(t, id)).toMatchObject({ state: "dead", attempts: 3, last_status: 500 });
    // The next message of the chain is attempted only once the first is dead, and fails the same way.
    const later = await receiver.until(
      () => attemptsAt("never again").length === 3 && attemptsAt("never again")[0]?.id,
      "its three attempts",
    );
    await eventually(async () => ((await deadLetterIds(t)).includes(later) ? true : undefined), { what: "both dead letters" });
    expect(await deadLetterIds(t)).toEqual([later, id]);
    type Page = { data: { dead_letters: { event_id: string }[]; next_cursor: string | null } };
    const first = await t.api<Page>("GET", "/api/v1/management/webhooks/dead-letters?limit=1");
    expect(first.body.data.dead_letters.map((letter) => letter.event_id)).toEqual([later]);
    const second = await t.api<Page>("GET", `/api/v1/management/webhooks/dead-letters?limit=1&cursor=${first.body.data.next_cursor}`);
    expect(second.body.data.dead_letters.map((letter) => letter.event_id)).toEqual([id]);
    expect(second.body.data.next_cursor).toBeNull();

    // Dead letters that died in the same microsecond still page apart: the cursor keeps PostgreSQL's precision.
    await t.server.pool.query("UPDATE webhook_dead_letters SET dead_at = '2026-03-01 12:00:00.123456+00'");
    const again = await t.api<Page>("GET", "/api/v1/management/webhooks/dead-letters?limit=1");
    const rest = await t.api<Page>("GET", `/api/v1/management/webhooks/dead-letters?limit=1&cursor=${again.body.data.next_cursor}`);
    expect([...again.body.data.dead_letters, ...rest.body.data.dead_letters].map((letter) => letter.event_id).sort()).toEqual(
      [...first.body.data.dead_letters, ...second.body.data.dead_letters].map((letter) => letter.event_id).sort(),
    );
  });

  test("a dispatcher stopped mid-delivery finishes it first, and after a restart loses and repeats nothing", async () => {
    const { receiver } = setup;
    const alice = await tokenFor("alice");
    const dialog = await createDialog(setup.t, ["alice", "bob"]);
    await receiver.until(() => receiver.deliveredOf(dialog.id).length >= 4, "the dialog's creation events");

    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    let restarted = false;
    receiver.behave(dialog.id, (request) => {
      if (restarted) return { status: 200 };
      return contentOf(request) === "m1" ? { status: 200, hold: held } : { status: 503 };
    });
    const sent = [
      await send(setup.t, dialog.id, alice, "m1"),
      await send(setup.t, dialog.id, alice, "m2"),
      await send(setup.t, dialog.id, alice, "m3"),
    ];
    await receiver.until(() => receiver.of(dialog.id).some((request) => contentOf(request) === "m1"), "m1 in flight");

    // Stopping waits for the delivery in flight. It is released only once the dispatcher itself is
    // stopping (it has given up its LISTEN session: that session's last statement is no longer the
    // LISTEN, since UNLISTEN ran and the connection went back to the pool, where the next query may
    // take it), so a stop that did not wait would lose m1's outcome and send m1 again after the restart.
    const pool = setup.t.server.pool;
    const database = (await pool.query<{ name: string }>("SELECT current_database() AS name")).rows[0]?.name;
    const listening = async () => {
      const probe = new pg.Client({ connectionString: setup.env.DATABASE_URL });
      await probe.connect();
      try {
        const { rowCount } = await probe.query("SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND query = 'LISTEN mtchat_webhooks'", [
          database,
        ]);
        return rowCount !== null && rowCount > 0;
      } finally {
        await probe.end();
      }
    };
    expect(await listening()).toBe(true);
    const stopped = setup.t.stop();
    await eventually(async () => !(await listening()), { what: "the dispatcher to begin stopping" });
    release();
    await stopped;
    restarted = true;
    setup.t = await startServer(setup.env);
    sent.push(await send(setup.t, dialog.id, alice, "m4"));

    await receiver.until(() => receiver.deliveredOf(dialog.id).length >= 8, "every message after the restart");
    const delivered = receiver.deliveredOf(dialog.id);
    expect(delivered.slice(4).map(contentOf)).toEqual(["m1", "m2", "m3", "m4"]);
    expect(delivered.slice(4).map((request) => (request.body.data as Payload).message?.id)).toEqual(sent);
    // m1 was sent once, before the stop: the restarted dispatcher knew it was delivered.
    expect(receiver.of(dialog.id).filter((request) => contentOf(request) === "m1")).toHaveLength(1);
    expect(new Set(delivered.map((request) => request.id)).size).toBe(delivered.length);
  });
});

describe("notification.pending", () => {
  const setup = useWebhookServer("webhooks_notify", { NOTIFICATION_DELAY_SECS: "3" });

  test("debounces a burst into one event per recipient, not for one who read first, is online, or wrote it", async () => {
    const { t, receiver } = setup;
    // Bob's contacts are only in the end-user directory: the event carries them for the push.
    expect(
      await t.api("PUT", "/api/v1/management/users/bob", { display_name: "Bob Brown", email: "bob@host.test", phone: "+31 20 555 0101" }),
    ).toMatchObject({ status: 201 });
    const dialog = await createDialog(t, ["alice", "bob", "carol", "dave"]);
    const [alice, carol, dave] = await Promise.all([tokenFor("alice"), tokenFor("carol"), tokenFor("dave")]);
    const socket = openSocket(t.wsUrl);
    try {
      await openDoc(socket, segmentDocName(dialog.id, 0), dave);
      const ids = [
        await send(t, dialog.id, alice, "one"),
        await send(t, dialog.id, alice, "two"),
        await send(t, dialog.id, alice, "three"),
      ];
      expect(await t.api("POST", `/api/v1/dialogs/${dialog.id}/read`, { message_id: ids[2] }, carol)).toMatchObject({ status: 200 });

      const notification = await receiver.until(
        () => receiver.deliveredOf(dialog.id).find((request) => request.event === "notification.pending"),
        "bob's notification",
      );
      expect(notification.body.data).toMatchObject({
        dialog_id: dialog.id,
        object_type: "order",
        object_id: dialog.object_id,
        recipient_id: "bob",
        recipient: { user_id: "bob", display_name: "BOB", email: "bob@host.test", phone: "+31 20 555 0101" },
        chat_title: "Order chat",
        sender_id: "alice",
        sender_name: "ALICE",
        preview: "three",
        unread_count: 3,
        latest_message: { id: ids[2], sender_id: "alice", content: "three" },
      });
      // Every window closed; then a later event of the dialog, behind which any other notification would have come.
      await eventually(
        async () =>
          (await t.server.pool.query("SELECT 1 FROM webhook_pending_notifications WHERE dialog_id = $1", [dialog.id])).rowCount === 0,
        { what: "every window to close" },
      );
      await t.api("POST", `/api/v1/management/dialogs/${dialog.id}/participants`, { user_id: "erin", display_name: "Erin" });
      await receiver.until(
        () => receiver.deliveredOf(dialog.id).some((request) => line(request) === "participant.joined erin"),
        "the sentinel",
      );
      const notifications = receiver.deliveredOf(dialog.id).filter((request) => request.event === "notification.pending");
      expect(notifications.map((request) => request.body.data.recipient_id)).toEqual(["bob"]);

      // A new window for everyone but Alice. Bob reads "four" before it ends; Dave is still online;
      // Carol (who read up to "three") and Erin (who joined before "four") are notified.
      const four = await send(t, dialog.id, alice, "four");
      expect(await t.api("POST", `/api/v1/dialogs/${dialog.id}/read`, { message_id: four }, await tokenFor("bob"))).toMatchObject({
        status: 200,
      });
      const notified = () =>
        receiver
          .deliveredOf(dialog.id)
          .filter((request) => request.event === "notification.pending")
          .slice(1);
      await receiver.until(() => notified().length >= 2, "Carol's and Erin's notifications");
      await eventually(
        async () =>
          (await t.server.pool.query("SELECT 1 FROM webhook_pending_notifications WHERE dialog_id = $1", [dialog.id])).rowCount === 0,
        { what: "the second windows to close" },
      );
      await t.api("DELETE", `/api/v1/management/dialogs/${dialog.id}/participants/erin`);
      await receiver.until(
        () => receiver.deliveredOf(dialog.id).some((request) => line(request) === "participant.left erin"),
        "the second sentinel",
      );
      expect(
        notified()
          .map((request) => request.body.data.recipient_id)
          .sort(),
      ).toEqual(["carol", "erin"]);
      expect(notified().map((request) => request.body.data.unread_count)).toEqual([1, 1]);
      expect(notified().map((request) => (request.body.data.latest_message as { id: string }).id)).toEqual([four, four]);
    } finally {
      socket.destroy();
    }
  });

  test("a later message moves the window's end: one event, the delay after the last message, counting both", async () => {
    const { t, receiver } = setup;
    const dialog = await createDialog(t, ["alice", "bob"]);
    const alice = await tokenFor("alice");
    await send(t, dialog.id, alice, "first");
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const sentLast = Date.now();
    const last = await send(t, dialog.id, alice, "last");
    const notification = await receiver.until(
      () => receiver.deliveredOf(dialog.id).find((request) => request.event === "notification.pending"),
      "bob's notification",
    );
    // The window opened by "first" would have ended a second after "last" was sent; it ended 3 s after "last".
    expect(notification.at - sentLast).toBeGreaterThanOrEqual(2900);
    expect(notification.body.data).toMatchObject({ recipient_id: "bob", unread_count: 2, latest_message: { id: last } });
    await eventually(
      async () =>
        (await t.server.pool.query("SELECT 1 FROM webhook_pending_notifications WHERE dialog_id = $1", [dialog.id])).rowCount === 0,
      { what: "the window to close" },
    );
    expect(receiver.deliveredOf(dialog.id).filter((request) => request.event === "notification.pending")).toHaveLength(1);
  });
});

const deliveryOf = async (t: TestServer, eventIdValue: string) => {
  const { rows } = await t.server.pool.query<{ state: string; attempts: number; last_status: number | null; last_error: string | null }>(
    `SELECT d.state, d.attempts, d.last_status, d.last_error FROM webhook_deliveries d JOIN webhook_outbox o ON o.seq = d.event_seq
     WHERE o.id = $1 AND d.endpoint_id = 'default'`,
    [eventIdValue],
  );
  return rows[0] ?? { state: "missing", attempts: 0, last_status: null, last_error: null };
};

const attemptsOf = async (t: TestServer, eventIdValue: string) => (await deliveryOf(t, eventIdValue)).attempts;

const deadLetterIds = async (t: TestServer): Promise<string[]> => {
  const listed = await t.api<{ data: { dead_letters: { event_id: string }[] } }>(
    "GET",
    "/api/v1/management/webhooks/dead-letters?limit=200",
  );
  return listed.body.data.dead_letters.map((letter) => letter.event_id);
};
