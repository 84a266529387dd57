import type { connectedPayload } from "@hocuspocus/server";
import * as encoding from "lib0/encoding";
import { describe, expect, test } from "vitest";
import { type SocketGuardOptions, SocketGuards } from "./socket-guard.ts";

const options: SocketGuardOptions = {
  maxPreauthBytes: 10_000,
  maxPreauthSocketBytes: 4_000,
  preauthTimeoutMs: 60_000,
  maxAwarenessFrameBytes: 500,
};

const frame = (address: string, type: number, size: number, write?: (encoder: encoding.Encoder) => void): Uint8Array => {
  const encoder = encoding.createEncoder();
  encoding.writeVarString(encoder, address);
  encoding.writeVarUint(encoder, type);
  if (write) write(encoder);
  else encoding.writeVarUint8Array(encoder, new Uint8Array(Math.max(0, size)));
  return encoding.toUint8Array(encoder);
};

const sync = (address: string, size: number) => frame(address, 0, size);
const permissionDenied = (address: string) =>
  frame(address, 2, 0, (encoder) => {
    encoding.writeVarUint(encoder, 1);
    encoding.writeVarString(encoder, "4403 forbidden: no");
  });

/** A server's guards and one socket, with what its close callback was called with. */
const setUp = (overrides: Partial<SocketGuardOptions> = {}) => {
  const guards = new SocketGuards({ ...options, ...overrides });
  const socket = (label = "socket") => {
    const request = new Request(`http://localhost/${label}`);
    const closed: { code: number; reason: string }[] = [];
    const guard = guards.open(request, (code, reason) => closed.push({ code, reason }));
    const closeListeners = new Map<string, () => void>();
    /** What Hocuspocus's `connected` hook reports once `name` has authenticated and its queue was drained. */
    const authenticate = (name: string, sessionId: string | null = null) =>
      guards.connected({
        request,
        connection: {
          sessionId,
          document: { name },
          onClose: (listener: () => void) => closeListeners.set(name, listener),
        },
      } as unknown as connectedPayload);
    return { guard, closed, authenticate, closeConnection: (name: string) => closeListeners.get(name)?.() };
  };
  return { guards, socket };
};

describe("socket guard", () => {
  test("every byte read before the first authentication counts; past the per-socket cap the socket is closed with 4413", () => {
    const { guards, socket } = setUp();
    const { guard, closed } = socket();
    guard.received(3_000);
    expect(guards.preauthBytes).toBe(3_000);
    expect(closed).toEqual([]);
    guard.received(1_500);
    expect(closed).toEqual([{ code: 4413, reason: expect.stringMatching(/^payload_too_large: over .* sent before authentication$/) }]);
    // Closed: nothing it sent is held, and later frames are dropped.
    expect(guards.preauthBytes).toBe(0);
    expect(guard.admit(sync("dialog/a", 10))).toBeNull();
  });

  test("after the first authentication, frames of that document pass uncounted and those of others count", async () => {
    const { guards, socket } = setUp();
    const { guard, closed, authenticate } = socket();
    const auth = frame("dialog/a", 2, 40);
    guard.received(auth.byteLength);
    expect(guard.admit(auth)).not.toBeNull();
    await authenticate("dialog/a");
    // Only frames still waiting for their documents count from now on.
    expect(guards.preauthBytes).toBe(0);
    expect(guard.admit(sync("dialog/a", 3_900))).not.toBeNull();
    guard.received(10_000);
    expect(guards.preauthBytes).toBe(0);
    const pending = sync("dialog/b", 2_000);
    expect(guard.admit(pending)).not.toBeNull();
    expect(guards.preauthBytes).toBe(pending.byteLength);
    expect(guard.admit(sync("dialog/b", 2_000))).toBeNull();
    expect(closed).toEqual([{ code: 4413, reason: expect.stringMatching(/^payload_too_large: /) }]);
    expect(guards.preauthBytes).toBe(0);
  });

  test("a document's frames are released when it authenticates, or when its authentication is refused", async () => {
    const { guards, socket } = setUp();
    const { guard, authenticate } = socket();
    await authenticate("user/p/alice");
    const b = sync("dialog/b", 1_000);
    const c = sync("dialog/c\0session-1", 1_000);
    guard.admit(b);
    guard.admit(c);
    expect(guards.preauthBytes).toBe(b.byteLength + c.byteLength);
    await authenticate("dialog/b");
    expect(guards.preauthBytes).toBe(c.byteLength);
    guard.sent(sync("dialog/c\0session-1", 5));
    expect(guards.preauthBytes).toBe(c.byteLength);
    guard.sent(permissionDenied("dialog/c\0session-1"));
    expect(guards.preauthBytes).toBe(0);
  });

  test("once a document's connection closes, Hocuspocus queues its frames again, and so they count again", async () => {
    const { guards, socket } = setUp();
    const { guard, authenticate, closeConnection } = socket();
    await authenticate("dialog/a");
    guard.admit(sync("dialog/a", 1_000));
    expect(guards.preauthBytes).toBe(0);
    closeConnection("dialog/a");
    const queued = sync("dialog/a", 1_000);
    guard.admit(queued);
    expect(guards.preauthBytes).toBe(queued.byteLength);
  });

  test("a session-aware address is matched as Hocuspocus matches it", async () => {
    const { guards, socket } = setUp();
    const { guard, authenticate } = socket();
    await authenticate("dialog/a", "s1");
    guard.admit(sync("dialog/a\0s1", 100));
    expect(guards.preauthBytes).toBe(0);
    // Hocuspocus keeps "dialog/a\0s1" and finds neither it nor a plain "dialog/a" connection for another session.
    const other = sync("dialog/a\0s2", 100);
    guard.admit(other);
    expect(guards.preauthBytes).toBe(other.byteLength);
  });

  test("past the total, the sockets holding most are closed with 4429 and a small newcomer gets in", () => {
    const { guards, socket } = setUp();
    const attackers = [socket("a1"), socket("a2"), socket("a3")];
    for (const attacker of attackers) attacker.guard.received(3_000);
    expect(guards.preauthBytes).toBe(9_000);
    const honest = socket("honest");
    honest.guard.received(1_200);
    const evicted = attackers.filter((attacker) => attacker.closed.length > 0);
    expect(evicted).toHaveLength(1);
    expect(evicted[0]?.closed).toEqual([{ code: 4429, reason: expect.stringMatching(/^rate_limited: /) }]);
    expect(honest.closed).toEqual([]);
    expect(guards.preauthBytes).toBe(6_000 + 1_200);
  });

  test("a socket that is itself the largest holder is the one closed", () => {
    const { guards, socket } = setUp();
    const small = [socket("s1"), socket("s2"), socket("s3")];
    for (const other of small) other.guard.received(2_500);
    const big = socket("big");
    big.guard.received(2_000);
    big.guard.received(1_500);
    expect(big.closed).toEqual([{ code: 4429, reason: expect.any(String) }]);
    expect(small.every((other) => other.closed.length === 0)).toBe(true);
    expect(guards.preauthBytes).toBe(7_500);
  });

  test("awareness frames over the limit close the socket before Hocuspocus decodes them", async () => {
    const { socket } = setUp();
    const { guard, closed, authenticate } = socket();
    await authenticate("dialog/a");
    expect(guard.admit(frame("dialog/a", 1, 400))).not.toBeNull();
    expect(guard.admit(frame("dialog/a", 1, 600))).toBeNull();
    expect(closed).toEqual([{ code: 4413, reason: expect.stringMatching(/^payload_too_large: awareness messages/) }]);
  });

  test("a queued frame that is a view into a larger buffer is copied; a frame with its own buffer is not", () => {
    const { socket } = setUp();
    const { guard } = socket();
    const own = sync("dialog/a", 100);
    expect(guard.admit(own)).toBe(own);
    const read = new Uint8Array(64 * 1024);
    read.set(own, 10);
    const view = read.subarray(10, 10 + own.byteLength);
    const admitted = guard.admit(view);
    expect(admitted).not.toBe(view);
    expect(admitted?.buffer.byteLength).toBe(own.byteLength);
    expect(admitted).toEqual(own);
  });

  test("a socket that authenticates nothing within the deadline is closed with 4401", async () => {
    const { socket } = setUp({ preauthTimeoutMs: 20 });
    const idle = socket("idle");
    const authenticated = socket("authenticated");
    await authenticated.authenticate("dialog/a");
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(idle.closed).toEqual([{ code: 4401, reason: "unauthorized: authenticate within 0.02 s of connecting" }]);
    expect(authenticated.closed).toEqual([]);
  });

  test("a closed socket releases what it held", () => {
    const { guards, socket } = setUp();
    const { guard } = socket();
    guard.received(2_000);
    guard.dispose();
    expect(guards.preauthBytes).toBe(0);
    guard.received(2_000);
    expect(guards.preauthBytes).toBe(0);
  });

  test("frames it cannot read are passed on, for Hocuspocus to refuse", () => {
    const { socket } = setUp();
    const garbage = new Uint8Array([0xff, 0xff, 0xff]);
    expect(socket().guard.admit(garbage)).toBe(garbage);
  });

  test("a document closed or refused as unavailable closes the socket with 4503 instead, so the client reconnects; other closes pass", async () => {
    const { socket } = setUp();
    const closeFrame = (address: string, reason: string) => frame(address, 7, 0, (encoder) => encoding.writeVarString(encoder, reason));
    const denied = (address: string, reason: string) =>
      frame(address, 2, 0, (encoder) => {
        encoding.writeVarUint(encoder, 1);
        encoding.writeVarString(encoder, reason);
      });
    const flush = () => new Promise<void>((resolve) => queueMicrotask(resolve));

    const first = socket("first");
    await first.authenticate("dialog/a");
    expect(first.guard.sent(closeFrame("dialog/a", "provider_initiated"))).toBe(true);
    expect(first.guard.sent(closeFrame("dialog/a", "4403 forbidden: you were removed from this dialog"))).toBe(true);
    expect(first.guard.sent(sync("dialog/a", 5))).toBe(true);
    await flush();
    expect(first.closed).toEqual([]);
    expect(first.guard.sent(closeFrame("dialog/a", "4503 unavailable: the database is unreachable"))).toBe(false);
    await flush();
    expect(first.closed).toEqual([{ code: 4503, reason: "unavailable: the database is unreachable" }]);
    // Closed: nothing more is looked at.
    expect(first.guard.sent(closeFrame("dialog/a", "4503 unavailable: again"))).toBe(true);

    const second = socket("second");
    expect(second.guard.sent(denied("dialog/b", "4503 unavailable: the project's token keys could not be loaded"))).toBe(false);
    await flush();
    expect(second.closed).toEqual([{ code: 4503, reason: "unavailable: the project's token keys could not be loaded" }]);

    // A WebSocket close reason holds 123 bytes; a longer message is cut rather than making `ws` throw.
    const third = socket("third");
    expect(third.guard.sent(closeFrame("dialog/c", `4503 unavailable: ${"é".repeat(200)}`))).toBe(false);
    await flush();
    expect(Buffer.byteLength(third.closed[0]?.reason ?? "")).toBeLessThanOrEqual(123);
    expect(third.closed[0]?.reason).toMatch(/^unavailable: é+…$/);
  });
});
