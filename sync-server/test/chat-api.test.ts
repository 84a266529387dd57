import { messagesOf, metaDocName, participantsOf, readMessage, readsOf, segmentDocName } from "@mtchat/protocol";
import { expect, test } from "vitest";
import { acknowledged, deniedReason, docUntil, openDoc } from "./clients.ts";
import { createDialog, tokenFor, useServer } from "./harness.ts";

const fixture = useServer("external", "chat_api", { SEGMENT_SIZE: "4" });

type Message = { id: string; sender_id: string; content: string; deleted: boolean; last_edited_at: string | null };
type History = { messages: Message[]; first_unread_message_id: string | null; has_more_before: boolean; has_more_after: boolean };

test("the Chat API reads and writes dialogs as the token's user, through the same rules as WebSocket clients", async () => {
  const { t } = fixture;
  const dialog = await createDialog(t, ["alice", "bob"], {
    access_scopes: [{ tenant_uid: "tenant-1", scope_level1: ["ops"], scope_level2: [] }],
  });
  const [alice, bob, pat, stranger] = await Promise.all([
    tokenFor("alice"),
    tokenFor("bob"),
    tokenFor("pat", { scope_level1: ["ops"] }),
    tokenFor("stranger", { scope_level1: ["finance"] }),
  ]);
  const base = `/api/v1/dialogs/${dialog.id}`;

  // A REST send lands in the document: Bob, connected over the WebSocket, sees it live.
  const bobSocket = fixture.socket();
  const bobSegment = await openDoc(bobSocket, segmentDocName(dialog.id, 0), bob);
  const sent = await t.api<{ data: Message }>("POST", `${base}/messages?user_id=bob`, { content: "hello via REST" }, alice);
  expect(sent).toMatchObject({ status: 201, body: { data: { sender_id: "alice", content: "hello via REST", deleted: false } } });
  const first = sent.body.data.id;
  await docUntil(bobSegment.document, () => messagesOf(bobSegment.document).has(first), "Bob receiving the REST message");
  expect(readMessage(first, messagesOf(bobSegment.document).get(first) as never)).toMatchObject({
    author: "alice",
    text: "hello via REST",
  });

  // Bob may not edit or delete Alice's message; Alice may.
  expect(await t.api("PUT", `${base}/messages/${first}`, { content: "bob was here" }, bob)).toMatchObject({
    status: 403,
    body: { error: { code: "forbidden" } },
  });
  expect(await t.api("DELETE", `${base}/messages/${first}`, undefined, bob)).toMatchObject({ status: 403 });
  expect(await t.api("PUT", `${base}/messages/${first}`, { content: "hello, edited" }, alice)).toMatchObject({
    status: 200,
    body: { data: { content: "hello, edited", last_edited_at: expect.any(String) } },
  });

  // Eight more messages span several segments of four; history pages stitch back into one timeline.
  const ids = [first];
  for (let index = 0; index < 8; index += 1) {
    const response = await t.api<{ data: Message }>("POST", `${base}/messages`, { content: `m${index}`, reply_to_id: first }, alice);
    expect(response, JSON.stringify(response.body)).toMatchObject({ status: 201 });
    ids.push(response.body.data.id);
  }
  const deleted = await t.api<{ data: Message }>("DELETE", `${base}/messages/${ids[3]}`, undefined, alice);
  expect(deleted.body.data).toMatchObject({ deleted: true, content: "" });
  const { rows } = await t.server.pool.query<{ segments: number }>(
    "SELECT count(DISTINCT segment)::int AS segments FROM messages WHERE dialog_id = $1",
    [dialog.id],
  );
  expect(rows[0]?.segments).toBeGreaterThan(1);

  const latest = await t.api<{ data: History }>("GET", `${base}/messages?limit=4`, undefined, bob);
  expect(latest.body.data.messages.map((m) => m.id)).toEqual(ids.slice(-4));
  expect(latest.body.data).toMatchObject({ has_more_before: true, has_more_after: false });
  const older = await t.api<{ data: History }>("GET", `${base}/messages?limit=4&before=${ids[5]}`, undefined, bob);
  expect(older.body.data.messages.map((m) => m.id)).toEqual(ids.slice(1, 5));
  const newer = await t.api<{ data: History }>("GET", `${base}/messages?limit=3&after=${ids[2]}`, undefined, bob);
  expect(newer.body.data.messages.map((m) => m.id)).toEqual(ids.slice(3, 6));
  const around = await t.api<{ data: History }>("GET", `${base}/messages?limit=4&around=${ids[4]}`, undefined, bob);
  expect(around.body.data.messages.map((m) => m.id)).toEqual(ids.slice(3, 7));

  // First unread follows Bob's read cursor (written over the WebSocket) and skips deleted messages.
  expect(latest.body.data.first_unread_message_id).toBe(first);
  const bobMeta = await openDoc(bobSocket, metaDocName(dialog.id), bob);
  readsOf(bobMeta.document).set("bob", { messageId: ids[2] as string, readAt: Date.now() });
  await acknowledged(bobMeta);
  await t.server.projector.catchUp(metaDocName(dialog.id));
  const afterRead = await t.api<{ data: History }>("GET", `${base}/messages?limit=1`, undefined, bob);
  expect(afterRead.body.data.first_unread_message_id).toBe(ids[4]);

  // A scope match sees the dialog and may join, but writes nothing; a stranger does not see it at all.
  expect(await t.api("GET", base, undefined, pat)).toMatchObject({
    status: 200,
    body: { data: { i_am_participant: false, can_join: true, participants_count: 2 } },
  });
  expect(await t.api("POST", `${base}/messages`, { content: "let me in" }, pat)).toMatchObject({
    status: 403,
    body: { error: { code: "forbidden", message: "join the dialog before writing to it" } },
  });
  expect(await t.api("GET", base, undefined, stranger)).toMatchObject({ status: 404, body: { error: { code: "not_found" } } });
  expect(await t.api("GET", base, undefined, null)).toMatchObject({ status: 401, body: { error: { code: "unauthorized" } } });
  expect(await t.api("GET", base, undefined, await tokenFor("alice", {}, Math.floor(Date.now() / 1000) - 1))).toMatchObject({
    status: 401,
  });
  expect(await t.api("POST", `${base}/messages`, { content: "" }, alice)).toMatchObject({
    status: 400,
    body: { error: { code: "bad_request" } },
  });
});

type Participant = { user_id: string; email: string | null; is_online: boolean; last_read_message_id: string | null };

test("join, leave, read and the participant list", async () => {
  const { t } = fixture;
  const dialog = await t.api<{ data: { id: string } }>("POST", "/api/v1/management/dialogs", {
    object_id: "route-9",
    object_type: "route",
    participants: [{ user_id: "alice", display_name: "Alice", email: "alice@host.test" }],
    access_scopes: [{ tenant_uid: "tenant-1", scope_level1: ["ops"], scope_level2: [] }],
  });
  const base = `/api/v1/dialogs/${dialog.body.data.id}`;
  const [alice, pat, stranger] = await Promise.all([
    tokenFor("alice"),
    tokenFor("pat", { scope_level1: ["ops"], name: "Pat" }),
    tokenFor("sam", { scope_level1: ["finance"] }),
  ]);

  // Non-participants do not see contact details.
  const seenByPat = await t.api<{ data: Participant[] }>("GET", `${base}/participants`, undefined, pat);
  expect(seenByPat.body.data).toEqual([expect.objectContaining({ user_id: "alice", email: null, is_online: false })]);
  expect(await t.api("POST", `${base}/join`, undefined, stranger)).toMatchObject({ status: 404 });

  // Joining by scope match makes Pat a member who may write; a system message records it.
  expect(await t.api("POST", `${base}/join`, undefined, pat)).toMatchObject({ status: 200, body: { data: { ok: true } } });
  expect(await t.api("POST", `${base}/join`, undefined, pat)).toMatchObject({ status: 409, body: { error: { code: "conflict" } } });
  const hello = await t.api<{ data: { id: string } }>("POST", `${base}/messages`, { content: "hi, I joined" }, pat);
  expect(hello.status).toBe(201);
  const history = await t.api<{ data: { messages: { message_type: string; sender_id: string }[] } }>(
    "GET",
    `${base}/messages`,
    undefined,
    alice,
  );
  expect(history.body.data.messages.map((m) => m.message_type)).toEqual(["system", "system", "text"]);

  // Alice online (a live connection), then reads Pat's message.
  const aliceDoc = await openDoc(fixture.socket(), segmentDocName(dialog.body.data.id, 0), alice);
  expect(await t.api("POST", `${base}/read`, { message_id: hello.body.data.id }, alice)).toMatchObject({ status: 200 });
  const seenByAlice = await t.api<{ data: Participant[] }>("GET", `${base}/participants`, undefined, alice);
  expect(seenByAlice.body.data).toEqual([
    expect.objectContaining({ user_id: "alice", email: "alice@host.test", is_online: true, last_read_message_id: hello.body.data.id }),
    expect.objectContaining({ user_id: "pat", is_online: false, last_read_message_id: null }),
  ]);

  // Leaving: a system message, and Pat writes nothing any more (a scope match may still read).
  expect(await t.api("POST", `${base}/leave`, undefined, pat)).toMatchObject({ status: 200 });
  expect(await t.api("POST", `${base}/messages`, { content: "still here?" }, pat)).toMatchObject({ status: 403 });
  await docUntil(aliceDoc.document, () =>
    [...messagesOf(aliceDoc.document).entries()].some(
      ([id, entry]) => readMessage(id, entry as never).system?.event === "participant_left",
    ),
  );
  // Alice leaving with no scope match closes her live connection.
  const closed = new Promise<string>((resolve) =>
    aliceDoc.on("close", ({ event }: { event: { reason: string } }) => resolve(event.reason)),
  );
  const aliceNoScope = await tokenFor("alice", { tenant_uid: "other-tenant" });
  expect(await t.api("POST", `${base}/leave`, undefined, aliceNoScope)).toMatchObject({ status: 200 });
  expect(await closed).toMatch(/^4403 forbidden: you left this dialog/);
});

test("a potential participant sees the dialog's metadata and participants, no messages, until they join", async () => {
  const { t } = fixture;
  const dialog = await t.api<{ data: { id: string } }>("POST", "/api/v1/management/dialogs", {
    object_id: "tender-41",
    object_type: "tender",
    title: "Tender 41",
    participants: [{ user_id: "alice", display_name: "Alice", email: "alice@host.test", phone: "+100" }],
    access_scopes: [{ tenant_uid: "tenant-1", scope_level1: ["ops"], scope_level2: [] }],
  });
  const id = dialog.body.data.id;
  const base = `/api/v1/dialogs/${id}`;
  const [alice, pat] = await Promise.all([tokenFor("alice"), tokenFor("pat", { scope_level1: ["ops"], name: "Pat" })]);
  const secret = await t.api<{ data: { id: string } }>("POST", `${base}/messages`, { content: "our price is 41,000" }, alice);
  expect(secret.status).toBe(201);

  // Metadata and participants, without contact details.
  expect(await t.api("GET", base, undefined, pat)).toMatchObject({ status: 200, body: { data: { title: "Tender 41", can_join: true } } });
  const people = await t.api<{ data: Participant[] }>("GET", `${base}/participants`, undefined, pat);
  expect(people.body.data).toEqual([expect.objectContaining({ user_id: "alice", email: null, phone: null })]);
  // No messages: not over REST, not in the list, not in search, not over the WebSocket.
  expect(await t.api("GET", `${base}/messages`, undefined, pat)).toMatchObject({
    status: 403,
    body: { error: { code: "forbidden", message: "join the dialog to read its messages" } },
  });
  const available = await t.api<{ data: { items: Record<string, unknown>[] } }>("GET", "/api/v1/dialogs?type=available", undefined, pat);
  const listed = available.body.data.items.find((item) => item.id === id);
  expect(listed).toMatchObject({ can_join: true });
  expect(listed).not.toHaveProperty("last_message");
  expect(JSON.stringify(available.body)).not.toContain("41,000");
  expect((await t.api<{ data: { results: unknown[] } }>("GET", "/api/v1/search?q=price", undefined, pat)).body.data.results).toEqual([]);
  const socket = fixture.socket();
  expect(await deniedReason(socket, segmentDocName(id, 0), pat)).toMatch(/^4403 forbidden: join the dialog to read its messages/);
  const meta = await openDoc(socket, metaDocName(id), pat);
  expect(participantsOf(meta.document).has("alice")).toBe(true);

  // Joined, Pat reads everything, live too.
  expect(await t.api("POST", `${base}/join`, undefined, pat)).toMatchObject({ status: 200 });
  const history = await t.api<{ data: History }>("GET", `${base}/messages`, undefined, pat);
  expect(history.body.data.messages.map((m) => m.content)).toContain("our price is 41,000");
  const segment = await openDoc(fixture.socket(), segmentDocName(id, 0), pat);
  expect(messagesOf(segment.document).has(secret.body.data.id)).toBe(true);

  // Left, with the scopes still matching: the segment connection closes, the metadata stays.
  const segmentClosed = new Promise<string>((resolve) =>
    segment.on("close", ({ event }: { event: { reason: string } }) => resolve(event.reason)),
  );
  expect(await t.api("POST", `${base}/leave`, undefined, pat)).toMatchObject({ status: 200 });
  expect(await segmentClosed).toMatch(/^4403 forbidden: join the dialog to read its messages/);
  expect(await t.api("GET", `${base}/messages`, undefined, pat)).toMatchObject({ status: 403 });
  // The metadata connection stays: a participant added later shows up live.
  expect(await t.api("POST", `/api/v1/management/dialogs/${id}/participants`, { user_id: "quinn", display_name: "Quinn" })).toMatchObject({
    status: 201,
  });
  await docUntil(meta.document, () => participantsOf(meta.document).has("quinn"), "the new participant in Pat's metadata");
});
