import { type Service, webhooksChannel } from "@mtchat/projections";
import pg from "pg";
import { survivePoolErrors } from "../db/unavailable.ts";
import type { Metrics } from "../metrics.ts";
import type { OutboundGuard } from "../outbound/outbound-guard.ts";
import type { Logger } from "../sync/logger.ts";
import {
  chainPayloadPrefix,
  type DeliveryJob,
  type DeliveryRow,
  fanOut,
  loadDelivery,
  lockChains,
  lockFanOut,
  type Outcome,
  outboxPayload,
  ownerLockStillHeld,
  pendingHeads,
  queueHeads,
  recordOutcome,
  yieldHead,
} from "./chains.ts";
import { OwnerLock, reap } from "./claims.ts";
import type { Endpoints } from "./endpoints.ts";
import { postEvent, webhookBody } from "./http-delivery.ts";
import { asyncCommitUrl, type Job, JobQueue, queues, transaction } from "./job-queue.ts";
import { Notifications, type NotifyJob } from "./notifications.ts";
import { judge, nextDelayMs, type RetryPolicy } from "./retry-policy.ts";

export type DispatcherOptions = {
  retry: RetryPolicy;
  timeoutMs: number;
  concurrency: number;
  pollMs: number;
  notificationDelayMs: number;
  /** True when the user has a live connection to the dialog; such a user gets no notification.pending. */
  isOnline?: (dialogId: string, userId: string) => Promise<boolean>;
  /** True when the user muted the dialog; such a user gets no notification.pending. Default: nobody is muted. */
  isMuted?: (dialogId: string, userId: string) => Promise<boolean>;
  /** How often every chain is checked for a head without a live job (a safety net; normally each transaction queues its own). */
  sweepMs?: number;
  /** How often deliveries left by a dispatcher that died mid-delivery are looked for and resumed. */
  reapMs?: number;
};

const fanOutBatch = 500;
/** A job going down a chain's backlog gives its slot back after this many, so other chains get their turn. */
const maxDeliveriesPerJob = 50;
/** A job active this long whose delivery nobody claimed was fetched by a process that died before claiming (a live one claims at once). */
const unclaimedStallSecs = 10;

/**
 * Moves outbox rows to delivery jobs and delivers them (see chains.ts for the
 * ordering). It wakes on the outbox's NOTIFY, and sweeps at start and every
 * `sweepMs` for anything a notification missed. `stop()` stops taking jobs and
 * waits for the deliveries in flight, so a restart neither loses nor repeats
 * one. A process that dies mid-delivery (SIGKILL, a crash, its PostgreSQL
 * session cut) leaves its deliveries claimed by an owner whose lock is gone
 * (see claims.ts); the reaper of any dispatcher, run at start and every
 * `reapMs`, gives them new jobs, so they are sent again within a few
 * seconds of a restart, or of the death if another dispatcher is running. The
 * receiver may then see those events twice, with the same X-Webhook-Id;
 * nothing else is repeated, and a chain's order holds (its head is what was in
 * flight).
 */
export class WebhookDispatcher implements Service {
  readonly name = "webhooks";
  private readonly queue: JobQueue;
  private readonly notifications: Notifications;
  private readonly ownerLock: OwnerLock;
  private pool: pg.Pool | null = null;
  private listener: pg.PoolClient | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private reapTimer: NodeJS.Timeout | null = null;
  private reaping: Promise<void> | null = null;
  private stopping = false;
  private pumping: Promise<void> | null = null;
  private pumpAgain = false;
  private relistenTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly deps: {
      connectionString: string;
      endpoints: Endpoints;
      outbound: Pick<OutboundGuard, "fetch">;
      logger: Logger;
      /** Counts delivery attempts by outcome. */
      metrics?: Pick<Metrics, "deliveries">;
    },
    private readonly options: DispatcherOptions,
  ) {
    this.queue = new JobQueue(asyncCommitUrl(deps.connectionString), {
      expireInSeconds: Math.ceil(options.timeoutMs / 1000) + 60,
      pollMs: options.pollMs,
      onError: (error) => deps.logger.error("webhook_queue_error", { error: String(error) }),
    });
    this.ownerLock = new OwnerLock(asyncCommitUrl(deps.connectionString), deps.logger);
    this.notifications = new Notifications(this.queue, {
      delayMs: options.notificationDelayMs,
      isOnline: options.isOnline ?? (async () => false),
      isMuted: options.isMuted ?? (async () => false),
      log: (event, fields) => deps.logger.debug(event, fields),
    });
  }

  async start(): Promise<void> {
    this.stopping = false;
    // A pool of its own: deliveries in flight hold no connection of the sync server's, and commits here are asynchronous.
    const pool = new pg.Pool({ connectionString: asyncCommitUrl(this.deps.connectionString), max: this.options.concurrency + 4 });
    pool.on("error", (error) => this.deps.logger.error("webhook_pool_error", { error: String(error) }));
    survivePoolErrors(pool);
    this.pool = pool;
    // Held before the first claim, released after the last delivery in flight is recorded.
    await this.ownerLock.start();
    await this.queue.start();
    this.queue.consume<DeliveryJob>(queues.deliver, this.options.concurrency, (job) => this.deliver(job));
    this.queue.consume<NotifyJob>(queues.notify, 2, async (job) => {
      await transaction(pool, (tx) => this.notifications.fire(tx, job));
      return true;
    });
    await this.listen();
    this.sweepTimer = setInterval(() => void this.sweep(), this.options.sweepMs ?? 30_000);
    this.reapTimer = setInterval(() => void this.reap(), this.options.reapMs ?? 2000);
    await this.reap();
    await this.sweep();
  }

  /** LISTENs on a connection of its own; if that connection breaks, it listens again with backoff (and the sweep does too). */
  private async listen(): Promise<void> {
    const listener = await this.mustPool().connect();
    listener.on("notification", (message) => {
      if (message.payload === outboxPayload) this.pump();
      else if (message.payload?.startsWith(chainPayloadPrefix)) void this.requeue(message.payload.slice(chainPayloadPrefix.length));
    });
    listener.on("error", (error) => {
      this.deps.logger.warn("webhook_listener_lost", { error: String(error) });
      // Only the current listener is ours to release: after stop() (or a failed LISTEN) it is already back in the pool.
      if (this.listener !== listener) return;
      this.listener = null;
      listener.release(error);
      this.relisten(250);
    });
    try {
      await listener.query(`LISTEN ${webhooksChannel}`);
    } catch (error) {
      listener.release(error as Error);
      throw error;
    }
    // Stopped meanwhile, or the sweep and a relisten both listened: one listener is enough.
    if (this.stopping || this.listener) {
      listener.release();
      return;
    }
    this.listener = listener;
  }

  /** Listens again while the database is away (backoff up to 5 s); once back, fans out what the outbox gathered. */
  private relisten(delayMs: number): void {
    if (this.stopping || this.relistenTimer) return;
    this.relistenTimer = setTimeout(() => {
      this.relistenTimer = null;
      if (this.stopping || this.listener) return;
      this.listen().then(
        () => this.pump(),
        () => this.relisten(Math.min(delayMs * 2, 5000)),
      );
    }, delayMs);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    if (this.reapTimer) clearInterval(this.reapTimer);
    this.reapTimer = null;
    if (this.relistenTimer) clearTimeout(this.relistenTimer);
    this.relistenTimer = null;
    const listener = this.listener;
    if (listener) {
      await listener.query(`UNLISTEN ${webhooksChannel}`).catch(() => undefined);
      // The connection may have broken (and been released) while UNLISTEN ran.
      if (this.listener === listener) {
        this.listener = null;
        listener.release();
      }
    }
    await this.pumping;
    await this.reaping;
    await this.queue.stop();
    await this.ownerLock.stop();
    await this.pool?.end();
    this.pool = null;
  }

  /** Fans out until the outbox has nothing new; calls during a run make it go round once more. */
  private pump(): void {
    if (this.stopping) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = (async () => {
      do {
        this.pumpAgain = false;
        try {
          while (!this.stopping) {
            const handled = await transaction(this.mustPool(), (tx) =>
              fanOut(tx, this.queue, this.deps.endpoints, fanOutBatch, (events, endpoints) =>
                this.notifications.schedule(tx, events, endpoints),
              ),
            );
            if (handled < fanOutBatch) break;
          }
        } catch (error) {
          this.deps.logger.error("webhook_fan_out_failed", { error: String(error) });
        }
      } while (this.pumpAgain && !this.stopping);
      this.pumping = null;
    })();
  }

  /** Gives a chain's head a job (after a replay reset it). */
  private async requeue(chain: string): Promise<void> {
    if (this.stopping) return;
    await transaction(this.mustPool(), async (tx) => {
      await lockChains(tx, [chain]);
      await queueHeads(tx, this.queue, [chain]);
    }).catch((error: unknown) => this.deps.logger.error("webhook_requeue_failed", { chain, error: String(error) }));
  }

  /** Resumes deliveries a dead dispatcher left claimed (see claims.ts); one run at a time. */
  private reap(): Promise<void> {
    if (this.stopping) return Promise.resolve();
    this.reaping ??= reap(this.mustPool(), this.queue, unclaimedStallSecs)
      .then(
        (resumed) => {
          if (resumed.length > 0) this.deps.logger.info("webhook_deliveries_resumed", { deliveries: resumed.map((orphan) => orphan.id) });
        },
        (error: unknown) => this.deps.logger.error("webhook_reap_failed", { error: String(error) }),
      )
      .finally(() => {
        this.reaping = null;
      });
    return this.reaping;
  }

  /**
   * The safety net: outbox rows not fanned out, heads with no job, and heads
   * long overdue whose job pg-boss no longer runs (it gave up after repeated
   * crashes) get what they need.
   */
  async sweep(): Promise<void> {
    if (this.stopping) return;
    try {
      if (!this.listener) await this.listen();
      this.pump();
      const heads = await pendingHeads(this.mustPool(), Math.ceil(this.options.timeoutMs / 1000) + 300);
      const lost: { chain_key: string; id: string; job_id: string }[] = [];
      for (const head of heads) {
        if (!head.overdue || head.job_id === null) continue;
        const state = await this.queue.getJobState(queues.deliver, head.job_id);
        if (state === null || state === "completed" || state === "cancelled" || state === "failed") {
          lost.push({ chain_key: head.chain_key, id: head.id, job_id: head.job_id });
        }
      }
      const chains = heads.filter((head) => head.job_id === null).map((head) => head.chain_key);
      if (chains.length === 0 && lost.length === 0) return;
      await transaction(this.mustPool(), async (tx) => {
        await lockFanOut(tx);
        await lockChains(tx, [...chains, ...lost.map((head) => head.chain_key)]);
        for (const head of lost) {
          await tx.client.query("UPDATE webhook_deliveries SET job_id = NULL, claimed_by = NULL WHERE id = $1 AND job_id = $2", [
            head.id,
            head.job_id,
          ]);
        }
        await queueHeads(tx, this.queue, [...chains, ...lost.map((head) => head.chain_key)]);
      });
    } catch (error) {
      this.deps.logger.error("webhook_sweep_failed", { error: String(error) });
    }
  }

  /**
   * One delivery job: an attempt at the chain's head, recorded with the next
   * step; while the chain has a backlog that is due, the job goes on down it.
   */
  private async deliver(job: Job<DeliveryJob>): Promise<boolean> {
    const pool = this.mustPool();
    const { logger } = this.deps;
    for (let round = 1; ; round += 1) {
      const owner = this.ownerLock.mustOwner();
      const delivery = await loadDelivery(pool, job.id, owner);
      if (!delivery) {
        // The claim needs the owner's lock: without it, the job fails and pg-boss retries it under the next owner.
        if (!(await ownerLockStillHeld(pool, owner))) throw new Error("the webhook dispatcher lost its owner lock and is taking a new one");
        // Delivered, dead-lettered, removed, or now waiting for another job: nothing to do.
        return false;
      }
      if (delivery.head !== delivery.id) {
        await transaction(pool, (tx) => yieldHead(tx, this.queue, delivery, job.id));
        return true;
      }
      const outcome = await this.attempt(delivery);
      this.deps.metrics?.deliveries.inc({ outcome: outcome.kind });
      logger.debug("webhook_attempt", { delivery: delivery.id, event: delivery.event_id, outcome: outcome.kind });
      if (outcome.kind === "dead") {
        logger.warn("webhook_dead_letter", {
          delivery: delivery.id,
          event: delivery.event_id,
          endpoint: delivery.endpoint_id,
          error: outcome.error,
        });
      }
      // A stopping dispatcher gives the next head a job of its own, for whoever runs next; so does one without an owner lock.
      const handOffTo = !this.stopping && round < maxDeliveriesPerJob ? this.ownerLock.owner : null;
      const next = await transaction(pool, (tx) => recordOutcome(tx, this.queue, delivery, job.id, outcome, handOffTo));
      if (!next) return true;
    }
  }

  private mustPool(): pg.Pool {
    if (!this.pool) throw new Error("the webhook dispatcher is not started");
    return this.pool;
  }

  private async attempt(delivery: DeliveryRow): Promise<Outcome> {
    const endpoint = await this.deps.endpoints.byId(this.mustPool(), delivery.project_id, delivery.endpoint_id);
    if (!endpoint) return { kind: "dead", status: null, error: "the endpoint is no longer configured" };
    const result = await postEvent(
      endpoint,
      { id: delivery.event_id, event: delivery.event, body: webhookBody({ ...delivery, id: delivery.event_id }) },
      this.options.timeoutMs,
      // WEBHOOK_URL is the operator's own and may be internal; a project's endpoint goes through the guard.
      endpoint.source === "api" ? this.deps.outbound.fetch : undefined,
    );
    const verdict = judge(result);
    const status = "status" in result ? result.status : null;
    if (verdict.kind === "delivered") return { kind: "delivered", status: status ?? 0 };
    const delay = nextDelayMs(delivery.attempts + 1, verdict, this.options.retry);
    if (delay === null) return { kind: "dead", status, error: result.detail };
    return { kind: "retry", status, error: result.detail, at: new Date(Date.now() + delay) };
  }
}
