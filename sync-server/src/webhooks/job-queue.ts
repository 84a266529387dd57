import { randomUUID } from "node:crypto";
import pg from "pg";
import PgBoss from "pg-boss";
import type { Tx } from "../db/transaction.ts";
import { isDatabaseUnavailable } from "../db/unavailable.ts";
import { maxBackoffMs, runInSlots, Wakeup } from "./wakeup.ts";

/**
 * Held while pg-boss is set up (its schema installed or migrated, the queues
 * created): replicas starting together on an empty database would otherwise
 * deadlock in pg-boss's create_queue, which alters the shared job table.
 * Any number; it only has to differ from the service's other advisory locks.
 */
const setupLock = 7_283_514_002;

/** The dispatcher's pg-boss queues (deliveries are their own queue, see chains.ts); web pushes are one job per subscription. */
export const queues = { notify: "webhook-notify", push: "web-push" } as const;
export type QueueName = (typeof queues)[keyof typeof queues];

export { transaction } from "../db/transaction.ts";
export type { Tx };

const inTransaction = (client: pg.PoolClient): PgBoss.Db => ({
  executeSql: (text: string, values: unknown[]) => client.query(text, values),
});

export type Job<T> = { id: string; data: T };
/** Handles a job; resolves true when it completed the job itself, inside its own transaction. */
export type JobHandler<T> = (job: Job<T>) => Promise<boolean>;
export type JobQueueOptions = {
  /** An active job older than this is taken for lost (its process died) and retried by pg-boss. */
  expireInSeconds: number;
  /** How often consumers look for due jobs when nothing woke them. */
  pollMs: number;
  onError: (error: unknown) => void;
};

/**
 * The dispatcher's use of pg-boss: jobs are inserted inside the caller's
 * transaction (so a job exists exactly when the state that asked for it
 * committed), and consumed by a loop that keeps up to `concurrency` jobs in
 * flight, fetching again as soon as a slot frees. pg-boss's own polling worker
 * fetches one batch per interval, which would cap a quiet queue's latency at
 * the interval; here a job queued by this process wakes its consumer on commit
 * (or when its start time comes), and polling only finds other processes' jobs.
 */
export class JobQueue {
  private boss: PgBoss | null = null;
  private stopping = false;
  private readonly wakeups = new Map<QueueName, Wakeup>();
  private readonly loops: Promise<void>[] = [];

  constructor(
    private readonly connectionString: string,
    private readonly options: JobQueueOptions,
  ) {}

  async start(): Promise<void> {
    this.stopping = false;
    const boss = new PgBoss({ connectionString: this.connectionString, max: 4, schedule: false, application_name: "mtchat-webhooks" });
    boss.on("error", (error) => this.options.onError(error));
    await this.whileLocked(async () => {
      await boss.start();
      // Job-level retries are for a dispatcher that failed mid-job (the database went away,
      // the process died); delivery retries are scheduled by the dispatcher itself.
      for (const name of Object.values(queues)) {
        await boss.createQueue(name, {
          name,
          retryLimit: 20,
          retryDelay: 5,
          retryBackoff: true,
          expireInSeconds: this.options.expireInSeconds,
        });
      }
    });
    this.boss = boss;
  }

  /** Runs `work` holding the set-up lock, on a connection of its own; the lock goes with the session if this process dies. */
  private async whileLocked(work: () => Promise<void>): Promise<void> {
    const client = new pg.Client({ connectionString: this.connectionString, application_name: "mtchat-webhooks-setup" });
    client.on("error", (error) => this.options.onError(error));
    await client.connect();
    try {
      await client.query("SELECT pg_advisory_lock($1)", [setupLock]);
      await work();
    } finally {
      // Ending the session releases the lock as well.
      await client.end().catch(() => undefined);
    }
  }

  /** Stops fetching, waits for jobs in flight, then closes pg-boss. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const wakeup of this.wakeups.values()) wakeup.close();
    await Promise.allSettled(this.loops);
    this.loops.length = 0;
    await this.boss?.stop({ graceful: true, wait: true, close: true });
    this.boss = null;
  }

  /** Queues jobs in `tx`, each runnable from its `startAfter`; consumers here wake when they are due. */
  async insert<T extends object>(tx: Tx, name: QueueName, jobs: { data: T; startAfter: Date }[]): Promise<string[]> {
    if (jobs.length === 0) return [];
    const withIds = jobs.map((job) => ({ ...job, id: randomUUID() }));
    await this.mustBoss().insert(
      withIds.map((job) => ({ id: job.id, name, data: job.data, startAfter: job.startAfter })),
      { db: inTransaction(tx.client) },
    );
    const earliest = Math.min(...jobs.map((job) => job.startAfter.getTime()));
    tx.afterCommit(() => {
      // pg-boss fetches jobs whose start is strictly before the database's now().
      if (!this.stopping) this.wakeupOf(name).wakeAt(earliest);
    });
    return withIds.map((job) => job.id);
  }

  /** Completes a job inside `tx`, so the job is done exactly when the work it did commits. */
  async complete(tx: Tx, name: QueueName, id: string): Promise<void> {
    await this.mustBoss().complete(name, id, {}, { db: inTransaction(tx.client) });
  }

  /** Runs `handle` for each job of `name`, up to `concurrency` at once, until stopped. */
  consume<T>(name: QueueName, concurrency: number, handle: JobHandler<T>): void {
    this.loops.push(this.loop(name, concurrency, handle));
  }

  private loop<T>(name: QueueName, concurrency: number, handle: JobHandler<T>): Promise<void> {
    const boss = this.mustBoss();
    return runInSlots(this.wakeupOf(name), {
      concurrency,
      pollMs: this.options.pollMs,
      stopped: () => this.stopping,
      // pg-boss 10 returns no jobs when its query fails; should a fetch ever throw (the database away), the loop
      // waits and fetches again rather than ending for good, with an unhandled rejection that ends the process.
      take: (free) => boss.fetch<T>(name, { batchSize: free }),
      run: (job) => this.run(boss, name, job, handle),
      onTakeError: this.options.onError,
    });
  }

  private async run<T>(boss: PgBoss, name: QueueName, job: Job<T>, handle: JobHandler<T>): Promise<void> {
    try {
      if (!(await handle(job))) await boss.complete(name, job.id);
    } catch (error) {
      this.options.onError(error);
      await this.fail(boss, name, job.id, error);
    }
  }

  /**
   * Records a failed job. While the database is away this is tried again
   * (until it answers or the queue stops), so the job is retried after
   * pg-boss's retry delay once it is back, not only when it expires.
   */
  private async fail(boss: PgBoss, name: QueueName, id: string, error: unknown): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        await boss.fail(name, id, { message: String(error) });
        return;
      } catch (failure) {
        if (this.stopping || !isDatabaseUnavailable(failure)) {
          this.options.onError(failure);
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(250 * 2 ** attempt, maxBackoffMs)));
      }
    }
  }

  private wakeupOf(name: QueueName): Wakeup {
    let wakeup = this.wakeups.get(name);
    if (!wakeup) {
      wakeup = new Wakeup();
      this.wakeups.set(name, wakeup);
    }
    return wakeup;
  }

  private mustBoss(): PgBoss {
    if (!this.boss) throw new Error("the job queue is not started");
    return this.boss;
  }
}
