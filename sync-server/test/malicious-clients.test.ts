import type { HocuspocusProvider } from "@hocuspocus/provider";
import { type AttackContext, attacks, rawUpdate } from "@mtchat/authz/testing";
import {
  createMessage,
  editMessageText,
  errorKinds,
  messagesOf,
  metaDocName,
  readMessage,
  segmentDocName,
  userDocName,
} from "@mtchat/protocol";
import { v7 as uuidv7 } from "uuid";
import { beforeAll, describe, expect, test } from "vitest";
import * as Y from "yjs";
import { DocLog } from "../src/sync/doc-log.ts";
import { acknowledged, docUntil, openDoc, RawClient } from "./clients.ts";
import { createDialog, storages, type TestServer, tokenFor, useServer } from "./harness.ts";
import { eventually } from "./wait.ts";

/** Every message of a document as plain data, for before/after comparisons. */
const viewOf = (doc: Y.Doc) => Object.fromEntries([...messagesOf(doc).entries()].map(([id, entry]) => [id, readMessage(id, entry)]));

/** What the server would load after a restart: the log, replayed. */
const storedDoc = async (t: TestServer, docName: string) => {
  const doc = new Y.Doc();
  for (const update of (await new DocLog(t.server.pool).load(docName)).updates) Y.applyUpdate(doc, update);
  return doc;
};
const storedView = async (t: TestServer, docName: string) => viewOf(await storedDoc(t, docName));

type HistoryRow = { id: string; sender_id: string; content: string; body: unknown; deleted: boolean; reply_to_id: string | null };

/** The dialog's REST history as an honest participant reads it, once it shows every message of `expected` as it reads there. */
const restHistory = async (t: TestServer, dialogId: string, expected: Record<string, { text: string }>) =>
  eventually(
    async () => {
      const { status, body } = await t.api<{ data: { messages: HistoryRow[] } }>(
        "GET",
        `/api/v1/dialogs/${dialogId}/messages?limit=200`,
        undefined,
        await tokenFor("alice"),
      );
      if (status !== 200) return undefined;
      const rows = Object.fromEntries(body.data.messages.map((row) => [row.id, row]));
      return Object.entries(expected).every(([id, message]) => rows[id]?.content === message.text) ? rows : undefined;
    },
    { what: "the REST history to hold the dialog's messages" },
  );

/** The bytes a client would send for whatever `change` does to its copy. */
const changeOf = (doc: Y.Doc, change: () => void): Uint8Array => {
  const before = Y.encodeStateVector(doc);
  change();
  return Y.encodeStateAsUpdate(doc, before);
};

describe.each(storages)("malicious clients on %s PostgreSQL", (storage) => {
  const fixture = useServer(storage, "malicious");
  let dialogId: string;
  let segment: string;
  let aliceMessage: string;
  let alice: HocuspocusProvider;
  let bob: HocuspocusProvider;

  beforeAll(async () => {
    const dialog = await createDialog(fixture.t, ["alice", "bob", "mallory"], {
      access_scopes: [{ tenant_uid: "tenant-1", scope_level1: ["logistics"], scope_level2: [] }],
    });
    dialogId = dialog.id;
    await fixture.t.api("POST", `/api/v1/management/dialogs/${dialogId}/participants`, {
      user_id: "rita",
      display_name: "Rita",
      role: "readonly",
    });
    segment = segmentDocName(dialogId, 0);
    const aliceSocket = fixture.socket();
    const bobSocket = fixture.socket();
    alice = await openDoc(aliceSocket, segment, await tokenFor("alice"));
    bob = await openDoc(bobSocket, segment, await tokenFor("bob"));
    aliceMessage = uuidv7();
    createMessage(alice.document, { id: aliceMessage, author: "alice", createdAt: Date.now(), text: "original text" });
    await acknowledged(alice);
    await docUntil(bob.document, () => messagesOf(bob.document).has(aliceMessage));
  });

  /**
   * Connects as `user`, builds a forbidden update by hand on a raw Yjs copy,
   * sends it, and checks the refusal, that nobody else saw it, that nothing
   * was stored, and that the attempt was audited.
   */
  const attack = async (
    user: string,
    docName: string,
    build: (doc: Y.Doc) => Uint8Array,
    expected: RegExp,
    claims: Parameters<typeof tokenFor>[1] = {},
    setup?: (doc: Y.Doc) => Uint8Array,
  ) => {
    const raw = await RawClient.connect(fixture.t.wsUrl, docName, await tokenFor(user, claims));
    await raw.handshake();
    if (setup) {
      // The legitimate write an attack builds on: accepted, and seen by Bob, before the attack.
      const clientId = raw.doc.clientID;
      const accepted = setup(raw.doc);
      const statuses = raw.events.length;
      raw.sendUpdate(accepted);
      const answer = await raw.waitFor(
        (event) => raw.events.indexOf(event) >= statuses && (event.type === "status" || event.type === "closed"),
      );
      expect(answer).toEqual({ type: "status", ok: true });
      Y.applyUpdate(raw.doc, accepted);
      if (docName === segment) {
        await docUntil(bob.document, () => Y.getState(bob.document.store, clientId) >= Y.getState(raw.doc.store, clientId));
      }
    }
    const bobBefore = viewOf(bob.document);
    const storedBefore = await storedView(fixture.t, segment);
    const historyBefore = await restHistory(fixture.t, dialogId, bobBefore);
    const targetBefore = Y.encodeStateVector(await storedDoc(fixture.t, docName));
    const metaBefore = Y.encodeStateVector(
      (await fixture.t.server.hocuspocus.openDirectConnection(metaDocName(dialogId))).document as Y.Doc,
    );
    raw.sendUpdate(build(raw.doc));
    const closed = await raw.waitFor((event) => event.type === "closed");
    raw.close();
    expect(closed).toMatchObject({ type: "closed", reason: expect.stringMatching(expected) });

    // A legitimate message after the attack reaches Bob: had the forbidden one been broadcast, it would have come first.
    const probe = uuidv7();
    createMessage(alice.document, { id: probe, author: "alice", createdAt: Date.now(), text: "probe" });
    await acknowledged(alice);
    await docUntil(bob.document, () => messagesOf(bob.document).has(probe));
    const { [probe]: _probe, ...bobAfter } = viewOf(bob.document);
    const { [probe]: _stored, ...storedAfter } = await storedView(fixture.t, segment);
    expect(bobAfter).toEqual(bobBefore);
    expect(storedAfter).toEqual(storedBefore);
    // And the REST history, once projected past the probe, is what it was.
    const { [probe]: _history, ...historyAfter } = await restHistory(fixture.t, dialogId, viewOf(bob.document));
    expect(historyAfter).toEqual(historyBefore);
    expect(viewOf(alice.document)).toEqual(viewOf(bob.document));
    const metaAfter = Y.encodeStateVector(
      (await fixture.t.server.hocuspocus.openDirectConnection(metaDocName(dialogId))).document as Y.Doc,
    );
    expect(metaAfter).toEqual(metaBefore);
    // The segment gained the probe; any other attacked document must be exactly as it was.
    if (docName !== segment) expect(Y.encodeStateVector(await storedDoc(fixture.t, docName))).toEqual(targetBefore);
    const { rows } = await fixture.t.server.pool.query(
      "SELECT user_id, detail FROM audit_log WHERE dialog_id = $1 ORDER BY id DESC LIMIT 1",
      [dialogId],
    );
    expect(rows[0]).toMatchObject({ user_id: user, detail: { reason: expect.any(String) } });
  };

  const aliceEntry = (doc: Y.Doc) => messagesOf(doc).get(aliceMessage) as Y.Map<unknown>;

  test("sending a message in someone else's name", () =>
    attack(
      "mallory",
      segment,
      (doc) =>
        changeOf(doc, () => {
          const entry = new Y.Map<unknown>();
          doc.transact(() => {
            doc.getMap("messages").set(uuidv7(), entry);
            entry.set("author", "alice");
            entry.set("kind", "text");
            entry.set("createdAt", Date.now());
            entry.set("body", new Y.XmlFragment());
          });
        }),
      /^4403 forbidden: you may send messages only as yourself/,
    ));

  test("editing another user's message text", () =>
    attack(
      "mallory",
      segment,
      (doc) =>
        changeOf(doc, () => {
          const paragraph = (aliceEntry(doc).get("body") as Y.XmlFragment).get(0) as Y.XmlElement;
          (paragraph.get(0) as Y.XmlText).insert(0, "pwned: ");
        }),
      /^4403 forbidden: you may change only your own messages/,
    ));

  test("deleting another user's message (soft and hard)", async () => {
    await attack("mallory", segment, (doc) => changeOf(doc, () => aliceEntry(doc).set("deleted", true)), /^4403 forbidden/);
    await attack("mallory", segment, (doc) => changeOf(doc, () => doc.getMap("messages").delete(aliceMessage)), /^4403 forbidden/);
  });

  test("replacing another user's message with a concurrent entry for its id", () =>
    attack(
      "mallory",
      segment,
      () => {
        // Built without the server's state, so the update deletes nothing; Yjs would still let it win.
        const blind = new Y.Doc();
        blind.clientID = 0xfffffff0;
        const entry = new Y.Map<unknown>();
        blind.transact(() => {
          blind.getMap("messages").set(aliceMessage, entry);
          entry.set("author", "mallory");
          entry.set("kind", "text");
          entry.set("createdAt", 1);
          entry.set("body", new Y.XmlFragment());
        });
        return Y.encodeStateAsUpdate(blind);
      },
      /^4409 conflict: message .* already exists/,
    ));

  test("writing a system message", () =>
    attack(
      "mallory",
      segment,
      (doc) => changeOf(doc, () => createMessage(doc, { id: uuidv7(), author: "mallory", kind: "system", createdAt: 1, text: "x" })),
      /^4403 forbidden: only the server sends system messages/,
    ));

  test("writing with another user's Yjs client id", () =>
    attack(
      "mallory",
      segment,
      (doc) => {
        // Set after the handshake: Yjs would otherwise pick a new id on seeing its own from the server.
        doc.clientID = alice.document.clientID;
        return changeOf(doc, () => createMessage(doc, { id: uuidv7(), author: "mallory", createdAt: 1, text: "as alice's client" }));
      },
      /^4409 conflict: client id \d+ belongs to another user/,
    ));

  test("changing dialog metadata, participants or another user's read cursor", async () => {
    const meta = metaDocName(dialogId);
    await attack(
      "mallory",
      meta,
      (doc) => changeOf(doc, () => doc.getMap("meta").set("title", "hijacked")),
      /^4403 forbidden: "meta" is written by the server only/,
    );
    await attack(
      "mallory",
      meta,
      (doc) =>
        changeOf(doc, () => doc.getMap("participants").set("mallory", { displayName: "M", company: null, role: "admin", joinedAt: 1 })),
      /^4403 forbidden/,
    );
    await attack(
      "mallory",
      meta,
      (doc) => changeOf(doc, () => doc.getMap("reads").set("alice", { messageId: aliceMessage, readAt: 1 })),
      /^4403 forbidden: you may move only your own read cursor/,
    );
  });

  /** A potential participant is refused a segment at authentication: they get none of its bytes, and can send none. */
  const refusedSegment = async (user: string) => {
    const raw = await RawClient.connect(fixture.t.wsUrl, segment, await tokenFor(user, { scope_level1: ["logistics"] }));
    const answer = await raw.waitFor((event) => event.type === "denied" || event.type === "authenticated");
    raw.close();
    expect(answer).toEqual({ type: "denied", reason: expect.stringMatching(/^4403 forbidden: join the dialog to read its messages/) });
    expect(messagesOf(raw.doc).size).toBe(0);
  };

  test("potential and read-only participants write nothing", async () => {
    const write = (author: string) => (doc: Y.Doc) =>
      changeOf(doc, () => createMessage(doc, { id: uuidv7(), author, createdAt: 1, text: "hello?" }));
    await refusedSegment("pat");
    await attack("rita", segment, write("rita"), /^4403 forbidden: read-only participants cannot write/);
  });

  test("truncated bytes and updates with missing dependencies", async () => {
    await attack(
      "mallory",
      segment,
      (doc) => {
        const whole = changeOf(doc, () => createMessage(doc, { id: uuidv7(), author: "mallory", createdAt: 1, text: "cut short" }));
        return whole.slice(0, Math.floor(whole.length / 2));
      },
      /^4422 invalid_update: the update could not be decoded/,
    );
    await attack(
      "mallory",
      segment,
      (doc) => {
        createMessage(doc, { id: uuidv7(), author: "mallory", createdAt: 1, text: "first" });
        const afterFirst = Y.encodeStateVector(doc);
        createMessage(doc, { id: uuidv7(), author: "mallory", createdAt: 2, text: "second" });
        return Y.encodeStateAsUpdate(doc, afterFirst);
      },
      /^4422 invalid_update: the update skips changes/,
    );
  });

  describe("hand-built attacks of every class (@mtchat/authz/testing)", () => {
    test.each(attacks.map((a) => [a.name, a] as const))("%s", async (_name, a) => {
      const potential = a.access === "potential";
      const user = potential ? "pat" : "mallory";
      if (potential && a.docKind === "segment") return refusedSegment(user);
      const docName = a.docKind === "segment" ? segment : a.docKind === "meta" ? metaDocName(dialogId) : userDocName("default", user);
      if (potential) {
        // An edit leaves the old text as garbage-collected ranges, which inert structs point into.
        editMessageText(aliceEntry(alice.document), `edited ${Date.now()}`, Date.now());
        await acknowledged(alice);
      }
      // One client id for the setup and the attack: Yjs gives the raw doc a new one when the server echoes the setup back.
      let clientId: number | undefined;
      const ctx = (doc: Y.Doc): AttackContext => {
        clientId ??= doc.clientID;
        return { view: doc, clientId, userId: user, victim: "alice", dialogId };
      };
      const { setup } = a;
      await attack(
        user,
        docName,
        (doc) => a.build(ctx(doc)),
        new RegExp(`^${errorKinds[a.refusal].ws} ${a.refusal}: `),
        potential ? { scope_level1: ["logistics"] } : {},
        setup && ((doc) => setup(ctx(doc))),
      );
    });
  });

  test("the server applies only the canonical update: Hocuspocus never decodes a client's own bytes", async () => {
    const raw = await RawClient.connect(fixture.t.wsUrl, segment, await tokenFor("mallory"));
    await raw.handshake();
    const clientId = raw.doc.clientID;
    const id = uuidv7();
    // A message whose last struct is its text, then one struct over that last clock that declares
    // a root of its own: decoding the client's bytes would create that root in the server's document.
    const message = changeOf(raw.doc, () => {
      const entry = new Y.Map<unknown>();
      raw.doc.transact(() => {
        messagesOf(raw.doc).set(id, entry);
        entry.set("author", "mallory");
        entry.set("kind", "text");
        entry.set("createdAt", Date.now());
        entry.set("reactions", new Y.Map());
        const body = new Y.XmlFragment();
        entry.set("body", body);
        const paragraph = new Y.XmlElement("paragraph");
        body.insert(0, [paragraph]);
        const text = new Y.XmlText();
        paragraph.insert(0, [text]);
        text.insert(0, "abc");
      });
    });
    raw.sendUpdate(message);
    await docUntil(bob.document, () => messagesOf(bob.document).has(id));
    const state = Y.getState(raw.doc.store, clientId);
    raw.sendUpdate(
      rawUpdate([
        { client: clientId, clock: state - 1, structs: [{ kind: "item", parent: "canary-root", content: new Y.ContentString("cyz") }] },
      ]),
    );
    await docUntil(bob.document, () => readMessage(id, messagesOf(bob.document).get(id) as Y.Map<unknown>).text === "abcyz");
    const server = (await fixture.t.server.hocuspocus.openDirectConnection(segment)).document as Y.Doc;
    expect(server.share.has("canary-root")).toBe(false);
    expect((await storedView(fixture.t, segment))[id]).toMatchObject({ text: "abcyz" });
    raw.close();
  });

  test("the same raw client's own, legitimate write is accepted (the harness can pass)", async () => {
    const raw = await RawClient.connect(fixture.t.wsUrl, segment, await tokenFor("mallory"));
    await raw.handshake();
    const id = uuidv7();
    raw.sendUpdate(changeOf(raw.doc, () => createMessage(raw.doc, { id, author: "mallory", createdAt: 1, text: "hi all" })));
    await raw.waitFor((event) => event.type === "status" && raw.events.filter((e) => e.type === "status").length >= 2);
    raw.close();
    await docUntil(bob.document, () => messagesOf(bob.document).has(id));
    expect((await storedView(fixture.t, segment))[id]).toMatchObject({ author: "mallory", text: "hi all" });
  });

  test("unauthenticated and unauthorized connections are denied", async () => {
    const deniedWith = async (token: string, docName = segment) => {
      const raw = await RawClient.connect(fixture.t.wsUrl, docName, token);
      const event = await raw.waitFor((e) => e.type === "denied" || e.type === "authenticated");
      raw.close();
      return event;
    };
    expect(await deniedWith("not-a-jwt")).toMatchObject({ type: "denied", reason: expect.stringMatching(/^4401 unauthorized/) });
    expect(await deniedWith(await tokenFor("alice", {}, Math.floor(Date.now() / 1000) - 5))).toMatchObject({
      reason: expect.stringMatching(/^4401 unauthorized: the token has expired/),
    });
    const noneToken = `${Buffer.from('{"alg":"none"}').toString("base64url")}.${Buffer.from(JSON.stringify({ sub: "alice", exp: 9e9 })).toString("base64url")}.`;
    expect(await deniedWith(noneToken)).toMatchObject({ reason: expect.stringMatching(/^4401 unauthorized/) });
    expect(await deniedWith(await tokenFor("stranger"))).toMatchObject({ reason: expect.stringMatching(/^4403 forbidden/) });
    expect(await deniedWith(await tokenFor("alice"), segmentDocName(dialogId, 5))).toMatchObject({
      reason: expect.stringMatching(/^4404 not_found/),
    });
  });
});
