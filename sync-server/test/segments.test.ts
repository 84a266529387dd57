import { HocuspocusProviderWebsocket } from "@hocuspocus/provider";
import { createMessage, messagesOf, metaDocName, segmentDocName } from "@mtchat/protocol";
import { v7 as uuidv7 } from "uuid";
import { describe, expect, test } from "vitest";
import WebSocket from "ws";
import * as Y from "yjs";
import { quietWebSocket } from "../../sdk/client/src/quiet-socket.ts";
import { acknowledged, docUntil, openDoc, openSocket } from "./clients.ts";
import { createDialog, seedSegments, startServer, type TestServer, tokenFor, useServer } from "./harness.ts";

/** A socket that counts the bytes the server sends it: the cost of opening a dialog. */
const countingSocket = (url: string) => {
  const counter = { bytes: 0 };
  class Counting extends WebSocket {
    constructor(address: string, protocols?: string | string[]) {
      super(address, protocols);
      this.on("message", (data: Buffer) => {
        counter.bytes += data.byteLength;
      });
    }
  }
  return { socket: new HocuspocusProviderWebsocket({ url, WebSocketPolyfill: quietWebSocket(Counting) }), counter };
};

/** Opens a dialog the way a client does: the meta document, then the head segment it names. */
const openDialog = async (t: TestServer, dialogId: string) => {
  const { socket, counter } = countingSocket(t.wsUrl);
  const token = await tokenFor("alice");
  const meta = await openDoc(socket, metaDocName(dialogId), token);
  const head = Number(meta.document.getMap("meta").get("headSegment"));
  const segment = await openDoc(socket, segmentDocName(dialogId, head), token);
  const docBytes = Y.encodeStateAsUpdate(meta.document).byteLength + Y.encodeStateAsUpdate(segment.document).byteLength;
  return { socket, counter, head, docBytes, messages: messagesOf(segment.document).size };
};

describe("bounded segment documents", () => {
  const fixture = useServer("external", "segments", { SEGMENT_SIZE: "500" });

  test("a dialog with 20,000 messages opens by syncing only its meta and head segment", { timeout: 120_000 }, async () => {
    const big = await createDialog(fixture.t, ["alice"]);
    await seedSegments(fixture.t, big.id, 40, 500);
    const small = await createDialog(fixture.t, ["alice"]);
    await seedSegments(fixture.t, small.id, 1, 500);
    const { rows } = await fixture.t.server.pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM messages WHERE dialog_id = $1 AND kind = 'text'",
      [big.id],
    );
    expect(rows[0]?.n).toBe(20_000);

    const history = new Y.Doc();
    const opened = await openDialog(fixture.t, big.id);
    const baseline = await openDialog(fixture.t, small.id);
    try {
      expect(opened.head).toBe(39);
      expect(opened.messages).toBe(500);
      // Only the two documents this client asked for are loaded for the big dialog.
      const loaded = [...fixture.t.server.hocuspocus.documents.keys()].filter((name) => name.includes(big.id));
      expect(loaded.sort()).toEqual([metaDocName(big.id), segmentDocName(big.id, 39)].sort());
      // Opening costs what a one-segment dialog costs, and a sliver of the whole history.
      for (let segment = 0; segment < 40; segment += 1) {
        const { rows: log } = await fixture.t.server.pool.query<{ update: Buffer }>("SELECT update FROM doc_log WHERE doc_name = $1", [
          segmentDocName(big.id, segment),
        ]);
        for (const row of log) Y.applyUpdate(history, new Uint8Array(row.update));
      }
      const historyBytes = Y.encodeStateAsUpdate(history).byteLength;
      // What crossed the wire is those two documents (the provider may request the first one twice on a new socket).
      expect(opened.counter.bytes).toBeLessThan(opened.docBytes * 2.2);
      expect(opened.docBytes).toBeLessThan(baseline.docBytes * 1.1);
      expect(opened.counter.bytes).toBeLessThan(historyBytes / 10);
      console.info(
        `open cost: ${opened.counter.bytes} B with 20,000 messages, ${baseline.counter.bytes} B with 500; whole history ${historyBytes} B`,
      );
    } finally {
      opened.socket.destroy();
      baseline.socket.destroy();
    }
  });

  test("a full head segment moves the head; a segment refuses writes past twice its size", async () => {
    const small = await startServer({ ...fixture.env.env, SEGMENT_SIZE: "3" });
    try {
      const dialog = await createDialog(small, ["alice"]);
      const socket = openSocket(small.wsUrl);
      const token = await tokenFor("alice");
      const meta = await openDoc(socket, metaDocName(dialog.id), token);
      const first = await openDoc(socket, segmentDocName(dialog.id, 0), token);
      // The system message "chat_created" is the first of three.
      createMessage(first.document, { id: uuidv7(), author: "alice", createdAt: 1, text: "one" });
      createMessage(first.document, { id: uuidv7(), author: "alice", createdAt: 2, text: "two" });
      await acknowledged(first);
      await docUntil(meta.document, () => meta.document.getMap("meta").get("headSegment") === 1, "head to move");
      const second = await openDoc(socket, segmentDocName(dialog.id, 1), token);
      createMessage(second.document, { id: uuidv7(), author: "alice", createdAt: 3, text: "three" });
      await acknowledged(second);

      // A late (offline) writer may still land in the old segment, up to the hard cap of 2 × 3.
      for (const text of ["late 1", "late 2", "late 3"])
        createMessage(first.document, { id: uuidv7(), author: "alice", createdAt: 4, text });
      await acknowledged(first);
      const closed = new Promise<string>((resolve) =>
        first.on("close", ({ event }: { event: { reason: string } }) => resolve(event.reason)),
      );
      createMessage(first.document, { id: uuidv7(), author: "alice", createdAt: 5, text: "over the cap" });
      expect(await closed).toMatch(/^4409 conflict: this segment is full/);
      socket.destroy();
    } finally {
      await small.stop();
    }
  });
});
