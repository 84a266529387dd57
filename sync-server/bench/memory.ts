// Memory of the full service per idle connection and per loaded document,
// against raw Hocuspocus holding the same connections, in the same run. Each
// server in its own process; RSS read from /proc after a settle. Loopback only.
import { readFileSync } from "node:fs";
import { createTestDatabase } from "@mtchat/migrations";
import { metaDocName, segmentDocName } from "@mtchat/protocol";
import * as encoding from "lib0/encoding";
import WebSocket from "ws";
import * as Y from "yjs";
import { adminToken, adminUrl, benchToken, spawnServer, spawnService } from "./bench-kit.ts";

const rssOf = (pid: number) => Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) * 1024;

/** RSS once it stops moving: after the work, a moment for buffers to be collected. */
const settledRss = async (pid: number) => {
  await new Promise((resolve) => setTimeout(resolve, 1500));
  return rssOf(pid);
};

/** A socket that authenticates on one document and syncs it, then stays idle (what an idle SDK tab holds per document). */
const idleSocket = async (port: number, docName: string, token: string): Promise<WebSocket> => {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/api/v1/ws`);
  await new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  });
  const frame = (write: (encoder: encoding.Encoder) => void) => {
    const encoder = encoding.createEncoder();
    encoding.writeVarString(encoder, docName);
    write(encoder);
    return encoding.toUint8Array(encoder);
  };
  const replied = new Promise((resolve) => socket.once("message", resolve));
  socket.send(
    frame((encoder) => {
      encoding.writeVarUint(encoder, 2);
      encoding.writeVarUint(encoder, 0);
      encoding.writeVarString(encoder, token);
      encoding.writeVarString(encoder, "bench");
    }),
  );
  await replied;
  socket.send(
    frame((encoder) => {
      encoding.writeVarUint(encoder, 0);
      encoding.writeVarUint(encoder, 0);
      encoding.writeVarUint8Array(encoder, Y.encodeStateVector(new Y.Doc()));
    }),
  );
  return socket;
};

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

export const memoryBench = async (connections = 1000, documents = 200): Promise<string[]> => {
  const rows: string[] = [];

  const raw = await spawnServer("sync-server/bench/raw-server.ts", {});
  const rawPid = raw.child.pid as number;
  await idleSocket(raw.port, "warm-up", "unused").then((socket) => socket.close());
  const rawBefore = await settledRss(rawPid);
  const rawSockets: WebSocket[] = [];
  for (let index = 0; index < connections; index += 1) rawSockets.push(await idleSocket(raw.port, "idle", "unused"));
  const rawPer = ((await settledRss(rawPid)) - rawBefore) / connections;
  for (const socket of rawSockets) socket.terminate();
  raw.child.kill("SIGTERM");

  const db = await createTestDatabase(adminUrl, "bench_memory");
  const ours = await spawnService(db.url);
  const pid = ours.child.pid as number;
  const api = async (body: unknown) => {
    const response = await fetch(`http://127.0.0.1:${ours.port}/api/v1/management/dialogs`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return ((await response.json()) as { data: { id: string } }).data.id;
  };
  const users = Array.from({ length: 10 }, (_, index) => `user-${index}`);
  const participants = users.map((user_id) => ({ user_id, display_name: user_id }));
  const dialog = await api({ object_id: "memory", object_type: "bench", participants });
  const tokens = await Promise.all(users.map((user) => benchToken(user)));
  await idleSocket(ours.port, metaDocName(dialog), tokens[0] as string).then((socket) => socket.close());
  const before = await settledRss(pid);
  const sockets: WebSocket[] = [];
  for (let index = 0; index < connections; index += 1) {
    sockets.push(await idleSocket(ours.port, metaDocName(dialog), tokens[index % tokens.length] as string));
  }
  const per = ((await settledRss(pid)) - before) / connections;
  rows.push(`| idle connection (authenticated, one document synced) | ${kib(per)} | ${kib(rawPer)} | ×${(per / rawPer).toFixed(2)} |`);
  for (const socket of sockets) socket.terminate();

  // Loaded documents, each opened by one idle socket: new dialogs' head segments, then segments of 100 messages.
  const loadedPer = async (count: number, messages: number) => {
    const ids: string[] = [];
    for (let index = 0; index < count; index += 1) {
      const id = await api({ object_id: `memory-${messages}-${index}`, object_type: "bench", participants });
      for (let message = 0; message < messages; message += 1) {
        await fetch(`http://127.0.0.1:${ours.port}/api/v1/dialogs/${id}/messages`, {
          method: "POST",
          headers: { authorization: `Bearer ${tokens[message % tokens.length]}`, "content-type": "application/json" },
          body: JSON.stringify({ content: `message ${message} of a bench dialog, about the length of a chat line` }),
        });
      }
      ids.push(id);
    }
    // REST sends loaded the segments; drop them so that only the sockets below hold them.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const start = await settledRss(pid);
    const held: WebSocket[] = [];
    for (const id of ids) held.push(await idleSocket(ours.port, segmentDocName(id, 0), tokens[0] as string));
    const grown = ((await settledRss(pid)) - start) / count;
    for (const socket of held) socket.terminate();
    return grown;
  };
  rows.push(`| loaded document: a new dialog's head segment, with its socket | ${kib(await loadedPer(documents, 0))} | | |`);
  rows.push(`| loaded document: a head segment of 100 messages, with its socket | ${kib(await loadedPer(20, 100))} | | |`);
  ours.child.kill("SIGTERM");
  await new Promise((resolve) => ours.child.once("close", resolve));
  await db.drop();
  return rows;
};
