import { createServer, request as httpRequest, type IncomingMessage, type Server } from "node:http";
import { type AddressInfo, connect, type Socket } from "node:net";
import { encodeFrames, httpSyncPath } from "@mtchat/protocol";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import WebSocket from "ws";
import {
  createDialog,
  prepareStorage,
  startServer,
  type TestEnv,
  type TestServer,
  tokenFor,
  useServer,
} from "../../../sync-server/test/harness.ts";
import { startRedis, type TestRedis } from "../../../sync-server/test/redis-server.ts";
import { eventually, until } from "../../../sync-server/test/wait.ts";
import { ChatClient, type DialogSession, type TransportKind, type TransportOptions } from "../src/index.ts";

/**
 * The HTTP transport against the real server: the same documents, limits
 * and authorization as over the WebSocket, through a reverse proxy in front
 * of the service that refuses WebSocket upgrades as corporate proxies do.
 */
const fixture = useServer("external", "http_transport", { PREAUTH_TIMEOUT_MS: "2000", CORS_ALLOWED_ORIGINS: "https://shop.example" });

type Proxy = {
  url: string;
  server: Server;
  requests: string[];
  /** Requests whose answer was cut off. */
  dropped: string[];
  dropNextAnswerTo: (pattern: RegExp) => void;
  /** Whether WebSocket upgrades are forwarded (true) or refused with 403 (false, the default). */
  upgrades: { allowed: boolean };
};

/**
 * A reverse proxy to `target` that answers every WebSocket upgrade with 403.
 * It can also forward one request and then cut the client off before the
 * answer, as a flaky network does, so the client has to send it again.
 */
const startProxy = async (target: () => string): Promise<Proxy> => {
  const upgrades = { allowed: false };
  const requests: string[] = [];
  const dropped: string[] = [];
  let drop: RegExp | null = null;
  const server = createServer((incoming: IncomingMessage, outgoing) => {
    const line = `${incoming.method} ${incoming.url}`;
    requests.push(line);
    const base = new URL(target());
    const forwarded = httpRequest(
      { host: base.hostname, port: base.port, method: incoming.method, path: incoming.url, headers: incoming.headers },
      (answer) => {
        if (drop?.test(line)) {
          drop = null;
          dropped.push(line);
          answer.resume();
          answer.on("end", () => outgoing.socket?.destroy());
          return;
        }
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    forwarded.on("error", () => outgoing.destroy());
    incoming.pipe(forwarded);
  });
  server.on("upgrade", (request: IncomingMessage, socket: Socket, head: Buffer) => {
    if (!upgrades.allowed) {
      socket.end("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      return;
    }
    const base = new URL(target());
    const upstream = connect(Number(base.port), base.hostname, () => {
      const headers = Object.entries(request.headers).map(([name, value]) => `${name}: ${String(value)}\r\n`);
      upstream.write(`${request.method} ${request.url} HTTP/1.1\r\n${headers.join("")}\r\n`);
      upstream.write(head);
      upstream.pipe(socket).pipe(upstream);
    });
    upstream.on("error", () => socket.destroy());
    socket.on("error", () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    requests,
    dropped,
    upgrades,
    dropNextAnswerTo: (pattern) => {
      drop = pattern;
    },
  };
};

const proxies: Proxy[] = [];
/** Every client a test made: one whose test failed half-way is still polling, and would hold the server's stop. */
const clients: ChatClient[] = [];
afterAll(async () => {
  for (const client of clients) client.destroy();
  for (const proxy of proxies) {
    proxy.server.closeAllConnections();
    await new Promise((resolve) => proxy.server.close(resolve));
  }
});

const clientFor = async (userId: string, url: string, mode: "auto" | "http" = "auto", transport: TransportOptions = {}) => {
  const transports: TransportKind[] = [];
  const client = new ChatClient({
    url,
    token: () => tokenFor(userId),
    persistence: false,
    WebSocket,
    reconnect: { minDelayMs: 20, maxDelayMs: 200 },
    transport: { mode, openTimeoutMs: 2_000, ...transport },
  });
  clients.push(client);
  client.on("transport", (kind) => transports.push(kind));
  await client.start();
  return { client, transports };
};

const changed = <T>(session: DialogSession, check: () => T | undefined | false, what: string) =>
  until(check, (notify) => session.on("change", notify), { what });

const countOf = (session: DialogSession, text: string) => session.messages().filter((message) => message.text === text).length;

describe("the HTTP transport", () => {
  test("behind a proxy that refuses WebSocket, the client falls back to HTTP and two users chat both ways, acknowledged", async () => {
    const proxy = await startProxy(() => fixture.t.httpUrl);
    proxies.push(proxy);
    const dialog = await createDialog(fixture.t, ["alice", "bob"]);
    const { client: alice, transports } = await clientFor("alice", proxy.url);
    const { client: bob } = await clientFor("bob", proxy.url);
    const aliceDialog = await alice.openDialog(dialog.id);
    const bobDialog = await bob.openDialog(dialog.id);
    await changed(aliceDialog, () => aliceDialog.synced, "alice synced over HTTP");
    await changed(bobDialog, () => bobDialog.synced, "bob synced over HTTP");
    expect(transports).toEqual(["http"]);
    expect(alice.transport).toBe("http");

    const hello = aliceDialog.send({ body: "hello over HTTP" });
    await changed(aliceDialog, () => aliceDialog.messages().find((message) => message.id === hello)?.pending === false, "ack");
    await changed(bobDialog, () => bobDialog.messages().find((message) => message.id === hello), "bob receives");
    const answer = bobDialog.send({ body: "and back" });
    await changed(aliceDialog, () => aliceDialog.messages().find((message) => message.id === answer), "alice receives");
    expect(countOf(bobDialog, "hello over HTTP")).toBe(1);
    expect(countOf(aliceDialog, "and back")).toBe(1);
    // Presence travels in awareness frames, over the same transport.
    await changed(aliceDialog, () => aliceDialog.presence().some((entry) => entry.userId === "bob"), "alice sees bob online");
    expect(proxy.requests.some((line) => line.startsWith(`GET ${httpSyncPath}/`))).toBe(true);
    alice.destroy();
    bob.destroy();
  });

  test("a lost answer is sent again and the message is applied once; a write made offline arrives once after reconnecting", async () => {
    const proxy = await startProxy(() => fixture.t.httpUrl);
    proxies.push(proxy);
    const dialog = await createDialog(fixture.t, ["alice", "bob"]);
    const { client: alice } = await clientFor("alice", proxy.url, "http");
    const { client: bob } = await clientFor("bob", fixture.t.httpUrl);
    const aliceDialog = await alice.openDialog(dialog.id);
    const bobDialog = await bob.openDialog(dialog.id);
    await changed(aliceDialog, () => aliceDialog.synced, "alice synced");
    await changed(bobDialog, () => bobDialog.synced, "bob synced");
    expect(bob.transport).toBe("websocket");

    // The POST reaches the server, its answer does not: the client sends the same frames again.
    proxy.dropNextAnswerTo(/^POST .*\?seq=/);
    const first = aliceDialog.send({ body: "answer lost once" });
    await changed(aliceDialog, () => aliceDialog.messages().find((message) => message.id === first)?.pending === false, "ack");
    await changed(bobDialog, () => bobDialog.messages().find((message) => message.id === first), "bob receives");
    // The same for a poll: the frames it carried come again with the next one.
    proxy.dropNextAnswerTo(/^GET .*\?from=/);
    const second = bobDialog.send({ body: "poll answer lost once" });
    await changed(aliceDialog, () => aliceDialog.messages().find((message) => message.id === second), "alice receives");

    // Both were sent again as they were, and answered the second time.
    expect(proxy.dropped).toHaveLength(2);
    for (const line of proxy.dropped)
      expect(
        proxy.requests.filter((request) => request === line),
        line,
      ).toHaveLength(2);

    // Offline: every connection through the proxy is cut and refused until it comes back.
    proxy.server.closeAllConnections();
    const stopped = new Promise((resolve) => proxy.server.close(resolve));
    await changed(aliceDialog, () => !aliceDialog.synced, "alice offline");
    await stopped;
    const offline = aliceDialog.send({ body: "written offline" });
    expect(aliceDialog.messages().find((message) => message.id === offline)?.pending).toBe(true);
    await new Promise<void>((resolve) => proxy.server.listen(Number(new URL(proxy.url).port), "127.0.0.1", resolve));
    await changed(aliceDialog, () => aliceDialog.messages().find((message) => message.id === offline)?.pending === false, "ack");
    await changed(bobDialog, () => bobDialog.messages().find((message) => message.id === offline), "bob receives");

    for (const [session, text] of [
      [bobDialog, "answer lost once"],
      [aliceDialog, "poll answer lost once"],
      [bobDialog, "written offline"],
    ] as const) {
      expect(countOf(session, text), text).toBe(1);
    }
    const texts = ["answer lost once", "poll answer lost once", "written offline"];
    const history = await eventually(async () => {
      const page = await bob.rest.history(dialog.id);
      const ours = page.messages.map((message) => message.content).filter((content) => texts.includes(content));
      return ours.length >= texts.length ? ours : undefined;
    });
    expect(history.sort()).toEqual(texts);
    alice.destroy();
    bob.destroy();
  });

  test("on HTTP it tries WebSocket again, and once the proxy lets upgrades through it moves back, losing nothing", async () => {
    const proxy = await startProxy(() => fixture.t.httpUrl);
    proxies.push(proxy);
    const dialog = await createDialog(fixture.t, ["alice", "bob"]);
    const { client: alice, transports } = await clientFor("alice", proxy.url, "auto", { retryWebSocketMs: 300 });
    const { client: bob } = await clientFor("bob", fixture.t.httpUrl);
    const aliceDialog = await alice.openDialog(dialog.id);
    const bobDialog = await bob.openDialog(dialog.id);
    await changed(aliceDialog, () => aliceDialog.synced, "alice synced over HTTP");
    expect(alice.transport).toBe("http");
    const before = aliceDialog.send({ body: "sent over HTTP" });
    await changed(bobDialog, () => bobDialog.messages().find((message) => message.id === before), "bob receives");

    proxy.upgrades.allowed = true;
    await until(
      () => alice.transport === "websocket" || undefined,
      (notify) => alice.on("transport", notify),
      { what: "back on WebSocket" },
    );
    await changed(aliceDialog, () => aliceDialog.synced, "alice synced over WebSocket");
    const after = aliceDialog.send({ body: "sent over WebSocket" });
    await changed(bobDialog, () => bobDialog.messages().find((message) => message.id === after), "bob receives");
    const fromBob = bobDialog.send({ body: "bob to alice" });
    await changed(aliceDialog, () => aliceDialog.messages().find((message) => message.id === fromBob), "alice receives");
    expect(transports).toEqual(["http", "websocket"]);
    for (const text of ["sent over HTTP", "sent over WebSocket"]) expect(countOf(bobDialog, text), text).toBe(1);
    alice.destroy();
    bob.destroy();
  });

  test("every update is judged as on the WebSocket: a forgery over HTTP is refused and never reaches the others", async () => {
    const dialog = await createDialog(fixture.t, ["alice", "bob"]);
    const { client: alice } = await clientFor("alice", fixture.t.httpUrl);
    const { client: bob } = await clientFor("bob", fixture.t.httpUrl, "http");
    const aliceDialog = await alice.openDialog(dialog.id);
    await changed(aliceDialog, () => aliceDialog.synced, "alice synced");
    const target = aliceDialog.send({ body: "alice's words" });
    const contentOf = async (id: string) => (await alice.rest.history(dialog.id)).messages.find((message) => message.id === id)?.content;
    await eventually(() => contentOf(target));
    const session = await bob.openDialog(dialog.id);
    await changed(session, () => session.entry(target) ?? undefined, "bob has alice's message over HTTP");
    expect(bob.transport).toBe("http");

    const body = session.entry(target)?.get("body") as { length: number; delete(at: number, n: number): void };
    body.delete(0, body.length);
    const refusal = await changed(session, () => session.refusal ?? undefined, "the refusal");
    expect(refusal.kind).toBe("forbidden");
    // The projection applies a dialog's log in order: once a later message is in the history, a forgery accepted
    // before it would be there too.
    const later = aliceDialog.send({ body: "after the forgery" });
    await eventually(() => contentOf(later));
    expect(await contentOf(target)).toBe("alice's words");
    expect(aliceDialog.messages().find((message) => message.id === target)?.text).toBe("alice's words");
    alice.destroy();
    bob.destroy();
  });

  test("from a host's page: an allowed origin opens a session with CORS headers, any other origin is refused", async () => {
    const base = `${fixture.t.httpUrl}${httpSyncPath}`;
    const preflight = await fetch(`${base}/some.session?seq=0`, {
      method: "OPTIONS",
      headers: {
        origin: "https://shop.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("https://shop.example");
    const allowed = await fetch(base, { method: "POST", headers: { origin: "https://shop.example" } });
    expect(allowed.status).toBe(201);
    expect(allowed.headers.get("access-control-allow-origin")).toBe("https://shop.example");
    const other = await fetch(base, { method: "POST", headers: { origin: "https://evil.example" } });
    expect(other.status).toBe(403);
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
    expect(((await other.json()) as { error: { code: string } }).error.code).toBe("forbidden");
  });

  test("a session's frames pass the same guard: an unauthenticated session is closed with 4401, bad bodies get the envelope", async () => {
    const base = `${fixture.t.httpUrl}${httpSyncPath}`;
    const created = await fetch(base, { method: "POST" });
    expect(created.status).toBe(201);
    const { data } = (await created.json()) as { data: { session: string } };

    const garbage = await fetch(`${base}/${data.session}?seq=0`, { method: "POST", body: new Uint8Array([0xff, 0xff, 0xff]) });
    expect(garbage.status).toBe(400);
    expect(((await garbage.json()) as { error: { code: string } }).error.code).toBe("bad_request");
    const gap = await fetch(`${base}/${data.session}?seq=5`, { method: "POST", body: encodeFrames([new Uint8Array([0])]) });
    expect(gap.status).toBe(409);
    expect(((await gap.json()) as { error: { code: string } }).error.code).toBe("conflict");
    const ahead = await fetch(`${base}/${data.session}?from=7`);
    expect(ahead.status).toBe(400);

    // Nothing authenticates: the guard closes it after PREAUTH_TIMEOUT_MS, and the poll says so as a close.
    const closed = await eventually(async () => {
      const poll = (await (await fetch(`${base}/${data.session}?from=0`)).json()) as { data: { closed?: { code: number } } };
      return poll.data.closed;
    });
    expect(closed.code).toBe(4401);
    const unknown = (await (await fetch(`${base}/nobody.nothing?from=0`)).json()) as { data: { closed: { code: number } } };
    expect(unknown.data.closed.code).toBe(4404);
  });
});

describe("the HTTP transport on two nodes behind a balancer without sticky sessions", () => {
  let env: TestEnv;
  let redis: TestRedis;
  const nodes: TestServer[] = [];
  const up = new Set<number>();

  beforeAll(async () => {
    env = await prepareStorage("external", "http_transport_nodes");
    redis = await startRedis();
    for (let index = 0; index < 2; index += 1) {
      nodes.push(await startServer({ ...env.env, REDIS_URL: redis.url }));
      up.add(index);
    }
  });
  afterAll(async () => {
    for (const index of up) await nodes[index]?.stop();
    await redis?.stop();
    await env?.cleanup();
  });

  test("calls that land on the other node are relayed to the session's; when its node stops, the client moves on", async () => {
    // Each request goes to the next node that is up, whichever node holds its session.
    let turn = 0;
    const proxy = await startProxy(() => {
      const live = [...up];
      turn += 1;
      return (nodes[live[turn % live.length] ?? 0] as TestServer).httpUrl;
    });
    proxies.push(proxy);
    const t = nodes[0] as TestServer;
    const dialog = await createDialog(t, ["alice", "bob"]);
    const { client: alice } = await clientFor("alice", proxy.url, "http");
    const { client: bob } = await clientFor("bob", proxy.url, "http");
    const aliceDialog = await alice.openDialog(dialog.id);
    const bobDialog = await bob.openDialog(dialog.id);
    await changed(aliceDialog, () => aliceDialog.synced, "alice synced");
    await changed(bobDialog, () => bobDialog.synced, "bob synced");
    for (let round = 0; round < 5; round += 1) {
      const there = aliceDialog.send({ body: `alice ${round}` });
      await changed(bobDialog, () => bobDialog.messages().find((message) => message.id === there), `bob receives ${round}`);
      const back = bobDialog.send({ body: `bob ${round}` });
      await changed(aliceDialog, () => aliceDialog.messages().find((message) => message.id === back), `alice receives ${round}`);
    }
    // Every session was polled through both nodes: half of all calls were relayed.
    const polls = proxy.requests.filter((line) => line.startsWith(`GET ${httpSyncPath}/`));
    const sessions = new Set(polls.map((line) => line.slice(0, line.indexOf("?"))));
    expect(sessions.size).toBeGreaterThanOrEqual(2);
    expect(polls.length).toBeGreaterThan(sessions.size * 2);

    // One node stops: its sessions end, the clients open new ones on the other, and nothing is lost.
    await nodes[1]?.stop();
    up.delete(1);
    const late = aliceDialog.send({ body: "after a node stopped" });
    await changed(bobDialog, () => bobDialog.messages().find((message) => message.id === late), "bob receives after the stop");
    const reply = bobDialog.send({ body: "reply after a node stopped" });
    await changed(aliceDialog, () => aliceDialog.messages().find((message) => message.id === reply), "alice receives after the stop");
    for (let round = 0; round < 5; round += 1) {
      expect(countOf(bobDialog, `alice ${round}`)).toBe(1);
      expect(countOf(aliceDialog, `bob ${round}`)).toBe(1);
    }
    expect(countOf(bobDialog, "after a node stopped")).toBe(1);
    alice.destroy();
    bob.destroy();
  });
});

describe("the HTTP transport's bound on sessions", () => {
  const small = useServer("external", "http_transport_cap", { MAX_HTTP_SESSIONS: "2" });

  test("a node holds at most MAX_HTTP_SESSIONS: the next is told to retry (503), and one ending makes room", async () => {
    const base = `${small.t.httpUrl}${httpSyncPath}`;
    const open = () => fetch(base, { method: "POST" });
    const first = (await (await open()).json()) as { data: { session: string } };
    expect((await open()).status).toBe(201);
    const refused = await open();
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("unavailable");
    await fetch(`${base}/${first.data.session}`, { method: "DELETE" });
    expect((await open()).status).toBe(201);
  });
});
