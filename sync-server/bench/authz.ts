// Cost of authorizing one update (decode + inspect), against the cost of the
// raw Yjs apply of the same update: the baseline every Yjs server pays anyway.
// In-process and single-threaded, so the numbers are the inspector's own.
import { inspectUpdate, type Writer } from "@mtchat/authz";
import { createMessage, editMessageText, messagesOf, readsOf } from "@mtchat/protocol";
import { v7 as uuidv7 } from "uuid";
import * as Y from "yjs";

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;

/** A segment holding `messages` messages by two authors, as the server holds it. */
const segmentWith = (messages: number) => {
  const doc = new Y.Doc();
  doc.transact(() => {
    for (let index = 0; index < messages; index += 1) {
      createMessage(doc, {
        id: uuidv7(),
        author: index % 2 ? "alice" : "bob",
        createdAt: Date.now(),
        text: `message ${index}: lorem ipsum`,
      });
    }
  });
  return doc;
};

/**
 * Updates made on one replica of `base`, as independent clients would send
 * them: each change gets a fresh client id, so each update depends only on
 * what `base` holds (as long as `change` touches a different item each time).
 */
const updatesFrom = (base: Y.Doc, count: number, change: (replica: Y.Doc, index: number) => void) => {
  const replica = new Y.Doc();
  Y.applyUpdate(replica, Y.encodeStateAsUpdate(base));
  // The update a client sends is its transaction's update event: only that
  // transaction's deletions, not the document's whole delete set.
  let last: Uint8Array | null = null;
  replica.on("update", (update: Uint8Array) => {
    last = update;
  });
  return Array.from({ length: count }, (_, index) => {
    replica.clientID = 1_000_000 + index;
    last = null;
    replica.transact(() => change(replica, index));
    if (!last) throw new Error("the change made no update");
    return last as Uint8Array;
  });
};

type Case = { name: string; base: Y.Doc; docKind: "segment" | "meta"; updates: Uint8Array[] };

const measure = ({ base, docKind, updates }: Case, writer: Writer) => {
  const inspect: number[] = [];
  const apply: number[] = [];
  for (const update of updates) {
    const start = process.hrtime.bigint();
    const decision = inspectUpdate(update, { doc: base, docKind, writer, maxMessagesPerSegment: 100_000, maxMessageChars: 20_000 });
    inspect.push(Number(process.hrtime.bigint() - start) / 1000);
    if (!decision.ok) throw new Error(`bench update refused: ${decision.reason}`);
  }
  // The raw baseline: applying the same updates to a copy of the same document.
  const target = new Y.Doc();
  Y.applyUpdate(target, Y.encodeStateAsUpdate(base));
  for (const update of updates) {
    const start = process.hrtime.bigint();
    Y.applyUpdate(target, update);
    apply.push(Number(process.hrtime.bigint() - start) / 1000);
  }
  inspect.sort((a, b) => a - b);
  apply.sort((a, b) => a - b);
  return { inspect, apply };
};

export const authzBench = (iterations = 3_000): string[] => {
  const writer: Writer = { userId: "alice", access: "member" };
  const rows: string[] = [];
  for (const size of [500, 2_000]) {
    const base = segmentWith(size);
    const own = [...messagesOf(base).entries()].filter(([, entry]) => entry.get("author") === "alice").map(([id]) => id);
    const cases: Case[] = [
      {
        name: "new message",
        base,
        docKind: "segment",
        updates: updatesFrom(base, iterations, (replica, index) =>
          createMessage(replica, { id: uuidv7(), author: "alice", createdAt: Date.now(), text: `new ${index}` }),
        ),
      },
      {
        name: "edit own message",
        base,
        docKind: "segment",
        // One edit per message: a second edit of the same message would depend on the first.
        updates: updatesFrom(base, own.length, (replica, index) =>
          editMessageText(messagesOf(replica).get(own[index] as string) as Y.Map<unknown>, `edited ${index}`, Date.now()),
        ),
      },
    ];
    if (size === 500) {
      // The meta document is small; each cursor move is made on a fresh replica so it depends on nothing new.
      const meta = new Y.Doc();
      cases.push({
        name: "move read cursor",
        base: meta,
        docKind: "meta",
        updates: Array.from(
          { length: iterations },
          (_, index) =>
            updatesFrom(meta, 1, (replica) =>
              readsOf(replica).set("alice", { messageId: own[index % own.length] as string, readAt: index }),
            )[0] as Uint8Array,
        ),
      });
    }
    for (const item of cases) {
      // Warm the JIT on the first third, measure the rest.
      const warm = Math.floor(item.updates.length / 3);
      measure({ ...item, updates: item.updates.slice(0, warm) }, writer);
      const { inspect, apply } = measure({ ...item, updates: item.updates.slice(warm) }, writer);
      const p50 = quantile(inspect, 0.5);
      const p99 = quantile(inspect, 0.99);
      const applyP50 = quantile(apply, 0.5);
      rows.push(
        `| ${item.name} | ${item.docKind === "meta" ? "meta" : `${size.toLocaleString("en")} messages`} | ${p50.toFixed(1)} / ${p99.toFixed(1)} µs | ${applyP50.toFixed(1)} / ${quantile(apply, 0.99).toFixed(1)} µs | ×${(p50 / applyP50).toFixed(2)} |`,
      );
    }
  }
  return rows;
};
