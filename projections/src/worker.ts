import type pg from "pg";
import { jointLimit, type Projector } from "./projector.ts";
import { backfillSearchText } from "./segment.ts";
import type { Service } from "./service.ts";

export const logChannel = "mtchat_log";

export type WorkerOptions = {
  pollMs: number;
  /** How long notifications are gathered before projecting, so a burst becomes one catch-up per document. */
  batchMs?: number;
  /** Documents projected at once. */
  concurrency?: number;
  /** Wait before the first retry of a failing document (default `pollMs`); it doubles with each failure. */
  retryBaseMs?: number;
  /** Cap on that doubling (default one minute). */
  retryMaxMs?: number;
  /** Each failed catch-up; `failing` says how often this document has failed in a row and when it is retried. */
  onError?: (docName: string, error: unknown, failing: FailingDocument) => void;
  /** A document that had failed projected again. */
  onRecovered?: (docName: string, failing: FailingDocument) => void;
  /** The LISTEN connection broke (the database went away); the worker listens again by itself. */
  onListenerLost?: (error: unknown) => void;
  /** The start-up backfill of Chinese search text (see segment.ts) is done, or failed. */
  onBackfilled?: (filled: number, error: unknown) => void;
  now?: () => number;
};

/** A document whose projection keeps failing, as the health detail shows it. */
export type FailingDocument = {
  docName: string;
  /** The latest failure's message. */
  error: string;
  /** When it first failed (in this run of failures), ISO time. */
  since: string;
  /** Failed catch-ups in a row. */
  attempts: number;
  /** When it is tried again, ISO time. */
  retryAt: string;
};

/** `running` from when a retry is queued until it ends, so the retry timer does not fire for it again. */
type Failure = { error: string; since: number; attempts: number; retryAt: number; running: boolean };

/**
 * Keeps the projection up to date: a LISTEN on the log channel wakes it per
 * document, and a periodic sweep of heads against checkpoints catches anything
 * a notification missed (a restart, a dropped connection). Each document is
 * projected on its own: one that fails is retried with exponential backoff
 * (up to `retryMaxMs`) and never holds up the others, and `failing()` lists it.
 */
export class ProjectionWorker implements Service {
  readonly name = "projections";
  private listener: pg.PoolClient | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly queued = new Set<string>();
  /** Documents in a run now. */
  private readonly inFlight = new Set<string>();
  private readonly failures = new Map<string, Failure>();
  private active = 0;
  private idle: (() => void) | null = null;
  private stopping = false;
  private batchTimer: NodeJS.Timeout | null = null;
  private retryTimer: { at: number; timer: NodeJS.Timeout } | null = null;
  private relistenTimer: NodeJS.Timeout | null = null;
  private readonly now: () => number;

  constructor(
    private readonly pool: pg.Pool,
    private readonly projector: Pick<Projector, "catchUpEach">,
    private readonly options: WorkerOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  async start(): Promise<void> {
    this.stopping = false;
    await this.listen();
    this.timer = setInterval(() => void this.sweep(), this.options.pollMs);
    await this.sweep();
    // Chinese projected before it was segmented becomes searchable by its words (in the background; it retries at the next start).
    void backfillSearchText(this.pool).then(
      (filled) => this.options.onBackfilled?.(filled, null),
      (error: unknown) => this.options.onBackfilled?.(0, error),
    );
  }

  /** LISTENs on a connection of its own, which it gives back when the connection breaks. */
  private async listen(): Promise<void> {
    const listener = await this.pool.connect();
    listener.on("notification", (message) => {
      // The payload is `<doc name> <seq>` (doc names hold no spaces: user ids are URI-encoded).
      const docName = message.payload?.split(" ")[0];
      if (docName) this.enqueue(docName);
    });
    listener.on("error", (error) => {
      // Only the current listener is ours to release: after stop() it is already back in the pool.
      if (this.listener !== listener) return;
      this.listener = null;
      listener.release(error);
      this.options.onListenerLost?.(error);
      this.relisten(250);
    });
    try {
      await listener.query(`LISTEN ${logChannel}`);
    } catch (error) {
      listener.release(error as Error);
      throw error;
    }
    if (this.stopping) {
      listener.release();
      return;
    }
    this.listener = listener;
  }

  /**
   * Listens again, with backoff (up to 5 s) while the database is away; once
   * it answers, what was missed is swept and documents that failed meanwhile
   * are tried at once instead of at their backoff.
   */
  private relisten(delayMs: number): void {
    if (this.stopping) return;
    this.relistenTimer = setTimeout(() => {
      this.relistenTimer = null;
      this.listen().then(
        () => {
          for (const failure of this.failures.values()) if (!failure.running) failure.retryAt = Math.min(failure.retryAt, this.now());
          this.scheduleRetry();
          void this.sweep();
        },
        () => this.relisten(Math.min(delayMs * 2, 5000)),
      );
    }, delayMs);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.relistenTimer) clearTimeout(this.relistenTimer);
    this.relistenTimer = null;
    const listener = this.listener;
    if (listener) {
      this.listener = null;
      await listener.query(`UNLISTEN ${logChannel}`).catch(() => undefined);
      listener.release();
    }
    this.queued.clear();
    if (this.batchTimer) clearTimeout(this.batchTimer);
    this.batchTimer = null;
    if (this.retryTimer) clearTimeout(this.retryTimer.timer);
    this.retryTimer = null;
    if (this.active > 0) await new Promise<void>((resolve) => (this.idle = resolve));
  }

  /** Documents whose latest catch-up failed, longest failing first. */
  failing(): FailingDocument[] {
    return [...this.failures.entries()]
      .map(([docName, failure]) => this.describe(docName, failure))
      .sort((a, b) => (a.since < b.since ? -1 : a.since > b.since ? 1 : 0));
  }

  /** Finds documents whose log is ahead of their checkpoint (except those waiting for a retry). */
  async sweep(): Promise<void> {
    if (this.stopping) return;
    const now = this.now();
    const waiting = [...this.failures.entries()].filter(([, failure]) => failure.retryAt > now).map(([docName]) => docName);
    try {
      const { rows } = await this.pool.query<{ doc_name: string }>(
        `SELECT h.doc_name FROM doc_heads h LEFT JOIN projection_checkpoints c USING (doc_name)
         WHERE (c.seq IS NULL OR c.seq < h.head_seq) AND h.doc_name <> ALL($1::text[]) LIMIT 1000`,
        [waiting],
      );
      for (const row of rows) this.enqueue(row.doc_name);
    } catch (error) {
      this.options.onError?.("(sweep)", error, {
        docName: "(sweep)",
        error: String(error),
        since: new Date(now).toISOString(),
        attempts: 1,
        retryAt: new Date(now + this.options.pollMs).toISOString(),
      });
    }
  }

  private describe(docName: string, failure: Failure): FailingDocument {
    return {
      docName,
      error: failure.error,
      since: new Date(failure.since).toISOString(),
      attempts: failure.attempts,
      retryAt: new Date(failure.retryAt).toISOString(),
    };
  }

  private enqueue(docName: string): void {
    if (this.stopping) return;
    // A failing document waits for its retry; the timer enqueues it then.
    const failure = this.failures.get(docName);
    if (failure && failure.retryAt > this.now()) return;
    if (failure) failure.running = true;
    this.queued.add(docName);
    if (this.batchTimer) return;
    this.batchTimer = setTimeout(() => {
      this.batchTimer = null;
      this.pump();
    }, this.options.batchMs ?? 20);
  }

  /**
   * Queued documents go out in runs of up to `jointLimit` (the projector
   * projects busy segments together), up to `concurrency` runs at once. A
   * document in a run stays queued until the run ends, so it joins the next
   * run, and the runs grow with the load instead of multiplying.
   */
  private pump(): void {
    const limit = this.options.concurrency ?? 4;
    while (this.active < limit && this.queued.size > 0 && !this.stopping) {
      const now = this.now();
      const taken = [...this.queued].filter((docName) => !this.inFlight.has(docName)).slice(0, jointLimit);
      if (taken.length === 0) return;
      for (const docName of taken) this.queued.delete(docName);
      // Queued again while it was failing: it waits for its retry, which the retry timer queues.
      const docNames = taken.filter((docName) => !((this.failures.get(docName)?.retryAt ?? 0) > now));
      if (docNames.length === 0) continue;
      this.active += 1;
      for (const docName of docNames) this.inFlight.add(docName);
      const results = this.projector.catchUpEach(docNames).map((result, index) => {
        const docName = docNames[index] as string;
        return result
          .then(
            () => this.succeeded(docName),
            (error: unknown) => this.failed(docName, error),
          )
          .finally(() => this.inFlight.delete(docName));
      });
      void Promise.all(results).finally(() => {
        this.active -= 1;
        if (this.active === 0 && this.idle) {
          this.idle();
          this.idle = null;
        }
        this.pump();
      });
    }
  }

  private succeeded(docName: string): void {
    const failure = this.failures.get(docName);
    if (!failure) return;
    this.failures.delete(docName);
    this.options.onRecovered?.(docName, this.describe(docName, failure));
  }

  private failed(docName: string, error: unknown): void {
    const now = this.now();
    const previous = this.failures.get(docName);
    const attempts = (previous?.attempts ?? 0) + 1;
    const base = this.options.retryBaseMs ?? this.options.pollMs;
    const delay = Math.min(base * 2 ** Math.min(attempts - 1, 30), this.options.retryMaxMs ?? 60_000);
    const failure = {
      error: (error instanceof Error ? error.message : String(error)).slice(0, 500),
      since: previous?.since ?? now,
      attempts,
      retryAt: now + delay,
      running: false,
    };
    this.failures.set(docName, failure);
    this.options.onError?.(docName, error, this.describe(docName, failure));
    this.scheduleRetry();
  }

  /** One timer, for the earliest due retry. */
  private scheduleRetry(): void {
    if (this.stopping) return;
    let earliest = Number.POSITIVE_INFINITY;
    for (const failure of this.failures.values()) if (!failure.running) earliest = Math.min(earliest, failure.retryAt);
    if (!Number.isFinite(earliest) || (this.retryTimer && this.retryTimer.at <= earliest)) return;
    if (this.retryTimer) clearTimeout(this.retryTimer.timer);
    const timer = setTimeout(
      () => {
        this.retryTimer = null;
        const now = this.now();
        for (const [docName, failure] of this.failures) if (!failure.running && failure.retryAt <= now) this.enqueue(docName);
        this.scheduleRetry();
      },
      Math.max(0, earliest - this.now()),
    );
    timer.unref?.();
    this.retryTimer = { at: earliest, timer };
  }
}
