import { type Service, webhooksChannel } from "@mtchat/projections";
import pg from "pg";
import { Agent } from "undici";
import { asyncCommitUrl } from "../db/async-commit.ts";
import { Batcher } from "../db/batcher.ts";
import { isDatabaseUnavailable, survivePoolErrors } from "../db/unavailable.ts";
import type { Metrics } from "../metrics.ts";
import { type OutboundGuard, type OutboundPost, postThrough } from "../outbound/outbound-guard.ts";
import type { PushJob, PushSender } from "../push/push-sender.ts";
import type { Logger } from "../sync/logger.ts";
import {
  claimHeads,
  type DeliveryRow,
  deliveriesPayload,
  driveChain,
  fanOut,
  type Outcome,
  type OutcomeRecord,
  outboxPayload,
  recordOutcomes,
  releaseClaims,
} from "./chains.ts";
import { OwnerLock, reap } from "./claims.ts";
import type { Endpoints } from "./endpoints.ts";
import { postEvent, webhookBody } from "./http-delivery.ts";
import { JobQueue, queues, transaction } from "./job-queue.ts";
import { Notifications, type NotifyJob } from "./notifications.ts";
import { judge, nextDelayMs, type RetryPolicy } from "./retry-policy.ts";
import { maxBackoffMs, runInSlots, Wakeup } from "./wakeup.ts";

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
  /** How often the outbox is checked for events a notification missed (a safety net). */
  sweepMs?: number;
  /** How often deliveries left by a dispatcher that died mid-delivery are looked for and resumed. */
  reapMs?: number;
};

const fanOutBatch = 500;
/** A slot going down a chain's backlog gives the chain back after this many attempts, so other chains get their turn. */
const maxDeliveriesPerClaim = 50;
/**
 * The dispatcher's connections, however many slots: a slot holds none while its POST is out and outcomes are recorded
 * in batches, so the pool's queue is the wait. It opens them only as they are needed.
 */
const poolSize = 20;
/** How long the delivery loop gathers wake-ups before it claims. */
const claimGatherMs = 5;

/**
 * Moves outbox rows to deliveries and delivers them (see chains.ts for the
 * ordering), up to `concurrency` chains at once. It wakes on the outbox's
 * NOTIFY and on new deliveries' (any dispatcher's fan-out), polls every
 * `pollMs` for retries other processes scheduled, and sweeps every `sweepMs`
 * for anything a notification missed. `stop()` stops claiming and waits for
 * the deliveries in flight, so a restart neither loses nor repeats one. A
 * process that dies mid-delivery (SIGKILL, a crash, its PostgreSQL session
 * cut) leaves its deliveries claimed by an owner whose lock is gone (see
 * claims.ts); the reaper of any dispatcher, run at start and every `reapMs`,
 * releases them, so they are sent again within a few seconds of a restart, or
 * of the death if another dispatcher is running. The
 * receiver may then see those events twice, with the same X-Webhook-Id: per
 * chain, the attempt in flight and at most the one before it, whose record was
 * in flight (see driveChain); nothing else is repeated, and a chain's order
 * holds (what is sent again is the chain's head and what follows it).
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
  private readonly deliveriesDue = new Wakeup();
  /** Outcomes recorded while others are being recorded go together, in one statement (group commit). */
  private readonly outcomes = new Batcher<OutcomeRecord, DeliveryRow[]>((records) => recordOutcomes(this.mustPool(), records), {
    maxBatch: 64,
    maxInFlight: 1,
  });
  /** Connections to the operator's WEBHOOK_URL, which is trusted (a project's endpoints go through the outbound guard). */
  private trusted: { agent: Agent; post: OutboundPost } | null = null;
  private delivering: Promise<void> | null = null;

  constructor(
    private readonly deps: {
      connectionString: string;
      endpoints: Endpoints;
      outbound: Pick<OutboundGuard, "post">;
      logger: Logger;
      /** Counts delivery attempts by outcome. */
      metrics?: Pick<Metrics, "deliveries">;
      /** Sends the web pushes notification.pending queues; without it they wait in their queue. */
      push?: Pick<PushSender, "send">;
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
    const pool = new pg.Pool({ connectionString: asyncCommitUrl(this.deps.connectionString), max: poolSize });
    pool.on("error", (error) => this.deps.logger.error("webhook_pool_error", { error: String(error) }));
    survivePoolErrors(pool);
    this.pool = pool;
    const agent = new Agent();
    this.trusted = { agent, post: postThrough(agent) };
    // Held before the first claim, released after the last delivery in flight is recorded.
    await this.ownerLock.start();
    await this.queue.start();
    this.queue.consume<NotifyJob>(queues.notify, 2, async (job) => {
      await transaction(pool, (tx) => this.notifications.fire(tx, job));
      return true;
    });
    const push = this.deps.push;
    if (push) {
      this.queue.consume<PushJob>(queues.push, 4, async (job) => {
        const outcome = await push.send(job.data);
        this.deps.logger.debug("push_sent", { subscription: job.data.subscription_id, outcome });
        // Completed by the queue: a push has no state of ours to commit with it.
        return false;
      });
    }
    await this.listen();
    this.sweepTimer = setInterval(() => void this.sweep(), this.options.sweepMs ?? 30_000);
    this.reapTimer = setInterval(() => void this.reap(), this.options.reapMs ?? 2000);
    await this.reap();
    await this.sweep();
    this.delivering = this.deliverLoop();
  }

  /** LISTENs on a connection of its own; if that connection breaks, it listens again with backoff (and the sweep does too). */
  private async listen(): Promise<void> {
    const listener = await this.mustPool().connect();
    listener.on("notification", (message) => {
      if (message.payload === outboxPayload) this.pump();
      else if (message.payload === deliveriesPayload) this.deliveriesDue.wake();
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
    this.deliveriesDue.close();
    await this.delivering;
    this.delivering = null;
    // Chains this process gave back mid-backlog are due now: the other dispatchers need not wait for their poll.
    await this.pool?.query("SELECT pg_notify($1, $2)", [webhooksChannel, deliveriesPayload]).catch(() => undefined);
    await this.queue.stop();
    await this.ownerLock.stop();
    await this.pool?.end();
    this.pool = null;
    await this.trusted?.agent.close();
    this.trusted = null;
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
              fanOut(tx, this.deps.endpoints, fanOutBatch, (events, endpoints) => {
                tx.afterCommit(() => this.deliveriesDue.wake());
                return this.notifications.schedule(tx, events, endpoints);
              }),
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

  /** Resumes deliveries a dead dispatcher left claimed (see claims.ts); one run at a time. */
  private reap(): Promise<void> {
    if (this.stopping) return Promise.resolve();
    this.reaping ??= reap(this.mustPool())
      .then(
        (resumed) => {
          if (resumed.length === 0) return;
          this.deps.logger.info("webhook_deliveries_resumed", { deliveries: resumed });
          this.deliveriesDue.wake();
        },
        (error: unknown) => this.deps.logger.error("webhook_reap_failed", { error: String(error) }),
      )
      .finally(() => {
        this.reaping = null;
      });
    return this.reaping;
  }

  /** The safety net: outbox rows a notification missed are fanned out, and due deliveries looked for. */
  async sweep(): Promise<void> {
    if (this.stopping) return;
    try {
      if (!this.listener) await this.listen();
    } catch (error) {
      this.deps.logger.error("webhook_sweep_failed", { error: String(error) });
    }
    this.pump();
    this.deliveriesDue.wake();
  }

  /**
   * Keeps up to `concurrency` chains in flight: claims due heads for the free
   * slots, and sleeps when none is due until woken (a fan-out, a NOTIFY, a
   * slot freeing, a retry coming due) or `pollMs` passes.
   */
  private deliverLoop(): Promise<void> {
    return runInSlots(this.deliveriesDue, {
      concurrency: this.options.concurrency,
      pollMs: this.options.pollMs,
      // Every finished chain and every fan-out wakes the loop: under load, one claim per few milliseconds serves them all.
      gatherMs: claimGatherMs,
      stopped: () => this.stopping,
      take: async (free) => {
        const owner = this.ownerLock.owner;
        return owner === null ? [] : claimHeads(this.mustPool(), owner, free);
      },
      run: (delivery) => this.deliverChain(delivery),
      onTakeError: (error) => this.deps.logger.warn("webhook_claim_failed", { error: String(error) }),
    });
  }

  /** Delivers a claimed head, then the runs of its chain that its records hand off (see driveChain). */
  private deliverChain(first: DeliveryRow): Promise<void> {
    const { logger } = this.deps;
    return driveChain(first, {
      attempt: async (delivery) => {
        // An attempt that could not even be made (the endpoint's row unreadable, the database away) is tried again soon.
        const outcome = await this.attempt(delivery).catch(
          (error: unknown): Outcome => ({ kind: "retry", status: null, error: String(error), at: new Date(Date.now() + 1000) }),
        );
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
        if (outcome.kind === "retry") this.deliveriesDue.wakeAt(outcome.at.getTime());
        return outcome;
      },
      record: (record) => this.whileDatabaseAway(record.delivery, "webhook_record_failed", () => this.outcomes.submit(record)),
      release: async (deliveries) => {
        const [first] = deliveries;
        if (!first) return;
        await this.whileDatabaseAway(first, "webhook_release_failed", () => releaseClaims(this.mustPool(), deliveries));
        // The chain's next head is free now: this dispatcher or another may claim it.
        this.deliveriesDue.wake();
      },
      // Only while this process still holds the lock it claimed under (and is not stopping).
      mayGoOn: (delivery) => !this.stopping && this.ownerLock.owner === delivery.claimed_by,
      maxAttempts: maxDeliveriesPerClaim,
    });
  }

  /**
   * Runs a write about a claimed delivery, trying again while the database is
   * away and the claim is still this process's (once the owner lock is lost,
   * the reaper releases the delivery and the attempt is made again, elsewhere
   * or here). Resolves with null if it could not be written.
   */
  private async whileDatabaseAway<T>(delivery: DeliveryRow, event: string, write: () => Promise<T>): Promise<T | null> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await write();
      } catch (error) {
        this.deps.logger.warn(event, { delivery: delivery.id, error: String(error) });
        // Anything but the database being away is a defect: the delivery stays claimed (and visible) until this process ends.
        if (!isDatabaseUnavailable(error) || this.ownerLock.owner !== delivery.claimed_by || !this.pool) return null;
        await new Promise((resolve) => setTimeout(resolve, Math.min(250 * 2 ** attempt, maxBackoffMs)));
      }
    }
  }

  private mustTrusted(): OutboundPost {
    if (!this.trusted) throw new Error("the webhook dispatcher is not started");
    return this.trusted.post;
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
      { id: delivery.event_id, event: delivery.event, body: webhookBody({ ...delivery, id: delivery.event_id }, endpoint.format) },
      this.options.timeoutMs,
      // WEBHOOK_URL is the operator's own and may be internal; a project's endpoint goes through the guard.
      endpoint.source === "api" ? this.deps.outbound.post : this.mustTrusted(),
    );
    const verdict = judge(result);
    const status = "status" in result ? result.status : null;
    if (verdict.kind === "delivered") return { kind: "delivered", status: status ?? 0 };
    const delay = nextDelayMs(delivery.attempts + 1, verdict, this.options.retry);
    if (delay === null) return { kind: "dead", status, error: result.detail };
    return { kind: "retry", status, error: result.detail, at: new Date(Date.now() + delay) };
  }
}
