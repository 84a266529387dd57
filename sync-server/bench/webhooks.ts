// Webhook delivery lag: from a client writing a message (its createdAt, which
// the server keeps as sent_at) to a real receiver on 127.0.0.1 getting the
// signed message.new. The service runs in its own process with everything on
// (authorization, log, projection, outbox, dispatcher); this process writes
// over WebSocket at a fixed rate and receives. Both read the same clock.
import { HocuspocusProvider, HocuspocusProviderWebsocket } from "@hocuspocus/provider";
import { createTestDatabase } from "@mtchat/migrations";
import { createMessage, segmentDocName } from "@mtchat/protocol";
import pg from "pg";
import { v7 as uuidv7 } from "uuid";
import WebSocket from "ws";
import * as Y from "yjs";
import { adminToken, adminUrl, benchToken, cpuOf, percentile, spawnService } from "./bench-kit.ts";
import { spawnReceiver, webhookSecret } from "./receiver.ts";

type Scenario = { dialogs: number; rate: number; seconds: number };
/** WEBHOOK_BENCH_RATES=50,100 runs other rates. */
const scenarios: Scenario[] = (process.env.WEBHOOK_BENCH_RATES ?? "50,100,200")
  .split(",")
  .map((rate) => ({ dialogs: 50, rate: Number(rate), seconds: 6 }));

/**
 * Where the time went, from the database's own timestamps (p50 of each step):
 * logged → projected (the outbox row's transaction began), → fanned out, → delivered.
 */
const stagesOf = async (url: string): Promise<string> => {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ projected: number; fanned: number; delivered: number }>(
      `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM o.created_at - a.received_at) * 1000) AS projected,
              percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM o.fanned_out_at - o.created_at) * 1000) AS fanned,
              percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM d.delivered_at - o.fanned_out_at) * 1000) AS delivered
       FROM webhook_outbox o
       JOIN message_arrivals a ON a.dialog_id = o.dialog_id AND a.message_id = (o.data->'message'->>'id')::uuid
       JOIN webhook_deliveries d ON d.event_seq = o.seq
       WHERE o.event = 'message.new' AND o.data->'message'->>'message_type' = 'text'`,
    );
    const row = rows[0];
    return row ? `${row.projected.toFixed(0)} / ${row.fanned.toFixed(0)} / ${row.delivered.toFixed(0)} ms` : "n/a";
  } finally {
    await client.end();
  }
};

const runScenario = async (scenario: Scenario): Promise<string> => {
  const receiver = await spawnReceiver();
  /** Each message's lag, from its first arrival (a retried delivery arrives again). */
  const lags = () => {
    const first = new Map<string, number>();
    for (const hook of receiver.hooks()) if (!first.has(hook.id)) first.set(hook.id, hook.at - hook.sentAt);
    return first;
  };
  const db = await createTestDatabase(adminUrl, "bench_webhooks");
  const service = await spawnService(db.url, {
    WEBHOOK_URL: receiver.url,
    WEBHOOK_SECRET: webhookSecret,
    NOTIFICATION_DELAY_SECS: "3600",
  });
  const base = `http://127.0.0.1:${service.port}`;
  try {
    const token = await benchToken("sender");
    const dialogs: string[] = [];
    for (let index = 0; index < scenario.dialogs; index += 1) {
      const response = await fetch(`${base}/api/v1/management/dialogs`, {
        method: "POST",
        headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
        body: JSON.stringify({
          object_id: `bench-${index}`,
          object_type: "bench",
          participants: [
            { user_id: "sender", display_name: "Sender" },
            { user_id: `reader-${index}`, display_name: "Reader" },
          ],
        }),
      });
      dialogs.push(((await response.json()) as { data: { id: string } }).data.id);
    }
    const socket = new HocuspocusProviderWebsocket({ url: `ws://127.0.0.1:${service.port}/api/v1/ws`, WebSocketPolyfill: WebSocket });
    const providers: HocuspocusProvider[] = [];
    const docs: Y.Doc[] = [];
    for (const dialog of dialogs) {
      const doc = new Y.Doc();
      const provider = new HocuspocusProvider({ websocketProvider: socket, name: segmentDocName(dialog, 0), document: doc, token });
      provider.attach();
      await new Promise<void>((resolve) => (provider.synced ? resolve() : provider.on("synced", () => resolve())));
      providers.push(provider);
      docs.push(doc);
    }
    const cpuBefore = cpuOf(service.child.pid as number);
    const total = scenario.rate * scenario.seconds;
    const interval = 1000 / scenario.rate;
    const started = performance.now();
    for (let sent = 0; sent < total; sent += 1) {
      const wait = started + sent * interval - performance.now();
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
      createMessage(docs[sent % docs.length] as Y.Doc, { id: uuidv7(), author: "sender", createdAt: Date.now(), text: `message ${sent}` });
    }
    const deadline = performance.now() + 30_000;
    while (lags().size < total && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    const cpuPerMessageUs = ((cpuOf(service.child.pid as number) - cpuBefore) / total) * 1e6;
    for (const provider of providers) provider.destroy();
    socket.destroy();
    const arrived = lags();
    const sorted = [...arrived.values()].sort((a, b) => a - b);
    const stages = await stagesOf(db.url);
    const label = `${scenario.rate} msg/s over ${scenario.dialogs} dialogs`;
    const rejected = receiver.rejected() > 0 ? `, ${receiver.rejected()} bad signatures` : "";
    return `| ${label} | ${percentile(sorted, 50).toFixed(0)} / ${percentile(sorted, 99).toFixed(0)} ms | ${stages} | ${cpuPerMessageUs.toFixed(0)} µs | ${arrived.size}/${total}${rejected} |`;
  } finally {
    service.child.kill("SIGTERM");
    await new Promise((resolve) => service.child.once("exit", resolve));
    await db.drop();
    await receiver.stop();
  }
};

export const webhookTableHead = [
  "",
  "| webhooks (WebSocket writes, one receiver) | lag p50 / p99, written → received | p50 logged → projected / → fanned out / → delivered | server CPU per message | delivered |",
  "| --- | --- | --- | --- | --- |",
];

/** Rows for the webhook table of `npm run bench`. */
export const webhookBench = async (): Promise<string[]> => {
  const rows: string[] = [];
  for (const scenario of scenarios) rows.push(await runScenario(scenario));
  return rows;
};

if (process.argv[1] && new URL(import.meta.url).pathname === process.argv[1]) {
  process.stdout.write([...webhookTableHead, ...(await webhookBench()), ""].join("\n"));
}
