import type { Redis } from "ioredis";
import type { Logger } from "../sync/logger.ts";

/** How long a node's word that a user is online holds without being renewed. */
const leaseMs = 30_000;
/** How often a node renews the leases of the users connected to it. */
const renewMs = 10_000;

const key = (dialogId: string) => `mtchat:online:${dialogId}`;

/**
 * Who is online in each dialog, across every node. Each node counts its own
 * connections per dialog and user, and, with Redis, keeps a lease per user and
 * node in a sorted set per dialog (scored by expiry, renewed every 10 s,
 * removed when the user's last connection here closes). A node that dies
 * stops renewing, so its users drop out within 30 s. Without Redis (or while
 * Redis is away) a node knows its own connections only.
 */
export class Presence {
  private readonly local = new Map<string, Map<string, number>>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly redis: Redis | null,
    private readonly nodeId: string,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (!this.redis || this.timer) return;
    this.timer = setInterval(() => void this.renew(), renewMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const redis = this.redis;
    if (!redis) return;
    await Promise.all(
      [...this.local].map(([dialogId, users]) => this.quietly(redis.zrem(key(dialogId), ...[...users.keys()].map(this.member)))),
    );
    this.local.clear();
  }

  add(dialogId: string, userId: string): void {
    const users = this.local.get(dialogId) ?? new Map<string, number>();
    this.local.set(dialogId, users);
    const count = users.get(userId) ?? 0;
    users.set(userId, count + 1);
    if (count === 0 && this.redis) void this.quietly(this.redis.zadd(key(dialogId), Date.now() + leaseMs, this.member(userId)));
  }

  remove(dialogId: string, userId: string): void {
    const users = this.local.get(dialogId);
    const count = users?.get(userId) ?? 0;
    if (!users || count === 0) return;
    if (count > 1) {
      users.set(userId, count - 1);
      return;
    }
    users.delete(userId);
    if (users.size === 0) this.local.delete(dialogId);
    if (this.redis) void this.quietly(this.redis.zrem(key(dialogId), this.member(userId)));
  }

  /** Users with a live connection to the dialog on any node (this node's alone when Redis cannot be asked). */
  async online(dialogId: string): Promise<Set<string>> {
    const users = new Set(this.local.get(dialogId)?.keys() ?? []);
    const redis = this.redis;
    if (redis?.status !== "ready") return users;
    try {
      for (const member of await redis.zrangebyscore(key(dialogId), Date.now(), "+inf")) {
        const userId = this.userOf(member);
        if (userId !== null) users.add(userId);
      }
    } catch (error) {
      this.logger.debug("presence_unavailable", { error: String(error) });
    }
    return users;
  }

  /** Renews this node's leases and drops expired ones, in one round trip. */
  private async renew(): Promise<void> {
    const redis = this.redis;
    if (redis?.status !== "ready" || this.local.size === 0) return;
    const now = Date.now();
    const pipeline = redis.pipeline();
    for (const [dialogId, users] of this.local) {
      pipeline.zremrangebyscore(key(dialogId), "-inf", now);
      pipeline.zadd(key(dialogId), ...[...users.keys()].flatMap((userId) => [now + leaseMs, this.member(userId)]));
      pipeline.pexpire(key(dialogId), leaseMs * 2);
    }
    await this.quietly(pipeline.exec());
  }

  private readonly member = (userId: string): string => JSON.stringify([userId, this.nodeId]);

  private userOf(member: string): string | null {
    try {
      const [userId] = JSON.parse(member) as unknown[];
      return typeof userId === "string" ? userId : null;
    } catch {
      return null;
    }
  }

  private async quietly(work: Promise<unknown>): Promise<void> {
    try {
      await work;
    } catch (error) {
      this.logger.debug("presence_write_failed", { error: String(error) });
    }
  }
}
