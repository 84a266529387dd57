import { appendRow, forwardReference, missingDependency, updateOf } from "@mtchat/projections/testing";
import { createMessage, messagesOf, readMessage, segmentDocName } from "@mtchat/protocol";
import pg from "pg";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, expect, test } from "vitest";
import * as Y from "yjs";
import { parseConfig } from "../src/config/parse-config.ts";
import { createChatServer } from "../src/server.ts";
import { createLogger } from "../src/sync/logger.ts";
import { acknowledged, openDoc, openSocket } from "./clients.ts";
import { callApi, createDialog, prepareStorage, type TestEnv, type TestServer, tokenFor } from "./harness.ts";
import { eventually } from "./wait.ts";

/**
 * Bad rows written straight into a real dialog's segment log, between good
 * ones, as a legacy server or an inspector bug would have left them: the
 * dialog keeps serving (projection, REST history, first sync, writes) across
 * restarts, and the bad rows end up in doc_quarantine.
 */

let env: TestEnv;
const logLines: { event: string; [key: string]: unknown }[] = [];
const running: TestServer[] = [];

/** A server on the test file's database whose log lines are kept for the assertions. */
const start = async (roles: string): Promise<TestServer> => {
  const config = parseConfig({ ...env.env, ROLES: roles, LOG_LEVEL: "info" });
  const server = await createChatServer(
    config,
    createLogger("info", (line) => logLines.push(JSON.parse(line))),
  );
  await server.start();
  const httpUrl = `http://127.0.0.1:${server.port()}`;
  const t: TestServer = {
    server,
    httpUrl,
    wsUrl: `ws://127.0.0.1:${server.port()}/api/v1/ws`,
    api: (method, route, body, token) => callApi(httpUrl, method, route, body, token),
    stop: async () => {
      running.splice(running.indexOf(t), 1);
      await server.stop();
    },
  };
  running.push(t);
  return t;
};

beforeAll(async () => {
  env = await prepareStorage("external", "quarantine");
});
afterAll(async () => {
  for (const t of [...running]) await t.stop();
  await env.cleanup();
});

type Message = { id: string; sender_id: string; content: string; message_type: string };
const history = async (t: TestServer, dialogId: string, userId: string) => {
  const response = await t.api<{ data: { messages: Message[] } }>(
    "GET",
    `/api/v1/dialogs/${dialogId}/messages?limit=50`,
    undefined,
    await tokenFor(userId),
  );
  expect(response.status).toBe(200);
  return response.body.data.messages.filter((message) => message.message_type === "text").map((message) => message.content);
};

/** Appends a message written by a client of its own (as a REST or bot write would be) straight into the log. */
const appendMessage = async (db: pg.Pool, docName: string, dialogId: string, text: string) => {
  const id = uuidv7();
  const update = updateOf(new Y.Doc(), (doc) => createMessage(doc, { id, author: "alice", createdAt: Date.now(), text }));
  return appendRow(db, docName, dialogId, update, { userId: "alice", messageIds: [id] });
};

/** The text messages a client's copy of a segment holds, sorted. */
const textsOf = (doc: Y.Doc) =>
  [...messagesOf(doc).entries()]
    .map(([id, entry]) => readMessage(id, entry))
    .filter((message) => message.kind === "text")
    .map((message) => message.text)
    .sort();

const projectedTo = (t: TestServer, docName: string) =>
  eventually(
    async () => {
      const { rows } = await t.server.pool.query<{ ok: boolean }>(
        `SELECT c.seq = h.head_seq AS ok FROM doc_heads h JOIN projection_checkpoints c USING (doc_name) WHERE doc_name = $1`,
        [docName],
      );
      return rows[0]?.ok === true;
    },
    { what: `the projection of ${docName}` },
  );

test("bad rows between good ones: the projection, REST history, restarts and honest clients all carry on", async () => {
  let t = await start("sync,projections");
  const dialog = await createDialog(t, ["alice", "bob"]);
  const segment = segmentDocName(dialog.id, 0);

  // An honest first message over the WebSocket, then the server goes away (the document unloads).
  const aliceSocket = openSocket(t.wsUrl);
  const alice = await openDoc(aliceSocket, segment, await tokenFor("alice"));
  createMessage(alice.document, { id: uuidv7(), author: "alice", createdAt: Date.now(), text: "one" });
  await acknowledged(alice);
  aliceSocket.destroy();
  await t.stop();

  // Rows no current server would accept, between good rows, written while no server holds the document.
  const writer = new pg.Pool({ connectionString: env.env.DATABASE_URL });
  const thrown = await appendRow(writer, segment, dialog.id, forwardReference(1000), { userId: "mallory" });
  await appendMessage(writer, segment, dialog.id, "two");
  const pending = await appendRow(writer, segment, dialog.id, missingDependency(2000, 3000), { userId: "mallory" });
  await appendMessage(writer, segment, dialog.id, "three");
  await writer.end();

  // A fresh server: its worker projects the good rows and quarantines the bad ones.
  t = await start("sync,projections");
  await projectedTo(t, segment);
  const { rows: quarantined } = await t.server.pool.query<{ seq: string; reason: string; user_id: string; update: Buffer }>(
    "SELECT seq, reason, user_id, update FROM doc_quarantine WHERE doc_name = $1 ORDER BY seq",
    [segment],
  );
  expect(quarantined.map((row) => [Number(row.seq), row.reason.split(":")[0], row.user_id])).toEqual([
    [thrown, "yjs_error", "mallory"],
    [pending, "missing_structs", "mallory"],
  ]);
  expect(new Uint8Array(quarantined[0]?.update ?? [])).toEqual(forwardReference(1000));
  const { rows: emptied } = await t.server.pool.query<{ seq: string; update: Buffer }>(
    "SELECT seq, encode(update, 'hex') AS update FROM doc_log WHERE doc_name = $1 AND seq = ANY($2::bigint[]) ORDER BY seq",
    [segment, [thrown, pending]],
  );
  expect(emptied).toEqual([
    { seq: String(thrown), update: "0000" },
    { seq: String(pending), update: "0000" },
  ]);
  const { rows: audit } = await t.server.pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM audit_log WHERE doc_name = $1 AND action = 'update_quarantined'",
    [segment],
  );
  expect(audit).toEqual([{ n: 2 }]);
  expect(logLines.filter((line) => line.event === "update_quarantined" && line.doc === segment)).toEqual([
    expect.objectContaining({ level: "error", seq: thrown, source: "row", reason: expect.stringMatching(/^yjs_error: /) }),
    expect.objectContaining({ level: "error", seq: pending, source: "row", reason: expect.stringMatching(/^missing_structs: /) }),
  ]);

  // REST history serves the good rows.
  expect(await history(t, dialog.id, "bob")).toEqual(["one", "two", "three"]);

  // An honest provider client gets its first sync, sees every good message, and writes.
  const bobSocket = openSocket(t.wsUrl);
  const bob = await openDoc(bobSocket, segment, await tokenFor("bob"));
  expect(textsOf(bob.document)).toEqual(["one", "three", "two"]);
  createMessage(bob.document, { id: uuidv7(), author: "bob", createdAt: Date.now(), text: "four" });
  await acknowledged(bob);
  await projectedTo(t, segment);
  expect(await history(t, dialog.id, "alice")).toEqual(["one", "two", "three", "four"]);

  // The health detail counts what was quarantined; nothing is failing.
  const detail = await callApi<{ status: string; quarantine: { rows: number }; projection: { failing: unknown[] } }>(
    t.httpUrl,
    "GET",
    "/health/detail",
    undefined,
    null,
  );
  expect(detail).toMatchObject({ status: 200, body: { status: "ok", quarantine: { rows: 2 }, projection: { failing: [] } } });
  expect(await callApi(t.httpUrl, "GET", "/health", undefined, null)).toEqual({ status: 200, body: { status: "ok" } });
  bobSocket.destroy();
  await t.stop();

  // After another restart the document loads from the cleaned log: Alice syncs all four and writes a fifth.
  t = await start("sync,projections");
  const againSocket = openSocket(t.wsUrl);
  const again = await openDoc(againSocket, segment, await tokenFor("alice"));
  expect(textsOf(again.document)).toEqual(["four", "one", "three", "two"]);
  createMessage(again.document, { id: uuidv7(), author: "alice", createdAt: Date.now(), text: "five" });
  await acknowledged(again);
  await projectedTo(t, segment);
  expect(await history(t, dialog.id, "bob")).toEqual(["one", "two", "three", "four", "five"]);
  const { rows: total } = await t.server.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM doc_quarantine WHERE doc_name = $1", [
    segment,
  ]);
  expect(total).toEqual([{ n: 2 }]);
  againSocket.destroy();
  await t.stop();
});

test("without a projection to clean it first, the loader quarantines the bad rows and the first sync arrives", async () => {
  const t = await start("sync");
  const dialog = await createDialog(t, ["alice", "bob"]);
  const segment = segmentDocName(dialog.id, 0);
  await appendMessage(t.server.pool, segment, dialog.id, "before");
  const thrown = await appendRow(t.server.pool, segment, dialog.id, forwardReference(7000), { userId: "mallory" });
  await appendMessage(t.server.pool, segment, dialog.id, "after");
  const pending = await appendRow(t.server.pool, segment, dialog.id, missingDependency(8000, 9000), { userId: "mallory" });

  const socket = openSocket(t.wsUrl);
  const bob = await openDoc(socket, segment, await tokenFor("bob"));
  expect(textsOf(bob.document)).toEqual(["after", "before"]);
  expect(bob.document.store.pendingStructs).toBeNull();
  createMessage(bob.document, { id: uuidv7(), author: "bob", createdAt: Date.now(), text: "reply" });
  await acknowledged(bob);
  const { rows } = await t.server.pool.query<{ seq: string; reason: string }>(
    "SELECT seq, reason FROM doc_quarantine WHERE doc_name = $1",
    [segment],
  );
  expect(rows.map((row) => Number(row.seq)).sort((a, b) => a - b)).toEqual([thrown, pending]);
  expect(logLines).toContainEqual(expect.objectContaining({ event: "update_quarantined", doc: segment, seq: thrown }));
  const detail = await callApi<{ projection: unknown; quarantine: { rows: number; documents: number } }>(
    t.httpUrl,
    "GET",
    "/health/detail",
    undefined,
    null,
  );
  // This process runs no projection; the quarantine counts are the database's.
  expect(detail.body).toMatchObject({ projection: null, quarantine: { rows: 4, documents: 2 } });
  socket.destroy();
  await t.stop();
});
