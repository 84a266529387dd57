import { createMessage, messagesOf, segmentDocName } from "@mtchat/protocol";
import { v7 as uuidv7 } from "uuid";
import { expect, test } from "vitest";
import { acknowledged, openDoc } from "./clients.ts";
import { createDialog, tokenFor, useServer } from "./harness.ts";
import { eventually } from "./wait.ts";

const fixture = useServer("external", "snapshots", { SNAPSHOT_EVERY: "5" });

test("a document whose log passed SNAPSHOT_EVERY is snapshotted and compacted when stored, and loads back whole", async () => {
  const { t } = fixture;
  const dialog = await createDialog(t, ["alice"]);
  const segment = segmentDocName(dialog.id, 0);
  const socket = fixture.socket();
  const provider = await openDoc(socket, segment, await tokenFor("alice"));
  const ids = Array.from({ length: 8 }, () => uuidv7());
  for (const [index, id] of ids.entries()) {
    createMessage(provider.document, { id, author: "alice", createdAt: Date.now() + index, text: `m${index}` });
    await acknowledged(provider);
  }
  await t.server.projector.catchUp(segment);
  // The last connection leaving unloads the document, which stores it.
  provider.destroy();
  const snapshot = await eventually(
    async () =>
      (await t.server.pool.query<{ upto_seq: string }>("SELECT upto_seq FROM doc_snapshots WHERE doc_name = $1", [segment])).rows[0],
    { what: "snapshot" },
  );
  const { rows: head } = await t.server.pool.query<{ head_seq: string }>("SELECT head_seq FROM doc_heads WHERE doc_name = $1", [segment]);
  expect(snapshot.upto_seq).toBe(head[0]?.head_seq);
  const { rows: log } = await t.server.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM doc_log WHERE doc_name = $1", [segment]);
  expect(log[0]?.n).toBe(0);

  const reloaded = await openDoc(fixture.socket(), segment, await tokenFor("alice"));
  expect(ids.every((id) => messagesOf(reloaded.document).has(id))).toBe(true);
  expect(messagesOf(reloaded.document).size).toBe(9);
});
