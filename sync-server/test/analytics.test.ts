import { randomBytes } from "node:crypto";
import pg from "pg";
import { expect, test } from "vitest";
import { createDialog, tokenFor, useServer } from "./harness.ts";

const fixture = useServer("external", "analytics");

type Sent = { data: { id: string } };

test("an analyst login granted mtchat_analyst reads the views with the right numbers, and nothing raw", async () => {
  const { t } = fixture;
  const [alice, bob] = [await tokenFor("alice"), await tokenFor("bob")];
  const first = await createDialog(t, ["alice", "bob"], { object_type: "tender", object_id: "tender-42" });
  const second = await createDialog(t, ["alice"]);
  const send = async (dialogId: string, token: string, content: string, replyTo?: string) => {
    const response = await t.api<Sent>("POST", `/api/v1/dialogs/${dialogId}/messages`, { content, reply_to_id: replyTo }, token);
    expect(response.status).toBe(201);
    return response.body.data.id;
  };
  const hello = await send(first.id, alice, "hello");
  const reply = await send(first.id, bob, "hi alice", hello);
  const oops = await send(first.id, alice, "wrong chat");
  await send(second.id, alice, "elsewhere");
  expect((await t.api("PUT", `/api/v1/dialogs/${first.id}/messages/${hello}`, { content: "hello, world" }, alice)).status).toBe(200);
  expect((await t.api("DELETE", `/api/v1/dialogs/${first.id}/messages/${oops}`, undefined, alice)).status).toBe(200);

  // The operator's two lines: a login role, granted the group role.
  const analyst = `analyst_${randomBytes(4).toString("hex")}`;
  await t.server.pool.query(`CREATE ROLE ${analyst} LOGIN`);
  await t.server.pool.query(`GRANT mtchat_analyst TO ${analyst}`);
  const url = new URL(fixture.env.env.DATABASE_URL as string);
  url.username = analyst;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const { rows: messages } = await client.query(
      `SELECT message_id, sender_id, message_type, project_id, object_type, object_id, edited, deleted, length, is_reply, reply_to_id,
              has_attachments, system_event
       FROM analytics.messages WHERE dialog_id = $1 ORDER BY seq`,
      [first.id],
    );
    expect(messages).toEqual([
      expect.objectContaining({ message_type: "system", sender_id: "$system", system_event: "chat_created" }),
      {
        message_id: hello,
        sender_id: "alice",
        message_type: "text",
        project_id: "default",
        object_type: "tender",
        object_id: "tender-42",
        edited: true,
        deleted: false,
        length: "hello, world".length,
        is_reply: false,
        reply_to_id: null,
        has_attachments: false,
        system_event: null,
      },
      expect.objectContaining({ message_id: reply, sender_id: "bob", edited: false, is_reply: true, reply_to_id: hello, length: 8 }),
      expect.objectContaining({ message_id: oops, deleted: true, length: 0 }),
    ]);

    const { rows: dialogs } = await client.query(
      `SELECT dialog_id, messages_count::int, deleted_messages_count::int, system_messages_count::int, senders_count::int,
              participants_count::int, first_message_at <= last_message_at AS ordered
       FROM analytics.dialogs ORDER BY created_at`,
    );
    expect(dialogs).toEqual([
      {
        dialog_id: first.id,
        messages_count: 3,
        deleted_messages_count: 1,
        system_messages_count: 1,
        senders_count: 2,
        participants_count: 2,
        ordered: true,
      },
      {
        dialog_id: second.id,
        messages_count: 1,
        deleted_messages_count: 0,
        system_messages_count: 1,
        senders_count: 1,
        participants_count: 1,
        ordered: true,
      },
    ]);

    const { rows: days } = await client.query(
      `SELECT day::text, project_id, dialogs_active::int, messages::int, distinct_senders::int FROM analytics.daily_activity`,
    );
    const { rows: today } = await t.server.pool.query<{ day: string }>(
      "SELECT (min(created_at) AT TIME ZONE 'UTC')::date::text AS day FROM messages WHERE kind = 'text'",
    );
    expect(days).toEqual([{ day: today[0]?.day, project_id: "default", dialogs_active: 2, messages: 4, distinct_senders: 2 }]);

    // Nothing raw: not the log, the audit, the keys, nor the message table with its text.
    for (const table of ["doc_log", "audit_log", "api_keys", "jwt_keys", "messages", "participant_contacts"]) {
      await expect(client.query(`SELECT * FROM ${table} LIMIT 1`), table).rejects.toMatchObject({ code: "42501" });
    }
  } finally {
    await client.end();
    await t.server.pool.query(`DROP ROLE ${analyst}`);
  }
});
