import type pg from "pg";
import { cleanText } from "./sanitize.ts";

type Queryable = Pick<pg.Pool, "query"> | Pick<pg.PoolClient, "query">;

/** What took a quarantined update's place: an empty Yjs update (no structs, no deletions), which every reader skips. */
export const emptyUpdate = (): Uint8Array => new Uint8Array([0, 0]);

/** Why an update was quarantined: a closed set of kinds, each followed by `: ` and the detail. */
export const quarantineKinds = {
  /** `Y.applyUpdate` threw on it. */
  yjsError: "yjs_error",
  /** It left structs waiting for structs the document does not have (`pendingStructs`). */
  missingStructs: "missing_structs",
  /** It deletes structs the document does not have (`pendingDs`). */
  missingDeletes: "missing_deletes",
  /** The sync server could not apply it to the live document just after logging it. */
  liveApplyFailed: "live_apply_failed",
} as const;

/** One quarantined update, as reported to logs and callers. */
export type Quarantined = {
  docName: string;
  /** The log row's seq, or for a snapshot the last seq it covers. */
  seq: number;
  source: "row" | "snapshot";
  reason: string;
  /** For a snapshot: whether what applied of it was kept in its place (false: the state up to `seq` is gone from the document). */
  salvaged?: boolean;
  /** For a snapshot: how many of the rows it covers are no longer in the log (compacted), so only the quarantined bytes hold them. */
  compactedRows?: number;
};

/** Reasons are stored and logged; they must fit in text and stay short. */
const storedReason = (reason: string): string => cleanText(reason).slice(0, 1000);

/**
 * Moves a log row's bytes to `doc_quarantine` and replaces the row's update
 * with an empty one, so seq stays dense and every reader (projection, loader,
 * other nodes) skips it; writes an `update_quarantined` audit row. One
 * statement, so it is atomic on its own and also inside the caller's
 * transaction. Resolves true when this call quarantined the row, false when
 * there was nothing to do (no such row, or it is already empty).
 */
export const quarantineRow = async (db: Queryable, docName: string, seq: number, reason: string): Promise<boolean> => {
  const { rows } = await db.query<{ n: number }>(
    `WITH bad AS (
       SELECT doc_name, seq, dialog_id, update, user_id, received_at FROM doc_log
       WHERE doc_name = $1 AND seq = $2 AND update <> '\\x0000'::bytea
       FOR UPDATE
     ), kept AS (
       INSERT INTO doc_quarantine (doc_name, dialog_id, source, seq, update, user_id, received_at, reason)
       SELECT doc_name, dialog_id, 'row', seq, update, user_id, received_at, $3 FROM bad
     ), emptied AS (
       UPDATE doc_log l SET update = '\\x0000'::bytea FROM bad WHERE l.doc_name = bad.doc_name AND l.seq = bad.seq
     ), audited AS (
       INSERT INTO audit_log (dialog_id, doc_name, user_id, action, detail)
       SELECT dialog_id, doc_name, user_id, 'update_quarantined', jsonb_build_object('source', 'row', 'seq', seq, 'reason', $3::text) FROM bad
     )
     SELECT count(*)::int AS n FROM bad`,
    [docName, seq, storedReason(reason)],
  );
  return (rows[0]?.n ?? 0) > 0;
};

/**
 * Quarantines a document's snapshot (if it still holds `state`): its bytes go
 * to `doc_quarantine` and `replacement` takes its place at the same seq, so
 * readers keep their place in the log. The rows it covers may already be
 * compacted away; then the quarantined bytes are their only copy.
 * Resolves with how many covered rows are gone from the log, or null when
 * the snapshot had changed meanwhile and nothing was done.
 */
export const quarantineSnapshot = async (
  db: Queryable,
  docName: string,
  uptoSeq: number,
  state: Uint8Array,
  replacement: Uint8Array,
  detail: { reason: string; salvaged: boolean },
): Promise<number | null> => {
  const { rows } = await db.query<{ compacted: number }>(
    `WITH bad AS (
       SELECT doc_name, dialog_id, upto_seq FROM doc_snapshots WHERE doc_name = $1 AND upto_seq = $2 AND state = $3 FOR UPDATE
     ), covered AS (
       SELECT $2::bigint - count(*) AS compacted FROM doc_log WHERE doc_name = $1 AND seq <= $2
     ), kept AS (
       INSERT INTO doc_quarantine (doc_name, dialog_id, source, seq, update, reason)
       SELECT doc_name, dialog_id, 'snapshot', upto_seq, $3, $5 FROM bad
     ), replaced AS (
       UPDATE doc_snapshots s SET state = $4, created_at = now() FROM bad WHERE s.doc_name = bad.doc_name
     ), audited AS (
       INSERT INTO audit_log (dialog_id, doc_name, user_id, action, detail)
       SELECT dialog_id, doc_name, NULL, 'update_quarantined',
              jsonb_build_object('source', 'snapshot', 'seq', upto_seq, 'reason', $5::text, 'salvaged', $6::boolean,
                                 'compacted_rows', (SELECT compacted FROM covered))
       FROM bad
     )
     SELECT (SELECT compacted FROM covered)::int AS compacted FROM bad`,
    [docName, uptoSeq, state, replacement, storedReason(detail.reason), detail.salvaged],
  );
  return rows[0] ? rows[0].compacted : null;
};

export type QuarantineStats = {
  /** Log rows quarantined so far (their `doc_log` rows are empty updates now). */
  rows: number;
  /** Snapshots quarantined so far. */
  snapshots: number;
  /** Documents with anything quarantined. */
  documents: number;
  /** When the latest quarantine happened, or null. */
  latestAt: string | null;
};

/** Counts for the health detail. */
export const quarantineStats = async (db: Queryable): Promise<QuarantineStats> => {
  const { rows } = await db.query<{ rows: number; snapshots: number; documents: number; latest_at: Date | null }>(
    `SELECT count(*) FILTER (WHERE source = 'row')::int AS rows, count(*) FILTER (WHERE source = 'snapshot')::int AS snapshots,
            count(DISTINCT doc_name)::int AS documents, max(quarantined_at) AS latest_at
     FROM doc_quarantine`,
  );
  const row = rows[0];
  return {
    rows: row?.rows ?? 0,
    snapshots: row?.snapshots ?? 0,
    documents: row?.documents ?? 0,
    latestAt: row?.latest_at ? row.latest_at.toISOString() : null,
  };
};
