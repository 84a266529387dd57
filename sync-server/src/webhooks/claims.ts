import { randomInt } from "node:crypto";
import pg from "pg";
import type { Logger } from "../sync/logger.ts";
import { claimNamespace, ownerLockHeld } from "./chains.ts";
import { maxBackoffMs } from "./wakeup.ts";

/**
 * PostgreSQL probes the lock's connection after 10 s of quiet: a dispatcher
 * whose machine vanished (no FIN, no RST) loses its lock in about 25 s, not
 * after the kernel's default two hours.
 */
const keepalives = "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3";

const withKeepalives = (connectionString: string): string => {
  const url = new URL(connectionString);
  const options = url.searchParams.get("options");
  url.searchParams.set("options", `${options ? `${options} ` : ""}${keepalives}`);
  return url.toString();
};

/**
 * Who is sending a delivery. Each dispatcher process holds a session advisory
 * lock (`claimNamespace`, owner) on a connection of its own, with an owner id
 * drawn at random, and a delivery it is sending carries that id in
 * `claimed_by` until its outcome is recorded. PostgreSQL drops the lock with
 * the session, so the moment a dispatcher dies (or its session is cut) its
 * claims are visibly orphaned, and any dispatcher's reaper releases them:
 * a killed process's deliveries are claimed again within seconds.
 *
 * A claim is made, on any connection, only while its owner's lock is held
 * (`ownerLockHeld`, in the claiming statement), so the reaper, which reads the
 * same locks, never takes a delivery a live owner has just claimed. (Claims
 * once went through the lock's own connection, which made that one connection
 * every delivery's bottleneck.) An owner id is never taken again once its
 * lock is lost: the connection comes back under a fresh one, and whatever the
 * old one claimed is left to the reaper.
 */
export class OwnerLock {
  private readonly connectionString: string;
  private client: pg.Client | null = null;
  private ownerId: number | null = null;
  private stopping = false;
  private retryTimer: NodeJS.Timeout | null = null;

  constructor(
    connectionString: string,
    private readonly logger: Logger,
  ) {
    this.connectionString = withKeepalives(connectionString);
  }

  /** The owner id claims are made under now; null while the lock is being taken again. */
  get owner(): number | null {
    return this.ownerId;
  }

  async start(): Promise<void> {
    this.stopping = false;
    await this.take();
  }

  /** Ends the session, which releases the lock; call it once nothing is in flight. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const client = this.client;
    this.client = null;
    this.ownerId = null;
    await client?.end().catch(() => undefined);
  }

  private async take(): Promise<void> {
    const client = new pg.Client({ connectionString: this.connectionString, application_name: "mtchat-webhooks-owner" });
    // Attached before connecting: a connection that breaks later must never raise an unhandled 'error'.
    client.on("error", (error) => this.lost(client, error));
    client.on("end", () => this.lost(client, new Error("the owner lock's connection ended")));
    let owner: number;
    try {
      await client.connect();
      for (;;) {
        // Positive, so pg_locks shows it as it is (objid is unsigned).
        owner = randomInt(1, 2 ** 31 - 1);
        const { rows } = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1, $2) AS ok", [claimNamespace, owner]);
        if (rows[0]?.ok) break;
      }
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.stopping) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.ownerId = owner;
    this.logger.info("webhook_owner_lock_taken", { owner });
  }

  private lost(client: pg.Client, error: Error): void {
    // Only the current connection matters: others are ending on purpose (stop, a failed take).
    if (this.client !== client) return;
    this.logger.warn("webhook_owner_lock_lost", { owner: this.ownerId, error: String(error) });
    this.client = null;
    this.ownerId = null;
    client.end().catch(() => undefined);
    this.retake(250);
  }

  private retake(delayMs: number): void {
    if (this.stopping || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.stopping || this.client) return;
      this.take().catch((error: unknown) => {
        this.logger.debug("webhook_owner_lock_retry", { error: String(error) });
        this.retake(Math.min(delayMs * 2, maxBackoffMs));
      });
    }, delayMs);
  }
}

/**
 * Releases the claims of pending deliveries nobody alive is sending (their
 * owner's lock is held by no session), so any dispatcher claims them again.
 * A claim is only ever made while its owner's lock is held, so a live
 * owner's claims are never taken. Resolves with the deliveries released.
 */
export const reap = async (db: Pick<pg.Pool, "query">): Promise<string[]> => {
  const { rows } = await db.query<{ id: string }>(
    `UPDATE webhook_deliveries SET claimed_by = NULL
     WHERE claimed_by IS NOT NULL AND state = 'pending' AND NOT ${ownerLockHeld("claimed_by")}
     RETURNING id`,
  );
  return rows.map((row) => row.id);
};
