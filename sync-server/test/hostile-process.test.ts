import { randomBytes } from "node:crypto";
import { request } from "node:http";
import net from "node:net";
import type { HocuspocusProvider } from "@hocuspocus/provider";
import { type Attack, attacks } from "@mtchat/authz/testing";
import { createMessage, editMessageText, errorKinds, messagesOf, metaDocName, segmentDocName, userDocName } from "@mtchat/protocol";
import * as encoding from "lib0/encoding";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import WebSocket from "ws";
import * as Y from "yjs";
import { type ChildServer, spawnServer } from "./child-server.ts";
import { acknowledged, awarenessMessage, openDoc, openSocket, RawClient } from "./clients.ts";
import { adminToken, callApi, type DialogData, prepareStorage, type TestEnv, tokenFor } from "./harness.ts";
import { until } from "./wait.ts";

/**
 * Every hostile test against one real service in its own process, whose RSS
 * is read from outside: hand-built Yjs updates of every class, inputs that
 * try to make it hold memory (an honest client must still be served while
 * they happen), bad REST input and internal destinations. After all of them,
 * that same process must still serve, and its RSS is reported.
 */

const mib = 1024 * 1024;
/** The growth allowed during an attack; unbounded, each attack below adds well over 100 MB. */
const rssBound = 60 * mib;

const frame = (docName: string, write: (encoder: encoding.Encoder) => void): Uint8Array => {
  const encoder = encoding.createEncoder();
  encoding.writeVarString(encoder, docName);
  write(encoder);
  return encoding.toUint8Array(encoder);
};

/** A sync update frame with `size` bytes of payload (never decoded: its sender never authenticates). */
const updateFrame = (docName: string, size: number) =>
  frame(docName, (encoder) => {
    encoding.writeVarUint(encoder, 0);
    encoding.writeVarUint(encoder, 2);
    encoding.writeVarUint8Array(encoder, new Uint8Array(size).fill(7));
  });

/** An awareness frame carrying one state per client id. */
const awarenessFrame = (docName: string, clientIds: readonly number[], state: unknown = {}, clock = 1) =>
  awarenessMessage(
    docName,
    clientIds.map((clientId) => [clientId, clock, state] as const),
  );

/** A socket for the authenticated control floods, through `ws`. */
const connectWs = async (wsUrl: string): Promise<WebSocket> => {
  const socket = new WebSocket(wsUrl);
  socket.on("error", () => {});
  await new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  });
  return socket;
};

/** A client-to-server frame header: FIN + binary, masked with a zero key (so the payload goes as is). */
const frameHeader = (length: number): Buffer => {
  if (length < 126) return Buffer.from([0x82, 0x80 | length, 0, 0, 0, 0]);
  if (length < 65_536) {
    const header = Buffer.alloc(8);
    header[0] = 0x82;
    header[1] = 0x80 | 126;
    header.writeUInt16BE(length, 2);
    return header;
  }
  const header = Buffer.alloc(14);
  header[0] = 0x82;
  header[1] = 0x80 | 127;
  header.writeBigUInt64BE(BigInt(length), 2);
  return header;
};

/**
 * An attacker's socket, with the handshake and frames written by hand: nothing is copied or masked per send (a
 * WebSocket library would mask every frame up front), and it can leave a frame unfinished, which no library would.
 */
type Attacker = {
  /** The server's close code (0 if it sent none). */
  closed: Promise<number>;
  sendBinary(payload: Uint8Array): void;
  write(bytes: Uint8Array): void;
  destroy(): void;
};

const connectAttacker = async (port: number): Promise<Attacker> => {
  const socket = net.connect(port, "127.0.0.1");
  socket.on("error", () => {});
  let received = Buffer.alloc(0);
  let notify = () => {};
  socket.on("data", (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
    notify();
  });
  const closed = new Promise<number>((resolve) =>
    socket.once("close", () => {
      // After the 101 response, the server's close frame: 0x88, length, then the code.
      const frameStart = received.indexOf("\r\n\r\n") + 4;
      resolve(received[frameStart] === 0x88 && received.length >= frameStart + 4 ? received.readUInt16BE(frameStart + 2) : 0);
    }),
  );
  socket.write(
    `GET /api/v1/ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  await until(
    () => received.includes("\r\n\r\n"),
    (listener) => {
      notify = listener;
      return () => {
        notify = () => {};
      };
    },
    { what: "the WebSocket handshake" },
  );
  return {
    closed,
    sendBinary: (payload) => {
      socket.write(frameHeader(payload.byteLength));
      socket.write(payload);
    },
    write: (bytes) => socket.write(bytes),
    destroy: () => socket.destroy(),
  };
};

/** Resolves with the value, or with "timeout" once `ms` have passed: what the unfixed server does is reported, not hung on. */
const within = <T>(promise: Promise<T>, ms: number): Promise<T | "timeout"> =>
  new Promise((resolve) => {
    const timer = setTimeout(() => resolve("timeout"), ms);
    void promise.then((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });

const range = (count: number) => Array.from({ length: count }, (_, index) => index);
const inMib = (bytes: number) => `${(bytes / mib).toFixed(1)} MiB`;

const report = (what: string, before: number, peak: number) => {
  console.log(`[hostile] ${what}: RSS before ${inMib(before)}, peak ${inMib(peak)}, growth ${inMib(peak - before)}`);
};

type Fixture = { server: ChildServer; dialogId: string };

/** The service in its own process on a fresh database, with a dialog of alice, bob and mallory, for one describe block. */
const useChildServer = (label: string, extraEnv: Record<string, string>): Fixture => {
  const fixture = {} as Fixture;
  let env: TestEnv | undefined;
  beforeAll(async () => {
    env = await prepareStorage("external", label);
    fixture.server = await spawnServer({ ...env.env, ...extraEnv });
    const created = await callApi<{ data: DialogData }>(fixture.server.httpUrl, "POST", "/api/v1/management/dialogs", {
      object_id: `order-${uuidv7()}`,
      object_type: "order",
      participants: ["alice", "bob", "mallory"].map((user_id) => ({ user_id, display_name: user_id.toUpperCase() })),
      // "pat" matches the scope without joining: a potential participant.
      access_scopes: [{ tenant_uid: "tenant-1", scope_level1: ["logistics"], scope_level2: [] }],
    });
    expect(created.status).toBe(201);
    fixture.dialogId = created.body.data.id;
    // Warm up (code loaded, pool connected, documents cached) so the baseline is the server at work, not at rest.
    await honestMessage(fixture, "alice");
  });
  afterAll(async () => {
    await fixture.server?.stop();
    await env?.cleanup();
  });
  return fixture;
};

/** An honest client: a real provider opens the head segment, sends a message and waits for its acknowledgement. */
const honestMessage = async ({ server, dialogId }: Fixture, user: string): Promise<number> => {
  const started = Date.now();
  const socket = openSocket(server.wsUrl);
  try {
    const provider = await openDoc(socket, segmentDocName(dialogId, 0), await tokenFor(user));
    createMessage(provider.document, { id: uuidv7(), author: user, createdAt: Date.now(), text: `hello from ${user}` });
    await acknowledged(provider);
    return Date.now() - started;
  } finally {
    socket.destroy();
  }
};

/** Waits until `count` of the attackers are closed (or 15 s), and returns the close codes seen by then. */
const closedCodes = async (attackers: Attacker[], count: number): Promise<number[]> => {
  const codes: number[] = [];
  let notify = () => {};
  for (const attacker of attackers) {
    void attacker.closed.then((code) => {
      codes.push(code);
      notify();
    });
  }
  await until(
    () => codes.length >= count,
    (listener) => {
      notify = listener;
      return () => {
        notify = () => {};
      };
    },
    { timeoutMs: 15_000, what: `${count} sockets closed` },
  ).catch(() => {});
  return [...codes];
};

/**
 * Sockets that never authenticate each send `frames` sync frames of 100 KiB while an honest client sends a
 * message; resolves once `closedAtLeast` of them are closed, with the RSS growth meanwhile.
 */
const preauthFlood = async (fixture: Fixture, sockets: number, frames: number, closedAtLeast: number) => {
  const { server, dialogId } = fixture;
  const attackers = await Promise.all(range(sockets).map(() => connectAttacker(server.port)));
  const before = server.rss();
  const sampler = server.sampleRss();
  const chunk = updateFrame(segmentDocName(dialogId, 0), 100 * 1024);
  for (const attacker of attackers) for (let index = 0; index < frames; index += 1) attacker.sendBinary(chunk);
  const honestMs = await honestMessage(fixture, "bob");
  const codes = await closedCodes(attackers, closedAtLeast);
  const peak = sampler.stop();
  report(`${sockets} unauthenticated sockets × ${inMib(frames * 100 * 1024)}`, before, peak);
  console.log(`[hostile] honest message acknowledged after ${honestMs} ms`);
  for (const attacker of attackers) attacker.destroy();
  return { codes, growth: peak - before, honestMs };
};

/** Bob's view of the meta document's presence: the states he holds that are stamped as `user`. */
const statesOf = (observer: HocuspocusProvider, user: string) =>
  [...(observer.awareness?.getStates() ?? new Map()).values()].filter((state) => state.user?.id === user).length;

const awarenessChange = (observer: HocuspocusProvider) => (notify: () => void) => {
  observer.awareness?.on("change", notify);
  return () => observer.awareness?.off("change", notify);
};

/** Sends one hand-built attack (after its legitimate setup) from a raw client; resolves with the close reason. */
const sendAttack = async ({ server, dialogId }: Fixture, attack: Attack): Promise<string> => {
  const potential = attack.access === "potential";
  const user = potential ? "pat" : "mallory";
  const docName =
    attack.docKind === "segment"
      ? segmentDocName(dialogId, 0)
      : attack.docKind === "meta"
        ? metaDocName(dialogId)
        : userDocName("default", user);
  const raw = await RawClient.connect(server.wsUrl, docName, await tokenFor(user, potential ? { scope_level1: ["logistics"] } : {}));
  try {
    await raw.handshake();
    // A potential participant never gets as far as a segment's inspector: authentication refuses them the messages.
    const denied = raw.events.find((event) => event.type === "denied");
    if (denied?.type === "denied") return denied.reason;
    const ctx = { view: raw.doc, clientId: raw.doc.clientID, userId: user, victim: "alice", dialogId };
    if (attack.setup) {
      const statuses = raw.events.length;
      const setup = attack.setup(ctx);
      raw.sendUpdate(setup);
      const answer = await raw.waitFor(
        (event) => raw.events.indexOf(event) >= statuses && (event.type === "status" || event.type === "closed"),
      );
      expect(answer).toEqual({ type: "status", ok: true });
      Y.applyUpdate(raw.doc, setup);
      raw.doc.clientID = ctx.clientId;
    }
    raw.sendUpdate(attack.build(ctx));
    const closed = await raw.waitFor((event) => event.type === "closed", 10_000);
    return closed.type === "closed" ? closed.reason : "";
  } finally {
    raw.close();
  }
};

describe("one server process under every hostile test", () => {
  // A short deadline, so the idle sockets' test is quick; the floods are closed by the byte caps well before it.
  const fixture = useChildServer("hostile", { PREAUTH_TIMEOUT_MS: "3000" });
  let baseline = 0;
  let peak = 0;
  const sample = () => {
    peak = Math.max(peak, fixture.server.rss());
  };

  test("the process at work before any attack", () => {
    baseline = fixture.server.rss();
    peak = baseline;
    console.log(`[hostile] RSS at work before the attacks: ${inMib(baseline)}`);
  });

  test("every class of hand-built Yjs update is refused, and none reaches the log", async () => {
    // An edit leaves garbage-collected ranges, which the inert struct of one attack points into.
    const socket = openSocket(fixture.server.wsUrl);
    try {
      const alice = await openDoc(socket, segmentDocName(fixture.dialogId, 0), await tokenFor("alice"));
      const own = [...messagesOf(alice.document).values()].find((entry) => entry.get("author") === "alice");
      if (!own) throw new Error("alice has no message to edit");
      editMessageText(own, "edited before the attacks", Date.now());
      await acknowledged(alice);
    } finally {
      socket.destroy();
    }
    for (const attack of attacks) {
      const reason = await sendAttack(fixture, attack);
      const expected =
        attack.access === "potential" && attack.docKind === "segment"
          ? /^4403 forbidden: join the dialog to read its messages/
          : new RegExp(`^${errorKinds[attack.refusal].ws} ${attack.refusal}: `);
      expect(reason, attack.name).toMatch(expected);
      sample();
    }
    const { rows } = await callApi<{ data: { messages: { sender_id: string; content: string }[] } }>(
      fixture.server.httpUrl,
      "GET",
      `/api/v1/dialogs/${fixture.dialogId}/messages?limit=200`,
      undefined,
      await tokenFor("alice"),
    ).then((response) => ({ rows: response.body.data.messages }));
    // Only the setups' own messages by mallory, and nobody's authorship or text taken over.
    expect(rows.filter((row) => row.sender_id !== "alice" && row.sender_id !== "mallory" && row.sender_id !== "$system")).toEqual([]);
    expect(rows.some((row) => row.content.length > 20_000)).toBe(false);
  });

  test("REST inputs that used to answer 500 answer 4xx in the envelope", async () => {
    const token = await tokenFor("alice");
    const cases: [string, string, unknown?][] = [
      ["GET", `/api/v1/dialogs?cursor=${"-".repeat(36)}`],
      ["GET", `/api/v1/dialogs?cursor=${Buffer.from("1e21").toString("base64")}`],
      ["GET", `/api/v1/dialogs?cursor=${Buffer.from("9223372036854775808").toString("base64")}`],
      ["GET", "/api/v1/dialogs/by-object/%25/%00"],
      ["POST", `/api/v1/dialogs/${fixture.dialogId}/messages`, { content: "a\u0000b" }],
    ];
    for (const [method, route, body] of cases) {
      const response = await callApi<{ error?: { code: string } }>(fixture.server.httpUrl, method, route, body, token);
      expect(response.status, route).toBeGreaterThanOrEqual(400);
      expect(response.status, route).toBeLessThan(500);
      expect(response.body.error?.code, route).toEqual(expect.any(String));
    }
    const internal = await callApi<{ error?: { code: string } }>(
      fixture.server.httpUrl,
      "POST",
      "/api/v1/management/webhooks/endpoints",
      { url: "http://169.254.169.254/latest/meta-data/" },
      adminToken,
    );
    expect(internal).toMatchObject({ status: 400, body: { error: { code: "bad_request" } } });
    sample();
  });

  test("four 25 MB JSON bodies are refused before they are read", async () => {
    // Each declares 25 MB and streams it; the answer comes while the body is still being sent.
    const post = () =>
      new Promise<{ status: number; body: unknown }>((resolve, reject) => {
        const req = request(
          `${fixture.server.httpUrl}/api/v1/management/dialogs`,
          {
            method: "POST",
            headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json", "content-length": String(25 * mib) },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (chunk: Buffer) => chunks.push(chunk));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) }));
          },
        );
        // The server closes the connection once it has answered: that is the point.
        req.on("error", (error) => (sent ? undefined : reject(error)));
        let sent = false;
        const chunk = Buffer.alloc(256 * 1024, " ");
        const pump = () => {
          for (let index = 0; index < 100; index += 1) {
            sent = true;
            if (!req.write(chunk)) return;
          }
        };
        pump();
      });
    const answers = await Promise.all([post(), post(), post(), post()]);
    for (const answer of answers) expect(answer).toMatchObject({ status: 413, body: { error: { code: "payload_too_large" } } });
    sample();
  });

  test("sockets that never authenticate cannot each queue megabytes", async () => {
    // 30 sockets × 4.7 MiB, just under Hocuspocus's own per-socket limit of 5 MiB: 141 MiB held until its timeout.
    const { codes, growth, honestMs } = await preauthFlood(fixture, 30, 48, 30);
    expect(codes.length).toBe(30);
    expect(codes.filter((code) => code !== 4413)).toEqual([]);
    expect(growth).toBeLessThan(rssBound);
    expect(honestMs).toBeLessThan(5000);
  });

  test("sockets that never authenticate cannot hold unfinished frames of megabytes", async () => {
    const { server } = fixture;
    const before = server.rss();
    const sampler = server.sampleRss();
    // 45 sockets each start a 4 MiB frame (the largest allowed) and send 3.9 MiB of it: 175 MiB that `ws` would hold.
    const attackers = await Promise.all(range(45).map(() => connectAttacker(server.port)));
    const part = Buffer.alloc(Math.floor(3.9 * mib), 7);
    for (const attacker of attackers) {
      attacker.write(frameHeader(4 * mib - 64));
      attacker.write(part);
    }
    const honestMs = await honestMessage(fixture, "bob");
    const codes = await within(Promise.all(attackers.map((attacker) => attacker.closed)), 15_000);
    const peak = sampler.stop();
    report("45 unauthenticated sockets × an unfinished 3.9 MiB frame", before, peak);
    for (const attacker of attackers) attacker.destroy();
    expect(codes).toEqual(range(45).map(() => 4413));
    expect(peak - before).toBeLessThan(rssBound);
    expect(honestMs).toBeLessThan(5000);
  });

  test("awareness frames with thousands of client ids are refused before they are decoded", async () => {
    const { server, dialogId } = fixture;
    const meta = metaDocName(dialogId);
    const bobSocket = openSocket(server.wsUrl);
    const aliceSocket = openSocket(server.wsUrl);
    try {
      const bob = await openDoc(bobSocket, meta, await tokenFor("bob"));
      // Ten frames of 20,000 fresh client ids each, made before sending, so the test is free to hear the close.
      const frames = range(10).map((batch) =>
        awarenessFrame(
          meta,
          range(20_000).map((index) => 1_000_000 + batch * 20_000 + index),
        ),
      );
      const before = server.rss();
      const sampler = server.sampleRss();
      const mallory = await RawClient.connect(server.wsUrl, meta, await tokenFor("mallory"));
      await mallory.handshake();
      for (const bytes of frames) mallory.sendRaw(bytes);
      const closed = await mallory.waitFor((event) => event.type === "socket-closed", 8000).catch(() => "timeout");
      // The honest path still works: Alice's presence reaches Bob, stamped with who she is.
      const alice = await openDoc(aliceSocket, meta, await tokenFor("alice"));
      alice.setAwarenessField("online", Date.now());
      await until(() => statesOf(bob, "alice") > 0, awarenessChange(bob), { what: "Alice's presence at Bob" });
      const peak = sampler.stop();
      report("10 awareness frames × 20,000 client ids", before, peak);
      mallory.close();
      expect(closed).toEqual({ type: "socket-closed", code: 4413 });
      expect(statesOf(bob, "mallory")).toBe(0);
      expect(peak - before).toBeLessThan(rssBound);
    } finally {
      aliceSocket.destroy();
      bobSocket.destroy();
    }
  });

  test("one awareness frame of 2,000 states is not relayed to every participant", async () => {
    const { server, dialogId } = fixture;
    const meta = metaDocName(dialogId);
    const bobSocket = openSocket(server.wsUrl);
    try {
      const bob = await openDoc(bobSocket, meta, await tokenFor("bob"));
      const mallory = await RawClient.connect(server.wsUrl, meta, await tokenFor("mallory"));
      await mallory.handshake();
      mallory.sendRaw(
        awarenessFrame(
          meta,
          range(2000).map((index) => 5_000_000 + index),
        ),
      );
      // A later frame on the same connection is handled after it: once Bob sees this one, the big one is settled.
      mallory.sendRaw(awarenessFrame(meta, [5_000_000], { probe: true }, 2));
      await until(() => [...(bob.awareness?.getStates().values() ?? [])].some((state) => state.probe === true), awarenessChange(bob), {
        what: "the probe state at Bob",
      });
      const relayed = statesOf(bob, "mallory");
      console.log(`[hostile] states of one 2,000-state frame relayed to Bob: ${relayed}`);
      mallory.close();
      expect(relayed).toBeLessThanOrEqual(4);
    } finally {
      bobSocket.destroy();
    }
  });

  test("idle sockets that never authenticate are closed after the deadline", async () => {
    const { server, dialogId } = fixture;
    const attackers = await Promise.all(range(200).map(() => connectAttacker(server.port)));
    // An honest socket opened at the same moment stays open past the deadline: it authenticated.
    const socket = openSocket(server.wsUrl);
    try {
      const provider = await openDoc(socket, segmentDocName(dialogId, 0), await tokenFor("bob"));
      const codes = await within(Promise.all(attackers.map((attacker) => attacker.closed)), 12_000);
      for (const attacker of attackers) attacker.destroy();
      expect(codes).toEqual(range(200).map(() => 4401));
      createMessage(provider.document, { id: uuidv7(), author: "bob", createdAt: Date.now(), text: "still here" });
      await acknowledged(provider);
      expect(provider.isAuthenticated).toBe(true);
    } finally {
      socket.destroy();
    }
  });

  test("after every hostile test, the same process still serves an honest client", async () => {
    const { server } = fixture;
    expect(server.child.exitCode).toBeNull();
    const honestMs = await honestMessage(fixture, "bob");
    const health = await fetch(`${server.httpUrl}/health/ready`);
    expect(health.status).toBe(200);
    sample();
    console.log(
      `[hostile] the same process after every hostile test: RSS ${inMib(server.rss())} (before ${inMib(baseline)}, ` +
        `highest sampled between tests ${inMib(peak)}); an honest message acknowledged in ${honestMs} ms`,
    );
    expect(honestMs).toBeLessThan(5000);
  });
});

describe("memory caps: a server in its own process with a small total", () => {
  // 16 MiB in all, so that many sockets each within their own cap reach it; a deadline that lets the caps act first.
  const fixture = useChildServer("memcaps-total", { MAX_PREAUTH_BYTES: String(16 * mib), PREAUTH_TIMEOUT_MS: "20000" });

  /**
   * RSS is a high-water mark, and merely reading a flood raises it: the buffers of socket reads and frames are
   * garbage until the next collection, and the allocator keeps their pages. This flood is all read (each socket
   * stays within its own cap), so the same volume is first sent as text frames over authenticated sockets, which
   * the server reads and drops; what the attack adds after that is what the server keeps of it.
   */
  const floodIgnored = async (bytes: number) => {
    const { server, dialogId } = fixture;
    const token = await tokenFor("alice");
    const sockets = await Promise.all(
      range(20).map(async () => {
        const socket = await connectWs(server.wsUrl);
        const reply = new Promise((resolve) => socket.once("message", resolve));
        socket.send(
          frame(segmentDocName(dialogId, 0), (encoder) => {
            encoding.writeVarUint(encoder, 2);
            encoding.writeVarUint(encoder, 0);
            encoding.writeVarString(encoder, token);
          }),
        );
        await reply;
        return socket;
      }),
    );
    const text = "x".repeat(100 * 1024);
    for (let sent = 0; sent < bytes; sent += text.length) sockets[(sent / text.length) % sockets.length]?.send(text);
    // The pong comes after the server has read everything sent before the ping.
    await Promise.all(
      sockets.map(
        (socket) =>
          new Promise((resolve) => {
            socket.once("pong", resolve);
            socket.ping();
          }),
      ),
    );
    for (const socket of sockets) socket.terminate();
  };

  test("the total held before authentication is capped across sockets", { timeout: 60_000 }, async () => {
    // 120 sockets × 900 KiB: each within the per-socket cap, together 105 MiB, over six times the 16 MiB total.
    // At most 16 MiB / 900 KiB ≈ 18 sockets fit; the others are closed as they stop fitting.
    await floodIgnored(120 * 9 * 100 * 1024);
    const { codes, growth, honestMs } = await preauthFlood(fixture, 120, 9, 100);
    console.log(`[hostile] closed over the total: ${codes.length} of 120`);
    expect(codes.length).toBeGreaterThanOrEqual(100);
    expect(codes.every((code) => code === 4429)).toBe(true);
    // The peak counts garbage of the refused frames not yet collected (63 MiB seen on a busy machine); without
    // the total cap the 105 MiB sent would all be held, so 80 MiB still tells the two apart.
    expect(growth).toBeLessThan(80 * mib);
    expect(honestMs).toBeLessThan(5000);
  });
});
