import { Redis as HocuspocusRedis } from "@hocuspocus/extension-redis";
import type {
  afterLoadDocumentPayload,
  beforeBroadcastStatelessPayload,
  onAwarenessUpdatePayload,
  onChangePayload,
  onStoreDocumentPayload,
} from "@hocuspocus/server";
import { Redis } from "ioredis";
import type { Logger } from "../sync/logger.ts";

/** A Redis client that tries to reconnect forever, a little slower each time, up to every 2 s. */
export const redisClient = (url: string, logger: Logger, name: string): Redis => {
  const client = new Redis(url, {
    retryStrategy: (times) => Math.min(100 * times, 2_000),
    maxRetriesPerRequest: 2,
    lazyConnect: false,
  });
  let down = false;
  client.on("error", (error) => {
    if (!down) logger.warn("redis_unavailable", { client: name, error: String(error) });
    down = true;
  });
  client.on("ready", () => {
    if (down) logger.info("redis_back", { client: name });
    down = false;
  });
  return client;
};

/**
 * Live fan-out between sync nodes: `@hocuspocus/extension-redis` relays
 * document changes, awareness (presence, typing) and stateless messages
 * through Redis. Its documented limits are closed around it:
 * - No delivery guarantee: a node also follows the PostgreSQL log (`LogTail`)
 *   and applies any row its copy lacks, so a missed relay converges without a
 *   reconnect. The log is the source of truth; Redis only makes it faster.
 * - Updates from Redis skip `beforeSync`: only updates already judged and
 *   logged by another node are ever relayed, because every node applies only
 *   what it logged or read from the log.
 * - Redis going away must not stop a node: while it is away nothing is
 *   published (the log carries document changes; presence waits), loading a
 *   document does not wait for its subscription (queued until Redis returns),
 *   and storing goes on without Redis's lock (snapshots are idempotent).
 * A node loads documents from the log, so it does not wait for peers' state
 * on load.
 */
export class ClusterFanout extends HocuspocusRedis {
  constructor(
    url: string,
    private readonly logger: Logger,
  ) {
    super({
      createClient: () => redisClient(url, logger, "fanout"),
      prefix: "mtchat",
      awaitInitialSyncTimeout: 0,
      disconnectDelay: 250,
    });
  }

  private get redisReady(): boolean {
    return this.pub.status === "ready" && this.sub.status === "ready";
  }

  override async afterLoadDocument(payload: afterLoadDocumentPayload): Promise<void> {
    // The subscription is queued while Redis is away; the log covers the document until it goes through.
    const subscribed = super.afterLoadDocument(payload).catch((error: unknown) => {
      this.logger.warn("fanout_subscribe_failed", { doc: payload.documentName, error: String(error) });
    });
    await Promise.race([subscribed, new Promise((resolve) => setTimeout(resolve, 500).unref())]);
  }

  override async onChange(data: onChangePayload): Promise<void> {
    if (this.redisReady) await super.onChange(data);
  }

  override async onAwarenessUpdate(payload: onAwarenessUpdatePayload): Promise<void> {
    if (this.redisReady) await super.onAwarenessUpdate(payload);
  }

  override async beforeBroadcastStateless(data: beforeBroadcastStatelessPayload): Promise<number> {
    if (!this.redisReady) return 0;
    return await super.beforeBroadcastStateless(data).catch((error: unknown) => {
      this.logger.debug("fanout_publish_failed", { doc: data.documentName, error: String(error) });
      return 0;
    });
  }

  override async onStoreDocument(payload: onStoreDocumentPayload): Promise<void> {
    if (!this.redisReady) return;
    await super.onStoreDocument(payload);
  }
}
