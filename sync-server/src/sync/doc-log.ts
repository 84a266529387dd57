import { deny } from "@mtchat/authz";
import { applyChecked, applyDocLog, type EventLogger, logQuarantined, prepared, quarantineRow, readDocLog } from "@mtchat/projections";
import type pg from "pg";
import * as Y from "yjs";
import { Batcher } from "../db/batcher.ts";
import { transaction } from "../db/transaction.ts";
import type { Metrics } from "../metrics.ts";

const appendMany = prepared(
  "mtchat-append-many",
  "SELECT ord, seq, code, message FROM mtchat_append_many($1::text[], $2::uuid[], $3::bytea[], $4::text[], $5::jsonb, $6::jsonb)",
);

export type AppendEntry = {
  docName: string;
  dialogId: string;
  update: Uint8Array;
  userId: string;
  /** Client ids carrying new structs: each must be unbound or already this user's. */
  clientIds: readonly number[];
  newMessageIds: readonly string[];
};

/** The seq the database gave the row, one past the head (another node may have appended since this copy caught up). */
export type AppendResult = { ok: true; seq: number } | ReturnType<typeof deny>;

/** Appends gathered into one round trip at most. */
const maxBatch = 256;
/** Batches written at once: a second one overlaps the first's commit; more would only queue in PostgreSQL. */
const maxBatchesInFlight = 2;

/**
 * The durable log of accepted updates, the source of truth every node reads.
 * `append` writes, in one round trip (`mtchat_append`, migration 0012), the
 * client-id bindings, the arrival order of new messages, the log row (at the
 * seq the database gives it, one past the head) and the document head, and
 * notifies `<doc> <seq>`. The caller has not applied the update yet, so a
 * refusal here leaves no trace anywhere.
 */
export class DocLog {
  /** Documents with an update quarantined since they were loaded: their live state may hold part of it, so it is never snapshotted. */
  private readonly poisoned = new Set<string>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly logger?: EventLogger,
    /** Counts the rows appended. */
    private readonly metrics?: Pick<Metrics, "appends">,
  ) {}

  /**
   * The document's state (one update), the seq it reaches, and how many log
   * rows follow the snapshot. It is built by `applyDocLog`, like the
   * projection's: an update that cannot be applied is quarantined and left
   * out, so a document always loads and applies cleanly.
   */
  async load(docName: string): Promise<{ updates: Uint8Array[]; seq: number; tail: number }> {
    const applied = await applyDocLog(this.pool, docName);
    try {
      logQuarantined(this.logger, applied.quarantined);
      const { rows } = await this.pool.query<{ head_seq: string }>("SELECT head_seq FROM doc_heads WHERE doc_name = $1", [docName]);
      const head = rows[0] ? Number(rows[0].head_seq) : 0;
      if (head !== applied.seq) throw new Error(`log of ${docName} reads to ${applied.seq} but its head is ${head}`);
      this.poisoned.delete(docName);
      return { updates: [Y.encodeStateAsUpdate(applied.doc)], seq: applied.seq, tail: applied.tail };
    } finally {
      applied.doc.destroy();
    }
  }

  /**
   * For a logged update the live document could not apply (it threw, or left
   * pending structs or deletions): quarantines the row (see `quarantineRow`),
   * logs `update_quarantined`, and stops snapshots of the document until it
   * is loaded again, since its live state may hold part of the update. The
   * caller then unloads the document so the next load rebuilds it without it.
   * Resolves true when this call quarantined the row.
   */
  async quarantine(docName: string, seq: number, reason: string): Promise<boolean> {
    this.poisoned.add(docName);
    const done = await quarantineRow(this.pool, docName, seq, reason);
    if (done) logQuarantined(this.logger, [{ docName, seq, source: "row", reason }]);
    return done;
  }

  /** The log rows after `seq` (from the snapshot when compaction removed them), to bring a live copy up to the head. */
  async readAfter(docName: string, seq: number): Promise<{ updates: Uint8Array[]; seq: number }> {
    const read = await readDocLog(this.pool, docName, seq);
    return { updates: read.updates, seq: read.seq };
  }

  /**
   * Appends one update. Appends arriving while earlier ones are in flight are
   * gathered and written together (`mtchat_append_many`, set-based since
   * migration 0014): one round trip, a few statements and one commit for the
   * lot, so the database's cost per update falls as the load rises, and an
   * idle server adds no wait. Each caller still resolves only once its own
   * row is committed.
   */
  append(entry: AppendEntry): Promise<AppendResult> {
    return this.appends.submit(entry);
  }

  private readonly appends = new Batcher<AppendEntry, AppendResult>((batch) => this.write(batch), {
    maxBatch,
    maxInFlight: maxBatchesInFlight,
  });

  private async write(batch: AppendEntry[]): Promise<AppendResult[]> {
    const { rows } = await this.pool.query<{ ord: number; seq: string | null; code: string | null; message: string | null }>(
      appendMany([
        batch.map((entry) => entry.docName),
        batch.map((entry) => entry.dialogId),
        batch.map((entry) => Buffer.from(entry.update.buffer, entry.update.byteOffset, entry.update.byteLength)),
        batch.map((entry) => entry.userId),
        JSON.stringify(batch.map((entry) => entry.clientIds)),
        JSON.stringify(batch.map((entry) => entry.newMessageIds)),
      ]),
    );
    const results: AppendResult[] = batch.map(() => deny("conflict", "the append returned no row for this update"));
    for (const row of rows) {
      if (row.ord < 1 || row.ord > batch.length) continue;
      if (row.seq !== null) this.metrics?.appends.inc();
      results[row.ord - 1] = row.seq !== null ? { ok: true, seq: Number(row.seq) } : deny("conflict", row.message ?? "refused");
    }
    return results;
  }

  /**
   * Stores the merged state up to `seq` and drops log rows the snapshot covers
   * and the projection has consumed, so loading reads one row plus a short tail.
   */
  async snapshot(docName: string, dialogId: string, state: Uint8Array, seq: number): Promise<void> {
    // A snapshot that would not load cleanly (the live document took a bad update) is never stored; the log keeps the rows.
    const check = new Y.Doc({ gc: true });
    const bad = this.poisoned.has(docName) ? "an update of it was quarantined since it loaded" : applyChecked(check, state);
    check.destroy();
    if (bad !== null) {
      this.logger?.error("snapshot_skipped", { doc: docName, seq, reason: bad });
      return;
    }
    await transaction(this.pool, async ({ client }) => {
      await client.query(
        `INSERT INTO doc_snapshots (doc_name, dialog_id, state, upto_seq) VALUES ($1, $2, $3, $4)
         ON CONFLICT (doc_name) DO UPDATE SET state = EXCLUDED.state, upto_seq = EXCLUDED.upto_seq, created_at = now()
         WHERE doc_snapshots.upto_seq < EXCLUDED.upto_seq`,
        [docName, dialogId, state, seq],
      );
      await client.query(
        `DELETE FROM doc_log WHERE doc_name = $1
         AND seq <= LEAST($2, COALESCE((SELECT seq FROM projection_checkpoints WHERE doc_name = $1), 0))`,
        [docName, seq],
      );
    });
  }

  async tailLength(docName: string): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM doc_log WHERE doc_name = $1
       AND seq > COALESCE((SELECT upto_seq FROM doc_snapshots WHERE doc_name = $1), 0)`,
      [docName],
    );
    return Number(rows[0]?.n ?? 0);
  }
}
