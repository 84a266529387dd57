import { defaultMaxMessageChars, parseDocName } from "@mtchat/protocol";
import type pg from "pg";
import type * as Y from "yjs";
import { type AppliedLog, applyChecked, applyDocLog } from "./apply-log.ts";
import { type LogRow, readFromRows } from "./log-reader.ts";
import { outboxInsert, outboxJson, webhooksChannel } from "./outbox.ts";
import { prepared } from "./prepared.ts";
import { type Changes, noChanges, type SegmentWrite, trackChanges, writeRows, writeSegmentRows } from "./project-rows.ts";
import type { Quarantined } from "./quarantine.ts";

type Cached = { doc: Y.Doc; seq: number };

/** Notified with a dialog's id each time a projection of its documents commits. */
export const projectedChannel = "mtchat_projected";

const advanceUserCheckpoint = prepared("projection-advance-user", "UPDATE projection_checkpoints SET seq = $2 WHERE doc_name = $1");

const advanceDialogCheckpoint = prepared(
  "projection-advance-dialog",
  `WITH ${outboxInsert("$4")}, done AS (UPDATE projection_checkpoints SET seq = $2 WHERE doc_name = $1)
   SELECT pg_notify('${projectedChannel}', $3), (SELECT pg_notify('${webhooksChannel}', 'outbox') FROM added LIMIT 1)`,
);

const lockCheckpointSql = prepared(
  "projection-lock-checkpoint",
  `WITH c AS (
      INSERT INTO projection_checkpoints AS c (doc_name, dialog_id, seq)
        SELECT $1, r.id, 0 FROM dialog_registry r WHERE r.id = $2 FOR KEY SHARE
      ON CONFLICT (doc_name) DO UPDATE SET seq = c.seq
      RETURNING c.seq
    )
    SELECT c.seq AS checkpoint, (SELECT h.head_seq FROM doc_heads h WHERE h.doc_name = $1) AS head, l.seq, l.update, l.received_at
    FROM c LEFT JOIN doc_log l ON l.doc_name = $1 AND l.seq > c.seq AND c.seq = $3
    ORDER BY l.seq`,
);

/** `lockCheckpointSql` for many documents (in name order, so two processes' joint runs never deadlock); not prepared, see writeSegmentRows. */
const lockCheckpointsSql = `WITH d AS (
      SELECT * FROM unnest($1::text[], $2::uuid[], $3::bigint[]) AS d (doc_name, dialog_id, cached)
    ), c AS (
      INSERT INTO projection_checkpoints AS c (doc_name, dialog_id, seq)
        SELECT d.doc_name, r.id, 0 FROM d JOIN dialog_registry r ON r.id = d.dialog_id ORDER BY d.doc_name FOR KEY SHARE OF r
      ON CONFLICT (doc_name) DO UPDATE SET seq = c.seq
      RETURNING c.doc_name, c.seq
    )
    SELECT c.doc_name, c.seq AS checkpoint, h.head_seq AS head, l.seq, l.update, l.received_at
    FROM c JOIN d ON d.doc_name = c.doc_name
    LEFT JOIN doc_heads h ON h.doc_name = c.doc_name
    LEFT JOIN doc_log l ON l.doc_name = c.doc_name AND l.seq > c.seq AND c.seq = d.cached
    ORDER BY c.doc_name, l.seq`;

/** `advanceDialogCheckpoint` for many segments: their checkpoints and events, and one notification per dialog. */
const advanceCheckpointsSql = `WITH ${outboxInsert("$3")}, done AS (
      UPDATE projection_checkpoints c SET seq = x.seq FROM unnest($1::text[], $2::bigint[]) AS x (doc_name, seq) WHERE c.doc_name = x.doc_name
    )
    SELECT (SELECT count(pg_notify('${projectedChannel}', d)) FROM unnest($4::text[]) AS d),
      (SELECT pg_notify('${webhooksChannel}', 'outbox') FROM added LIMIT 1)`;

/** At most this many documents are projected in one joint transaction (the worker hands them over in runs of this size). */
export const jointLimit = 64;

/** How many recent lag samples are kept: enough for stable percentiles, bounded in memory. */
const lagSamples = 100_000;

export type LagSummary = { count: number; p50Ms: number; p99Ms: number; maxMs: number };

/** Where the projection reports what it quarantined (the sync server's logger fits). */
export type EventLogger = { error(event: string, fields?: Record<string, unknown>): void };

export type ProjectorOptions = {
  /** Documents kept in memory between catch-ups; older ones are reloaded from the log when needed. */
  cacheSize?: number;
  /** Longest `body_text` written (MAX_MESSAGE_CHARS); longer text is cut, the body is kept whole. */
  maxMessageChars?: number;
  logger?: EventLogger;
  /** Each projected row's lag (append to commit, ms), e.g. for a metrics histogram. */
  observeLag?: (ms: number) => void;
};

/** One `update_quarantined` error line per quarantined update: loud, since data left the document. */
export const logQuarantined = (logger: EventLogger | undefined, quarantined: readonly Quarantined[]): void => {
  for (const q of quarantined) {
    logger?.error("update_quarantined", {
      doc: q.docName,
      seq: q.seq,
      source: q.source,
      reason: q.reason,
      ...(q.source === "snapshot" ? { salvaged: q.salvaged, compacted_rows: q.compactedRows } : {}),
    });
  }
};

/**
 * Materializes documents into tables. `catchUp(doc)` applies the document's
 * new log rows and writes the affected rows and the checkpoint in one
 * transaction; the checkpoint row lock serializes catch-ups of one document
 * across processes. Catching up twice, or from zero, writes the same rows.
 */
export class Projector {
  private readonly cache = new Map<string, Cached>();
  private readonly running = new Map<string, Promise<number>>();
  private readonly cacheSize: number;
  private readonly maxMessageChars: number;
  private readonly logger: EventLogger | undefined;
  private readonly observeLag: ((ms: number) => void) | undefined;
  private readonly lags: number[] = [];
  private lagCursor = 0;

  constructor(
    private readonly pool: pg.Pool,
    options: ProjectorOptions = {},
  ) {
    this.cacheSize = options.cacheSize ?? 500;
    this.maxMessageChars = options.maxMessageChars ?? defaultMaxMessageChars;
    this.logger = options.logger;
    this.observeLag = options.observeLag;
  }

  /** Projects everything logged for `docName` so far; resolves with the seq reached. */
  catchUp(docName: string): Promise<number> {
    // One run per document at a time in this process; a request that arrives
    // during a run queues one more run, so nothing logged meanwhile is missed.
    const previous = this.running.get(docName) ?? Promise.resolve(0);
    const next = previous.catch(() => 0).then(() => this.run(docName));
    this.running.set(docName, next);
    void next
      .finally(() => {
        if (this.running.get(docName) === next) this.running.delete(docName);
      })
      .catch(() => undefined);
    return next;
  }

  /**
   * Projects each document, as `catchUp` would, and resolves one promise per
   * name. Segment documents whose copy is cached here (the steady state of a
   * busy dialog) are projected together: one transaction, one statement per
   * table for all of them, instead of five round trips each. A document the
   * joint run cannot take as it is (its copy is not at its checkpoint, the
   * log was compacted, a row fails to apply), and every document of a joint
   * run that fails, is then projected on its own, which quarantines and
   * rebuilds as `catchUp` does.
   */
  catchUpEach(docNames: readonly string[]): Promise<number>[] {
    const joint = [...new Set(docNames)]
      .filter((docName) => parseDocName(docName)?.kind === "segment" && this.cache.has(docName) && !this.running.has(docName))
      .sort()
      .slice(0, jointLimit);
    const results = new Map<string, Promise<number>>();
    if (joint.length > 1) {
      const run = this.runJoint(joint);
      for (const docName of joint) {
        const one = run.then((done) => done.get(docName) ?? this.run(docName));
        this.running.set(docName, one);
        void one
          .finally(() => {
            if (this.running.get(docName) === one) this.running.delete(docName);
          })
          .catch(() => undefined);
        results.set(docName, one);
      }
    }
    return docNames.map((docName) => {
      const result = results.get(docName) ?? this.catchUp(docName);
      results.set(docName, result);
      return result;
    });
  }

  /**
   * The joint run of `catchUpEach` (documents in name order): resolves with
   * the seq each document it projected reached. The others are left to their
   * own run: their copies are dropped when they may be ahead of the
   * checkpoint, and after a failure every copy it touched is.
   */
  private async runJoint(docNames: string[]): Promise<Map<string, number>> {
    const done = new Map<string, number>();
    const client = await this.pool.connect().catch(() => null);
    if (!client) return done;
    const writes: (SegmentWrite & { docName: string; seq: number; appended: { seq: number; at: number }[]; checkpoint: number })[] = [];
    try {
      await client.query("BEGIN");
      const { rows } = await client.query<
        { doc_name: string; checkpoint: string; head: string | null } & { [K in keyof LogRow]: LogRow[K] | null }
      >(lockCheckpointsSql, [
        docNames,
        docNames.map((docName) => parseDocName(docName)?.dialogId),
        docNames.map((docName) => this.cache.get(docName)?.seq ?? -1),
      ]);
      const locked = new Map<string, { checkpoint: number; head: number; rows: LogRow[] }>();
      for (const row of rows) {
        const entry = locked.get(row.doc_name) ?? { checkpoint: Number(row.checkpoint), head: Number(row.head ?? 0), rows: [] };
        if (row.seq !== null && row.update !== null && row.received_at !== null)
          entry.rows.push({ seq: row.seq, update: row.update, received_at: row.received_at });
        locked.set(row.doc_name, entry);
      }
      for (const docName of docNames) {
        const name = parseDocName(docName);
        const cached = this.cache.get(docName);
        const lock = locked.get(docName);
        // Gone, or not at its checkpoint: its own run finds out why.
        if (name?.kind !== "segment" || !cached || !lock || cached.seq !== lock.checkpoint) continue;
        const read = readFromRows(lock.rows, lock.checkpoint, lock.head);
        if (!read) continue;
        if (read.seq <= lock.checkpoint) {
          done.set(docName, lock.checkpoint);
          continue;
        }
        const changes = noChanges(false);
        const unwatch = trackChanges(cached.doc, changes);
        let bad = false;
        try {
          for (const update of read.updates) if (applyChecked(cached.doc, update) !== null) bad = true;
        } finally {
          unwatch();
        }
        if (bad) {
          // Partly applied: its own run rebuilds it from the log and quarantines the row.
          this.drop(docName);
          continue;
        }
        writes.push({
          docName,
          dialogId: name.dialogId,
          segment: name.segment,
          doc: cached.doc,
          changes,
          seq: read.seq,
          appended: read.appended,
          checkpoint: lock.checkpoint,
        });
      }
      if (writes.length > 0) {
        const events = await writeSegmentRows(client, writes, { maxMessageChars: this.maxMessageChars });
        await client.query(advanceCheckpointsSql, [
          writes.map((write) => write.docName),
          writes.map((write) => write.seq),
          outboxJson(events),
          [...new Set(writes.map((write) => write.dialogId))],
        ]);
      }
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      this.logger?.error("joint_projection_failed", { docs: docNames.length, error: String(error) });
      // Their copies are ahead of their checkpoints now; each document's own run starts afresh.
      for (const write of writes) this.drop(write.docName);
      client.release();
      return new Map();
    }
    client.release();
    for (const write of writes) {
      this.recordLag(write.appended.filter((row) => row.seq > write.checkpoint));
      this.remember(write.docName, { doc: write.doc, seq: write.seq });
      done.set(write.docName, write.seq);
    }
    return done;
  }

  /**
   * Projection lag: from a log row's append to the commit of its projection,
   * over the most recent rows this process projected.
   */
  lagSummary(): LagSummary {
    const sorted = [...this.lags].sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
    return { count: sorted.length, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: sorted.at(-1) ?? 0 };
  }

  private recordLag(rows: { at: number }[]): void {
    const now = Date.now();
    for (const row of rows) {
      const lag = Math.max(0, now - row.at);
      this.observeLag?.(lag);
      if (this.lags.length < lagSamples) this.lags.push(lag);
      else this.lags[this.lagCursor++ % lagSamples] = lag;
    }
  }

  /** Forgets in-memory state, e.g. after the projection tables were rebuilt. */
  reset(): void {
    for (const cached of this.cache.values()) cached.doc.destroy();
    this.cache.clear();
  }

  private async run(docName: string): Promise<number> {
    const name = parseDocName(docName);
    if (!name) return 0;
    const client = await this.pool.connect();
    let applied: AppliedLog | null = null;
    try {
      await client.query("BEGIN");
      const warm = this.cache.get(docName);
      const locked = await this.lockCheckpoint(client, docName, name.dialogId, warm?.seq ?? null);
      const checkpoint = locked?.checkpoint ?? null;
      if (checkpoint === null) {
        await client.query("ROLLBACK");
        this.drop(docName);
        return 0;
      }
      let cached = this.cache.get(docName);
      if (cached && cached.seq !== checkpoint) {
        this.drop(docName);
        cached = undefined;
      }
      let changes: Changes = noChanges(cached === undefined);
      // Bad updates are quarantined inside this transaction, so they commit with the rows built without them.
      // The rows read with the lock serve a copy at the checkpoint, unless compaction calls for the snapshot.
      const read = cached && locked ? readFromRows(locked.rows, checkpoint, locked.head) : null;
      applied = await applyDocLog(client, docName, {
        ...(cached ? { from: { doc: cached.doc, seq: checkpoint } } : {}),
        ...(read ? { read } : {}),
        watch: (doc, fresh) => {
          changes = noChanges(fresh);
          return trackChanges(doc, changes);
        },
      });
      // A rebuild replaced the cached document, which may hold part of a bad update.
      if (cached && applied.doc !== cached.doc) this.drop(docName);
      if (!applied.fresh && applied.seq <= checkpoint) {
        await client.query("COMMIT");
        return checkpoint;
      }
      const events = await writeRows(client, docName, applied.doc, changes, { maxMessageChars: this.maxMessageChars });
      if (name.kind === "user") {
        await client.query(advanceUserCheckpoint([docName, applied.seq]));
      } else {
        // A segment's events go in with the checkpoint, and listeners (the sync server pushes to the dialog's
        // participants; the dispatcher fans out) hear of both once they are committed.
        await client.query(advanceDialogCheckpoint([docName, applied.seq, name.dialogId, outboxJson(events)]));
      }
      await client.query("COMMIT");
      logQuarantined(this.logger, applied.quarantined);
      this.recordLag(applied.appended.filter((row) => row.seq > checkpoint));
      this.remember(docName, { doc: applied.doc, seq: applied.seq });
      return applied.seq;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      const built = applied && this.cache.get(docName)?.doc !== applied.doc ? applied.doc : null;
      this.drop(docName);
      built?.destroy();
      throw error;
    } finally {
      client.release();
    }
  }

  /**
   * Locks the document's checkpoint row (creating it at 0); null when the
   * dialog no longer exists. One round trip: the registry row is share-locked
   * (the dialog cannot be deleted under the projection), the no-op update
   * locks the checkpoint, which serializes catch-ups of one document, and when
   * the cached copy is at the checkpoint (`cachedSeq`), the log rows after it
   * and the head come along.
   */
  private async lockCheckpoint(
    client: pg.PoolClient,
    docName: string,
    dialogId: string,
    cachedSeq: number | null,
  ): Promise<{ checkpoint: number; head: number; rows: LogRow[] } | null> {
    const { rows } = await client.query<{ checkpoint: string; head: string | null } & { [K in keyof LogRow]: LogRow[K] | null }>(
      lockCheckpointSql([docName, dialogId, cachedSeq ?? -1]),
    );
    const first = rows[0];
    if (!first) return null;
    const logRows = rows.flatMap((row) =>
      row.seq !== null && row.update !== null && row.received_at !== null
        ? [{ seq: row.seq, update: row.update, received_at: row.received_at }]
        : [],
    );
    return { checkpoint: Number(first.checkpoint), head: Number(first.head ?? 0), rows: logRows };
  }

  private remember(docName: string, cached: Cached): void {
    this.cache.delete(docName);
    this.cache.set(docName, cached);
    while (this.cache.size > this.cacheSize) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.drop(oldest);
    }
  }

  private drop(docName: string): void {
    this.cache.get(docName)?.doc.destroy();
    this.cache.delete(docName);
  }
}
