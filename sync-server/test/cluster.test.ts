import type { HocuspocusProvider, HocuspocusProviderWebsocket } from "@hocuspocus/provider";
import { createMessage, messagesOf, metaDocName, segmentDocName } from "@mtchat/protocol";
import pg from "pg";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type ChildServer, spawnServer } from "./child-server.ts";
import { acknowledged, docUntil, openDoc, openSocket } from "./clients.ts";
import { callApi, type DialogData, prepareStorage, type TestEnv, tokenFor } from "./harness.ts";
import { startRedis, type TestRedis } from "./redis-server.ts";
import { eventually, until } from "./wait.ts";

/**
 * Many nodes acting as one: three sync nodes, a projection process and a
 * webhook process, real PostgreSQL and a Redis of the test's own, and clients
 * spread over the nodes. Each node is the real `main.ts` in its own process.
 */

const percentile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
};

type Client = { socket: HocuspocusProviderWebsocket; provider: HocuspocusProvider; closes: string[] };

describe("a cluster: three sync nodes, projection and webhook processes, one PostgreSQL, one Redis", () => {
  let env: TestEnv;
  let redis: TestRedis;
  let nodes: ChildServer[] = [];
  let workers: ChildServer[] = [];
  let db: pg.Pool;
  let dialogId: string;
  const clients: Client[] = [];

  const node = (index: number) => nodes[index] as ChildServer;
  const api = <T>(index: number, method: string, route: string, body?: unknown, token?: string | null) =>
    callApi<T>(node(index).httpUrl, method, route, body, token);

  /** A user's provider on one node's WebSocket; every close of its document is recorded. */
  const connect = async (index: number, user: string, docName = segmentDocName(dialogId, 0)): Promise<Client> => {
    const socket = openSocket(node(index).wsUrl);
    const provider = await openDoc(socket, docName, await tokenFor(user));
    const client: Client = { socket, provider, closes: [] };
    provider.on("close", ({ event }: { event: { reason: string } }) => client.closes.push(event.reason));
    clients.push(client);
    return client;
  };

  const send = (client: Client, user: string, text: string): string => {
    const id = uuidv7();
    createMessage(client.provider.document, { id, author: user, createdAt: Date.now(), text });
    return id;
  };

  /** How many rows PostgreSQL holds for each of the ids, once the projection has them all. */
  const projected = (ids: readonly string[]) =>
    eventually(
      async () => {
        const { rows } = await db.query<{ id: string; n: string }>(
          "SELECT id, count(*) AS n FROM messages WHERE id = ANY($1::uuid[]) GROUP BY id",
          [ids],
        );
        return rows.length === ids.length ? new Map(rows.map((row) => [row.id, Number(row.n)])) : undefined;
      },
      { timeoutMs: 30_000, what: "the projection of every message" },
    );

  beforeAll(async () => {
    env = await prepareStorage("external", "cluster");
    redis = await startRedis();
    const common = { ...env.env, REDIS_URL: redis.url, LOG_LEVEL: "warn" };
    // The first node migrates; the others start alongside it.
    nodes = [await spawnServer({ ...common, ROLES: "sync" })];
    nodes.push(...(await Promise.all([spawnServer({ ...common, ROLES: "sync" }), spawnServer({ ...common, ROLES: "sync" })])));
    workers = await Promise.all([spawnServer({ ...common, ROLES: "projections" }), spawnServer({ ...common, ROLES: "webhooks" })]);
    db = new pg.Pool({ connectionString: env.env.DATABASE_URL, max: 4 });
    const created = await api<{ data: DialogData }>(0, "POST", "/api/v1/management/dialogs", {
      object_id: `order-${uuidv7()}`,
      object_type: "order",
      participants: ["alice", "bob", "carol", "mallory"].map((user_id) => ({ user_id, display_name: user_id.toUpperCase() })),
    });
    expect(created.status).toBe(201);
    dialogId = created.body.data.id;
  }, 120_000);

  afterAll(async () => {
    for (const client of clients) client.socket.destroy();
    await Promise.all([...nodes, ...workers].map((child) => child.stop()));
    await db?.end();
    await redis?.stop();
    await env?.cleanup();
  }, 60_000);

  test("a message accepted on one node reaches clients on the others, exactly once and in order", async () => {
    const alice = await connect(0, "alice");
    // Carol on Alice's node is the baseline: the same message, with no node between.
    const carol = await connect(0, "carol");
    const bob = await connect(1, "bob");
    const dave = await connect(2, "carol");
    // Bob's arrival order, as his document learns of each new message.
    const arrived: string[] = [];
    const seen = new Set<string>(messagesOf(bob.provider.document).keys());
    messagesOf(bob.provider.document).observe((event) => {
      for (const key of event.keysChanged) {
        if (seen.has(key)) continue;
        arrived.push(key);
        seen.add(key);
      }
    });
    const sameNode: number[] = [];
    const otherNode: number[] = [];
    const sent: string[] = [];
    const at = (client: Client, id: string, into: number[], started: number) =>
      docUntil(client.provider.document, () => messagesOf(client.provider.document).has(id)).then(() =>
        into.push(performance.now() - started),
      );
    for (let index = 0; index < 100; index += 1) {
      const started = performance.now();
      const id = send(alice, "alice", `fan-out ${index}`);
      sent.push(id);
      await Promise.all([at(carol, id, sameNode, started), at(bob, id, otherNode, started)]);
    }
    await docUntil(dave.provider.document, () => sent.every((id) => messagesOf(dave.provider.document).has(id)));
    const figures = (values: number[]) => `p50 ${percentile(values, 0.5).toFixed(1)} ms, p99 ${percentile(values, 0.99).toFixed(1)} ms`;
    console.log(`[cluster] one message at a time, from node 1: on node 1 ${figures(sameNode)}; on node 2 ${figures(otherNode)}`);
    expect(arrived).toEqual(sent);
    expect([...(await projected(sent)).values()].every((count) => count === 1)).toBe(true);
    expect(alice.closes).toEqual([]);
  });

  test("writers on two nodes, same head segment, at the same time: nothing refused, every message once", async () => {
    const writers = [await connect(0, "alice"), await connect(1, "bob")];
    const observer = await connect(2, "carol");
    const sent: string[] = [];
    // Fifty each, interleaved without waiting: every append but the first of a run finds the head moved by the other node.
    for (let index = 0; index < 50; index += 1) {
      sent.push(send(writers[0] as Client, "alice", `a${index}`));
      sent.push(send(writers[1] as Client, "bob", `b${index}`));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(writers.map((writer) => acknowledged(writer.provider)));
    for (const client of [...writers, observer]) {
      await docUntil(client.provider.document, () => sent.every((id) => messagesOf(client.provider.document).has(id)), "convergence");
    }
    expect(writers.flatMap((writer) => writer.closes)).toEqual([]);
    const counts = await projected(sent);
    expect(counts.size).toBe(100);
    expect([...counts.values()].every((count) => count === 1)).toBe(true);
  });

  test("a participant removed through one node is cut off on another within a second, and refused by REST everywhere", async () => {
    const mallory = await connect(1, "mallory");
    const meta = await connect(1, "mallory", metaDocName(dialogId));
    const closed = new Promise<number>((resolve) => {
      const started = performance.now();
      mallory.provider.on("close", () => resolve(performance.now() - started));
    });
    const removed = await api(0, "DELETE", `/api/v1/management/dialogs/${dialogId}/participants/mallory`);
    expect(removed.status).toBe(200);
    const elapsed = await closed;
    console.log(`[cluster] removal on node 1 closed mallory's connection on node 2 after ${elapsed.toFixed(0)} ms`);
    expect(elapsed).toBeLessThan(1000);
    expect(mallory.closes.at(-1)).toMatch(/^4403 forbidden/);
    await until(
      () => meta.closes.length > 0,
      (notify) => {
        meta.provider.on("close", notify);
        return () => meta.provider.off("close", notify);
      },
      { what: "the meta document closed too" },
    );
    // Every node answers her as it answers someone who never took part.
    const stranger = await api(2, "GET", `/api/v1/dialogs/${dialogId}/messages`, undefined, await tokenFor("stranger"));
    expect(stranger.status).toBeGreaterThanOrEqual(403);
    for (const index of [0, 1, 2]) {
      const listed = await api(index, "GET", `/api/v1/dialogs/${dialogId}/messages`, undefined, await tokenFor("mallory"));
      expect(listed, `node ${index + 1}`).toEqual(stranger);
    }
  });

  test("presence is cluster-wide: the participants list and awareness see users on other nodes", async () => {
    const bob = await connect(1, "bob", metaDocName(dialogId));
    const alice = await connect(0, "alice", metaDocName(dialogId));
    type Participant = { user_id: string; is_online: boolean };
    const onlineAt = async (index: number) => {
      const { body } = await api<{ data: Participant[] }>(
        index,
        "GET",
        `/api/v1/dialogs/${dialogId}/participants`,
        undefined,
        await tokenFor("carol"),
      );
      return Object.fromEntries(body.data.map((row) => [row.user_id, row.is_online]));
    };
    // Asked on node 3, where neither has a connection.
    expect(await eventually(async () => ((await onlineAt(2)).bob ? await onlineAt(2) : undefined))).toMatchObject({
      bob: true,
      alice: true,
    });
    alice.provider.setAwarenessField("typing", true);
    await until(
      () => [...(bob.provider.awareness?.getStates().values() ?? [])].some((state) => state.user?.id === "alice" && state.typing === true),
      (notify) => {
        bob.provider.awareness?.on("change", notify);
        return () => bob.provider.awareness?.off("change", notify);
      },
      { what: "Alice's typing at Bob, across nodes" },
    );
  });

  test("with Redis down, messages still cross nodes through the log; when it returns, presence does too, with no restart", async () => {
    const alice = await connect(0, "alice");
    const bob = await connect(1, "bob");
    await redis.stop();
    const latencies: number[] = [];
    for (let index = 0; index < 10; index += 1) {
      const started = performance.now();
      const id = send(alice, "alice", `redis down ${index}`);
      await docUntil(bob.provider.document, () => messagesOf(bob.provider.document).has(id), `message ${index} without Redis`);
      latencies.push(performance.now() - started);
    }
    console.log(
      `[cluster] node 1 → node 2 with Redis down: p50 ${percentile(latencies, 0.5).toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms`,
    );
    await redis.start();
    const aliceMeta = await connect(0, "alice", metaDocName(dialogId));
    const bobMeta = await connect(1, "bob", metaDocName(dialogId));
    // The nodes reconnect by themselves; presence flows again once they have.
    await eventually(
      async () => {
        aliceMeta.provider.setAwarenessField("back", Date.now());
        await new Promise((resolve) => setTimeout(resolve, 200));
        return [...(bobMeta.provider.awareness?.getStates().values() ?? [])].some((state) => state.user?.id === "alice" && state.back)
          ? true
          : undefined;
      },
      { timeoutMs: 20_000, what: "presence across nodes after Redis returned" },
    );
    const id = send(alice, "alice", "redis back");
    await docUntil(bob.provider.document, () => messagesOf(bob.provider.document).has(id), "a message after Redis returned");
    for (const child of [...nodes, ...workers]) expect(child.child.exitCode).toBeNull();
  });
});
