import { Projector } from "@mtchat/projections";
import { createMessage, deleteMessage, editMessageText, messagesOf, metaDocName, readsOf, segmentDocName } from "@mtchat/protocol";
import { v7 as uuidv7 } from "uuid";
import { describe, expect, test } from "vitest";
import * as Y from "yjs";
import { DocLog } from "../src/sync/doc-log.ts";
import { acknowledged, docUntil, openDoc } from "./clients.ts";
import { createDialog, storages, type TestServer, tokenFor, useServer } from "./harness.ts";

const projectionTables = ["dialogs", "participants", "access_scopes", "messages", "read_cursors"] as const;

/** Every projected row, in a stable order, as analysts would read them. */
const dump = async (t: TestServer) => {
  const result: Record<string, unknown[]> = {};
  for (const table of projectionTables) {
    const { rows } = await t.server.pool.query(`SELECT * FROM ${table} ORDER BY 1, 2`);
    result[table] = rows;
  }
  return result;
};

const projectAll = async (t: TestServer, projector: Projector) => {
  const { rows } = await t.server.pool.query<{ doc_name: string }>("SELECT doc_name FROM doc_heads ORDER BY doc_name");
  for (const row of rows) await projector.catchUp(row.doc_name);
  return rows.map((row) => row.doc_name);
};

const wipeProjection = (t: TestServer) => t.server.pool.query(`TRUNCATE ${[...projectionTables, "projection_checkpoints"].join(", ")}`);

describe.each(storages)("projection replay on %s PostgreSQL", (storage) => {
  const fixture = useServer(storage, "replay", { ROLES: "sync" });

  test("running twice, replaying from zero, and replaying from a compacted snapshot all write identical rows", async () => {
    const dialog = await createDialog(fixture.t, ["alice", "bob"], {
      access_scopes: [{ tenant_uid: "tenant-1", scope_level1: ["ops", "sales"], scope_level2: [] }],
      meta: { priority: "high" },
    });
    const segment = segmentDocName(dialog.id, 0);
    const aliceSocket = fixture.socket();
    const bobSocket = fixture.socket();
    const alice = await openDoc(aliceSocket, segment, await tokenFor("alice"));
    const bob = await openDoc(bobSocket, segment, await tokenFor("bob"));
    const bobMeta = await openDoc(bobSocket, metaDocName(dialog.id), await tokenFor("bob"));

    const ids = Array.from({ length: 6 }, () => uuidv7());
    ids.forEach((id, index) => {
      const doc = index % 2 === 0 ? alice.document : bob.document;
      createMessage(doc, {
        id,
        author: index % 2 === 0 ? "alice" : "bob",
        createdAt: Date.now() + index,
        text: `message ${index}`,
        replyTo: index > 0 ? (ids[0] ?? null) : null,
      });
    });
    await Promise.all([acknowledged(alice), acknowledged(bob)]);
    await docUntil(alice.document, () => ids.every((id) => messagesOf(alice.document).has(id)));
    editMessageText(messagesOf(alice.document).get(ids[0] as string) as Y.Map<unknown>, "message 0, edited", Date.now());
    deleteMessage(messagesOf(bob.document).get(ids[1] as string) as Y.Map<unknown>);
    readsOf(bobMeta.document).set("bob", { messageId: ids[4] as string, readAt: Date.now() });
    await Promise.all([acknowledged(alice), acknowledged(bob), acknowledged(bobMeta)]);

    // The worker is off in this server: the test drives the projector itself.
    const docs = await projectAll(fixture.t, fixture.t.server.projector);
    expect(docs).toEqual([metaDocName(dialog.id), segment]);
    const live = await dump(fixture.t);
    expect(live.messages).toHaveLength(7);
    expect(live.messages).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ id: ids[0], body_text: "message 0, edited", edited_at: expect.any(Date) }),
        expect.objectContaining({ id: ids[1], deleted: true, body_text: "" }),
        expect.objectContaining({ id: ids[3], reply_to: ids[0], author_id: "bob", seq: expect.any(String) }),
      ]),
    );
    expect(live.read_cursors).toEqual([expect.objectContaining({ user_id: "bob", message_id: ids[4] })]);
    expect(live.access_scopes).toEqual([
      expect.objectContaining({ tenant_uid: "tenant-1", scope_level1: ["ops", "sales"], scope_level2: [] }),
    ]);

    await projectAll(fixture.t, fixture.t.server.projector);
    await projectAll(fixture.t, new Projector(fixture.t.server.pool));
    expect(await dump(fixture.t)).toEqual(live);

    await wipeProjection(fixture.t);
    await projectAll(fixture.t, new Projector(fixture.t.server.pool));
    expect(await dump(fixture.t)).toEqual(live);

    // Compact: snapshot each document and drop the log rows it covers.
    const log = new DocLog(fixture.t.server.pool);
    for (const name of docs) {
      const { updates, seq } = await log.load(name);
      const doc = new Y.Doc();
      for (const update of updates) Y.applyUpdate(doc, update);
      await log.snapshot(name, dialog.id, Y.encodeStateAsUpdate(doc), seq);
    }
    const { rows: remaining } = await fixture.t.server.pool.query("SELECT count(*)::int AS n FROM doc_log WHERE dialog_id = $1", [
      dialog.id,
    ]);
    expect(remaining[0].n).toBe(0);
    await wipeProjection(fixture.t);
    await projectAll(fixture.t, new Projector(fixture.t.server.pool));
    expect(await dump(fixture.t)).toEqual(live);
  });
});
