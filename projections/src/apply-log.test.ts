import { randomUUID } from "node:crypto";
import { createMessage, messagesOf, segmentDocName } from "@mtchat/protocol";
import { describe, expect, test } from "vitest";
import * as Y from "yjs";
import { applyChecked, applyDocLog } from "./apply-log.ts";
import { Projector } from "./projector.ts";
import { quarantineStats } from "./quarantine.ts";
import { useTestDatabase } from "./test-database.ts";
import { appendRow, forwardReference, missingDeletion, missingDependency, registerDialog, updateOf } from "./testing.ts";

const db = useTestDatabase("apply_log");

test("applyChecked tells a good update from one Yjs throws on or that leaves structs or deletions pending", () => {
  const good = updateOf(new Y.Doc(), (doc) => createMessage(doc, { id: randomUUID(), author: "a", createdAt: 1, text: "hi" }));
  expect(applyChecked(new Y.Doc(), good)).toBeNull();
  expect(applyChecked(new Y.Doc(), forwardReference(1000))).toMatch(/^yjs_error: /);
  expect(applyChecked(new Y.Doc(), missingDependency(2000, 3000))).toBe("missing_structs: it needs structs of client(s) 3000");
  expect(applyChecked(new Y.Doc(), missingDeletion(4000))).toMatch(/^missing_deletes: /);
  expect(applyChecked(new Y.Doc(), new Uint8Array([0, 0]))).toBeNull();
});

/** A segment whose log holds good messages with bad rows between them. */
const poisonedSegment = async () => {
  const dialogId = await registerDialog(db.pool);
  const docName = segmentDocName(dialogId, 0);
  const writer = new Y.Doc();
  const ids: string[] = [];
  const good = async (text: string) => {
    const id = randomUUID();
    ids.push(id);
    await appendRow(
      db.pool,
      docName,
      dialogId,
      updateOf(writer, (doc) => createMessage(doc, { id, author: "alice", createdAt: 1, text })),
      {
        messageIds: [id],
      },
    );
  };
  await good("first");
  const thrown = await appendRow(db.pool, docName, dialogId, forwardReference(1000), { userId: "mallory" });
  await good("second");
  const pending = await appendRow(db.pool, docName, dialogId, missingDependency(2000, 3000), { userId: "mallory" });
  await good("third");
  const pendingDeletes = await appendRow(db.pool, docName, dialogId, missingDeletion(4000), { userId: "mallory" });
  await good("fourth");
  return { dialogId, docName, ids, bad: { thrown, pending, pendingDeletes }, writer };
};

const quarantineOf = async (docName: string) =>
  (
    await db.pool.query<{ source: string; seq: string; reason: string; user_id: string | null; update: Buffer }>(
      "SELECT source, seq, reason, user_id, update FROM doc_quarantine WHERE doc_name = $1 ORDER BY seq",
      [docName],
    )
  ).rows;

describe("bad log rows", () => {
  test("are quarantined, replaced by empty updates, audited, and the document holds every good row", async () => {
    const { docName, ids, bad } = await poisonedSegment();
    const applied = await applyDocLog(db.pool, docName);
    expect([...messagesOf(applied.doc).keys()].sort()).toEqual([...ids].sort());
    expect(applied.seq).toBe(7);
    expect(applied.fresh).toBe(true);
    expect(applied.doc.store.pendingStructs).toBeNull();
    expect(applied.quarantined.map((q) => [q.seq, q.source, q.reason.split(":")[0]])).toEqual([
      [bad.thrown, "row", "yjs_error"],
      [bad.pending, "row", "missing_structs"],
      [bad.pendingDeletes, "row", "missing_deletes"],
    ]);
    const stored = await quarantineOf(docName);
    expect(stored.map((row) => [Number(row.seq), row.source, row.user_id])).toEqual([
      [bad.thrown, "row", "mallory"],
      [bad.pending, "row", "mallory"],
      [bad.pendingDeletes, "row", "mallory"],
    ]);
    expect(new Uint8Array(stored[0]?.update ?? [])).toEqual(forwardReference(1000));
    const { rows: log } = await db.pool.query<{ seq: string; update: Buffer }>(
      "SELECT seq, update FROM doc_log WHERE doc_name = $1 AND seq = ANY($2::bigint[]) ORDER BY seq",
      [docName, Object.values(bad)],
    );
    expect(log.map((row) => [...row.update])).toEqual([
      [0, 0],
      [0, 0],
      [0, 0],
    ]);
    const { rows: audit } = await db.pool.query<{ action: string; user_id: string; detail: { seq: number; reason: string } }>(
      "SELECT action, user_id, detail FROM audit_log WHERE doc_name = $1 ORDER BY id",
      [docName],
    );
    expect(audit.map((row) => [row.action, row.user_id, row.detail.seq])).toEqual([
      ["update_quarantined", "mallory", bad.thrown],
      ["update_quarantined", "mallory", bad.pending],
      ["update_quarantined", "mallory", bad.pendingDeletes],
    ]);
    applied.doc.destroy();

    // A second build finds nothing to quarantine and the same state.
    const again = await applyDocLog(db.pool, docName);
    expect(again.quarantined).toEqual([]);
    expect([...messagesOf(again.doc).keys()].sort()).toEqual([...ids].sort());
    again.doc.destroy();
    expect(await quarantineOf(docName)).toHaveLength(3);
    expect((await quarantineStats(db.pool)).rows).toBeGreaterThanOrEqual(3);
  });

  test("two builders racing quarantine each row once", async () => {
    const { docName, ids } = await poisonedSegment();
    const [a, b] = await Promise.all([applyDocLog(db.pool, docName), applyDocLog(db.pool, docName)]);
    for (const applied of [a, b]) {
      expect([...messagesOf(applied.doc).keys()].sort()).toEqual([...ids].sort());
      applied.doc.destroy();
    }
    expect(await quarantineOf(docName)).toHaveLength(3);
  });

  test("the projector commits the good rows, also when a bad row arrives after it has the document cached", async () => {
    const dialogId = await registerDialog(db.pool);
    const docName = segmentDocName(dialogId, 0);
    const writer = new Y.Doc();
    const projector = new Projector(db.pool);
    const first = randomUUID();
    await appendRow(
      db.pool,
      docName,
      dialogId,
      updateOf(writer, (doc) => createMessage(doc, { id: first, author: "alice", createdAt: 1, text: "first" })),
      { messageIds: [first] },
    );
    expect(await projector.catchUp(docName)).toBe(1);
    await appendRow(db.pool, docName, dialogId, forwardReference(1000));
    const second = randomUUID();
    await appendRow(
      db.pool,
      docName,
      dialogId,
      updateOf(writer, (doc) => createMessage(doc, { id: second, author: "alice", createdAt: 2, text: "second" })),
      { messageIds: [second] },
    );
    // The cached document took part of the bad row: the projector rebuilds from scratch and commits the rest.
    expect(await projector.catchUp(docName)).toBe(3);
    const { rows } = await db.pool.query<{ id: string; body_text: string }>(
      "SELECT id, body_text FROM messages WHERE dialog_id = $1 ORDER BY seq",
      [dialogId],
    );
    expect(rows).toEqual([
      { id: first, body_text: "first" },
      { id: second, body_text: "second" },
    ]);
    expect((await quarantineOf(docName)).map((row) => Number(row.seq))).toEqual([2]);
    const { rows: checkpoint } = await db.pool.query("SELECT seq::int FROM projection_checkpoints WHERE doc_name = $1", [docName]);
    expect(checkpoint).toEqual([{ seq: 3 }]);
  });
});

describe("bad snapshots", () => {
  /** A segment compacted into a snapshot (its rows gone, as after projection and compaction), plus a tail row. */
  const compacted = async (state: (good: Uint8Array) => Uint8Array) => {
    const dialogId = await registerDialog(db.pool);
    const docName = segmentDocName(dialogId, 0);
    const writer = new Y.Doc();
    const kept = randomUUID();
    for (const [index, id] of [kept, randomUUID()].entries()) {
      const update = updateOf(writer, (doc) => createMessage(doc, { id, author: "alice", createdAt: 1, text: `before ${index}` }));
      await appendRow(db.pool, docName, dialogId, update, { messageIds: [id] });
    }
    await db.pool.query("INSERT INTO doc_snapshots (doc_name, dialog_id, state, upto_seq) VALUES ($1, $2, $3, 2)", [
      docName,
      dialogId,
      state(Y.encodeStateAsUpdate(writer)),
    ]);
    await db.pool.query("DELETE FROM doc_log WHERE doc_name = $1 AND seq <= 2", [docName]);
    const tail = randomUUID();
    // A new client writes the tail, so it depends on nothing the snapshot might lose.
    const update = updateOf(new Y.Doc(), (doc) => createMessage(doc, { id: tail, author: "bob", createdAt: 3, text: "after" }));
    await appendRow(db.pool, docName, dialogId, update, { messageIds: [tail] });
    return { docName, kept, tail, writer };
  };

  test("a snapshot that leaves structs pending is replaced by what of it applies; the rows it compacted stay", async () => {
    const { docName, kept, tail, writer } = await compacted((good) => Y.mergeUpdates([good, missingDependency(2000, 3000)]));
    const applied = await applyDocLog(db.pool, docName);
    expect(applied.quarantined).toEqual([
      expect.objectContaining({
        source: "snapshot",
        seq: 2,
        salvaged: true,
        compactedRows: 2,
        reason: expect.stringMatching(/^missing_structs/),
      }),
    ]);
    expect([...messagesOf(applied.doc).keys()].sort()).toEqual([...messagesOf(writer).keys(), tail].sort());
    expect(messagesOf(applied.doc).has(kept)).toBe(true);
    expect(applied.seq).toBe(3);
    applied.doc.destroy();
    const { rows } = await db.pool.query<{ upto_seq: string }>("SELECT upto_seq FROM doc_snapshots WHERE doc_name = $1", [docName]);
    expect(rows).toEqual([{ upto_seq: "2" }]);
    expect((await quarantineOf(docName)).map((row) => [row.source, Number(row.seq)])).toEqual([["snapshot", 2]]);
    expect((await applyDocLog(db.pool, docName)).quarantined).toEqual([]);
  });

  test("a snapshot Yjs throws on is replaced by what integrated before the throw, or nothing; later rows still apply", async () => {
    const { docName, tail } = await compacted(() => forwardReference(1000));
    const applied = await applyDocLog(db.pool, docName);
    expect(applied.quarantined).toEqual([
      expect.objectContaining({ source: "snapshot", seq: 2, compactedRows: 2, reason: expect.stringMatching(/^yjs_error/) }),
    ]);
    // The compacted messages were only in the snapshot: they are gone from the document, kept in doc_quarantine.
    expect([...messagesOf(applied.doc).keys()]).toEqual([tail]);
    expect(applied.seq).toBe(3);
    applied.doc.destroy();
    expect(new Uint8Array((await quarantineOf(docName))[0]?.update ?? [])).toEqual(forwardReference(1000));
  });
});
