import { defaultMaxMessageChars, parseDocName } from "@mtchat/protocol";
import type pg from "pg";
import type * as Y from "yjs";
import { type AppliedLog, applyDocLog } from "./apply-log.ts";
import { type Changes, noChanges, trackChanges, writeRows } from "./project-rows.ts";
import type { Quarantined } from "./quarantine.ts";

type Cached = { doc: Y.Doc; seq: number };

/** Notified with a dialog's id each time a projection of its documents commits. */
export const projectedChannel = "mtchat_projected";

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

/** What one document's catch-up in a batch came to. */
export type CatchUpOutcome = { ok: true; seq: number } | { ok: false; error: unknown };

/** A document projected in a batch's transaction: what to do once it commits. */
type Projected = { docName: string; applied: AppliedLog; checkpoint: number; write: boolean; dialogId: string | null };

/**
 * Materializes documents into tables. `catchUp(doc)` applies the document's
 * new log rows and writes the affected rows and the checkpoint in one
 * transaction; the checkpoint row lock serializes catch-ups of one document
 * across processes. Catching up twice, or from zero, writes the same rows.
 * `catchUpMany` does that for several documents in one transaction: one
 * commit and one checkpoint statement for the lot.
 */
export class Projector {
  private readonly cache = new Map<string, Cached>();
  private readonly running = new Map<string, Promise<unknown>>();
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
  async catchUp(docName: string): Promise<number> {
    const outcome = (await this.catchUpMany([docName])).get(docName);
    if (!outcome) return 0;
    if (!outcome.ok) throw outcome.error;
    return outcome.seq;
  }

  /**
   * Projects several documents in one transaction, each as `catchUp` would;
   * resolves with each one's outcome. When the batch fails, each document is
   * projected on its own, so one bad document fails alone.
   */
  catchUpMany(docNames: readonly string[]): Promise<Map<string, CatchUpOutcome>> {
    const docs = [...new Set(docNames)].sort();
    // One run per document at a time in this process; a request that arrives
    // during a run queues one more run, so nothing logged meanwhile is missed.
    const previous = Promise.all(docs.map((doc) => (this.running.get(doc) ?? Promise.resolve()).catch(() => undefined)));
    const next = previous.then(() => this.runMany(docs));
    for (const doc of docs) this.running.set(doc, next);
    void next
      .finally(() => {
        for (const doc of docs) if (this.running.get(doc) === next) this.running.delete(doc);
      })
      .catch(() => undefined);
    return next;
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

  private async runMany(docs: readonly string[]): Promise<Map<string, CatchUpOutcome>> {
    const outcomes = new Map<string, CatchUpOutcome>();
    const named = docs.flatMap((docName) => {
      const name = parseDocName(docName);
      if (!name) outcomes.set(docName, { ok: true, seq: 0 });
      return name ? [{ docName, name }] : [];
    });
    if (named.length === 0) return outcomes;
    const client = await this.pool.connect();
    const projected: Projected[] = [];
    try {
      await client.query("BEGIN");
      const checkpoints = await this.lockCheckpoints(client, named);
      for (const { docName, name } of named) {
        const checkpoint = checkpoints.get(docName);
        if (checkpoint === undefined) {
          // The dialog no longer exists.
          this.drop(docName);
          outcomes.set(docName, { ok: true, seq: 0 });
          continue;
        }
        await this.project(client, docName, name.kind === "user" ? null : name.dialogId, checkpoint, projected);
      }
      const written = projected.filter((each) => each.write);
      if (written.length > 0) {
        // Tells listeners (the sync server pushes to the dialog's participants) once the rows are committed.
        await client.query(
          `WITH done AS (
             UPDATE projection_checkpoints c SET seq = v.seq FROM unnest($1::text[], $2::bigint[]) AS v (doc_name, seq)
             WHERE c.doc_name = v.doc_name
           )
           SELECT pg_notify('${projectedChannel}', d) FROM unnest($3::text[]) AS d`,
          [
            written.map((each) => each.docName),
            written.map((each) => each.applied.seq),
            [...new Set(written.flatMap((each) => (each.dialogId ? [each.dialogId] : [])))],
          ],
        );
      }
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      // The copies hold rows that were not committed.
      for (const { applied } of projected) applied.doc.destroy();
      for (const { docName } of named) this.drop(docName);
      client.release();
      if (named.length === 1) return outcomes.set(named[0]?.docName as string, { ok: false, error });
      // Each on its own: the bad one fails alone, the others are projected.
      for (const { docName } of named) for (const [doc, outcome] of await this.runMany([docName])) outcomes.set(doc, outcome);
      return outcomes;
    }
    client.release();
    for (const { docName, applied, checkpoint, write } of projected) {
      logQuarantined(this.logger, applied.quarantined);
      if (write) this.recordLag(applied.appended.filter((row) => row.seq > checkpoint));
      this.remember(docName, { doc: applied.doc, seq: applied.seq });
      outcomes.set(docName, { ok: true, seq: write ? applied.seq : checkpoint });
    }
    return outcomes;
  }

  /**
   * Applies one document's new log rows (to its cached copy when that is at
   * the checkpoint) and writes the rows they changed, inside the batch's
   * transaction, and adds it to `batch`, whose checkpoints move together.
   */
  private async project(client: pg.PoolClient, docName: string, dialogId: string | null, checkpoint: number, batch: Projected[]) {
    let cached = this.cache.get(docName);
    if (cached && cached.seq !== checkpoint) {
      this.drop(docName);
      cached = undefined;
    }
    let changes: Changes = noChanges(cached === undefined);
    // Bad updates are quarantined inside this transaction, so they commit with the rows built without them.
    const applied = await applyDocLog(client, docName, {
      ...(cached ? { from: { doc: cached.doc, seq: checkpoint } } : {}),
      watch: (doc, fresh) => {
        changes = noChanges(fresh);
        return trackChanges(doc, changes);
      },
    });
    // The cache no longer vouches for the copy: it is the batch's until it commits, and dropped if it does not.
    if (cached) this.cache.delete(docName);
    // A rebuild replaced the cached document, which may hold part of a bad update.
    if (cached && applied.doc !== cached.doc) cached.doc.destroy();
    // In the batch before its rows are written: if writing fails, the batch destroys the copy.
    const entry: Projected = { docName, applied, checkpoint, write: false, dialogId };
    batch.push(entry);
    if (!applied.fresh && applied.seq <= checkpoint) return;
    await writeRows(client, docName, applied.doc, changes, { maxMessageChars: this.maxMessageChars });
    entry.write = true;
  }

  /**
   * Locks the documents' checkpoint rows (creating them at 0), in name order
   * so two processes' batches cannot deadlock; a document whose dialog no
   * longer exists is missing from the result. One round trip: the registry
   * rows are share-locked (a dialog cannot be deleted under the projection),
   * and the no-op update locks the checkpoints, which serializes catch-ups of
   * one document.
   */
  private async lockCheckpoints(client: pg.PoolClient, docs: readonly { docName: string; name: { dialogId: string } }[]) {
    const { rows } = await client.query<{ doc_name: string; seq: string }>(
      `INSERT INTO projection_checkpoints AS c (doc_name, dialog_id, seq)
         SELECT v.doc_name, r.id, 0 FROM unnest($1::text[], $2::uuid[]) WITH ORDINALITY AS v (doc_name, dialog_id, o)
         JOIN dialog_registry r ON r.id = v.dialog_id
         ORDER BY v.o FOR KEY SHARE OF r
       ON CONFLICT (doc_name) DO UPDATE SET seq = c.seq
       RETURNING c.doc_name, c.seq`,
      [docs.map((doc) => doc.docName), docs.map((doc) => doc.name.dialogId)],
    );
    return new Map(rows.map((row) => [row.doc_name, Number(row.seq)]));
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
