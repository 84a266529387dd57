import { randomUUID } from "node:crypto";
import { createMessage, deleteMessage, editMessageText, messagesOf as messageMap, segmentDocName } from "@mtchat/protocol";
import { expect, test } from "vitest";
import * as Y from "yjs";
import { Projector } from "./projector.ts";
import { useTestDatabase } from "./test-database.ts";
import { appendRow, forwardReference, registerDialog, updateOf } from "./testing.ts";

const db = useTestDatabase("joint_projection");

/** Dialogs with one segment each, and a writer's copy of it. */
const segments = async (count: number) =>
  Promise.all(
    Array.from({ length: count }, async () => {
      const dialogId = await registerDialog(db.pool);
      return { dialogId, docName: segmentDocName(dialogId, 0), writer: new Y.Doc() };
    }),
  );

/** Appends a new message to the segment's log; resolves with its id. */
const say = async (segment: { dialogId: string; docName: string; writer: Y.Doc }, text: string) => {
  const id = randomUUID();
  const update = updateOf(segment.writer, (doc) => createMessage(doc, { id, author: "alice", createdAt: Date.now(), text }));
  await appendRow(db.pool, segment.docName, segment.dialogId, update, { messageIds: [id] });
  return id;
};

const change = (segment: { dialogId: string; docName: string; writer: Y.Doc }, mutate: (doc: Y.Doc) => void) =>
  appendRow(db.pool, segment.docName, segment.dialogId, updateOf(segment.writer, mutate));

/** A projector on a pool of its own, counting the connections it takes: one per transaction. */
const countingProjector = () => {
  let taken = 0;
  const connect = db.pool.connect.bind(db.pool);
  const pool = Object.assign(Object.create(db.pool), {
    connect: () => {
      taken += 1;
      return connect();
    },
  });
  return { projector: new Projector(pool), taken: () => taken };
};

const messagesOf = async (dialogId: string) =>
  (
    await db.pool.query<{ id: string; body_text: string; deleted: boolean; edited: boolean; seq: string }>(
      "SELECT id, body_text, deleted, edited_at IS NOT NULL AS edited, seq FROM messages WHERE dialog_id = $1 ORDER BY seq",
      [dialogId],
    )
  ).rows.map(({ id, body_text, deleted, edited }) => ({ id, text: body_text, deleted, edited }));

const eventsOf = async (dialogId: string) =>
  (
    await db.pool.query<{ event: string; message_id: string }>(
      "SELECT event, data->'message'->>'id' AS message_id FROM webhook_outbox WHERE dialog_id = $1 ORDER BY seq",
      [dialogId],
    )
  ).rows.map(({ event, message_id }) => `${event} ${message_id}`);

test("busy segments are projected together in one transaction, with the rows and events each would get on its own", async () => {
  const all = await segments(6);
  const { projector, taken } = countingProjector();
  const first = await Promise.all(all.map((segment) => say(segment, "first")));
  // Cold: each document loads on its own the first time.
  expect(await Promise.all(projector.catchUpEach(all.map((segment) => segment.docName)))).toEqual(all.map(() => 1));
  const before = taken();
  const second = await Promise.all(all.map((segment) => say(segment, "second")));
  const [a, b] = all as [(typeof all)[0], (typeof all)[0]];
  await change(a, (doc) => editMessageText(messageMap(doc).get(first[0] as string) as Y.Map<unknown>, "first, edited", Date.now()));
  await change(b, (doc) => deleteMessage(messageMap(doc).get(second[1] as string) as Y.Map<unknown>));
  const reached = await Promise.all(projector.catchUpEach(all.map((segment) => segment.docName)));
  expect(reached).toEqual([3, 3, 2, 2, 2, 2]);
  // Warm: one transaction for all six.
  expect(taken() - before).toBe(1);

  expect(await messagesOf(a.dialogId)).toEqual([
    { id: first[0], text: "first, edited", deleted: false, edited: true },
    { id: second[0], text: "second", deleted: false, edited: false },
  ]);
  expect((await messagesOf(b.dialogId)).map((row) => row.deleted)).toEqual([false, true]);
  // Within one projection, events follow the messages' order.
  expect(await eventsOf(a.dialogId)).toEqual([`message.new ${first[0]}`, `message.edited ${first[0]}`, `message.new ${second[0]}`]);
  expect(await eventsOf(b.dialogId)).toEqual([`message.new ${first[1]}`, `message.new ${second[1]}`, `message.deleted ${second[1]}`]);
  for (const [index, segment] of all.entries()) {
    if (index > 1) expect(await eventsOf(segment.dialogId)).toEqual([`message.new ${first[index]}`, `message.new ${second[index]}`]);
    const { rows } = await db.pool.query("SELECT seq::int FROM projection_checkpoints WHERE doc_name = $1", [segment.docName]);
    expect(rows).toEqual([{ seq: reached[index] }]);
  }

  // Projected again from zero, one by one: the same rows, and no event twice.
  const cold = new Projector(db.pool);
  const rowsBefore = await Promise.all(all.map((segment) => messagesOf(segment.dialogId)));
  await db.pool.query("UPDATE projection_checkpoints SET seq = 0 WHERE doc_name = ANY($1)", [all.map((segment) => segment.docName)]);
  for (const segment of all) await cold.catchUp(segment.docName);
  expect(await Promise.all(all.map((segment) => messagesOf(segment.dialogId)))).toEqual(rowsBefore);
  expect(await eventsOf(a.dialogId)).toHaveLength(3);
});

test("a bad row in a joint run is quarantined by its document's own run, and the others still project", async () => {
  const all = await segments(3);
  const projector = new Projector(db.pool);
  for (const segment of all) await say(segment, "first");
  await Promise.all(projector.catchUpEach(all.map((segment) => segment.docName)));
  const [bad, ...good] = all as [(typeof all)[0], ...(typeof all)[0][]];
  await appendRow(db.pool, bad.docName, bad.dialogId, forwardReference(4242));
  const after = await say(bad, "after the bad row");
  const later = await Promise.all(good.map((segment) => say(segment, "second")));
  expect(await Promise.all(projector.catchUpEach(all.map((segment) => segment.docName)))).toEqual([3, 2, 2]);
  expect((await messagesOf(bad.dialogId)).map((row) => row.text)).toEqual(["first", "after the bad row"]);
  expect((await messagesOf(bad.dialogId))[1]?.id).toBe(after);
  for (const [index, segment] of good.entries()) expect((await messagesOf(segment.dialogId))[1]?.id).toBe(later[index]);
  const { rows } = await db.pool.query("SELECT seq::int FROM doc_quarantine WHERE doc_name = $1", [bad.docName]);
  expect(rows).toEqual([{ seq: 2 }]);
});
