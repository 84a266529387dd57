// `npm run bench`: R rooms × M members, one sender per room, against raw
// Hocuspocus and against the full service (authorization, durable log,
// projection, webhooks to a receiver here) in the same run. Each server runs
// in its own process; this process generates the load and receives the
// webhooks. Traffic stays on 127.0.0.1.
import { readdirSync, readFileSync } from "node:fs";
import { HocuspocusProvider, HocuspocusProviderWebsocket } from "@hocuspocus/provider";
import { createTestDatabase } from "@mtchat/migrations";
import { createMessage, messagesOf, segmentDocName } from "@mtchat/protocol";
import pg from "pg";
import { v7 as uuidv7 } from "uuid";
import WebSocket from "ws";
import * as Y from "yjs";
import { authzBench } from "./authz.ts";
import { adminToken, adminUrl, benchToken, cpuOf, percentile, spawnServer, spawnService } from "./bench-kit.ts";
import { memoryBench } from "./memory.ts";
import { openBench } from "./open.ts";
import { spawnReceiver, webhookSecret } from "./receiver.ts";
import { searchBench } from "./search.ts";
import { webhookBench, webhookTableHead } from "./webhooks.ts";

// `npm run bench -- authz open` runs only those parts; no arguments runs all.
const parts = ["load", "transport", "authz", "open", "search", "webhooks", "memory"] as const;
const chosen = process.argv.slice(2);
const unknown = chosen.filter((part) => !(parts as readonly string[]).includes(part));
if (unknown.length > 0) throw new Error(`unknown bench part(s) ${unknown.join(", ")}; choose from ${parts.join(", ")}`);
const want = (part: (typeof parts)[number]) => chosen.length === 0 || chosen.includes(part);

type Scenario = { rooms: number; members: number; rate: number; seconds: number };
/** LOAD_SCENARIOS=50x10@500,200x5@1000:60 picks rooms × members @ rate (: seconds, default 8). */
const parseScenario = (variable: string, spec: string): Scenario => {
  const match = /^(\d+)x(\d+)@(\d+)(?::(\d+))?$/.exec(spec.trim());
  if (!match) throw new Error(`${variable}: "${spec}" is not rooms x members @ rate [: seconds], e.g. 50x10@500:8`);
  return { rooms: Number(match[1]), members: Number(match[2]), rate: Number(match[3]), seconds: Number(match[4] ?? 8) };
};
const scenarios = (process.env.LOAD_SCENARIOS ?? "50x10@500,200x5@1000").split(",").map((spec) => parseScenario("LOAD_SCENARIOS", spec));
const ticks = 100; // USER_HZ on Linux

/** The fields of /proc/<pid>/stat after the command name: [state, ppid, …, utime at 11, stime at 12]. */
const statOf = (pid: string): string[] | null => {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? null;
  } catch {
    return null;
  }
};

/** The postmaster of the cluster holding the bench's database: the parent of a backend serving it. */
const postmasterOf = async (url: string): Promise<string> => {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
    const ppid = statOf(String(rows[0]?.pid))?.[1];
    if (!ppid) throw new Error("the bench must run on the machine of its PostgreSQL (it reads /proc)");
    return ppid;
  } finally {
    await client.end();
  }
};

/** CPU seconds used so far by that cluster's processes (its postmaster and every child), not other clusters'. */
const postgresCpu = (postmaster: string) => {
  let total = 0;
  for (const pid of readdirSync("/proc").filter((entry) => /^\d+$/.test(entry))) {
    const fields = statOf(pid);
    if (!fields || (pid !== postmaster && fields[1] !== postmaster)) continue;
    total += (Number(fields[11]) + Number(fields[12])) / ticks;
  }
  return total;
};

type Room = { name: string; members: { userId: string; token: string }[] };

/** The full service's webhook receiver, and each message's send time (epoch ms) to measure its arrival from. */
type WebhookWatch = { sentAt: Map<string, number>; arrived: () => number };

const runLoad = async (
  port: number,
  rooms: Room[],
  scenario: Scenario,
  serverPid: number,
  postmaster: string,
  webhooks?: WebhookWatch,
  /** The clients' socket class: `ws`, or the SDK's HTTP transport (which speaks to the same URL). */
  socketClass: unknown = WebSocket,
  /** Called when every client is synced and the first message goes out. */
  onLoadStart?: () => void,
) => {
  const sockets: HocuspocusProviderWebsocket[] = [];
  const providers: HocuspocusProvider[] = [];
  const latencies: number[] = [];
  const senders: { doc: Y.Doc; userId: string }[] = [];
  for (const room of rooms) {
    for (const [index, { userId, token }] of room.members.entries()) {
      const socket = new HocuspocusProviderWebsocket({ url: `ws://127.0.0.1:${port}/api/v1/ws`, WebSocketPolyfill: socketClass });
      sockets.push(socket);
      const doc = new Y.Doc();
      const provider = new HocuspocusProvider({ websocketProvider: socket, name: room.name, document: doc, token });
      provider.attach();
      providers.push(provider);
      await new Promise<void>((resolve) => (provider.synced ? resolve() : provider.on("synced", () => resolve())));
      if (index === 0) senders.push({ doc, userId });
      else {
        messagesOf(doc).observe((event) => {
          const now = performance.now();
          for (const key of event.keysChanged) {
            const sentAt = (messagesOf(doc).get(key)?.get("createdAt") as number | undefined) ?? Number.NaN;
            if (sentAt > 1e12) continue; // the server's own system message
            latencies.push(now - sentAt);
          }
        });
      }
    }
  }
  const cpuBefore = cpuOf(serverPid);
  const pgBefore = postgresCpu(postmaster);
  const benchBefore = process.cpuUsage();
  onLoadStart?.();
  const started = performance.now();
  const total = scenario.rate * scenario.seconds;
  const interval = 1000 / scenario.rate;
  for (let sent = 0; sent < total; sent += 1) {
    const due = started + sent * interval;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    const sender = senders[sent % senders.length] as { doc: Y.Doc; userId: string };
    // createdAt carries the send time on this process's clock, for the latency measurement.
    const id = uuidv7();
    const at = performance.now();
    webhooks?.sentAt.set(id, Date.now());
    createMessage(sender.doc, { id, author: sender.userId, createdAt: at, text: `message ${sent}` });
  }
  const expected = total * (scenario.members - 1);
  const deadline = performance.now() + 15_000;
  const done = () => latencies.length >= expected && (!webhooks || webhooks.arrived() >= total);
  while (!done() && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  const elapsed = (performance.now() - started) / 1000;
  const cpu = cpuOf(serverPid) - cpuBefore;
  const pgCpu = postgresCpu(postmaster) - pgBefore;
  const benchCpu = process.cpuUsage(benchBefore);
  for (const provider of providers) provider.destroy();
  for (const socket of sockets) socket.destroy();
  const sorted = latencies.sort((a, b) => a - b);
  return {
    delivered: latencies.length,
    expected,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    cpuPercent: (cpu / elapsed) * 100,
    cpuPerMessageUs: (cpu / total) * 1e6,
    pgPerMessageUs: (pgCpu / total) * 1e6,
    /** This process's own share of the machine (the clients' Yjs work), which competes with the servers on a small box. */
    clientsCpuPercent: ((benchCpu.user + benchCpu.system) / 1e6 / elapsed) * 100,
  };
};

/** The scenario's rooms as dialogs of the full service (head segment 0), with a token per member. */
const createRooms = async (port: number, scenario: Scenario): Promise<Room[]> => {
  const ourRooms: Room[] = [];
  for (let i = 0; i < scenario.rooms; i += 1) {
    const members = Array.from({ length: scenario.members }, (_, m) => `user-${i}-${m}`);
    const response = await fetch(`http://127.0.0.1:${port}/api/v1/management/dialogs`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({
        object_id: `bench-${i}`,
        object_type: "bench",
        participants: members.map((user_id) => ({ user_id, display_name: user_id })),
      }),
    });
    const { data } = (await response.json()) as { data: { id: string } };
    const tokens = await Promise.all(members.map((user) => benchToken(user)));
    ourRooms.push({ name: segmentDocName(data.id, 0), members: members.map((userId, m) => ({ userId, token: tokens[m] as string })) });
  }
  return ourRooms;
};

/** The same rooms for raw Hocuspocus, which checks no token. */
const rawRoomsOf = (scenario: Scenario): Room[] =>
  Array.from({ length: scenario.rooms }, (_, i) => ({
    name: `room-${i}`,
    members: Array.from({ length: scenario.members }, (_, m) => ({ userId: `user-${i}-${m}`, token: "unused" })),
  }));

/**
 * What the full service has not caught up with, sampled through the load (six times from the first message, then
 * once when the bench stops waiting): log rows not projected, outbox events not fanned out, deliveries not yet made. A bounded backlog stays
 * flat while the load runs and drains after it.
 */
const sampleBacklog = (url: string, scenario: Scenario) => {
  const client = new pg.Client({ connectionString: url });
  let started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const rows: string[] = [];
  const sample = async () => {
    const { rows: found } = await client.query<{ unprojected: string; unfanned: string; pending: string }>(
      `SELECT (SELECT COALESCE(sum(h.head_seq - COALESCE(c.seq, 0)), 0) FROM doc_heads h LEFT JOIN projection_checkpoints c USING (doc_name)) AS unprojected,
              (SELECT count(*) FROM webhook_outbox WHERE fanned_out_at IS NULL) AS unfanned,
              (SELECT count(*) FROM webhook_deliveries WHERE state = 'pending') AS pending`,
    );
    const at = (performance.now() - started) / 1000;
    const row = found[0];
    if (row)
      rows.push(
        `| ${scenario.rooms}×${scenario.members}, ${scenario.rate} msg/s | ${at.toFixed(1)} s | ${row.unprojected} | ${row.unfanned} | ${row.pending} |`,
      );
  };
  const connected = client.connect();
  return {
    start: () => {
      started = performance.now();
      timer = setInterval(() => void connected.then(sample).catch(() => undefined), (scenario.seconds * 1000) / 6);
    },
    stop: async () => {
      clearInterval(timer);
      await connected;
      await sample();
      await client.end();
      return rows;
    },
  };
};

const results: string[] = [];
const backlogRows: string[] = [];
const lagRows: string[] = [];
const webhookLoadRows: string[] = [];
const postmaster = want("load") ? await postmasterOf(adminUrl) : "";
for (const scenario of want("load") ? scenarios : []) {
  const raw = await spawnServer("sync-server/bench/raw-server.ts", {});
  const rawResult = await runLoad(raw.port, rawRoomsOf(scenario), scenario, raw.child.pid as number, postmaster);
  raw.child.kill("SIGTERM");

  const db = await createTestDatabase(adminUrl, "bench");
  // Webhooks on: every message.new goes to a receiver process on loopback, measured from the send.
  const receiver = await spawnReceiver();
  const sentAt = new Map<string, number>();
  /** Each message's webhook lag, from its first arrival. */
  const hookLags = () => {
    const first = new Map<string, number>();
    for (const hook of receiver.hooks()) {
      const sent = sentAt.get(hook.id);
      if (sent !== undefined && !first.has(hook.id)) first.set(hook.id, hook.at - sent);
    }
    return first;
  };
  const webhooks: WebhookWatch = { sentAt, arrived: () => hookLags().size };
  const ours = await spawnService(db.url, {
    SEGMENT_SIZE: "100000",
    WEBHOOK_URL: receiver.url,
    WEBHOOK_SECRET: webhookSecret,
    NOTIFICATION_DELAY_SECS: "3600",
  });
  const ourRooms = await createRooms(ours.port, scenario);
  const backlog = sampleBacklog(db.url, scenario);
  const ourResult = await runLoad(ours.port, ourRooms, scenario, ours.child.pid as number, postmaster, webhooks, WebSocket, backlog.start);
  backlogRows.push(...(await backlog.stop()));
  ours.child.kill("SIGTERM");
  // "close", not "exit": the last log lines (projection lag) may still be in the pipe at exit.
  await new Promise((resolve) => ours.child.once("close", resolve));
  await db.drop();
  const hooks = [...hookLags().values()].sort((a, b) => a - b);
  const rejected = receiver.rejected();
  await receiver.stop();
  const total = scenario.rate * scenario.seconds;
  webhookLoadRows.push(
    `| ${scenario.rooms}×${scenario.members}, ${scenario.rate} msg/s | ${percentile(hooks, 50).toFixed(0)} / ${percentile(hooks, 99).toFixed(0)} ms | ${hooks.length}/${total}${rejected > 0 ? `, ${rejected} bad signatures` : ""} |`,
  );
  const lag = ours.events.find((event) => event.event === "projection_lag") as { count: number; p50Ms: number; p99Ms: number } | undefined;
  if (lag)
    lagRows.push(
      `| ${scenario.rooms}×${scenario.members}, ${scenario.rate} msg/s | ${lag.p50Ms} / ${lag.p99Ms} ms | ${lag.count} log rows |`,
    );

  const row = (label: string, r: typeof rawResult) =>
    `| ${scenario.rooms}×${scenario.members}, ${scenario.rate} msg/s | ${label} | ${r.p50.toFixed(1)} / ${r.p99.toFixed(1)} ms | ${r.cpuPercent.toFixed(0)}% | ${r.cpuPerMessageUs.toFixed(0)} µs | ${r.pgPerMessageUs.toFixed(0)} µs | ${r.clientsCpuPercent.toFixed(0)}% | ${r.delivered}/${r.expected} |`;
  results.push(row("raw Hocuspocus", rawResult), row("full service", ourResult));
  results.push(
    `|  | ratio (full / raw) | p50 ×${(ourResult.p50 / rawResult.p50).toFixed(2)}, p99 ×${(ourResult.p99 / rawResult.p99).toFixed(2)} | | CPU/msg ×${(ourResult.cpuPerMessageUs / rawResult.cpuPerMessageUs).toFixed(2)}, with PostgreSQL ×${((ourResult.cpuPerMessageUs + ourResult.pgPerMessageUs) / (rawResult.cpuPerMessageUs + rawResult.pgPerMessageUs)).toFixed(2)} | | | |`,
  );
}

// The HTTP transport (behind proxies that refuse WebSocket) against the WebSocket, at light load, in one run:
// TRANSPORT_SCENARIO (default 20x2@100:8).
const transportRows: string[] = [];
if (want("transport")) {
  const scenario = parseScenario("TRANSPORT_SCENARIO", process.env.TRANSPORT_SCENARIO ?? "20x2@100:8");
  const transportPostmaster = postmaster || (await postmasterOf(adminUrl));
  const raw = await spawnServer("sync-server/bench/raw-server.ts", {});
  const rawResult = await runLoad(raw.port, rawRoomsOf(scenario), scenario, raw.child.pid as number, transportPostmaster);
  raw.child.kill("SIGTERM");
  const db = await createTestDatabase(adminUrl, "bench_transport");
  const ours = await spawnService(db.url, { SEGMENT_SIZE: "100000", NOTIFICATION_DELAY_SECS: "3600" });
  const overWebSocket = await runLoad(
    ours.port,
    await createRooms(ours.port, scenario),
    scenario,
    ours.child.pid as number,
    transportPostmaster,
  );
  // The SDK's socket class, loaded at run time: the client package is typed for browsers (DOM), this file for Node.
  const clientPackage: string = "@mtchat/client";
  const { HttpSyncSocket } = (await import(clientPackage)) as { HttpSyncSocket: unknown };
  const overHttp = await runLoad(
    ours.port,
    await createRooms(ours.port, scenario),
    scenario,
    ours.child.pid as number,
    transportPostmaster,
    undefined,
    HttpSyncSocket,
  );
  ours.child.kill("SIGTERM");
  await new Promise((resolve) => ours.child.once("close", resolve));
  await db.drop();
  const load = `${scenario.rooms}×${scenario.members}, ${scenario.rate} msg/s`;
  for (const [label, r] of [
    ["raw Hocuspocus, WebSocket", rawResult],
    ["full service, WebSocket", overWebSocket],
    ["full service, HTTP transport", overHttp],
  ] as const) {
    transportRows.push(
      `| ${load} | ${label} | ${r.p50.toFixed(1)} / ${r.p99.toFixed(1)} ms | ×${(r.p50 / rawResult.p50).toFixed(2)} / ×${(r.p99 / rawResult.p99).toFixed(2)} | ${r.cpuPerMessageUs.toFixed(0)} µs | ${r.delivered}/${r.expected} |`,
    );
  }
}

const authzRows = want("authz") ? authzBench() : [];
const openRows = want("open") ? await openBench() : [];
// SEARCH_SIZES=100000,1000000 (the default): one fresh database per size.
const searchSizes = (process.env.SEARCH_SIZES ?? "100000,1000000").split(",").map((size) => Number(size.trim()));
const searchRows: string[] = [];
if (want("search")) for (const size of searchSizes) searchRows.push(...(await searchBench(size)));
const webhookRows = want("webhooks") ? await webhookBench() : [];
const memoryRows = want("memory") ? await memoryBench() : [];

const table = (header: string, rows: string[]) => (rows.length > 0 ? ["", header, header.replace(/[^|]+/g, " --- "), ...rows] : []);
process.stdout.write(
  [
    ...table(
      "| load | server | p50 / p99 | server CPU | server CPU per message | PostgreSQL CPU per message | clients' CPU (this process) | delivered |",
      results,
    ),
    ...table("| load | projection lag p50 / p99 (append → projected) | samples |", lagRows),
    ...table("| load | since the load began | log rows not projected | events not fanned out | deliveries pending |", backlogRows),
    ...table("| load | server, transport | p50 / p99 | ratio to raw p50 / p99 | server CPU per message | delivered |", transportRows),
    ...table("| load | webhook message.new p50 / p99 (written → received on loopback) | delivered |", webhookLoadRows),
    ...table(
      "| authorization of one update | document | decode + inspect p50 / p99 | raw Yjs apply p50 / p99 | inspect / apply (p50) |",
      authzRows,
    ),
    ...table("| open a dialog (meta + head segment, real provider) | latency |", openRows),
    ...table("| search | latency (HTTP, 200 queries each, limit 20, one reader in 200 dialogs) |", searchRows),
    ...(webhookRows.length > 0 ? [...webhookTableHead, ...webhookRows] : []),
    ...table("| memory (RSS growth, settled) | full service | raw Hocuspocus | ratio |", memoryRows),
    "",
  ].join("\n"),
);
process.exit(0);
