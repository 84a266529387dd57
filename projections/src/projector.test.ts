import { randomUUID } from "node:crypto";
import {
  createMessage,
  deleteMessage,
  messagesOf,
  metaDocName,
  metaOf,
  parseDocName,
  participantsOf,
  reactionKey,
  readsOf,
  segmentDocName,
  userDocId,
  userDocName,
  userStateOf,
} from "@mtchat/protocol";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import * as Y from "yjs";
import { Projector } from "./projector.ts";
import { useTestDatabase } from "./test-database.ts";
import { appendRow, deletion, registerDialog, updateOf } from "./testing.ts";

const db = useTestDatabase("projector");

/** Writes `mutate`'s update into the log and projects it; the projection must commit and reach the head. */
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const write = async (projector: Projector, docName: string, dialogId: string, doc: Y.Doc, mutate: (doc: Y.Doc) => void) => {
  const before = new Set(messagesOf(doc).keys());
  const update = updateOf(doc, mutate);
  const messageIds = [...messagesOf(doc).keys()].filter((id) => !before.has(id) && uuidPattern.test(id));
  const seq = await appendRow(db.pool, docName, dialogId, update, { messageIds });
  expect(await projector.catchUp(docName)).toBe(seq);
};

const rowsOf = async (dialogId: string) => {
  const result: Record<string, unknown[]> = {};
  for (const [table, key] of [
    ["dialogs", "id"],
    ["access_scopes", "dialog_id"],
    ["participants", "dialog_id"],
    ["read_cursors", "dialog_id"],
    ["messages", "dialog_id"],
  ] as const) {
    result[table] = (await db.pool.query(`SELECT * FROM ${table} WHERE ${key} = $1 ORDER BY 1, 2`, [dialogId])).rows;
  }
  return result;
};

const wipe = async (dialogId: string) => {
  for (const table of ["access_scopes", "participants", "read_cursors", "messages", "projection_checkpoints"]) {
    await db.pool.query(`DELETE FROM ${table} WHERE dialog_id = $1`, [dialogId]);
  }
  await db.pool.query("DELETE FROM dialogs WHERE id = $1", [dialogId]);
};

// ---- hostile values: anything a Yjs document can hold, as a legacy or buggy writer would leave it ----

const hostileString = fc.oneof(
  fc.string({ unit: "binary", maxLength: 24 }),
  fc.constantFrom(
    "a\u0000b",
    "\u0000",
    "\uD800",
    "x\uDFFFy",
    "",
    "'; DROP TABLE messages; --",
    "😀",
    "0190A8C0-0000-7000-8000-000000000000",
    // Longer than a b-tree index entry holds, and just within it (512 characters, 2,048 bytes).
    "x".repeat(3_000),
    "😀".repeat(256),
  ),
  fc.uuid(),
);
const hostileNumber = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e308, -1e308, 8.64e15 + 1, 2 ** 53 + 2, -0, 1e21),
);
const { value: hostileValue } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    hostileString,
    hostileNumber,
    fc.boolean(),
    fc.constant(null),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    fc.uint8Array({ maxLength: 4 }),
    fc.array(tie("value"), { maxLength: 3 }),
    fc.dictionary(hostileString, tie("value"), { maxKeys: 3 }),
  ),
}));

/**
 * fast-check may build objects without a prototype, which lib0 cannot encode;
 * a client's bytes can say anything, so the same content with ordinary
 * objects is just as hostile.
 */
const plain = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(plain);
  if (value === null || typeof value !== "object" || value instanceof Uint8Array) return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value))
    Object.defineProperty(out, key, { value: plain(item), enumerable: true, writable: true });
  return out;
};

type BodyNode = { text: string; marks: Record<string, unknown> } | { name: string; attrs: Record<string, unknown>; children: BodyNode[] };
const { node: bodyNode } = fc.letrec<{ node: BodyNode }>((tie) => ({
  node: fc.oneof(
    { depthSize: "small" },
    fc.record({
      text: hostileString,
      // Formatting attributes are stored as JSON by Yjs, so only JSON values can be written there.
      marks: fc.dictionary(
        fc.oneof(fc.constantFrom("bold", "link", "code", "evil"), hostileString),
        fc.oneof(hostileString, fc.jsonValue({ maxDepth: 2 }), fc.record({ href: hostileString })),
        { maxKeys: 2 },
      ),
    }),
    fc.record({
      name: fc.oneof(fc.constantFrom("paragraph", "mention", "orderedList", "listItem", "codeBlock", "script"), hostileString),
      attrs: fc.dictionary(fc.oneof(fc.constantFrom("id", "label", "start", "language", "href"), hostileString), hostileValue, {
        maxKeys: 2,
      }),
      children: fc.array(tie("node"), { maxLength: 3 }),
    }),
  ),
}));

const toYNode = (node: BodyNode): Y.XmlElement | Y.XmlText => {
  if ("text" in node) {
    const text = new Y.XmlText();
    text.insert(0, node.text.length > 0 ? node.text : "t", plain(node.marks) as Record<string, object>);
    return text;
  }
  const element = new Y.XmlElement(node.name.length > 0 ? node.name : "x");
  for (const [key, value] of Object.entries(node.attrs)) element.setAttribute(key, plain(value) as string);
  element.insert(0, node.children.map(toYNode));
  return element;
};

const messageSpec = fc.record(
  {
    id: fc.oneof(fc.uuid(), fc.uuid(), hostileString),
    author: fc.oneof(hostileString, hostileValue),
    kind: fc.oneof(fc.constantFrom("text", "system"), hostileValue),
    createdAt: fc.oneof(hostileNumber, hostileValue),
    body: fc.oneof(fc.array(bodyNode, { maxLength: 3 }), hostileValue),
    replyTo: fc.oneof(fc.uuid(), hostileString, hostileValue),
    attachments: fc.oneof(
      fc.array(fc.record({ id: hostileString, name: hostileString, mime: hostileString, size: hostileNumber, extra: hostileValue })),
      hostileValue,
    ),
    editedAt: fc.oneof(hostileNumber, hostileValue),
    deleted: fc.oneof(fc.boolean(), hostileValue),
    system: hostileValue,
    reactions: fc.dictionary(
      fc.oneof(
        fc.tuple(hostileString, hostileString).map(([u, e]) => reactionKey(u, e)),
        hostileString,
      ),
      hostileNumber,
      {
        maxKeys: 3,
      },
    ),
    plain: fc.boolean(),
  },
  { requiredKeys: ["id", "plain"] },
);

type MessageSpec = typeof messageSpec extends fc.Arbitrary<infer T> ? T : never;

const metaSpec = fc.record(
  {
    projectId: fc.oneof(fc.constant("default"), hostileString),
    objectType: fc.oneof(hostileString, hostileValue),
    objectId: fc.oneof(hostileString, hostileValue),
    title: fc.oneof(hostileString, hostileValue),
    objectUrl: hostileString,
    createdBy: hostileString,
    createdAt: fc.oneof(hostileNumber, hostileValue),
    hostMeta: hostileValue,
    accessScopes: fc.oneof(
      fc.array(
        fc.record({
          tenant_uid: fc.oneof(hostileString, hostileValue),
          scope_level1: fc.oneof(fc.array(hostileString, { maxLength: 2 }), hostileValue),
          scope_level2: fc.oneof(fc.array(hostileString, { maxLength: 2 }), hostileValue),
        }),
        { maxLength: 3 },
      ),
      hostileValue,
    ),
    headSegment: fc.oneof(hostileNumber, hostileValue),
    kind: fc.oneof(fc.constantFrom("object", "direct", "channel"), hostileString),
    autoArchivedThrough: fc.oneof(fc.uuid(), hostileString),
  },
  { requiredKeys: [] },
);

const participantSpec = fc.oneof(
  fc.record({
    displayName: fc.oneof(hostileString, hostileValue),
    company: fc.oneof(hostileString, hostileValue),
    role: fc.oneof(fc.constantFrom("member", "admin", "readonly"), hostileString),
    joinedAt: fc.oneof(hostileNumber, hostileValue),
  }),
  hostileValue,
);
const cursorSpec = fc.oneof(
  fc.record({ messageId: fc.oneof(fc.uuid(), hostileString, hostileValue), readAt: hostileNumber }),
  hostileValue,
);

const writeMessage = (doc: Y.Doc, spec: MessageSpec) => {
  const messages = messagesOf(doc);
  if (spec.plain) {
    messages.set(spec.id, plain(spec.author) as never);
    return;
  }
  const entry = new Y.Map<unknown>();
  messages.set(spec.id, entry as Y.Map<unknown>);
  for (const field of ["author", "kind", "createdAt", "replyTo", "attachments", "editedAt", "deleted", "system"] as const) {
    if (field in spec) entry.set(field, plain(spec[field]));
  }
  if (
    Array.isArray(spec.body) &&
    spec.body.every((node: unknown) => typeof node === "object" && node !== null && ("text" in node || "name" in node))
  ) {
    const body = new Y.XmlFragment();
    entry.set("body", body);
    body.insert(0, (spec.body as BodyNode[]).map(toYNode));
  } else if ("body" in spec) {
    entry.set("body", plain(spec.body));
  }
  const reactions = new Y.Map<unknown>();
  entry.set("reactions", reactions);
  for (const [key, at] of Object.entries(spec.reactions ?? {})) reactions.set(key, at);
};

const epochMs = 0;
const maxMs = Date.parse("9999-12-31T23:59:59.999Z");
const maxMessageChars = 40;

describe("the projection is total", () => {
  test("random hostile values written straight into documents always project, and warm and cold projections agree", async () => {
    await fc.assert(
      fc.asyncProperty(
        metaSpec,
        fc.dictionary(hostileString, participantSpec, { maxKeys: 4 }),
        fc.dictionary(hostileString, cursorSpec, { maxKeys: 3 }),
        fc.array(messageSpec, { maxLength: 5 }),
        fc.array(fc.tuple(hostileString, fc.oneof(participantSpec, fc.constant(undefined))), { maxLength: 3 }),
        fc.array(fc.tuple(hostileString, fc.oneof(cursorSpec, fc.constant(undefined))), { maxLength: 3 }),
        fc.array(fc.tuple(fc.nat(), fc.constantFrom("edit", "delete", "react", "field")), { maxLength: 3 }),
        async (meta, participants, reads, messages, participantChanges, readChanges, messageChanges) => {
          const projector = new Projector(db.pool, { maxMessageChars });
          const dialogId = await registerDialog(db.pool);
          const metaName = metaDocName(dialogId);
          const segmentName = segmentDocName(dialogId, 0);
          const metaDoc = new Y.Doc();
          const segment = new Y.Doc();
          await write(projector, metaName, dialogId, metaDoc, (doc) => {
            for (const [key, value] of Object.entries(meta)) metaOf(doc).set(key, plain(value));
            for (const [userId, entry] of Object.entries(participants)) participantsOf(doc).set(userId, plain(entry) as never);
          });
          await write(projector, metaName, dialogId, metaDoc, (doc) => {
            for (const [userId, cursor] of Object.entries(reads)) readsOf(doc).set(userId, plain(cursor) as never);
          });
          await write(projector, segmentName, dialogId, segment, (doc) => {
            for (const message of messages) writeMessage(doc, message);
          });
          // Later changes go through the warm path (the cached document and the changed keys only).
          await write(projector, metaName, dialogId, metaDoc, (doc) => {
            for (const [userId, entry] of participantChanges) {
              if (entry === undefined) participantsOf(doc).delete(userId);
              else participantsOf(doc).set(userId, plain(entry) as never);
            }
            for (const [userId, cursor] of readChanges) {
              if (cursor === undefined) readsOf(doc).delete(userId);
              else readsOf(doc).set(userId, plain(cursor) as never);
            }
          });
          await write(projector, segmentName, dialogId, segment, (doc) => {
            const entries = [...messagesOf(doc).values()].filter((entry): entry is Y.Map<unknown> => entry instanceof Y.Map);
            for (const [index, change] of messageChanges) {
              const entry = entries[index % Math.max(entries.length, 1)];
              if (!entry) continue;
              if (change === "delete") deleteMessage(entry);
              else if (change === "react") (entry.get("reactions") as Y.Map<unknown>).set(reactionKey("u\u0000", "👍"), 1);
              else if (change === "field") entry.set("replyTo", "not-a-uuid\u0000");
              else entry.set("editedAt", Number.NaN);
            }
          });

          const warm = await rowsOf(dialogId);
          for (const row of warm.messages as { id: string; body_text: string; reply_to: string | null; created_at: Date }[]) {
            expect(row.id).toMatch(uuidPattern);
            expect(row.body_text.length).toBeLessThanOrEqual(maxMessageChars);
            expect(row.created_at.getTime()).toBeGreaterThanOrEqual(epochMs);
            expect(row.created_at.getTime()).toBeLessThanOrEqual(maxMs);
          }
          const projectedIds = new Set((warm.messages as { id: string }[]).map((row) => row.id));
          const messageIds = [...messagesOf(segment).entries()]
            .filter(([id, entry]) => uuidPattern.test(id) && entry instanceof Y.Map)
            .map(([id]) => id);
          expect([...projectedIds].sort()).toEqual(messageIds.sort());
          for (const row of warm.participants as { role: string }[]) expect(["member", "admin", "readonly"]).toContain(row.role);
          for (const row of warm.dialogs as { head_segment: number; kind: string }[]) {
            expect(row.head_segment).toBeGreaterThanOrEqual(0);
            expect(["object", "direct", "self", "group", "channel"]).toContain(row.kind);
          }

          // From zero with a new projector: the same rows.
          await wipe(dialogId);
          const cold = new Projector(db.pool, { maxMessageChars });
          await cold.catchUp(metaName);
          await cold.catchUp(segmentName);
          expect(await rowsOf(dialogId)).toEqual(warm);
          metaDoc.destroy();
          segment.destroy();
        },
      ),
      { numRuns: 40 },
    );
  });

  test("hostile user state documents project (or, for an id no column can hold, are skipped) without failing", async () => {
    await fc.assert(
      fc.asyncProperty(
        hostileString,
        fc.dictionary(
          fc.oneof(
            hostileString,
            fc.uuid().map((id) => `${id}/pinned`),
          ),
          hostileValue,
        ),
        async (userId, state) => {
          const projector = new Projector(db.pool);
          let docName: string;
          try {
            docName = userDocName("default", userId);
          } catch {
            return; // An unpaired surrogate cannot be URI-encoded: no such document can be named.
          }
          if (parseDocName(docName) === null) return; // "" and over-long ids name no document either.
          const dialogId = userDocId("default", userId);
          await db.pool.query(
            "INSERT INTO dialog_registry (id, project_id, owner_user_id) VALUES ($1, 'default', $2) ON CONFLICT (id) DO NOTHING",
            [dialogId, userId.replaceAll("\u0000", "")],
          );
          const doc = new Y.Doc();
          await write(projector, docName, dialogId, doc, (d) => {
            for (const [key, value] of Object.entries(state)) userStateOf(d).set(key, plain(value));
          });
          doc.destroy();
        },
      ),
      { numRuns: 30 },
    );
  });
});

describe("values that used to stop a dialog's projection for good", () => {
  const setUp = async (options: { maxMessageChars?: number } = {}) => {
    const projector = new Projector(db.pool, options);
    const dialogId = await registerDialog(db.pool);
    return { projector, dialogId, metaName: metaDocName(dialogId), segmentName: segmentDocName(dialogId, 0) };
  };

  test("a replyTo that is no UUID, NUL in text and in a display name, a non-UUID read cursor, odd times and huge numbers", async () => {
    const { projector, dialogId, metaName, segmentName } = await setUp();
    const metaDoc = new Y.Doc();
    const segment = new Y.Doc();
    const id = randomUUID();
    await write(projector, metaName, dialogId, metaDoc, (doc) => {
      const meta = metaOf(doc);
      meta.set("objectType", "order");
      meta.set("objectId", "o-1\u0000");
      meta.set("title", "Ti\u0000tle");
      meta.set("createdAt", 1e300);
      meta.set("headSegment", 1e20);
      meta.set("hostMeta", { "k\u0000": "v\u0000", n: 2n ** 40n, big: 2n ** 62n });
      meta.set("accessScopes", [
        { tenant_uid: "t", scope_level1: [5], scope_level2: [] },
        { tenant_uid: "t", scope_level1: ["a"], scope_level2: [] },
      ]);
      participantsOf(doc).set("alice", { displayName: "A\u0000lice", company: null, role: "member", joinedAt: Number.NaN });
      participantsOf(doc).set("mallory\u0000", { displayName: "M", company: null, role: "admin", joinedAt: 1 });
      participantsOf(doc).set("bob", { displayName: "Bob", company: null, role: "owner" as never, joinedAt: -5 });
      readsOf(doc).set("alice", { messageId: "not-a-uuid", readAt: 1 });
      readsOf(doc).set("bob", { messageId: id, readAt: Number.POSITIVE_INFINITY });
    });
    await write(projector, segmentName, dialogId, segment, (doc) => {
      const entry = createMessage(doc, { id, author: "alice", createdAt: -1e20, text: "a\u0000b" });
      entry.set("replyTo", "hello");
      entry.set("editedAt", 8.64e15 + 1);
      entry.set("system", { event: "x\u0000", deep: { "\u0000": ["\uD800"] } });
      entry.set("attachments", [{ id: "f\u0000", name: "n", mime: "m", size: 1e300 }]);
    });
    const rows = await rowsOf(dialogId);
    expect(rows.dialogs).toEqual([
      expect.objectContaining({
        object_id: "o-1\uFFFD",
        title: "Title",
        head_segment: 1_000_000,
        meta: { k: "v", n: 2 ** 40, big: (2n ** 62n).toString() },
      }),
    ]);
    expect(((rows.dialogs ?? [])[0] as { created_at: Date }).created_at.toISOString()).toBe("9999-12-31T23:59:59.999Z");
    // The scope with a non-string level is dropped whole: an empty level would match everyone in the tenant.
    expect(rows.access_scopes).toEqual([expect.objectContaining({ tenant_uid: "t", scope_level1: ["a"], scope_level2: [] })]);
    // A user id no column can hold exactly gets no participant row (it would alias "mallory").
    expect(rows.participants).toEqual([
      expect.objectContaining({ user_id: "alice", display_name: "Alice", joined_at: new Date(0) }),
      expect.objectContaining({ user_id: "bob", role: "readonly", joined_at: new Date(0) }),
    ]);
    expect(rows.read_cursors).toEqual([expect.objectContaining({ user_id: "bob", message_id: id, read_at: new Date(0) })]);
    expect(rows.messages).toEqual([
      expect.objectContaining({
        id,
        body_text: "ab",
        reply_to: null,
        created_at: new Date(0),
        edited_at: new Date("9999-12-31T23:59:59.999Z"),
        system: { event: "x", deep: { "": ["\uFFFD"] } },
        attachments: [{ id: "f", name: "n", mime: "m", size: Number.MAX_SAFE_INTEGER }],
      }),
    ]);
  });

  test("ids too long for a b-tree index entry: no participant or cursor row, the scope dropped, the object id cut", async () => {
    const { projector, dialogId, metaName } = await setUp();
    const long = "x".repeat(5_000);
    const metaDoc = new Y.Doc();
    await write(projector, metaName, dialogId, metaDoc, (doc) => {
      metaOf(doc).set("objectType", "order");
      metaOf(doc).set("objectId", `o${long}`);
      metaOf(doc).set("accessScopes", [{ tenant_uid: long, scope_level1: [], scope_level2: [] }]);
      participantsOf(doc).set(long, { displayName: "L", company: null, role: "member", joinedAt: 1 });
      participantsOf(doc).set("alice", { displayName: "A", company: null, role: "member", joinedAt: 1 });
      readsOf(doc).set(long, { messageId: randomUUID(), readAt: 1 });
    });
    const rows = await rowsOf(dialogId);
    expect((rows.dialogs as { object_id: string }[]).map((row) => row.object_id.length)).toEqual([256]);
    expect(rows.access_scopes).toEqual([]);
    expect((rows.participants as { user_id: string }[]).map((row) => row.user_id)).toEqual(["alice"]);
    expect(rows.read_cursors).toEqual([]);
  });

  test("a message of 100,000 distinct words projects, its text cut at MAX_MESSAGE_CHARS, and is found by search", async () => {
    const words = Array.from({ length: 100_000 }, (_, index) => `w${index.toString(36)}x`).join(" ");
    for (const limit of [20_000, 2_000_000]) {
      const { projector, dialogId, segmentName } = await setUp({ maxMessageChars: limit });
      const segment = new Y.Doc();
      const id = randomUUID();
      await write(projector, segmentName, dialogId, segment, (doc) => {
        createMessage(doc, { id, author: "alice", createdAt: Date.now(), text: words });
      });
      const { rows } = await db.pool.query<{ length: number; found: boolean }>(
        "SELECT length(body_text) AS length, search @@ plainto_tsquery('russian', 'w0x') AS found FROM messages WHERE dialog_id = $1",
        [dialogId],
      );
      expect(rows).toEqual([{ length: Math.min(words.length, limit), found: true }]);
    }
  });

  test("a body nested 4,000 levels deep projects (cut at the protocol's depth); deleting it projects too", async () => {
    const { projector, dialogId, segmentName } = await setUp();
    const segment = new Y.Doc({ gc: false });
    const id = randomUUID();
    await write(projector, segmentName, dialogId, segment, (doc) => {
      const entry = createMessage(doc, { id, author: "alice", createdAt: Date.now(), text: "" });
      const body = entry.get("body") as Y.XmlFragment;
      body.delete(0, body.length);
      // Built from the outside in, each element inserted into an integrated one, so nothing recurses while writing.
      let parent: Y.XmlFragment | Y.XmlElement = body;
      for (let depth = 0; depth < 4_000; depth += 1) {
        const child: Y.XmlElement = new Y.XmlElement(depth % 2 === 0 ? "blockquote" : "bulletList");
        parent.insert(0, [child]);
        parent = child;
      }
      parent.insert(0, [new Y.XmlText("deepest")]);
    });
    const { rows } = await db.pool.query<{ body: unknown }>("SELECT body FROM messages WHERE dialog_id = $1", [dialogId]);
    expect(rows).toHaveLength(1);
    // doc + at most maxBodyDepth (24) levels of elements.
    expect(JSON.stringify(rows[0]?.body).split('"type"').length - 1).toBeLessThanOrEqual(25);

    // Deleting the tree: Yjs itself recurses once per level (Item.delete, and Item.gc when collecting), so on a small
    // stack (a test worker's) it overflows. Either way the projection commits: the deletion applies, or it is quarantined.
    const top = ((messagesOf(segment).get(id) as Y.Map<unknown>).get("body") as Y.XmlFragment).get(0) as Y.XmlElement;
    const item = top._item as Y.Item;
    const seq = await appendRow(db.pool, segmentName, dialogId, deletion(item.id.client, item.id.clock, 1));
    expect(await projector.catchUp(segmentName)).toBe(seq);
    const { rows: after } = await db.pool.query<{ deleted: boolean }>("SELECT deleted FROM messages WHERE dialog_id = $1", [dialogId]);
    const { rows: quarantined } = await db.pool.query<{ reason: string }>(
      "SELECT reason FROM doc_quarantine WHERE doc_name = $1 AND seq = $2",
      [segmentName, seq],
    );
    expect(after).toHaveLength(1);
    if (quarantined.length > 0) expect(quarantined[0]?.reason).toMatch(/^yjs_error: RangeError/);
    const { rows: log } = await db.pool.query<{ update: Buffer }>("SELECT update FROM doc_log WHERE doc_name = $1 AND seq = $2", [
      segmentName,
      seq,
    ]);
    expect(log[0]?.update.length).toBe(quarantined.length > 0 ? 2 : 6);
  });
});
