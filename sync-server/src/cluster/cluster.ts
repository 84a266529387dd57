import { randomUUID } from "node:crypto";
import { logChannel } from "@mtchat/projections";
import type { Redis } from "ioredis";
import type pg from "pg";
import { Listener } from "../db/listener.ts";
import type { ChatSync } from "../sync/chat-sync.ts";
import type { Logger } from "../sync/logger.ts";
import { ClusterFanout, redisClient } from "./fanout.ts";
import { Presence } from "./presence.ts";

/**
 * Who may use what changed: the dialog's participants or scopes (or the dialog is gone), or a project's keys.
 * `removed` names a user who lost access for certain (removed, or left without a scope match): every node
 * closes their connections at once, before it judges the others again.
 */
export type AccessChange = { dialog: string; removed?: string } | { project: string };

export const accessChannel = "mtchat_access";

/** Tells every node (this one too) that access changed, once the change is committed and projected. */
export const publishAccessChange = async (db: Pick<pg.Pool, "query">, change: AccessChange): Promise<void> => {
  await db.query("SELECT pg_notify($1, $2)", [accessChannel, JSON.stringify(change)]);
};

const parseAccessChange = (payload: string): AccessChange | null => {
  try {
    const value = JSON.parse(payload) as Record<string, unknown>;
    if (typeof value.dialog === "string")
      return typeof value.removed === "string" ? { dialog: value.dialog, removed: value.removed } : { dialog: value.dialog };
    if (typeof value.project === "string") return { project: value.project };
  } catch {}
  return null;
};

/**
 * What makes many sync nodes act as one. PostgreSQL is the source of truth:
 * every node follows the log's notifications (`<doc> <seq>`) and catches up
 * any loaded document that lacks rows, and hears access changes and judges
 * its connections again. Redis, when configured, makes it live: fan-out of
 * changes, awareness and stateless messages (`ClusterFanout`), and presence
 * across nodes. Without Redis a node is a cluster of one.
 */
export class Cluster {
  readonly nodeId = randomUUID();
  readonly presence: Presence;
  readonly fanout: ClusterFanout | null;
  private readonly redis: Redis | null;
  private listener: Listener | null = null;

  constructor(
    redisUrl: string | undefined,
    private readonly pool: pg.Pool,
    private readonly logger: Logger,
    /** Whether this process runs the sync role (only then does it relay documents). */
    sync: boolean,
  ) {
    this.redis = redisUrl ? redisClient(redisUrl, logger, "presence") : null;
    this.fanout = redisUrl && sync ? new ClusterFanout(redisUrl, logger) : null;
    this.presence = new Presence(this.redis, this.nodeId, logger);
  }

  /** Follows the log and access changes for the sync server on this node. */
  async start(sync: ChatSync, keysChanged: (projectId: string) => void): Promise<void> {
    this.listener = new Listener(this.pool, {
      channels: [logChannel, accessChannel],
      onMessage: (channel, payload) => {
        if (channel === logChannel) {
          const [docName, seq] = payload.split(" ");
          if (docName && seq) sync.onLogged(docName, Number(seq));
          return;
        }
        const change = parseAccessChange(payload);
        if (!change) return;
        if ("project" in change) keysChanged(change.project);
        const done = "dialog" in change ? sync.recheckConnections(change.dialog, change.removed) : sync.recheckTokens(change.project);
        done.catch((error: unknown) => this.logger.warn("access_recheck_failed", { ...change, error: String(error) }));
      },
      // Notifications sent while the listener was away are lost: look at the log and the connections themselves.
      onReconnect: () => {
        sync.catchUpAll();
        void sync.recheckAll().catch((error: unknown) => this.logger.warn("access_recheck_failed", { error: String(error) }));
      },
      name: "cluster_listener_lost",
      logger: this.logger,
    });
    await this.listener.start();
    this.presence.start();
  }

  /** For the health detail: whether this node is clustered, and whether Redis answers (without it the log still carries changes). */
  status(): { node: string; redis: "not configured" | "connected" | "unavailable" } {
    if (!this.redis) return { node: this.nodeId, redis: "not configured" };
    return { node: this.nodeId, redis: this.redis.status === "ready" ? "connected" : "unavailable" };
  }

  async stop(): Promise<void> {
    await this.listener?.stop();
    await this.presence.stop();
    this.redis?.disconnect();
    await this.fanout?.onDestroy().catch(() => undefined);
  }
}
