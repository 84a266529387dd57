import { deny } from "@mtchat/authz";
import { applyChecked, applyDocLog, type EventLogger, logQuarantined, quarantineRow } from "@mtchat/projections";
import type pg from "pg";
import * as Y from "yjs";
import type { Metrics } from "../metrics.ts";

export type AppendEntry = {
  docName: string;
  dialogId: string;
  /** The seq this row takes: one past the document's current head. */
  seq: number;
  update: Uint8Array;
  userId: string;
  /** Client ids carrying new structs: each must be unbound or already this user's. */
  clientIds: readonly number[];
  newMessageIds: readonly string[];
};

export type AppendResult = { ok: true } | ReturnType<typeof deny>;

class HeadMoved extends Error {
  override name = "HeadMoved";
}

/**
 * The durable log of accepted updates. `append` writes, in one round trip
 * (`mtchat_append`, migration 0002), the client-id bindings, the arrival order
 * of new messages, the log row and the document head, and notifies the
 * projection worker. The caller has not
 * applied the update yet, so a refusal here leaves no trace anywhere.
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

  async append(entry: AppendEntry): Promise<AppendResult> {
    try {
      await this.pool.query("SELECT mtchat_append($1, $2, $3, $4, $5, $6::bigint[], $7::uuid[])", [
        entry.docName,
        entry.seq,
        entry.dialogId,
        entry.update,
        entry.userId,
        entry.clientIds,
        entry.newMessageIds,
      ]);
      this.metrics?.appends.inc();
      return { ok: true };
    } catch (error) {
      const code = (error as { code?: string }).code;
      const message = error instanceof Error ? error.message : String(error);
      if (code === "MT409" || code === "MT410") return deny("conflict", message);
      if (code === "MT411") throw new HeadMoved(message);
      throw error;
    }
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
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
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
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
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
