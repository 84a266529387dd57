import {
  createMessage,
  draftOf,
  editMessageText,
  messagesOf,
  reactionKey,
  readMessage,
  readsOf,
  segmentRoots,
  setReaction,
  setUserState,
  userStateOf,
} from "@mtchat/protocol";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import * as Y from "yjs";
import { type InspectContext, inspectUpdate } from "./update-inspector.ts";
import { systemUserId, type Writer } from "./writer.ts";

const alice: Writer = { userId: "alice", access: "member" };
const mallory: Writer = { userId: "mallory", access: "member" };
const aliceMessage = "01890a5d-ac96-774b-b9aa-0000000000a1";
const systemMessage = "01890a5d-ac96-774b-b9aa-0000000000f1";
let counter = 0;
const freshId = () => `01890a5d-ac96-774b-b9ab-${(++counter).toString(16).padStart(12, "0")}`;

/** The server's document: one message by Alice and one system message. */
const serverSegment = (): Y.Doc => {
  const server = new Y.Doc();
  const aliceDoc = new Y.Doc();
  aliceDoc.clientID = 1;
  createMessage(aliceDoc, { id: aliceMessage, author: "alice", createdAt: 1, text: "hello" });
  Y.applyUpdate(server, Y.encodeStateAsUpdate(aliceDoc));
  const systemDoc = new Y.Doc();
  systemDoc.clientID = 2;
  createMessage(systemDoc, { id: systemMessage, author: systemUserId, kind: "system", createdAt: 0, text: "" });
  Y.applyUpdate(server, Y.encodeStateAsUpdate(systemDoc));
  return server;
};

/** A raw client holding a copy of the server state, writing as `clientId`. */
const rawClient = (server: Y.Doc, clientId: number): Y.Doc => {
  const doc = new Y.Doc();
  doc.clientID = clientId;
  Y.applyUpdate(doc, Y.encodeStateAsUpdate(server));
  return doc;
};

/** What the client changed since it copied the server: exactly the bytes it would send. */
const diff = (client: Y.Doc, server: Y.Doc): Uint8Array => Y.encodeStateAsUpdate(client, Y.encodeStateVector(server));

const inspect = (server: Y.Doc, update: Uint8Array, writer: Writer, docKind: InspectContext["docKind"] = "segment") =>
  inspectUpdate(update, { doc: server, docKind, writer, maxMessagesPerSegment: 100, maxMessageChars: 20_000 });

const messageOf = (doc: Y.Doc, id: string) => messagesOf(doc).get(id) as Y.Map<unknown>;

describe("segment writes", () => {
  test("a user may send a message as themselves, and the update names the new message", () => {
    const server = serverSegment();
    const client = rawClient(server, 10);
    const id = freshId();
    createMessage(client, { id, author: "mallory", createdAt: 5, text: "hi" });
    expect(inspect(server, diff(client, server), mallory)).toEqual({
      ok: true,
      empty: false,
      newClientIds: [10],
      newMessageIds: [id],
      attachmentRefs: [],
      update: expect.any(Uint8Array),
    });
  });

  test("sending as someone else is refused", () => {
    const server = serverSegment();
    const client = rawClient(server, 10);
    createMessage(client, { id: freshId(), author: "alice", createdAt: 5, text: "I am alice" });
    expect(inspect(server, diff(client, server), mallory)).toMatchObject({ ok: false, kind: "forbidden" });
  });

  test("a client cannot create system messages", () => {
    const server = serverSegment();
    const client = rawClient(server, 10);
    createMessage(client, { id: freshId(), author: "mallory", kind: "system", createdAt: 5, text: "x" });
    expect(inspect(server, diff(client, server), mallory)).toMatchObject({ ok: false, kind: "forbidden" });
  });

  test("editing another user's body text is refused, editing one's own passes", () => {
    const server = serverSegment();
    const client = rawClient(server, 10);
    const body = messageOf(client, aliceMessage).get("body") as Y.XmlFragment;
    ((body.get(0) as Y.XmlElement).get(0) as Y.XmlText).insert(0, "pwned ");
    expect(inspect(server, diff(client, server), mallory)).toMatchObject({ ok: false, kind: "forbidden" });

    const own = rawClient(server, 1);
    editMessageText(messageOf(own, aliceMessage), "hello, edited", 9);
    expect(inspect(server, diff(own, server), alice)).toMatchObject({ ok: true, empty: false });
  });

  test("a concurrent map entry that would replace another's message is refused", () => {
    // Built without seeing the server's entry, so the update carries no
    // deletion; Yjs would still drop Alice's entry when integrating it.
    const server = serverSegment();
    const blind = new Y.Doc();
    blind.clientID = 0xffffffff;
    createMessage(blind, { id: aliceMessage, author: "mallory", createdAt: 5, text: "replaced" });
    expect(inspect(server, Y.encodeStateAsUpdate(blind), mallory)).toMatchObject({ ok: false, kind: "conflict" });
  });

  test("removing a message entry, or an immutable field, is refused even for the author", () => {
    const server = serverSegment();
    const client = rawClient(server, 1);
    messagesOf(client).delete(aliceMessage);
    expect(inspect(server, diff(client, server), alice)).toMatchObject({ ok: false, kind: "forbidden" });
    const other = rawClient(server, 1);
    messageOf(other, aliceMessage).set("author", "alice");
    expect(inspect(server, diff(other, server), alice)).toMatchObject({ ok: false, kind: "forbidden" });
  });

  test("an admin may soft-delete another's message; a member may not", () => {
    const server = serverSegment();
    const client = rawClient(server, 10);
    const entry = messageOf(client, aliceMessage);
    client.transact(() => {
      const body = entry.get("body") as Y.XmlFragment;
      body.delete(0, body.length);
      entry.set("deleted", true);
    });
    const update = diff(client, server);
    expect(inspect(server, update, mallory)).toMatchObject({ ok: false, kind: "forbidden" });
    expect(inspect(server, update, { userId: "mallory", access: "admin" })).toMatchObject({ ok: true });
  });

  test("potential and read-only participants write nothing", () => {
    const server = serverSegment();
    const client = rawClient(server, 10);
    createMessage(client, { id: freshId(), author: "mallory", createdAt: 5, text: "hi" });
    const update = diff(client, server);
    expect(inspect(server, update, { userId: "mallory", access: "potential" })).toMatchObject({ ok: false, kind: "forbidden" });
    expect(inspect(server, update, { userId: "mallory", access: "readonly" })).toMatchObject({ ok: false, kind: "forbidden" });
  });

  test("echoes of what the server holds are accepted as empty", () => {
    const server = serverSegment();
    expect(inspect(server, Y.encodeStateAsUpdate(server), { userId: "mallory", access: "potential" })).toMatchObject({
      ok: true,
      empty: true,
      newClientIds: [],
    });
  });

  test("unknown roots, missing dependencies and garbage bytes are refused", () => {
    const server = serverSegment();
    const client = rawClient(server, 10);
    client.getMap("evil").set("x", 1);
    expect(inspect(server, diff(client, server), mallory)).toMatchObject({ ok: false, kind: "invalid_update" });

    const ahead = rawClient(server, 10);
    createMessage(ahead, { id: freshId(), author: "mallory", createdAt: 5, text: "one" });
    const first = diff(ahead, server);
    const sv = Y.encodeStateVector(ahead);
    createMessage(ahead, { id: freshId(), author: "mallory", createdAt: 6, text: "two" });
    const second = Y.encodeStateAsUpdate(ahead, sv);
    expect(inspect(server, first, mallory)).toMatchObject({ ok: true });
    expect(inspect(server, second, mallory)).toMatchObject({ ok: false, kind: "invalid_update" });

    expect(inspect(server, new Uint8Array([1, 2, 3, 250, 250]), mallory)).toMatchObject({ ok: false, kind: "invalid_update" });
  });

  test("a full segment refuses new messages", () => {
    const server = serverSegment();
    const client = rawClient(server, 10);
    createMessage(client, { id: freshId(), author: "mallory", createdAt: 1, text: "x" });
    const update = diff(client, server);
    expect(
      inspectUpdate(update, { doc: server, docKind: "segment", writer: mallory, maxMessagesPerSegment: 2, maxMessageChars: 100 }),
    ).toMatchObject({
      ok: false,
      kind: "conflict",
    });
  });
});

describe("meta writes", () => {
  const serverMeta = () => {
    const server = new Y.Doc();
    server.getMap("meta").set("title", "Order 42");
    return server;
  };

  test("a user moves only their own read cursor", () => {
    const server = serverMeta();
    const own = rawClient(server, 10);
    readsOf(own).set("mallory", { messageId: aliceMessage, readAt: 1 });
    expect(inspect(server, diff(own, server), mallory, "meta")).toMatchObject({ ok: true, empty: false });

    const other = rawClient(server, 10);
    readsOf(other).set("alice", { messageId: aliceMessage, readAt: 1 });
    expect(inspect(server, diff(other, server), mallory, "meta")).toMatchObject({ ok: false, kind: "forbidden" });
  });

  test("dialog metadata and participants are the server's", () => {
    const server = serverMeta();
    const client = rawClient(server, 10);
    client.getMap("meta").set("title", "mine now");
    expect(inspect(server, diff(client, server), mallory, "meta")).toMatchObject({ ok: false, kind: "forbidden" });
    const joiner = rawClient(server, 10);
    joiner.getMap("participants").set("mallory", { displayName: "M", company: null, role: "admin", joinedAt: 1 });
    expect(inspect(server, diff(joiner, server), mallory, "meta")).toMatchObject({ ok: false, kind: "forbidden" });
  });
});

/** Operations a malicious member might try, mixed with legitimate ones. */
type Op =
  | { kind: "sendOwn"; text: string }
  | { kind: "sendAs"; text: string }
  | { kind: "editOwn"; text: string }
  | { kind: "editAlice"; text: string; at: number }
  | { kind: "setAliceField"; field: string; value: string | number | boolean }
  | { kind: "deleteAliceField"; field: string }
  | { kind: "removeAlice" }
  | { kind: "blindOverwrite"; clientId: number }
  | { kind: "deleteOwn" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("sendOwn" as const), text: fc.string() }),
  fc.record({ kind: fc.constant("sendAs" as const), text: fc.string() }),
  fc.record({ kind: fc.constant("editOwn" as const), text: fc.string() }),
  fc.record({ kind: fc.constant("editAlice" as const), text: fc.string({ minLength: 1 }), at: fc.nat(5) }),
  fc.record({
    kind: fc.constant("setAliceField" as const),
    field: fc.constantFrom("author", "kind", "createdAt", "deleted", "editedAt", "replyTo", "extra"),
    value: fc.oneof(fc.string(), fc.integer(), fc.boolean()),
  }),
  fc.record({ kind: fc.constant("deleteAliceField" as const), field: fc.constantFrom("author", "body", "kind", "deleted") }),
  fc.record({ kind: fc.constant("removeAlice" as const) }),
  fc.record({ kind: fc.constant("blindOverwrite" as const), clientId: fc.integer({ min: 3, max: 0x7fffffff }) }),
  fc.record({ kind: fc.constant("deleteOwn" as const) }),
);

const aliceView = (doc: Y.Doc) => readMessage(aliceMessage, messageOf(doc, aliceMessage));

describe("property: whatever a member gets accepted never changes another user's messages", () => {
  test("random mixes of forbidden and allowed edits", () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 6 }), (ops) => {
        const server = serverSegment();
        const before = aliceView(server);
        const ownIds: string[] = [];
        for (const op of ops) {
          const client = op.kind === "blindOverwrite" ? new Y.Doc() : rawClient(server, 10);
          if (op.kind === "blindOverwrite") client.clientID = op.clientId;
          const alices = messageOf(client, aliceMessage);
          switch (op.kind) {
            case "sendOwn":
            case "sendAs": {
              const id = freshId();
              createMessage(client, { id, author: op.kind === "sendOwn" ? "mallory" : "alice", createdAt: 1, text: op.text });
              ownIds.push(id);
              break;
            }
            case "editOwn": {
              const id = ownIds.at(-1);
              if (id && messagesOf(client).has(id)) editMessageText(messageOf(client, id), op.text, 2);
              break;
            }
            case "editAlice": {
              const paragraph = (alices.get("body") as Y.XmlFragment).get(0) as Y.XmlElement;
              (paragraph.get(0) as Y.XmlText).insert(op.at, op.text);
              break;
            }
            case "setAliceField":
              alices.set(op.field, op.value);
              break;
            case "deleteAliceField":
              alices.delete(op.field);
              break;
            case "removeAlice":
              client.getMap(segmentRoots.messages).delete(aliceMessage);
              break;
            case "blindOverwrite":
              createMessage(client, { id: aliceMessage, author: "mallory", createdAt: 1, text: "replaced" });
              break;
            case "deleteOwn": {
              const id = ownIds.at(-1);
              if (id && messagesOf(client).has(id)) messageOf(client, id).set("deleted", true);
              break;
            }
          }
          const update = op.kind === "blindOverwrite" ? Y.encodeStateAsUpdate(client) : diff(client, server);
          const decision = inspect(server, update, mallory);
          if (decision.ok) Y.applyUpdate(server, decision.update);
          if (op.kind === "sendOwn" || op.kind === "editOwn" || op.kind === "deleteOwn") expect(decision).toMatchObject({ ok: true });
        }
        expect(aliceView(server)).toEqual(before);
        for (const [id, entry] of messagesOf(server).entries()) {
          const view = readMessage(id, entry);
          if (id !== aliceMessage && id !== systemMessage) expect(view.author).toBe("mallory");
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("property: hostile bytes never throw and never break the document", () => {
  test("random bytes and mutated real updates", () => {
    const server = serverSegment();
    const client = rawClient(server, 10);
    createMessage(client, { id: freshId(), author: "mallory", createdAt: 1, text: "seed" });
    const real = diff(client, server);
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      fc.tuple(fc.nat(real.length - 1), fc.integer({ min: 0, max: 255 })).map(([at, value]) => {
        const copy = real.slice();
        copy[at] = value;
        return copy;
      }),
      fc.nat(real.length).map((cut) => real.slice(0, cut)),
    );
    fc.assert(
      fc.property(bytes, (update) => {
        const decision = inspect(server, update, mallory);
        if (decision.ok && !decision.empty) {
          const copy = rawClient(server, 99);
          expect(() => Y.applyUpdate(copy, decision.update)).not.toThrow();
          expect(aliceView(copy)).toEqual(aliceView(server));
        }
      }),
      { numRuns: 2000 },
    );
  });
});

test("an update whose items form a reference cycle is refused, found by the fuzz property", () => {
  const server = serverSegment();
  const found = Uint8Array.from([
    1, 8, 10, 0, 39, 1, 8, 109, 101, 115, 115, 97, 103, 101, 115, 36, 48, 49, 56, 57, 48, 97, 53, 100, 45, 97, 99, 57, 54, 45, 55, 55, 52,
    98, 45, 98, 57, 97, 98, 45, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 101, 99, 1, 40, 0, 10, 0, 6, 97, 117, 116, 104, 111, 114, 1, 119, 7,
    109, 97, 108, 108, 111, 114, 121, 40, 0, 10, 0, 4, 107, 105, 110, 100, 1, 119, 4, 116, 101, 120, 116, 40, 0, 10, 0, 9, 99, 114, 101, 97,
    116, 101, 100, 65, 116, 1, 125, 1, 39, 0, 10, 4, 4, 98, 111, 100, 121, 4, 7, 0, 10, 4, 3, 9, 112, 97, 114, 97, 103, 114, 97, 112, 104,
    7, 0, 10, 5, 6, 4, 0, 10, 6, 4, 115, 101, 101, 100, 0,
  ]);
  expect(inspect(server, found, mallory)).toMatchObject({ ok: false, kind: "invalid_update" });
});

describe("reactions", () => {
  test("anyone who may react adds and removes only their own reaction, on anyone's message", () => {
    const server = serverSegment();
    const client = rawClient(server, 10);
    setReaction(messageOf(client, aliceMessage), "mallory", "👍", true, 5);
    const added = diff(client, server);
    expect(inspect(server, added, mallory)).toMatchObject({ ok: true, empty: false });
    Y.applyUpdate(server, added);

    // Mallory's own removal passes; Mallory removing Alice's reaction does not.
    const aliceClient = rawClient(server, 1);
    setReaction(messageOf(aliceClient, aliceMessage), "alice", "🎉", true, 6);
    Y.applyUpdate(server, diff(aliceClient, server));
    const remover = rawClient(server, 10);
    setReaction(messageOf(remover, aliceMessage), "mallory", "👍", false, 7);
    expect(inspect(server, diff(remover, server), mallory)).toMatchObject({ ok: true, empty: false });
    const thief = rawClient(server, 10);
    setReaction(messageOf(thief, aliceMessage), "alice", "🎉", false, 7);
    expect(inspect(server, diff(thief, server), mallory)).toMatchObject({ ok: false, kind: "forbidden" });
  });

  test("reacting in someone else's name, malformed keys and values, and replacing the map are refused", () => {
    const server = serverSegment();
    const forged = rawClient(server, 10);
    setReaction(messageOf(forged, aliceMessage), "alice", "👍", true, 5);
    expect(inspect(server, diff(forged, server), mallory)).toMatchObject({ ok: false, kind: "forbidden" });

    const badKey = rawClient(server, 10);
    (messageOf(badKey, aliceMessage).get("reactions") as Y.Map<unknown>).set("mallory:👍", 5);
    expect(inspect(server, diff(badKey, server), mallory)).toMatchObject({ ok: false, kind: "invalid_update" });

    const badValue = rawClient(server, 10);
    (messageOf(badValue, aliceMessage).get("reactions") as Y.Map<unknown>).set(reactionKey("mallory", "👍"), "yes");
    expect(inspect(server, diff(badValue, server), mallory)).toMatchObject({ ok: false, kind: "invalid_update" });

    const replaced = rawClient(server, 10);
    messageOf(replaced, aliceMessage).set("reactions", new Y.Map());
    expect(inspect(server, diff(replaced, server), mallory)).toMatchObject({ ok: false, kind: "forbidden" });
  });

  test("channel subscribers react but do not post; read-only participants do neither", () => {
    const server = serverSegment();
    const subscriber: Writer = { userId: "sam", access: "subscriber" };
    const reacting = rawClient(server, 10);
    setReaction(messageOf(reacting, aliceMessage), "sam", "👀", true, 5);
    expect(inspect(server, diff(reacting, server), subscriber)).toMatchObject({ ok: true });
    const posting = rawClient(server, 10);
    createMessage(posting, { id: freshId(), author: "sam", createdAt: 5, text: "may I?" });
    expect(inspect(server, diff(posting, server), subscriber)).toMatchObject({ ok: false, reason: "only admins post in a channel" });

    const readonly: Writer = { userId: "rita", access: "readonly" };
    const rita = rawClient(server, 11);
    setReaction(messageOf(rita, aliceMessage), "rita", "👀", true, 5);
    expect(inspect(server, diff(rita, server), readonly)).toMatchObject({ ok: false, kind: "forbidden" });
  });
});

describe("user state documents", () => {
  const dialog = "01890a5d-ac96-774b-b9aa-0000000000d1";

  test("well-formed pin, notification and archive marks pass", () => {
    const server = new Y.Doc();
    const client = rawClient(server, 10);
    setUserState(client, dialog, "pinned", true);
    setUserState(client, dialog, "notifications", false);
    setUserState(client, dialog, "archived", { archived: true, through: aliceMessage });
    expect(inspect(server, diff(client, server), alice, "user")).toMatchObject({ ok: true, empty: false, newMessageIds: [] });
  });

  test("unknown roots, keys and values are refused", () => {
    const server = new Y.Doc();
    const root = rawClient(server, 10);
    root.getMap("other").set("x", 1);
    expect(inspect(server, diff(root, server), alice, "user")).toMatchObject({ ok: false, kind: "invalid_update" });
    const key = rawClient(server, 10);
    userStateOf(key).set(`${dialog}/color`, "red");
    expect(inspect(server, diff(key, server), alice, "user")).toMatchObject({ ok: false, kind: "invalid_update" });
    const value = rawClient(server, 10);
    userStateOf(value).set(`${dialog}/archived`, { archived: "yes", through: null });
    expect(inspect(server, diff(value, server), alice, "user")).toMatchObject({ ok: false, kind: "invalid_update" });
  });

  /** Applies what the client wrote to the server after the inspector accepted it, as the server would. */
  const accept = (server: Y.Doc, client: Y.Doc) => {
    const decision = inspect(server, diff(client, server), alice, "user");
    expect(decision).toMatchObject({ ok: true, empty: false });
    if (decision.ok) Y.applyUpdate(server, decision.update);
  };

  test("drafts: a rich-text fragment per dialog, edited, formatted and cleared", () => {
    const server = new Y.Doc();
    const client = rawClient(server, 10);
    const draft = draftOf(client, dialog);
    const paragraph = new Y.XmlElement("paragraph");
    const text = new Y.XmlText();
    const mention = new Y.XmlElement("mention");
    paragraph.insert(0, [text, mention]);
    draft.insert(0, [paragraph]);
    text.insert(0, "hello ", { bold: {} });
    mention.setAttribute("id", "bob");
    accept(server, client);

    // Typing on, formatting, deleting a word: what an editor bound to the draft writes.
    text.insert(6, "there ");
    text.format(0, 5, { italic: {} });
    text.delete(0, 1);
    accept(server, client);
    expect(draftOf(server, dialog).toJSON()).toContain("<italic>ello</italic></bold><bold> there");

    draft.delete(0, draft.length);
    accept(server, client);
    expect(draftOf(server, dialog).length).toBe(0);
  });

  test("drafts: first drafts of one dialog typed offline on two devices merge instead of one replacing the other", () => {
    const server = new Y.Doc();
    const phone = rawClient(server, 10);
    const laptop = rawClient(server, 11);
    const type = (doc: Y.Doc, words: string) => {
      const paragraph = new Y.XmlElement("paragraph");
      const text = new Y.XmlText();
      paragraph.insert(0, [text]);
      draftOf(doc, dialog).insert(0, [paragraph]);
      text.insert(0, words);
    };
    type(phone, "from the phone");
    type(laptop, "from the laptop");
    accept(server, phone);
    accept(server, laptop);
    const merged = draftOf(server, dialog).toJSON();
    expect(merged).toContain("from the phone");
    expect(merged).toContain("from the laptop");
  });

  test("drafts: roots not named for a dialog and content an editor never writes are refused", () => {
    const server = new Y.Doc();
    const refused = (write: (doc: Y.Doc) => void) => {
      const client = rawClient(server, 10);
      write(client);
      return inspect(server, diff(client, server), alice, "user");
    };
    const paragraph = () => new Y.XmlElement("paragraph");
    expect(refused((doc) => doc.getXmlFragment("draft/not-a-dialog").insert(0, [paragraph()]))).toMatchObject({
      ok: false,
      kind: "invalid_update",
    });
    expect(refused((doc) => doc.getXmlFragment("notes").insert(0, [paragraph()]))).toMatchObject({ ok: false, kind: "invalid_update" });
    expect(refused((doc) => doc.getArray(`draft/${dialog}`).insert(0, [new Y.Map()]))).toMatchObject({
      ok: false,
      kind: "invalid_update",
    });
    expect(refused((doc) => draftOf(doc, dialog).insert(0, [new Y.XmlHook("hook") as unknown as Y.XmlElement]))).toMatchObject({
      ok: false,
      kind: "invalid_update",
    });
    expect(
      refused((doc) => {
        const element = paragraph();
        draftOf(doc, dialog).insert(0, [element]);
        element.setAttribute("blob", new Uint8Array([1, 2, 3]) as unknown as string);
      }),
    ).toMatchObject({ ok: false, kind: "invalid_update" });
  });
});
