import type pg from "pg";
import { prepared } from "./prepared.ts";

export type LogRead = {
  /** Updates to apply in order; the first may be a snapshot (the merged state up to its seq). */
  updates: Uint8Array[];
  /** The seq of each update: a log row's own, or for the snapshot the last seq it covers. */
  seqs: number[];
  /** The seq the document reaches after applying them. */
  seq: number;
  /** True when the read had to start from a snapshot because older log rows were compacted away. */
  fromSnapshot: boolean;
  /** When each log row read was appended (ms since the epoch), for measuring projection lag. */
  appended: { seq: number; at: number }[];
};

type Queryable = Pick<pg.Pool, "query"> | Pick<pg.PoolClient, "query">;

const readLogAfter = prepared(
  "log-read-after",
  "SELECT seq, update, received_at FROM doc_log WHERE doc_name = $1 AND seq > $2 ORDER BY seq",
);

/**
 * Reads a document's log after `afterSeq`. When compaction removed rows that
 * are needed, the read starts from the snapshot instead: the snapshot holds
 * the same state those rows produced, so applying it is equivalent.
 */
export const readDocLog = async (db: Queryable, docName: string, afterSeq: number): Promise<LogRead> => {
  const { rows: logRows } = await db.query<LogRow>(readLogAfter([docName, afterSeq]));
  // The head matters only when nothing follows afterSeq: then either the log ends there, or compaction removed the rest.
  const head = logRows.length === 0 && afterSeq > 0 ? await headOf(db, docName) : 0;
  const continuous = readFromRows(logRows, afterSeq, head);
  if (continuous) return continuous;
  const appended = logRows.map((row) => ({ seq: Number(row.seq), at: row.received_at.getTime() }));
  const { rows: snapshots } = await db.query<{ state: Buffer; upto_seq: string }>(
    "SELECT state, upto_seq FROM doc_snapshots WHERE doc_name = $1",
    [docName],
  );
  const snapshot = snapshots[0];
  if (!snapshot) return rowsOnly(logRows, afterSeq, appended);
  const upto = Number(snapshot.upto_seq);
  const tail = logRows.filter((row) => Number(row.seq) > upto);
  return {
    updates: [new Uint8Array(snapshot.state), ...tail.map((row) => new Uint8Array(row.update))],
    seqs: [upto, ...tail.map((row) => Number(row.seq))],
    seq: lastSeq(tail, upto),
    fromSnapshot: true,
    appended,
  };
};

/** A log row as read. */
export type LogRow = { seq: string; update: Buffer; received_at: Date };

/**
 * The read that `readDocLog(db, doc, afterSeq)` returns, from rows the caller
 * read itself (those after `afterSeq`, in order) and the document's head;
 * null when the rows do not continue from `afterSeq` (compaction removed some),
 * so the read must start from the snapshot: then call `readDocLog`.
 */
export const readFromRows = (rows: LogRow[], afterSeq: number, head: number): LogRead | null => {
  const firstSeq = rows[0] ? Number(rows[0].seq) : null;
  if (firstSeq !== afterSeq + 1 && !(firstSeq === null && afterSeq > 0 && head <= afterSeq)) return null;
  return rowsOnly(
    rows,
    afterSeq,
    rows.map((row) => ({ seq: Number(row.seq), at: row.received_at.getTime() })),
  );
};

const rowsOnly = (rows: { seq: string; update: Buffer }[], afterSeq: number, appended: LogRead["appended"]): LogRead => ({
  updates: rows.map((row) => new Uint8Array(row.update)),
  seqs: rows.map((row) => Number(row.seq)),
  seq: lastSeq(rows, afterSeq),
  fromSnapshot: false,
  appended,
});

const lastSeq = (rows: { seq: string }[], fallback: number): number => {
  const last = rows.at(-1);
  return last ? Number(last.seq) : fallback;
};

const headOf = async (db: Queryable, docName: string): Promise<number> => {
  const { rows } = await db.query<{ head_seq: string }>("SELECT head_seq FROM doc_heads WHERE doc_name = $1", [docName]);
  return rows[0] ? Number(rows[0].head_seq) : 0;
};
