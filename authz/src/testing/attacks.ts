import { randomUUID } from "node:crypto";
import { draftRootName, type ErrorKind, messagesOf } from "@mtchat/protocol";
import * as Y from "yjs";
import type { WriterAccess } from "../writer.ts";
import { changeOf, itemOf, type RawStruct, rawUpdate } from "./raw-update.ts";

/**
 * Hostile updates of every class the inspector must close, built by hand the
 * way an attacker on a raw socket builds them. Each works against a `view`:
 * a document holding what the server holds (a synced copy), so the same
 * attacks run against the pure inspector and against a live server.
 */
export type AttackContext = {
  /** The attacker's copy of the server's document. */
  view: Y.Doc;
  /** The attacker's client id. */
  clientId: number;
  userId: string;
  /** Another user of the dialog, whose messages and identity the attacker goes after. */
  victim: string;
  /** The dialog, for documents named after it (drafts). */
  dialogId: string;
};

export type Attack = {
  name: string;
  docKind: "segment" | "meta" | "user";
  access: WriterAccess;
  /**
   * A legitimate update the attacker sends first, which the server accepts
   * (the attack then builds on what it created).
   */
  setup?: (ctx: AttackContext) => Uint8Array;
  build: (ctx: AttackContext) => Uint8Array;
  /** The refusal the server answers with. */
  refusal: ErrorKind;
};

/** A fresh UUID in the lowercase form message ids take. */
export const messageId = (): string => randomUUID();

/** A copy of the view that writes as the attacker's client. */
const fork = ({ view, clientId }: AttackContext): Y.Doc => {
  const doc = new Y.Doc();
  Y.applyUpdate(doc, Y.encodeStateAsUpdate(view));
  // Set after loading: Yjs picks a new client id when a remote update carries structs of its own.
  doc.clientID = clientId;
  return doc;
};

/** The newest message of `author` in the view. */
const lastMessageOf = (view: Y.Doc, author: string): string => {
  let found: { id: string; clock: number } | null = null;
  for (const [id, entry] of messagesOf(view).entries()) {
    const clock = entry._item?.id.clock ?? -1;
    if (entry.get("author") === author && (!found || clock > found.clock)) found = { id, clock };
  }
  if (!found) throw new Error(`no message of ${author}`);
  return found.id;
};

/**
 * A valid message of the attacker whose last struct is `last`: the shape item
 * 1 of the attack needs, a field entry directly before the client's next clock.
 */
const messageEndingWith =
  (last: "author" | "kind" | "replyTo" | "attachments", { mention = false } = {}) =>
  (ctx: AttackContext): Uint8Array => {
    const doc = fork(ctx);
    return changeOf(doc, () => {
      const entry = new Y.Map<unknown>();
      doc.transact(() => {
        messagesOf(doc).set(messageId(), entry);
        const fields: [string, unknown][] = [
          ["kind", "text"],
          ["createdAt", Date.now()],
          ["replyTo", randomUUID()],
          ["attachments", [{ id: randomUUID(), name: "a.pdf", mime: "application/pdf", size: 10 }]],
          ["author", ctx.userId],
        ];
        const body = new Y.XmlFragment();
        entry.set("body", body);
        const paragraph = new Y.XmlElement("paragraph");
        paragraph.insert(0, [new Y.XmlText("mine")]);
        body.insert(0, [paragraph]);
        if (mention) {
          const element = new Y.XmlElement("mention");
          paragraph.insert(0, [element]);
          element.setAttribute("id", ctx.userId);
          element.setAttribute("label", ctx.userId);
        }
        entry.set("reactions", new Y.Map());
        for (const [key, value] of [...fields.filter(([key]) => key !== last), ...fields.filter(([key]) => key === last)]) {
          if (key === "attachments" && last !== "attachments") continue;
          entry.set(key, value);
        }
      });
    });
  };

/**
 * One struct that starts on the client's last known clock (its known part is
 * the field entry) and declares the attacker's own body as its parent. Yjs
 * clips the known part and chains the rest after the field entry, where it
 * becomes the field's value.
 */
const clipInto = (value: unknown) => (ctx: AttackContext) => {
  const state = Y.getState(ctx.view.store, ctx.clientId);
  const body = itemOf(ctx.view, lastMessageOf(ctx.view, ctx.userId), "body");
  return rawUpdate([
    { client: ctx.clientId, clock: state - 1, structs: [{ kind: "item", parent: body.id, content: new Y.ContentAny(["x", value]) }] },
  ]);
};

/**
 * The same clipped struct, declaring a place the body's schema accepts: the
 * `label` attribute of the attacker's own mention. Judged where its bytes say,
 * it is a harmless edit of the attacker's own body; Yjs makes it the value of
 * the field entry before it.
 */
const clipIntoMentionLabel = (value: unknown) => (ctx: AttackContext) => {
  const state = Y.getState(ctx.view.store, ctx.clientId);
  const body = itemOf(ctx.view, lastMessageOf(ctx.view, ctx.userId), "body").content.getContent()[0] as Y.XmlFragment;
  const mention = (body.get(0) as Y.XmlElement).get(0) as Y.XmlElement;
  if (!mention._item) throw new Error("the message has no mention");
  return rawUpdate([
    {
      client: ctx.clientId,
      clock: state - 1,
      structs: [{ kind: "item", parent: mention._item.id, parentSub: "label", content: new Y.ContentAny(["x", value]) }],
    },
  ]);
};

/** A chain of `depth` nested elements under `parent`, one struct each, as a raw client writes them. */
const nested = (ctx: AttackContext, parent: string | Y.ID, depth: number, node = "blockquote"): Uint8Array => {
  const clock = Y.getState(ctx.view.store, ctx.clientId);
  const structs: RawStruct[] = [];
  for (let level = 0; level < depth; level += 1) {
    structs.push({
      kind: "item",
      parent: level === 0 ? parent : Y.createID(ctx.clientId, clock + level - 1),
      content: new Y.ContentType(new Y.XmlElement(node)),
    });
  }
  return rawUpdate([{ client: ctx.clientId, clock, structs }]);
};

/** A new message of the attacker's, well formed except for what `fill` puts into its body's first paragraph. */
const messageWith =
  (fill: (paragraph: Y.XmlElement) => void) =>
  (ctx: AttackContext): Uint8Array => {
    const doc = fork(ctx);
    return changeOf(doc, () => {
      const entry = new Y.Map<unknown>();
      doc.transact(() => {
        messagesOf(doc).set(messageId(), entry);
        entry.set("author", ctx.userId);
        entry.set("kind", "text");
        entry.set("createdAt", Date.now());
        const body = new Y.XmlFragment();
        entry.set("body", body);
        const paragraph = new Y.XmlElement("paragraph");
        body.insert(0, [paragraph]);
        fill(paragraph);
        entry.set("reactions", new Y.Map());
      });
    });
  };

/** A message whose body chain starts at its own body fragment and nests `depth` elements. */
const deepMessage = (depth: number) => (ctx: AttackContext) => {
  const doc = fork(ctx);
  const id = messageId();
  const head = changeOf(doc, () => {
    const entry = new Y.Map<unknown>();
    doc.transact(() => {
      messagesOf(doc).set(id, entry);
      entry.set("author", ctx.userId);
      entry.set("kind", "text");
      entry.set("createdAt", Date.now());
      entry.set("body", new Y.XmlFragment());
      entry.set("reactions", new Y.Map());
    });
  });
  const body = itemOf(doc, id, "body");
  return Y.mergeUpdates([head, nested({ ...ctx, view: doc }, body.id, depth)]);
};

/** The first garbage-collected range in the view, which inert items point into. */
const garbage = (view: Y.Doc): Y.ID => {
  for (const structs of view.store.clients.values()) {
    for (const struct of structs) if (struct instanceof Y.GC) return struct.id;
  }
  throw new Error("the view has no garbage-collected range; edit a message first");
};

export const attacks: Attack[] = [
  {
    name: "clipped struct rewrites an accepted message's author",
    docKind: "segment",
    access: "member",
    setup: messageEndingWith("author"),
    build: (ctx) => clipInto(ctx.victim)(ctx),
    refusal: "forbidden",
  },
  {
    name: "clipped struct declaring the attacker's own mention label rewrites an accepted message's author",
    docKind: "segment",
    access: "member",
    setup: messageEndingWith("author", { mention: true }),
    build: (ctx) => clipIntoMentionLabel(ctx.victim)(ctx),
    refusal: "forbidden",
  },
  {
    name: "clipped struct turns an accepted message into a system message",
    docKind: "segment",
    access: "member",
    setup: messageEndingWith("kind"),
    build: clipInto("system"),
    refusal: "forbidden",
  },
  {
    name: "clipped struct sets replyTo to a non-UUID",
    docKind: "segment",
    access: "member",
    setup: messageEndingWith("replyTo"),
    build: clipInto("not-a-uuid"),
    refusal: "forbidden",
  },
  {
    name: "forward reference inside one client (segment)",
    docKind: "segment",
    access: "member",
    build: (ctx) => {
      const clock = Y.getState(ctx.view.store, ctx.clientId);
      return rawUpdate([
        {
          client: ctx.clientId,
          clock,
          structs: [
            { kind: "item", origin: Y.createID(ctx.clientId, clock + 1), content: new Y.ContentAny(["x"]) },
            { kind: "item", parent: "messages", parentSub: messageId(), content: new Y.ContentType(new Y.Map()) },
          ],
        },
      ]);
    },
    refusal: "invalid_update",
  },
  {
    name: "forward reference inside one client (read cursor)",
    docKind: "meta",
    access: "member",
    build: (ctx) => {
      const clock = Y.getState(ctx.view.store, ctx.clientId);
      const cursor = { messageId: randomUUID(), readAt: Date.now() };
      return rawUpdate([
        {
          client: ctx.clientId,
          clock,
          structs: [
            { kind: "item", origin: Y.createID(ctx.clientId, clock + 1), content: new Y.ContentAny([cursor]) },
            { kind: "item", parent: "reads", parentSub: ctx.userId, content: new Y.ContentAny([cursor]) },
          ],
        },
      ]);
    },
    refusal: "invalid_update",
  },
  {
    name: "dependency cycle between two clients",
    docKind: "segment",
    access: "member",
    build: (ctx) => {
      const a = ctx.clientId;
      const b = ctx.clientId + 1;
      const clockA = Y.getState(ctx.view.store, a);
      const clockB = Y.getState(ctx.view.store, b);
      return rawUpdate([
        {
          client: a,
          clock: clockA,
          structs: [
            { kind: "item", origin: Y.createID(b, clockB), content: new Y.ContentAny(["a1"]) },
            { kind: "item", parent: "messages", parentSub: messageId(), content: new Y.ContentType(new Y.Map()) },
          ],
        },
        { client: b, clock: clockB, structs: [{ kind: "item", origin: Y.createID(a, clockA + 1), content: new Y.ContentAny(["b1"]) }] },
      ]);
    },
    refusal: "invalid_update",
  },
  {
    name: "a potential participant's 3 MB inert struct pointing into garbage",
    docKind: "segment",
    access: "potential",
    build: (ctx) =>
      rawUpdate([
        {
          client: ctx.clientId,
          clock: Y.getState(ctx.view.store, ctx.clientId),
          structs: [{ kind: "item", origin: garbage(ctx.view), content: new Y.ContentString("x".repeat(3 * 1024 * 1024)) }],
        },
      ]),
    refusal: "forbidden",
  },
  {
    name: "a message body nested 10,000 levels deep",
    docKind: "segment",
    access: "member",
    build: deepMessage(10_000),
    refusal: "invalid_update",
  },
  {
    name: "a message body nested 30,000 levels deep",
    docKind: "segment",
    access: "member",
    build: deepMessage(30_000),
    refusal: "invalid_update",
  },
  {
    name: "a draft nested 32,000 levels deep",
    docKind: "user",
    access: "member",
    build: (ctx) => nested(ctx, draftRootName(ctx.dialogId), 32_000, "paragraph"),
    refusal: "invalid_update",
  },
  {
    name: "a javascript: link",
    docKind: "segment",
    access: "member",
    build: messageWith((paragraph) => {
      const text = new Y.XmlText();
      paragraph.insert(0, [text]);
      text.insert(0, "click", { link: { href: "javascript:alert(document.cookie)", target: "_blank" } });
    }),
    refusal: "invalid_update",
  },
  {
    name: "a script element",
    docKind: "segment",
    access: "member",
    build: messageWith((paragraph) => {
      const script = new Y.XmlElement("script");
      script.insert(0, [new Y.XmlText("alert(1)")]);
      paragraph.insert(0, [script]);
    }),
    refusal: "invalid_update",
  },
  {
    name: "an image with a javascript: source",
    docKind: "segment",
    access: "member",
    build: messageWith((paragraph) => {
      const image = new Y.XmlElement("image");
      image.setAttribute("src", "javascript:alert(1)");
      paragraph.insert(0, [image]);
    }),
    refusal: "invalid_update",
  },
  {
    name: "an attribute the composer never writes",
    docKind: "segment",
    access: "member",
    build: messageWith((paragraph) => {
      paragraph.setAttribute("onclick", "alert(1)");
      paragraph.insert(0, [new Y.XmlText("hi")]);
    }),
    refusal: "invalid_update",
  },
  {
    name: "a message of 3 MB of text",
    docKind: "segment",
    access: "member",
    build: messageWith((paragraph) => paragraph.insert(0, [new Y.XmlText("x".repeat(3 * 1024 * 1024))])),
    refusal: "payload_too_large",
  },
  {
    name: "a message of 100,000 distinct words",
    docKind: "segment",
    access: "member",
    build: messageWith((paragraph) =>
      paragraph.insert(0, [new Y.XmlText(Array.from({ length: 100_000 }, (_, index) => `w${index.toString(36)}`).join(" "))]),
    ),
    refusal: "payload_too_large",
  },
];
