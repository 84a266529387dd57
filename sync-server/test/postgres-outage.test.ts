import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createMessage, segmentDocName } from "@mtchat/protocol";
import pg from "pg";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type EmbeddedPostgres, startEmbeddedPostgres } from "../src/db/embedded-postgres.ts";
import { type ChildServer, spawnServer } from "./child-server.ts";
import { acknowledged, openDoc, openSocket } from "./clients.ts";
import { adminToken, callApi, type DialogData, jwtSecret, tokenFor } from "./harness.ts";
import { eventually } from "./wait.ts";
import { WebhookReceiver } from "./webhook-receiver.ts";

const outageMs = 8000;
const webhookSecret = "outage-webhook-secret-0123456789";

/** What /health/ready answers, or null when nothing answers (the process is gone). */
const readiness = async (server: ChildServer) => {
  try {
    const response = await fetch(`${server.httpUrl}/health/ready`);
    return { status: response.status, body: (await response.json()) as { status: string; error?: { code: string; message: string } } };
  } catch {
    return null;
  }
};

const alive = (server: ChildServer) => server.child.exitCode === null && server.child.signalCode === null;

/**
 * PostgreSQL goes away under running processes (one per role, on a database of
 * the test's own, which it stops and starts; never the machine's shared one):
 * every process stays up and says it is not ready, writes meanwhile are not
 * acknowledged, and once the database is back each process is ready again by
 * itself and everything acknowledged is stored once, projected and delivered.
 */
describe("PostgreSQL down for a while", () => {
  let dataDir: string;
  let filesDir: string;
  let db: EmbeddedPostgres;
  let receiver: WebhookReceiver;
  const servers: Record<"sync" | "projections" | "webhooks", ChildServer> = {} as never;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), "mtchat-outage-pg-"));
    filesDir = await mkdtemp(path.join(tmpdir(), "mtchat-outage-files-"));
    // The embedded server runs as the postgres account when we are root, and must traverse the folder.
    await chmod(dataDir, 0o711);
    db = await startEmbeddedPostgres({ dataDir, port: 0 });
    receiver = await WebhookReceiver.start(webhookSecret);
    const env = {
      PORT: "0",
      DATABASE_URL: db.url,
      DATA_DIR: filesDir,
      JWT_SECRET: jwtSecret,
      ADMIN_API_TOKEN: adminToken,
      PROJECTION_POLL_MS: "200",
      WEBHOOK_URL: receiver.url,
      WEBHOOK_SECRET: webhookSecret,
      WEBHOOK_POLL_MS: "500",
      NOTIFICATION_DELAY_SECS: "3600",
      WEBHOOK_RETRY_BASE_MS: "200",
      WEBHOOK_RETRY_MAX_MS: "1000",
    };
    const [sync, projections, webhooks] = await Promise.all(
      (["sync", "projections", "webhooks"] as const).map((role) => spawnServer({ ...env, ROLES: role })),
    );
    Object.assign(servers, { sync, projections, webhooks });
  });

  afterAll(async () => {
    await Promise.all(Object.values(servers).map((server) => server.stop()));
    await receiver?.stop();
    await db?.stop();
    await rm(dataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
    await rm(filesDir, { recursive: true, force: true });
  });

  test("every process stays up, is not ready meanwhile, recovers by itself, and nothing acknowledged is lost", {
    timeout: 120_000,
  }, async () => {
    const all = Object.entries(servers);
    for (const [role, server] of all) expect((await readiness(server))?.status, role).toBe(200);

    const created = await callApi<{ data: DialogData }>(servers.sync.httpUrl, "POST", "/api/v1/management/dialogs", {
      object_id: "order-outage",
      object_type: "order",
      participants: [{ user_id: "alice", display_name: "Alice" }],
    });
    expect(created.status).toBe(201);
    const dialogId = created.body.data.id;
    const alice = await tokenFor("alice", {}, "30m");
    const socket = openSocket(servers.sync.wsUrl);
    const provider = await openDoc(socket, segmentDocName(dialogId, 0), alice);
    const write = (texts: string[]) =>
      texts.map((text, index) => {
        const id = uuidv7();
        createMessage(provider.document, { id, author: "alice", createdAt: Date.now() + index, text });
        return id;
      });
    const delivered = (ids: string[], what: string) =>
      receiver.until(() => {
        const seen = new Set(receiver.deliveredOf(dialogId).map((request) => request.body.data.message?.id));
        return ids.every((id) => seen.has(id));
      }, what);

    try {
      const before = write(Array.from({ length: 10 }, (_, index) => `before ${index}`));
      await acknowledged(provider);
      await delivered(before, "webhooks for the messages sent before the outage");

      await db.stop();
      const downAt = Date.now();
      // Written while the database is away: they must not be acknowledged (the log append cannot happen).
      const during = write(["during 0", "during 1", "during 2"]);
      const restDuring = await callApi<{ error: { code: string } }>(
        servers.sync.httpUrl,
        "POST",
        `/api/v1/dialogs/${dialogId}/messages`,
        { content: "via REST while the database is down" },
        alice,
      );
      expect(restDuring).toMatchObject({ status: 503, body: { error: { code: "unavailable" } } });
      const notReady = new Set<string>();
      while (Date.now() - downAt < outageMs) {
        for (const [role, server] of all) {
          expect(alive(server), `${role} is alive`).toBe(true);
          const answer = await readiness(server);
          expect(answer, `${role} answers /health/ready`).not.toBeNull();
          if (answer?.status === 503) {
            expect(answer.body).toMatchObject({ status: "not_ready", error: { code: "unavailable" } });
            notReady.add(role);
          }
          expect((await fetch(`${server.httpUrl}/health`)).status).toBe(200);
        }
        expect(provider.unsyncedChanges, "nothing written during the outage is acknowledged").toBeGreaterThan(0);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      expect([...notReady].sort()).toEqual(["projections", "sync", "webhooks"]);

      db = await startEmbeddedPostgres({ dataDir, port: Number(new URL(db.url).port) });
      const upAt = Date.now();
      const readyAfter: Record<string, number> = {};
      await Promise.all(
        all.map(async ([role, server]) => {
          await eventually(async () => (await readiness(server))?.status === 200, { what: `${role} ready again`, timeoutMs: 30_000 });
          readyAfter[role] = Date.now() - upAt;
        }),
      );
      for (const [role, server] of all) expect(alive(server), `${role} is alive`).toBe(true);

      // The client's socket was closed with 4503 and came back by itself: what it wrote meanwhile is acknowledged now.
      await acknowledged(provider);
      const ackedAfter = Date.now() - upAt;
      const after = write(["after 0", "after 1"]);
      await acknowledged(provider);

      const ids = [...before, ...during, ...after];
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        const projected = await eventually(
          async () => {
            const { rows } = await client.query<{ id: string; n: number }>(
              "SELECT id, count(*)::int AS n FROM messages WHERE dialog_id = $1 AND id = ANY($2::uuid[]) GROUP BY id",
              [dialogId, ids],
            );
            return rows.length === ids.length ? rows : undefined;
          },
          { what: "every acknowledged message projected", timeoutMs: 30_000 },
        );
        expect(projected.every((row) => row.n === 1)).toBe(true);
        const { rows: arrivals } = await client.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM message_arrivals WHERE dialog_id = $1 AND message_id = ANY($2::uuid[])",
          [dialogId, ids],
        );
        expect(arrivals[0]?.n, "each message arrived (was logged) once").toBe(ids.length);
      } finally {
        await client.end();
      }
      await delivered([...during, ...after], "webhooks for the messages sent during and after the outage");
      const metrics = await (await fetch(`${servers.sync.httpUrl}/metrics`)).text();
      expect(metrics).toMatch(/mtchat_refusals_total\{kind="unavailable",hook="\w+"\} [1-9]/);
      console.info("postgres outage", { outageMs: upAt - downAt, readyAfterMs: readyAfter, acknowledgedAfterMs: ackedAfter });
    } finally {
      provider.destroy();
      socket.destroy();
    }
  });
});
