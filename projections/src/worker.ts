import type pg from "pg";
import type { Projector } from "./projector.ts";
import type { Service } from "./service.ts";

export const logChannel = "mtchat_log";

export type WorkerOptions = {
  pollMs: number;
  /** How long notifications are gathered before projecting, so a burst becomes one catch-up per document. */
  batchMs?: number;
  /** Documents projected at once. */
  concurrency?: number;
  onError?: (docName: string, error: unknown) => void;
};

/**
 * Keeps the projection up to date: a LISTEN on the log channel wakes it per
 * document, and a periodic sweep of heads against checkpoints catches anything
 * a notification missed (a restart, a dropped connection).
 */
export class ProjectionWorker implements Service {
  readonly name = "projections";
  private listener: pg.PoolClient | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly queued = new Set<string>();
  private active = 0;
  private idle: (() => void) | null = null;
  private stopping = false;
  private batchTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly pool: pg.Pool,
    private readonly projector: Projector,
    private readonly options: WorkerOptions,
  ) {}

  async start(): Promise<void> {
    this.stopping = false;
    this.listener = await this.pool.connect();
    this.listener.on("notification", (message) => {
      if (message.payload) this.enqueue(message.payload);
    });
    await this.listener.query(`LISTEN ${logChannel}`);
    this.timer = setInterval(() => void this.sweep(), this.options.pollMs);
    await this.sweep();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.listener) {
      await this.listener.query(`UNLISTEN ${logChannel}`).catch(() => undefined);
      this.listener.release();
      this.listener = null;
    }
    this.queued.clear();
    if (this.batchTimer) clearTimeout(this.batchTimer);
    this.batchTimer = null;
    if (this.active > 0) await new Promise<void>((resolve) => (this.idle = resolve));
  }

  /** Finds documents whose log is ahead of their checkpoint. */
  async sweep(): Promise<void> {
    if (this.stopping) return;
    try {
      const { rows } = await this.pool.query<{ doc_name: string }>(
        `SELECT h.doc_name FROM doc_heads h LEFT JOIN projection_checkpoints c USING (doc_name)
         WHERE c.seq IS NULL OR c.seq < h.head_seq LIMIT 1000`,
      );
      for (const row of rows) this.enqueue(row.doc_name);
    } catch (error) {
      this.options.onError?.("(sweep)", error);
    }
  }

  private enqueue(docName: string): void {
    if (this.stopping) return;
    this.queued.add(docName);
    if (this.batchTimer) return;
    this.batchTimer = setTimeout(() => {
      this.batchTimer = null;
      this.pump();
    }, this.options.batchMs ?? 20);
  }

  private pump(): void {
    const limit = this.options.concurrency ?? 4;
    while (this.active < limit && this.queued.size > 0 && !this.stopping) {
      const docName = this.queued.values().next().value as string;
      this.queued.delete(docName);
      this.active += 1;
      this.projector
        .catchUp(docName)
        .catch((error: unknown) => this.options.onError?.(docName, error))
        .finally(() => {
          this.active -= 1;
          if (this.active === 0 && this.idle) {
            this.idle();
            this.idle = null;
          }
          this.pump();
        });
    }
  }
}
