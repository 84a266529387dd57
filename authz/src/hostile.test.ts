import { createMessage, editMessageText, messagesOf, readMessage } from "@mtchat/protocol";
import { describe, expect, test } from "vitest";
import * as Y from "yjs";
import { type AttackContext, attacks, itemOf, rawUpdate } from "./testing/index.ts";
import { inspectUpdate } from "./update-inspector.ts";
import type { Writer } from "./writer.ts";

const dialogId = "01890a5d-ac96-774b-b9aa-0000000000d1";
const bobMessage = "01890a5d-ac96-774b-b9aa-0000000000b1";

/** A segment with one message by Bob, edited once, so its first text is garbage-collected. */
const segment = (): Y.Doc => {
  const server = new Y.Doc();
  const bob = new Y.Doc();
  bob.clientID = 2;
  createMessage(bob, { id: bobMessage, author: "bob", createdAt: 1, text: "hello" });
  editMessageText(messagesOf(bob).get(bobMessage) as Y.Map<unknown>, "hello again", 2);
  Y.applyUpdate(server, Y.encodeStateAsUpdate(bob));
  return server;
};

const inspect = (doc: Y.Doc, update: Uint8Array, writer: Writer, docKind: "segment" | "meta" | "user") =>
  inspectUpdate(update, { doc, docKind, writer, maxMessagesPerSegment: 1000, maxMessageChars: 20_000 });

const views = { segment, meta: () => new Y.Doc(), user: () => new Y.Doc() };

describe("every hand-built attack is refused, after any setup it needs is accepted", () => {
  test.each(attacks.map((attack) => [attack.name, attack] as const))("%s", (_name, attack) => {
    const server = views[attack.docKind]();
    const ctx: AttackContext = { view: server, clientId: 77, userId: "mallory", victim: "bob", dialogId };
    const writer: Writer = { userId: "mallory", access: attack.access };
    if (attack.setup) {
      const accepted = inspect(server, attack.setup(ctx), writer, attack.docKind);
      expect(accepted).toMatchObject({ ok: true, empty: false });
      if (accepted.ok) Y.applyUpdate(server, accepted.update);
    }
    const before = Y.encodeStateAsUpdate(server);
    expect(inspect(server, attack.build(ctx), writer, attack.docKind)).toMatchObject({ ok: false, kind: attack.refusal });
    expect(Y.encodeStateAsUpdate(server)).toEqual(before);
  });
});

describe("what the attacks would have done: Yjs integrates a clipped struct where its bytes do not say", () => {
  test("applied raw, the clipped struct becomes the author of an accepted message", () => {
    const server = segment();
    const ctx: AttackContext = { view: server, clientId: 77, userId: "mallory", victim: "bob", dialogId };
    const [rewrite] = attacks;
    if (!rewrite?.setup) throw new Error("the first attack rewrites an author");
    const setup = inspect(server, rewrite.setup(ctx), { userId: "mallory", access: "member" }, "segment");
    if (!setup.ok) throw new Error(setup.reason);
    Y.applyUpdate(server, setup.update);
    const mine = [...messagesOf(server).keys()].find((id) => id !== bobMessage) as string;
    const raw = new Y.Doc();
    Y.applyUpdate(raw, Y.encodeStateAsUpdate(server));
    Y.applyUpdate(raw, rewrite.build(ctx));
    expect(readMessage(mine, messagesOf(raw).get(mine) as Y.Map<unknown>).author).toBe("bob");
  });

  test("the canonical form of an honest overlapping resend is the same change, and is accepted", () => {
    // Alice types "hello" then " world" offline; the server has received only "hello". Her merged
    // update holds one struct "hello world" overlapping what the server has: it must pass and apply.
    const server = segment();
    const alice = new Y.Doc();
    alice.clientID = 5;
    Y.applyUpdate(alice, Y.encodeStateAsUpdate(server));
    const id = "01890a5d-ac96-774b-b9aa-0000000000a5";
    createMessage(alice, { id, author: "alice", createdAt: 3, text: "" });
    const first = Y.encodeStateAsUpdate(alice, Y.encodeStateVector(server));
    const paragraph = (messagesOf(alice).get(id) as Y.Map<unknown>).get("body") as Y.XmlFragment;
    const text = new Y.XmlText();
    (paragraph.get(0) as Y.XmlElement).insert(0, [text]);
    text.insert(0, "hello");
    const withHello = Y.encodeStateAsUpdate(alice, Y.encodeStateVector(server));
    text.insert(5, " world");
    const writer: Writer = { userId: "alice", access: "member" };
    const a = inspect(server, first, writer, "segment");
    if (!a.ok) throw new Error(a.reason);
    Y.applyUpdate(server, a.update);
    const b = inspect(server, withHello, writer, "segment");
    if (!b.ok) throw new Error(b.reason);
    Y.applyUpdate(server, b.update);
    // The whole state, as a full-state resend: "hello world" is one struct starting before the server's clock.
    const resend = Y.encodeStateAsUpdate(alice);
    const decoded = Y.decodeUpdate(resend).structs.filter((struct) => struct.id.client === 5);
    expect(
      decoded.some(
        (struct) => struct.id.clock < Y.getState(server.store, 5) && struct.id.clock + struct.length > Y.getState(server.store, 5),
      ),
    ).toBe(true);
    const c = inspect(server, resend, writer, "segment");
    if (!c.ok) throw new Error(c.reason);
    Y.applyUpdate(server, c.update);
    expect(readMessage(id, messagesOf(server).get(id) as Y.Map<unknown>).text).toBe("hello world");
    expect(server.store.pendingStructs).toBeNull();
  });

  test("an inert struct of a member is logged as garbage: its clocks, not its content", () => {
    const server = segment();
    let gc: Y.ID | null = null;
    for (const structs of server.store.clients.values()) for (const struct of structs) if (!gc && struct instanceof Y.GC) gc = struct.id;
    if (!gc) throw new Error("no garbage");
    const update = rawUpdate([
      { client: 9, clock: 0, structs: [{ kind: "item", origin: gc, content: new Y.ContentString("x".repeat(100_000)) }] },
    ]);
    const decision = inspect(server, update, { userId: "mallory", access: "member" }, "segment");
    if (!decision.ok) throw new Error(decision.reason);
    expect(decision.update.length).toBeLessThan(20);
    const copy = new Y.Doc();
    Y.applyUpdate(copy, Y.encodeStateAsUpdate(server));
    Y.applyUpdate(copy, decision.update);
    expect(Y.getState(copy.store, 9)).toBe(100_000);
    expect(itemOf(copy, bobMessage, "author").content.getContent()).toEqual(["bob"]);
  });
});
