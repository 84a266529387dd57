import type { Service } from "@mtchat/projections";
import { metaDocName, metaKeys, metaOf } from "@mtchat/protocol";
import type pg from "pg";
import type { ChatSync } from "../sync/chat-sync.ts";
import type { Logger } from "../sync/logger.ts";
import { newestMessageJoin } from "./readable-sql.ts";

/** Any number; it only has to differ from other advisory locks of the service. */
const sweepLock = 0x6d74_6172;
const batch = 200;

/**
 * Archives dialogs that have been quiet for `archiveAfterSecs`: the server
 * writes `autoArchivedThrough` (the newest message) into the meta document,
 * so offline clients learn it too. A later message makes the mark stale and
 * unarchives the dialog with no write at all (see the protocol's `isArchived`).
 * One node sweeps at a time (an advisory lock); the rest skip the round.
 */
export class AutoArchiver implements Service {
  readonly name = "auto-archiver";
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = true;

  constructor(
    private readonly pool: pg.Pool,
    private readonly sync: ChatSync,
    private readonly logger: Logger,
    private readonly archiveAfterSecs: number,
  ) {}

  /** Sweeps ten times per archive period, at least once a second and at most every five minutes. */
  private get intervalMs(): number {
    return Math.min(Math.max((this.archiveAfterSecs * 1000) / 10, 1000), 300_000);
  }

  async start(): Promise<void> {
    if (this.archiveAfterSecs === 0) return;
    this.stopped = false;
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.sweep()
        .then(() => undefined)
        .catch((error: unknown) => this.logger.error("auto_archive_failed", { error: String(error) }))
        .finally(() => {
          this.running = null;
          this.schedule();
        });
    }, this.intervalMs);
  }

  /** Archives every quiet dialog not yet archived through its newest message; returns how many. */
  async sweep(): Promise<number> {
    const client = await this.pool.connect();
    let archived = 0;
    try {
      const { rows: lock } = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1) AS ok", [sweepLock]);
      if (!lock[0]?.ok) return 0;
      try {
        for (;;) {
          const { rows } = await client.query<{ id: string; newest_id: string }>(
            `SELECT d.id, newest.id AS newest_id FROM dialogs d
             ${newestMessageJoin}
             WHERE newest.received_at < now() - make_interval(secs => $1)
               AND d.auto_archived_through IS DISTINCT FROM newest.id
             LIMIT $2`,
            [this.archiveAfterSecs, batch],
          );
          for (const row of rows) {
            if (this.stopped) return archived;
            await this.sync.serverWrite(metaDocName(row.id), (doc) => metaOf(doc).set(metaKeys.autoArchivedThrough, row.newest_id));
            archived += 1;
          }
          if (rows.length < batch) break;
        }
      } finally {
        await client.query("SELECT pg_advisory_unlock($1)", [sweepLock]);
      }
    } finally {
      client.release();
    }
    if (archived > 0) this.logger.info("auto_archived", { dialogs: archived });
    return archived;
  }
}
