import {
  createMessage,
  draftRootName,
  editMessageText,
  isUserStateValue,
  isUuid,
  messagesOf,
  parseUserStateKey,
  reactionKey,
  readsOf,
  setReaction,
} from "@mtchat/protocol";
import fc from "fast-check";
import { describe, test } from "vitest";
import * as Y from "yjs";
import { type RawStruct, rawUpdate } from "./testing/index.ts";
import {
  bodyText,
  bodyViolation,
  fieldViolation,
  type ObservedMessage,
  observeBody,
  observeMessages,
  rootListJunk,
} from "./testing/observe.ts";
import { inspectUpdate } from "./update-inspector.ts";
import type { Writer, WriterAccess } from "./writer.ts";

/**
 * Differential testing against Yjs itself. Random and mutated hostile updates
 * (hand-built structs with any clock, origin, parent, key and content, mixed
 * with legitimate edits) go to the inspector; every update it accepts is
 * applied as the server applies it, and the change Yjs actually made is
 * checked against the rules. An accepted update whose real effect breaks a
 * rule, or that does not apply cleanly, fails.
 *
 * RUNS (env MTCHAT_DIFFERENTIAL_RUNS) sets the number of runs; CI uses the default.
 */
const runs = Number(process.env.MTCHAT_DIFFERENTIAL_RUNS ?? 3000);
const seed = process.env.MTCHAT_DIFFERENTIAL_SEED ? Number(process.env.MTCHAT_DIFFERENTIAL_SEED) : undefined;
const maxChars = 400;

const dialogId = "01890a5d-ac96-774b-b9aa-0000000000d1";
const bobMessage = "01890a5d-ac96-774b-b9aa-0000000000b1";
const systemMessage = "01890a5d-ac96-774b-b9aa-0000000000f1";
const attacker = 77;
const clients = [attacker, attacker, attacker, attacker, attacker, attacker, attacker, 2, 3, 90];

const values: unknown[] = [
  "bob",
  "mallory",
  "$system",
  "system",
  "text",
  bobMessage,
  "not-a-uuid",
  42,
  Number.NaN,
  true,
  null,
  { messageId: bobMessage, readAt: 1 },
  { messageId: bobMessage, readAt: 1, extra: "x".repeat(50) },
  [{ id: "f1", name: "a.pdf", mime: "application/pdf", size: 3 }],
  [{ url: "javascript:alert(1)", mime: "application/pdf" }],
  { archived: true, through: null },
];
const keys: (string | null)[] = [
  null,
  null,
  null,
  "author",
  "kind",
  "createdAt",
  "body",
  "replyTo",
  "attachments",
  "editedAt",
  "deleted",
  "reactions",
  "system",
  "fresh",
  bobMessage,
  reactionKey("mallory", "👍"),
  reactionKey("bob", "👍"),
  "href",
  "mallory",
  "bob",
  "title",
  "label",
  "id",
  "start",
  `${dialogId}/pinned`,
  `${dialogId}/color`,
];
/** Keys and values the clipping attack's struct declares: ones the rules accept where it claims to be. */
const clipKeys: (string | null)[] = [null, "label", "id", reactionKey("mallory", "👍"), "editedAt"];
const clipValues: unknown[] = ["bob", 42];
const elementNames = ["paragraph", "script", "image", "blockquote", "mention"];

const contentOf = (kind: number, pick: number, length: number): Y.Item["content"] => {
  switch (kind % 13) {
    case 0:
    case 1:
    case 11:
    case 12:
      return new Y.ContentAny(Array.from({ length }, (_, index) => values[(pick + index) % values.length]));
    case 2:
      return new Y.ContentString("xyz".repeat(length).slice(0, length));
    case 3:
      return new Y.ContentType(new Y.Map());
    case 4:
      return new Y.ContentType(new Y.XmlFragment());
    case 5:
      return new Y.ContentType(new Y.XmlElement(elementNames[pick % elementNames.length] as string));
    case 6:
      return new Y.ContentType(new Y.XmlText());
    case 7:
      return new Y.ContentDeleted(length);
    case 8:
      return new Y.ContentFormat(
        ["bold", "link", "evil"][pick % 3] as string,
        [{}, { href: "javascript:x" }, { href: "https://a.b" }, null][pick % 4] as object,
      );
    case 9:
      return pick % 2 === 0 ? new Y.ContentType(new Y.Array()) : new Y.ContentType(new Y.Text());
    default:
      return pick % 2 === 0 ? new Y.ContentEmbed({ x: 1 }) : new Y.ContentBinary(new Uint8Array([1, 2]));
  }
};

type StructSpec = {
  template: number;
  origin: number;
  originPick: number;
  right: number;
  rightPick: number;
  parent: number;
  parentPick: number;
  key: number;
  content: number;
  contentPick: number;
  length: number;
};

type Step =
  | { t: "send"; order: number; text: string; reply: boolean; attach: boolean }
  | { t: "edit"; text: string }
  | { t: "softDelete" }
  | { t: "react"; on: number }
  | { t: "cursor" }
  | { t: "draft"; text: string }
  | { t: "raw"; client: number; clock: number; structs: StructSpec[]; deletes: [number, number, number][] };

const structSpec: fc.Arbitrary<StructSpec> = fc.record({
  template: fc.nat(8),
  origin: fc.nat(7),
  originPick: fc.nat(),
  right: fc.nat(),
  rightPick: fc.nat(),
  parent: fc.nat(5),
  parentPick: fc.nat(),
  key: fc.nat(),
  content: fc.nat(),
  contentPick: fc.nat(),
  length: fc.integer({ min: 1, max: 3 }),
});

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant("send" as const),
      order: fc.nat(),
      text: fc.string({ maxLength: 8 }),
      reply: fc.boolean(),
      attach: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("edit" as const), text: fc.string({ maxLength: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("softDelete" as const) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("react" as const), on: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("cursor" as const) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("draft" as const), text: fc.string({ maxLength: 8 }) }) },
  {
    weight: 6,
    arbitrary: fc.record({
      t: fc.constant("raw" as const),
      client: fc.nat(),
      clock: fc.nat(),
      structs: fc.array(structSpec, { minLength: 1, maxLength: 3 }),
      deletes: fc.oneof(
        { weight: 3, arbitrary: fc.constant([] as [number, number, number][]) },
        { weight: 2, arbitrary: fc.array(fc.tuple(fc.nat(), fc.nat(), fc.integer({ min: 1, max: 4 })), { minLength: 1, maxLength: 2 }) },
      ),
    }),
  },
);

/** Every struct start in a document, to point origins and parents at. */
const idsIn = (doc: Y.Doc, filter: (struct: Y.Item | Y.GC) => boolean): Y.ID[] => {
  const found: Y.ID[] = [];
  for (const structs of doc.store.clients.values()) {
    for (const struct of structs as (Y.Item | Y.GC)[]) if (filter(struct)) found.push(struct.id);
  }
  return found;
};

const pickFrom = <T>(list: readonly T[], pick: number): T | undefined => (list.length === 0 ? undefined : list[pick % list.length]);

/** Resolves a raw step's choices against the document: the hostile bytes. */
const buildRaw = (doc: Y.Doc, spec: Extract<Step, { t: "raw" }>, roots: string[]): Uint8Array => {
  const client = clients[spec.client % clients.length] as number;
  const state = Y.getState(doc.store, client);
  // Often at the client's state, as often inside what the server holds (the clipping attack), rarely past it.
  const mode = spec.clock % 20;
  const start = mode < 7 ? state : mode < 16 ? Math.max(0, state - 1) : mode < 18 ? Math.max(0, state - 2) : state + 1;
  const known = idsIn(doc, () => true);
  const types = idsIn(doc, (struct) => struct instanceof Y.Item && struct.content instanceof Y.ContentType);
  const garbage = idsIn(doc, (struct) => struct instanceof Y.GC);
  const structs: RawStruct[] = [];
  let clock = start;
  // Types inside the attacker's newest message: its map, body, paragraphs, text and inline elements.
  const newest = ownMessages(doc, "mallory").at(-1);
  const own = newest ? typesUnder(messagesOf(doc).get(newest) as Y.Map<unknown>) : [];
  for (const [index, s] of spec.structs.entries()) {
    if (s.template <= 3 && index === 0 && own.length > 0) {
      // The clipping attack's shape: one struct over the client's last known clock, no neighbours,
      // a parent in the attacker's own message, and a plain value.
      structs.push({
        kind: "item",
        parent: own[s.parentPick % own.length] as Y.ID,
        parentSub: clipKeys[s.key % clipKeys.length] ?? null,
        content: new Y.ContentAny(["x", clipValues[s.contentPick % clipValues.length]]),
      });
      clock += 2;
      continue;
    }
    const content = contentOf(s.content, s.contentPick, s.length);
    const previous = index > 0 ? Y.createID(client, clock - 1) : null;
    const ref = (kind: number, pick: number): Y.ID | null => {
      switch (kind) {
        case 1:
          return pickFrom(known, pick) ?? null;
        case 2:
          return previous ?? pickFrom(known, pick) ?? null;
        case 3:
          return Y.createID(client, clock + 1 + (pick % 2));
        case 4:
          return pickFrom(garbage, pick) ?? null;
        case 5:
          return Y.createID(client === attacker ? 2 : attacker, (pick % 50) + 100);
        default:
          return null;
      }
    };
    // Templates up to 5 name a parent and no neighbours, like the clipping attack, anywhere.
    const origin = s.template <= 5 ? null : ref(s.origin, s.originPick);
    const rightOrigin = s.template <= 5 || s.right % 10 < 7 ? null : ref(s.right % 6, s.rightPick);
    let parent: string | Y.ID | null = null;
    if (origin === null && rightOrigin === null) {
      if (s.parent === 0) parent = roots[s.parentPick % roots.length] as string;
      else if (s.parent === 1) parent = ["evil", "meta", "participants"][s.parentPick % 3] as string;
      else if (s.parent <= 3) parent = pickFrom(types, s.parentPick) ?? (roots[0] as string);
      else if (s.parent === 4) parent = previous ?? pickFrom(types, s.parentPick) ?? (roots[0] as string);
      else parent = pickFrom(known, s.parentPick) ?? (roots[0] as string);
    }
    const key = keys[s.key % keys.length] ?? null;
    structs.push({ kind: "item", origin, rightOrigin, parent, parentSub: key === "fresh" ? crypto.randomUUID() : key, content });
    clock += content.getLength();
  }
  const deletes = spec.deletes.map(([clientPick, clockPick, len]) => {
    const target = clients[clientPick % clients.length] as number;
    const top = Math.max(1, Y.getState(doc.store, target));
    const at = clockPick % top;
    // Mostly within what the server holds; the longest ranges run past it.
    return { client: target, ranges: [[at, len < 4 ? Math.max(1, Math.min(len, top - at)) : len]] as [number, number][] };
  });
  const first = spec.structs[0];
  const clipStart = first && first.template <= 3 && own.length > 0 ? Math.max(0, state - 1) : start;
  return rawUpdate([{ client, clock: clipStart, structs }], deletes);
};

/** Ids of the type items in a message's subtree (the message map itself included). */
const typesUnder = (entry: Y.Map<unknown>): Y.ID[] => {
  const found: Y.ID[] = [];
  const visit = (type: NonNullable<ReturnType<Y.Doc["share"]["get"]>>, depth: number) => {
    if (type._item) found.push(type._item.id);
    if (depth > 8) return;
    for (let item = type._start; item !== null; item = item.right)
      if (item.content instanceof Y.ContentType) visit(item.content.type, depth + 1);
    for (const item of type._map.values()) if (item.content instanceof Y.ContentType) visit(item.content.type, depth + 1);
  };
  visit(entry as unknown as NonNullable<ReturnType<Y.Doc["share"]["get"]>>, 0);
  return found;
};

/** A copy of the server's document that writes as the attacker. */
const fork = (server: Y.Doc): Y.Doc => {
  const doc = new Y.Doc();
  Y.applyUpdate(doc, Y.encodeStateAsUpdate(server));
  // Set after loading: Yjs picks a new client id when a remote update carries structs of its own.
  doc.clientID = attacker;
  return doc;
};

const changeOf = (doc: Y.Doc, change: () => void): Uint8Array => {
  const before = Y.encodeStateVector(doc);
  change();
  return Y.encodeStateAsUpdate(doc, before);
};

const ownMessages = (doc: Y.Doc, userId: string) =>
  [...messagesOf(doc).entries()].filter(([, entry]) => entry instanceof Y.Map && entry.get("author") === userId).map(([id]) => id);

/** A legitimate step as the SDK would write it, in the attacker's name. */
const buildLegit = (
  server: Y.Doc,
  userId: string,
  s: Exclude<Step, { t: "raw" }>,
  kind: "segment" | "meta" | "user",
): Uint8Array | null => {
  const doc = fork(server);
  if (kind === "meta") {
    return s.t === "cursor" ? changeOf(doc, () => readsOf(doc).set(userId, { messageId: bobMessage, readAt: Date.now() })) : null;
  }
  if (kind === "user") {
    if (s.t !== "draft") return null;
    return changeOf(doc, () => {
      const draft = doc.getXmlFragment(draftRootName(dialogId));
      const paragraph = new Y.XmlElement("paragraph");
      paragraph.insert(0, [new Y.XmlText(s.text)]);
      draft.insert(0, [paragraph]);
    });
  }
  const mine = ownMessages(doc, userId);
  switch (s.t) {
    case "send":
      // Fields in a random order, so that any of them can be the client's last struct.
      return changeOf(doc, () => {
        const entry = new Y.Map<unknown>();
        doc.transact(() => {
          messagesOf(doc).set(crypto.randomUUID(), entry);
          const fields: [string, () => unknown][] = [
            ["author", () => userId],
            ["kind", () => "text"],
            ["createdAt", () => 5],
            [
              "body",
              () => {
                const body = new Y.XmlFragment();
                const paragraph = new Y.XmlElement("paragraph");
                const mention = new Y.XmlElement("mention");
                mention.setAttribute("id", "bob");
                mention.setAttribute("label", "Bob");
                paragraph.insert(0, [new Y.XmlText(s.text || "x"), mention]);
                body.insert(0, [paragraph]);
                return body;
              },
            ],
            ["reactions", () => new Y.Map()],
          ];
          if (s.reply) fields.push(["replyTo", () => bobMessage]);
          if (s.attach) fields.push(["attachments", () => [{ id: "f1", name: "a.pdf", mime: "application/pdf", size: 3 }]]);
          const rotated = [...fields.slice(s.order % fields.length), ...fields.slice(0, s.order % fields.length)];
          for (const [key, make] of rotated) entry.set(key, make());
        });
      });
    case "edit": {
      const id = mine.at(-1);
      return id ? changeOf(doc, () => editMessageText(messagesOf(doc).get(id) as Y.Map<unknown>, s.text || "y", 9)) : null;
    }
    case "softDelete": {
      const id = mine.at(-1);
      return id ? changeOf(doc, () => (messagesOf(doc).get(id) as Y.Map<unknown>).set("deleted", true)) : null;
    }
    case "react": {
      const targets = [...messagesOf(doc).keys()];
      const id = targets[s.on % targets.length] as string;
      const entry = messagesOf(doc).get(id) as Y.Map<unknown>;
      return entry.get("reactions") instanceof Y.Map ? changeOf(doc, () => setReaction(entry, userId, "👍", s.on % 2 === 0, 3)) : null;
    }
    default:
      return null;
  }
};

const segmentFixture = (): Y.Doc => {
  const server = new Y.Doc();
  const bob = new Y.Doc();
  bob.clientID = 2;
  createMessage(bob, { id: bobMessage, author: "bob", createdAt: 1, text: "hello bob" });
  editMessageText(messagesOf(bob).get(bobMessage) as Y.Map<unknown>, "hello, edited", 2);
  setReaction(messagesOf(bob).get(bobMessage) as Y.Map<unknown>, "bob", "🎉", true, 3);
  Y.applyUpdate(server, Y.encodeStateAsUpdate(bob));
  const system = new Y.Doc();
  system.clientID = 3;
  createMessage(system, { id: systemMessage, author: "$system", kind: "system", createdAt: 0, text: "created" });
  Y.applyUpdate(server, Y.encodeStateAsUpdate(system));
  return server;
};

const metaFixture = (): Y.Doc => {
  const server = new Y.Doc();
  const doc = new Y.Doc();
  doc.clientID = 3;
  doc.getMap("meta").set("title", "Order 42");
  doc.getMap("participants").set("bob", { displayName: "Bob", company: null, role: "member", joinedAt: 1 });
  readsOf(doc).set("bob", { messageId: bobMessage, readAt: 1 });
  Y.applyUpdate(server, Y.encodeStateAsUpdate(doc));
  return server;
};

const userFixture = (): Y.Doc => new Y.Doc();

const canReact = (access: WriterAccess) => access === "member" || access === "admin" || access === "subscriber";

/** Reactions of other users than `userId`, which no update of theirs may touch. */
const othersReactions = (message: ObservedMessage, userId: string) =>
  Object.fromEntries(Object.entries(message.reactions).filter(([key]) => !key.startsWith(JSON.stringify([userId]).slice(0, -1))));

const isSubsequence = (small: string, large: string): boolean => {
  let at = 0;
  for (const char of large) if (at < small.length && small[at] === char) at += 1;
  return at === small.length;
};

/** Checks the observed change of an accepted segment update against every rule; returns the broken rule, or null. */
const segmentViolation = (before: Map<string, ObservedMessage>, after: Map<string, ObservedMessage>, writer: Writer): string | null => {
  const { userId, access } = writer;
  for (const [id, was] of before) {
    const now = after.get(id);
    if (!now) return `message ${id} disappeared`;
    if (now.item !== was.item) return `message ${id} was replaced`;
    const own = was.fields.author === userId && was.fields.kind !== "system";
    const reactionsOk = canReact(access)
      ? JSON.stringify(othersReactions(now, userId)) === JSON.stringify(othersReactions(was, userId))
      : JSON.stringify(now.reactions) === JSON.stringify(was.reactions);
    if (!reactionsOk) return `reactions of others changed on ${id}`;
    for (const field of ["author", "kind", "createdAt", "replyTo", "system"]) {
      if (JSON.stringify(now.fields[field]) !== JSON.stringify(was.fields[field])) return `immutable ${field} of ${id} changed`;
    }
    const fieldViolated = fieldViolation(now);
    if (fieldViolated) return `${id}: ${fieldViolated}`;
    const bodyChanged = JSON.stringify(now.body) !== JSON.stringify(was.body);
    if (own && (access === "member" || access === "admin")) {
      if (bodyChanged) {
        const broken = bodyViolation(now.body, maxChars);
        if (broken) return `${id} body: ${broken}`;
      }
      continue;
    }
    const moderating = access === "admin" && was.fields.kind !== "system";
    for (const field of ["attachments", "editedAt", "deleted"]) {
      if (JSON.stringify(now.fields[field]) === JSON.stringify(was.fields[field])) continue;
      if (!(moderating && field === "deleted")) return `${field} of another's message ${id} changed`;
    }
    if (bodyChanged && !(moderating && isSubsequence(bodyText(now.body), bodyText(was.body))))
      return `body of another's message ${id} changed`;
  }
  for (const [id, now] of after) {
    if (before.has(id)) continue;
    if (access !== "member" && access !== "admin") return `a ${access} created message ${id}`;
    if (!isUuid(id)) return `message id ${id}`;
    if (now.fields.author !== userId) return `new message ${id} has author ${String(now.fields.author)}`;
    if (now.fields.kind !== "text") return `new message ${id} has kind ${String(now.fields.kind)}`;
    if (typeof now.fields.createdAt !== "number") return `new message ${id} has no createdAt`;
    if (now.fields.system !== undefined) return `new message ${id} carries system`;
    const fieldViolated = fieldViolation(now);
    if (fieldViolated) return `${id}: ${fieldViolated}`;
    const broken = bodyViolation(now.body, maxChars);
    if (broken) return `${id} body: ${broken}`;
  }
  return null;
};

const metaSnapshot = (doc: Y.Doc) => ({
  meta: JSON.stringify(doc.getMap("meta").toJSON()),
  participants: JSON.stringify(doc.getMap("participants").toJSON()),
  reads: Object.fromEntries([...readsOf(doc).entries()].map(([key, value]) => [key, JSON.stringify(value)])),
});

const metaViolation = (before: ReturnType<typeof metaSnapshot>, after: ReturnType<typeof metaSnapshot>, writer: Writer): string | null => {
  if (after.meta !== before.meta) return "meta changed";
  if (after.participants !== before.participants) return "participants changed";
  for (const key of new Set([...Object.keys(before.reads), ...Object.keys(after.reads)])) {
    if (before.reads[key] === after.reads[key]) continue;
    if (key !== writer.userId || writer.access === "potential") return `read cursor of ${key} changed`;
    const value = after.reads[key];
    if (value === undefined) continue;
    const cursor = JSON.parse(value) as Record<string, unknown>;
    if (Object.keys(cursor).sort().join(",") !== "messageId,readAt" || typeof cursor.readAt !== "number") return `cursor ${value}`;
  }
  return null;
};

const userViolation = (doc: Y.Doc): string | null => {
  for (const [key, value] of doc.getMap("dialogs").entries()) {
    const parsed = parseUserStateKey(key);
    if (!parsed || !isUserStateValue(parsed.field, value)) return `user state ${key}`;
  }
  const draft = doc.share.get(draftRootName(dialogId));
  if (draft) {
    const broken = bodyViolation(observeBody(doc.getXmlFragment(draftRootName(dialogId))), maxChars);
    if (broken) return `draft: ${broken}`;
  }
  return null;
};

const accessArb = fc.constantFrom<WriterAccess>("member", "member", "member", "admin", "readonly", "subscriber", "potential");
const fixtures = { segment: segmentFixture, meta: metaFixture, user: userFixture };
const rootsOf = { segment: ["messages"], meta: ["reads", "meta", "participants"], user: ["dialogs", draftRootName(dialogId), "draft/x"] };
const allowedRoots = { segment: ["messages"], meta: ["meta", "participants", "reads"], user: ["dialogs", draftRootName(dialogId)] };

/** Runs one sequence of steps against a fresh fixture; returns what broke, or null. */
const runSequence = (kind: "segment" | "meta" | "user", access: WriterAccess, steps: Step[]): string | null => {
  const server = fixtures[kind]();
  const initial = Y.encodeStateAsUpdate(server);
  const writer: Writer = { userId: "mallory", access };
  const accepted: Uint8Array[] = [];
  for (const s of steps) {
    const bytes = s.t === "raw" ? buildRaw(server, s, rootsOf[kind]) : buildLegit(server, writer.userId, s, kind);
    if (!bytes) continue;
    const decision = inspectUpdate(bytes, { doc: server, docKind: kind, writer, maxMessagesPerSegment: 1000, maxMessageChars: maxChars });
    if (!decision.ok) continue;
    // What the server applies: the canonical update where the inspector gives one, the client's bytes otherwise.
    const applied = "update" in decision && decision.update instanceof Uint8Array ? decision.update : bytes;
    const messagesBefore = kind === "segment" ? observeMessages(server) : null;
    const metaBefore = kind === "meta" ? metaSnapshot(server) : null;
    const stateBefore = Y.encodeStateVector(server);
    try {
      Y.applyUpdate(server, applied);
    } catch (error) {
      return `an accepted update threw in Yjs: ${String(error)}`;
    }
    if (server.store.pendingStructs || server.store.pendingDs) return "an accepted update left changes pending";
    accepted.push(applied);
    if (access === "potential" && !decision.empty) return "a potential participant's update changed the document";
    if (access === "potential" && JSON.stringify(Y.encodeStateVector(server)) !== JSON.stringify(stateBefore)) {
      return "a potential participant's update added to the document";
    }
    for (const root of server.share.keys()) {
      if (!allowedRoots[kind].includes(root) && (server.share.get(root)?._start || server.share.get(root)?._map.size))
        return `root ${root} written`;
    }
    if (rootListJunk(server, kind === "segment" ? "messages" : "reads") > 0) return "list content in a map root";
    const broken =
      kind === "segment"
        ? segmentViolation(messagesBefore as Map<string, ObservedMessage>, observeMessages(server), writer)
        : kind === "meta"
          ? metaViolation(metaBefore as ReturnType<typeof metaSnapshot>, metaSnapshot(server), writer)
          : userViolation(server);
    if (broken) return broken;
  }
  // Whatever was logged reloads: replaying it on a fresh document gives the same state.
  const replay = new Y.Doc();
  Y.applyUpdate(replay, initial);
  for (const update of accepted) Y.applyUpdate(replay, update);
  if (JSON.stringify(Y.encodeStateVector(replay)) !== JSON.stringify(Y.encodeStateVector(server)))
    return "the log does not replay to the same state";
  return null;
};

describe("differential: what an accepted update really does in Yjs obeys the rules", () => {
  for (const kind of ["segment", "meta", "user"] as const) {
    test(`${kind} documents`, () => {
      fc.assert(
        fc.property(accessArb, fc.array(step, { minLength: 1, maxLength: 10 }), (access, steps) => {
          const broken = runSequence(kind, access, steps);
          if (broken) throw new Error(broken);
        }),
        { numRuns: kind === "segment" ? runs : Math.ceil(runs / 6), ...(seed !== undefined ? { seed } : {}) },
      );
    }, 120_000);
  }
});
