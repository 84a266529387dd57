import type pg from "pg";
import * as Y from "yjs";
import { type LogRead, readDocLog } from "./log-reader.ts";
import { emptyUpdate, type Quarantined, quarantineKinds, quarantineRow, quarantineSnapshot } from "./quarantine.ts";

type Queryable = Pick<pg.Pool, "query"> | Pick<pg.PoolClient, "query">;

const describe = (error: unknown): string => (error instanceof Error ? `${error.name}: ${error.message}` : String(error));

/**
 * Applies one update and says why it is bad, or null when it is not: Yjs
 * threw, or it left structs or deletions waiting for structs the document
 * lacks. Expects a document with nothing pending (every good update leaves
 * it so). After a throw the document may hold part of the update.
 */
export const applyChecked = (doc: Y.Doc, update: Uint8Array): string | null => {
  try {
    Y.applyUpdate(doc, update);
  } catch (error) {
    return `${quarantineKinds.yjsError}: ${describe(error)}`;
  }
  const pending = doc.store.pendingStructs;
  if (pending) return `${quarantineKinds.missingStructs}: it needs structs of client(s) ${[...pending.missing.keys()].join(", ")}`;
  if (doc.store.pendingDs) return `${quarantineKinds.missingDeletes}: it deletes structs the document does not have`;
  return null;
};

/**
 * What of a bad snapshot can be kept: the structs that integrated before it
 * failed, without anything left pending, provided that state itself applies
 * cleanly; null when nothing usable remains.
 */
const salvage = (state: Uint8Array): Uint8Array | null => {
  const doc = new Y.Doc({ gc: true });
  try {
    try {
      Y.applyUpdate(doc, state);
    } catch {
      // Keep what integrated before the failure; it is checked below.
    }
    doc.store.pendingStructs = null;
    doc.store.pendingDs = null;
    const kept = Y.encodeStateAsUpdate(doc);
    const check = new Y.Doc({ gc: true });
    const bad = applyChecked(check, kept);
    check.destroy();
    return bad === null ? kept : null;
  } catch {
    return null;
  } finally {
    doc.destroy();
  }
};

export type ApplyLogOptions = {
  /** A document that already holds the log up to `seq`: only later rows are applied to it (if none is bad). */
  from?: { doc: Y.Doc; seq: number };
  /**
   * Called before rows are applied to a document, and again with a new
   * document after a rebuild (`fresh`: built from the start of the log);
   * returns what to call once they are applied. The projector tracks changes here.
   */
  watch?: (doc: Y.Doc, fresh: boolean) => () => void;
  /** The first read, when the caller already made it (`readFromRows` after `from.seq`, or 0 without `from`). */
  read?: LogRead;
};

export type AppliedLog = {
  /** The document holding every good update of the log. */
  doc: Y.Doc;
  /** The seq the document reached (quarantined rows keep their seq, as empty updates). */
  seq: number;
  /** True when `doc` was built from the start of the log: always without `from`, and after any quarantine. */
  fresh: boolean;
  /** True when the build started from the snapshot. */
  fromSnapshot: boolean;
  /** Log rows applied after the snapshot (every row applied when there was none). */
  tail: number;
  /** When each log row read was appended, for projection lag. */
  appended: LogRead["appended"];
  /** What this call quarantined, in order; the caller logs it (after its transaction commits, if any). */
  quarantined: Quarantined[];
};

/**
 * Builds a document from its log (snapshot first, as `readDocLog` returns
 * it), and never lets one bad update stop it. An update Yjs throws on, or
 * that leaves pending structs or deletions, is quarantined durably
 * (`quarantineRow`: its bytes to `doc_quarantine`, an empty update in its
 * place) and the document is rebuilt from scratch without it, since a row
 * that partly integrated leaves the document inconsistent. A bad snapshot is
 * replaced by what of it applies cleanly (or an empty update), its bytes
 * quarantined; the rows it covered may be gone from the log, so their
 * content is then lost from the document (the caller logs this loudly).
 *
 * Quarantines are single statements through `db`: inside a transaction they
 * commit with it. The projector and the sync server's loader both build
 * documents through this function, so they agree on what the log holds.
 */
export const applyDocLog = async (db: Queryable, docName: string, options: ApplyLogOptions = {}): Promise<AppliedLog> => {
  const quarantined: Quarantined[] = [];
  let from = options.from;
  /** The seq another builder quarantined first; the same seq failing twice in a row is a bug, a later one is progress. */
  let stuck: number | null = null;
  let first = options.read;
  for (;;) {
    const read = first ?? (await readDocLog(db, docName, from ? from.seq : 0));
    first = undefined;
    const fresh = from === undefined;
    const doc = from?.doc ?? new Y.Doc({ gc: true });
    const unwatch = options.watch?.(doc, fresh);
    let bad: { index: number; reason: string } | null = null;
    try {
      for (const [index, update] of read.updates.entries()) {
        const reason = applyChecked(doc, update);
        if (reason !== null) {
          bad = { index, reason };
          break;
        }
      }
    } finally {
      unwatch?.();
    }
    if (bad === null) {
      return {
        doc,
        seq: read.seq,
        fresh,
        fromSnapshot: read.fromSnapshot,
        tail: read.fromSnapshot ? read.updates.length - 1 : read.updates.length,
        appended: read.appended,
        quarantined,
      };
    }
    if (fresh) doc.destroy();
    from = undefined;
    const seq = read.seqs[bad.index] ?? 0;
    const update = read.updates[bad.index] ?? emptyUpdate();
    let done: boolean;
    if (read.fromSnapshot && bad.index === 0) {
      const kept = salvage(update);
      const compacted = await quarantineSnapshot(db, docName, seq, update, kept ?? emptyUpdate(), {
        reason: bad.reason,
        salvaged: kept !== null,
      });
      done = compacted !== null;
      if (done)
        quarantined.push({ docName, seq, source: "snapshot", reason: bad.reason, salvaged: kept !== null, compactedRows: compacted ?? 0 });
    } else {
      done = await quarantineRow(db, docName, seq, bad.reason);
      if (done) quarantined.push({ docName, seq, source: "row", reason: bad.reason });
    }
    // Nothing changed (another process quarantined or compacted it first): read again. Racing builders may each
    // find a later row already done by the other; only the same seq failing twice in a row is a bug.
    if (!done && stuck === seq) throw new Error(`${docName}: seq ${seq} cannot be applied and could not be quarantined (${bad.reason})`);
    stuck = done ? null : seq;
  }
};
