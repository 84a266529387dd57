import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { metaDocName, segmentDocName } from "@mtchat/protocol";
import { expect, test } from "vitest";
import { openDoc } from "./clients.ts";
import { createDialog, tokenFor, useServer } from "./harness.ts";

/**
 * Erasing an end user (GDPR), checked as an operator would check it: with psql against the service's database,
 * before and after. WEBHOOK_URL points at a closed port so that events are stored (and kept retrying).
 */
const fixture = useServer("external", "erase_user", {
  WEBHOOK_URL: "http://127.0.0.1:9/hooks",
  WEBHOOK_SECRET: "erase-test-secret-0123456789",
});

const secret = "Baker Street 221B";
/** One number from psql, as `psql -At -c` prints it. */
const psql = async (sql: string): Promise<string> => {
  const { stdout } = await promisify(execFile)("psql", [fixture.env.env.DATABASE_URL as string, "-At", "-v", "ON_ERROR_STOP=1", "-c", sql]);
  return stdout.trim();
};
const traces = async () => ({
  messages: await psql(`SELECT count(*) FROM messages WHERE body_text LIKE '%${secret}%' OR search_text LIKE '%${secret}%'`),
  log: await psql(`SELECT count(*) FROM doc_log WHERE position(convert_to('${secret}', 'UTF8') in update) > 0`),
  snapshots: await psql(`SELECT count(*) FROM doc_snapshots WHERE position(convert_to('${secret}', 'UTF8') in state) > 0`),
  webhooks: await psql(`SELECT count(*) FROM webhook_outbox WHERE data::text LIKE '%${secret}%'`),
});

test("deleting an end user erases them: tombstones, no text in the projection, the log, snapshots or webhook events, no files, no traces", async () => {
  const { t } = fixture;
  expect((await t.api("PUT", "/api/v1/management/users/bob", { display_name: "Bob", email: "bob@host.test", phone: "+100" })).status).toBe(
    201,
  );
  const dialog = await createDialog(t, ["alice", "bob"]);
  const [alice, bob] = await Promise.all([tokenFor("alice"), tokenFor("bob")]);
  const hello = await t.api<{ data: { id: string } }>(
    "POST",
    `/api/v1/dialogs/${dialog.id}/messages`,
    { content: "Where do we deliver?" },
    alice,
  );
  // Bob's file, and his message carrying it.
  const presigned = await t.api<{ data: { attachment_id: string; upload_url: string } }>(
    "POST",
    "/api/v1/upload/presign",
    { dialog_id: dialog.id, filename: "address.txt", content_type: "text/plain", size: secret.length },
    bob,
  );
  expect(presigned.status).toBe(200);
  expect((await fetch(presigned.body.data.upload_url, { method: "PUT", body: secret })).ok).toBe(true);
  const answer = await t.api<{ data: { id: string } }>(
    "POST",
    `/api/v1/dialogs/${dialog.id}/messages`,
    { content: `Deliver to ${secret}, ring twice`, attachment_ids: [presigned.body.data.attachment_id] },
    bob,
  );
  expect(answer.status).toBe(201);
  expect(await t.api("POST", `/api/v1/dialogs/${dialog.id}/read`, { message_id: hello.body.data.id }, bob)).toMatchObject({ status: 200 });
  const link = await t.api<{ data: { url: string } }>(
    "GET",
    `/api/v1/attachments/${presigned.body.data.attachment_id}/url`,
    undefined,
    alice,
  );
  expect((await fetch(link.body.data.url)).status).toBe(200);
  const bobLive = await openDoc(fixture.socket(), metaDocName(dialog.id), bob);
  const closed = new Promise<string>((resolve) => bobLive.on("close", ({ event }: { event: { reason: string } }) => resolve(event.reason)));

  // Before: the text is everywhere a database keeps it (so the checks below can fail).
  const before = await traces();
  expect(Number(before.messages)).toBeGreaterThan(0);
  expect(Number(before.log) + Number(before.snapshots)).toBeGreaterThan(0);
  expect(Number(before.webhooks)).toBeGreaterThan(0);

  const erased = await t.api<{ data: Record<string, number> }>("DELETE", "/api/v1/management/users/bob");
  expect(erased).toEqual({ status: 200, body: { data: { user_id: "bob", dialogs: 1, messages: 1, files: 1 } } });
  expect(await closed).toMatch(/^4403 forbidden/);

  // After: nothing of the text, anywhere; a tombstone in its place; Alice's own message untouched.
  expect(await traces()).toEqual({ messages: "0", log: "0", snapshots: "0", webhooks: "0" });
  expect(await psql(`SELECT author_id || '|' || deleted || '|' || body_text FROM messages WHERE id = '${answer.body.data.id}'`)).toBe(
    "$erased|true|",
  );
  expect(await psql(`SELECT body_text FROM messages WHERE id = '${hello.body.data.id}'`)).toBe("Where do we deliver?");
  for (const table of ["participants", "participant_contacts", "read_cursors", "end_users"]) {
    expect(await psql(`SELECT count(*) FROM ${table} WHERE user_id = 'bob'`), table).toBe("0");
  }
  expect(await psql("SELECT count(*) FROM attachments WHERE uploader_id = 'bob'")).toBe("0");
  expect(await psql("SELECT count(*) FROM dialog_registry WHERE owner_user_id = 'bob'")).toBe("0");
  expect(await psql(`SELECT count(*) FROM webhook_outbox WHERE data::text LIKE '%bob@host.test%'`)).toBe("0");
  // The file's bytes are gone: the link Alice held answers no more.
  expect((await fetch(link.body.data.url)).status).toBeGreaterThanOrEqual(400);

  // What users see: a deleted message by "$erased" (the SDK says "Deleted user"), and the dialog goes on.
  const history = await t.api<{ data: { messages: { id: string; sender_id: string; deleted: boolean; content: string }[] } }>(
    "GET",
    `/api/v1/dialogs/${dialog.id}/messages`,
    undefined,
    alice,
  );
  expect(history.body.data.messages.find((m) => m.id === answer.body.data.id)).toMatchObject({
    sender_id: "$erased",
    deleted: true,
    content: "",
  });
  const segment = await openDoc(fixture.socket(), segmentDocName(dialog.id, 0), alice);
  expect(segment.isSynced).toBe(true);
  expect((await t.api("POST", `/api/v1/dialogs/${dialog.id}/messages`, { content: "still here" }, alice)).status).toBe(201);
  expect(await t.api("GET", "/api/v1/management/users/bob")).toMatchObject({ status: 404 });
});
