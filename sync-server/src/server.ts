import type { Server as HttpServer, IncomingMessage } from "node:http";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { Hocuspocus } from "@hocuspocus/server";
import { getRequestListener } from "@hono/node-server";
import { isMigrated, migrate } from "@mtchat/migrations";
import { ProjectionWorker, Projector, quarantineStats, type Service } from "@mtchat/projections";
import { httpPollHoldMs } from "@mtchat/protocol";
import pg from "pg";
import { WebSocketServer } from "ws";
import { createTokenVerifier } from "./auth/verify-token.ts";
import { AutoArchiver } from "./chat/auto-archiver.ts";
import { ChatService } from "./chat/chat-service.ts";
import { DialogList } from "./chat/dialog-list.ts";
import { SearchService } from "./chat/search-service.ts";
import { UserStateService } from "./chat/user-state-service.ts";
import { Cluster } from "./cluster/cluster.ts";
import { SessionRelay } from "./cluster/session-relay.ts";
import type { Config } from "./config/options.ts";
import { asyncCommitUrl } from "./db/async-commit.ts";
import { startEmbeddedPostgres } from "./db/embedded-postgres.ts";
import { isDatabaseUnavailable, survivePoolErrors } from "./db/unavailable.ts";
import { FileService } from "./files/file-service.ts";
import { storageFromConfig } from "./files/storage-from-config.ts";
import { createApp } from "./http/app.ts";
import { demoSetup, registerDemoRoutes } from "./http/demo-routes.ts";
import { drain } from "./http/drain.ts";
import { errorBody } from "./http/errors.ts";
import { createOpsApp, type HealthDeps } from "./http/health-routes.ts";
import { registerHttpSyncRoutes } from "./http/http-sync-routes.ts";
import { createLimiter } from "./http/rate-limit.ts";
import { registerWidgetRoutes } from "./http/widget-routes.ts";
import { DialogService } from "./management/dialog-service.ts";
import { createMetrics, type Metrics, outboxDepthReader, watchOnScrape } from "./metrics.ts";
import { OutboundGuard } from "./outbound/outbound-guard.ts";
import { ApiKeys } from "./projects/api-keys.ts";
import { CorsOrigins } from "./projects/cors-origins.ts";
import { JwtKeys } from "./projects/jwt-keys.ts";
import { Projects } from "./projects/projects.ts";
import { PushSender } from "./push/push-sender.ts";
import { PushSubscriptions } from "./push/push-subscriptions.ts";
import { persistentVapidKeys } from "./push/vapid-keys.ts";
import { ActivityPush } from "./sync/activity-push.ts";
import { attachConnection } from "./sync/attach-connection.ts";
import { awarenessLimits } from "./sync/awareness-policy.ts";
import { ChatSync } from "./sync/chat-sync.ts";
import { DialogAccess } from "./sync/dialog-access.ts";
import { DocLog } from "./sync/doc-log.ts";
import { hookEdge } from "./sync/hook-edge.ts";
import { HttpSessions } from "./sync/http-sessions.ts";
import { createLogger, type Logger } from "./sync/logger.ts";
import { SocketGuards } from "./sync/socket-guard.ts";
import { Directory } from "./users/directory.ts";
import { UserEraser } from "./users/erase.ts";
import { WebhookDispatcher } from "./webhooks/dispatcher.ts";
import { Endpoints } from "./webhooks/endpoints.ts";
import { WebhookAdmin } from "./webhooks/webhook-admin.ts";

export const wsPath = "/api/v1/ws";

/** How long a stop waits for requests in flight and WebSocket close handshakes before it cuts them. */
const drainGraceMs = 3000;

export type ChatServer = Service & {
  /** The bound port, once started (useful with PORT=0). */
  port(): number;
  readonly pool: pg.Pool;
  readonly sync: ChatSync;
  readonly projector: Projector;
  readonly hocuspocus: Hocuspocus;
  readonly archiver: AutoArchiver;
  readonly files: FileService;
  readonly metrics: Metrics;
};

/** Hocuspocus wants a Fetch API Request; it reads headers and the URL from it. */
const toRequest = (request: IncomingMessage): Request => {
  const headers = new Headers();
  for (const [key, value] of Object.entries(request.headers)) {
    if (typeof value === "string") headers.set(key, value);
    else if (Array.isArray(value)) headers.set(key, value.join(", "));
  }
  return new Request(`http://${request.headers.host ?? "localhost"}${request.url ?? "/"}`, { headers });
};

/**
 * Requests Node's parser refuses before any route sees them (headers over its 16 KiB, malformed HTTP) get the
 * documented envelope too, not Node's bare status line.
 */
const answerClientErrors = (server: HttpServer) =>
  server.on("clientError", (error: NodeJS.ErrnoException, socket) => {
    if (!socket.writable || error.code === "ECONNRESET") {
      socket.destroy();
      return;
    }
    const tooLarge = error.code === "HPE_HEADER_OVERFLOW";
    const body = JSON.stringify(
      errorBody("bad_request", tooLarge ? "the request line and headers are larger than 16 KiB" : "the request is not valid HTTP/1.1"),
    );
    socket.end(
      // 400 with the code it documents (bad_request), not 431, which no error code of the API stands for.
      `HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });

/**
 * Assembles the service from its configuration: the database (embedded when
 * DATABASE_URL is unset), migrations, and the parts its roles name: the sync
 * server on one HTTP server with the REST API, the projection worker, the
 * webhook dispatcher. A process without the sync role serves only health and
 * metrics on its port. `start()` serves; `stop()` drains.
 */
export const createChatServer = async (config: Config, logger: Logger = createLogger(config.logLevel)): Promise<ChatServer> => {
  const embedded = config.databaseUrl
    ? null
    : await startEmbeddedPostgres({ dataDir: path.resolve(config.dataDir, "postgres"), log: (line) => logger.debug("postgres", { line }) });
  const databaseUrl = (config.databaseUrl ?? embedded?.url) as string;
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 20 });
  // Idle connections the database drops are reported here; checked-out ones fail their own queries.
  pool.on("error", (error) => logger.warn("pool_error", { error: String(error) }));
  survivePoolErrors(pool);
  const applied = await migrate(pool);
  if (applied.length > 0) logger.info("migrated", { versions: applied });

  const metrics = createMetrics();
  // The projection commits asynchronously (see async-commit.ts): what a crash loses of it is projected again from the log.
  const projectionPool = new pg.Pool({ connectionString: asyncCommitUrl(databaseUrl), max: 8 });
  projectionPool.on("error", (error) => logger.warn("pool_error", { error: String(error) }));
  survivePoolErrors(projectionPool);
  const projector = new Projector(projectionPool, {
    maxMessageChars: config.maxMessageChars,
    logger,
    observeLag: (ms) => metrics.projectionLag.observe(ms / 1000),
  });
  const access = new DialogAccess(pool);
  const log = new DocLog(pool, logger, metrics);
  const apiKeys = new ApiKeys(pool);
  // Calls to URLs a project chose (webhook endpoints, JWKS URLs) go through this; the operator's own do not.
  const outbound = new OutboundGuard(config.outboundAllowPrivate ?? []);
  const jwtKeys = new JwtKeys(pool, outbound);
  const demo = demoSetup(config);
  const verifyToken = createTokenVerifier(demo ? { ...config, jwtSecret: demo.secret } : config, jwtKeys.keysFor);
  const files = new FileService(
    pool,
    storageFromConfig(config),
    access,
    { maxUploadBytes: config.maxUploadBytes, allowedMimeTypes: config.uploadMimeTypes, urlTtlSeconds: config.fileUrlTtlSeconds },
    logger,
  );

  const corsOrigins = new CorsOrigins(pool, config.corsAllowedOrigins, config.publicUrl);
  const runSync = config.roles.includes("sync");
  const cluster = new Cluster(config.redisUrl, pool, logger, runSync);
  const sync = new ChatSync(
    {
      pool,
      verifyToken,
      access,
      log,
      projector,
      logger,
      files,
      presence: cluster.presence,
      origins: corsOrigins,
      onUser: (user) => void directory.seenInToken(user),
    },
    {
      segmentSize: config.segmentSize,
      snapshotEvery: config.snapshotEvery,
      maxUpdateBytes: config.maxUpdateBytes,
      maxMessageChars: config.maxMessageChars,
    },
  );
  const guards = new SocketGuards({
    maxPreauthBytes: config.maxPreauthBytes,
    maxPreauthSocketBytes: config.maxPreauthSocketBytes,
    preauthTimeoutMs: config.preauthTimeoutMs,
    maxAwarenessFrameBytes: awarenessLimits.maxFrameBytes,
  });
  const hocuspocus = new Hocuspocus({
    name: "mtchat",
    quiet: true,
    extensions: [hookEdge(sync, metrics), guards, ...(cluster.fanout ? [cluster.fanout] : [])],
    // The guard counts more (authentication frames too) and closes first; this stays as a backstop.
    maxUnauthenticatedQueueSize: config.maxPreauthSocketBytes,
  });
  sync.hocuspocus = hocuspocus;
  // The WebSocket's fallback for networks that refuse upgrades: the same connections, over HTTP requests.
  const httpSessions = new HttpSessions(
    cluster.nodeId,
    (request, transport) => attachConnection({ hocuspocus, guards, logger }, request, transport),
    { maxSessions: config.maxHttpSessions },
  );
  const relay = config.redisUrl && runSync ? new SessionRelay(config.redisUrl, httpSessions, logger, httpPollHoldMs + 10_000) : null;
  const directory = new Directory(pool, logger, sync);
  const dialogs = new DialogService(pool, sync, access, { segmentSize: config.segmentSize }, directory);
  const worker = new ProjectionWorker(pool, projector, {
    pollMs: config.projectionPollMs,
    onError: (docName, error, failing) =>
      logger.error("projection_failed", { doc: docName, error: String(error), attempts: failing.attempts, retry_at: failing.retryAt }),
    onRecovered: (docName, failing) =>
      logger.info("projection_recovered", { doc: docName, attempts: failing.attempts, since: failing.since }),
    onListenerLost: (error) => logger.warn("projection_listener_lost", { error: String(error) }),
    onBackfilled: (filled, error) =>
      error
        ? logger.warn("search_backfill_failed", { error: String(error) })
        : filled > 0 && logger.info("search_backfilled", { messages: filled }),
  });

  const runProjections = config.roles.includes("projections");
  const endpoints = new Endpoints(
    config.webhookUrl && config.webhookSecret
      ? { url: config.webhookUrl, secret: config.webhookSecret, format: config.webhookFormat }
      : null,
  );
  const vapidKeys = persistentVapidKeys(config);
  const pushSender = new PushSender({ pool, keys: vapidKeys, post: outbound.post, logger, timeoutMs: config.webhookTimeoutMs });
  const webhooks = new WebhookDispatcher(
    { connectionString: databaseUrl, endpoints, outbound, logger, metrics, push: pushSender },
    {
      retry: { maxAttempts: config.webhookMaxAttempts, baseMs: config.webhookRetryBaseMs, maxMs: config.webhookRetryMaxMs },
      timeoutMs: config.webhookTimeoutMs,
      concurrency: config.webhookConcurrency,
      pollMs: config.webhookPollMs,
      notificationDelayMs: config.notificationDelaySecs * 1000,
      // Presence is per node: a user connected to another replica counts as offline here.
      // Presence across the cluster (Redis); without Redis, the connections of this process.
      isOnline: async (dialogId, userId) => (await cluster.presence.online(dialogId)).has(userId),
      // Muting is per user, in their own state document, projected into user_dialog_state; only a
      // mark by the dialog's own project counts (a same-named user elsewhere cannot mute for this one).
      isMuted: async (dialogId, userId) =>
        (
          await pool.query(
            `SELECT 1 FROM user_dialog_state s JOIN dialogs d ON d.id = s.dialog_id AND d.project_id = s.project_id
             WHERE s.dialog_id = $1 AND s.user_id = $2 AND NOT s.notifications_enabled`,
            [dialogId, userId],
          )
        ).rowCount !== 0,
    },
  );

  const runWebhooks = config.roles.includes("webhooks");
  let wss: WebSocketServer | null = null;
  watchOnScrape(metrics, {
    ...(runSync ? { connections: () => (wss?.clients.size ?? 0) + httpSessions.size, documents: () => hocuspocus.documents.size } : {}),
    ...(runProjections ? { failingProjections: () => worker.failing().length } : {}),
    ...(runWebhooks ? { outboxDepth: outboxDepthReader(pool) } : {}),
  });
  const health: HealthDeps = {
    readiness: [{ name: "postgres", check: () => isMigrated(pool), problem: "the database is unreachable or not migrated" }],
    healthDetail: async () => ({
      projection: runProjections ? { failing: worker.failing(), lag: projector.lagSummary() } : null,
      quarantine: await quarantineStats(pool).catch(() => null),
      cluster: cluster.status(),
    }),
    metrics,
  };
  const onError = (error: unknown) => {
    // A database that went away is reported by readiness and answered with 503; one line, not a stack per request.
    if (isDatabaseUnavailable(error)) logger.warn("request_unavailable", { error: String(error) });
    else logger.error("request_failed", { error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  };
  const app = createApp({
    dialogs,
    chat: new ChatService(pool, sync, access, Date.now, files),
    dialogList: new DialogList(pool),
    userState: new UserStateService(pool, sync, access),
    search: new SearchService(pool),
    files,
    publicUrl: config.publicUrl,
    maxJsonBodyBytes: config.maxJsonBodyBytes,
    maxMessageChars: config.maxMessageChars,
    webhooks: new WebhookAdmin(pool, endpoints, outbound),
    verifyToken,
    adminApiToken: config.adminApiToken,
    projects: new Projects(pool, apiKeys),
    apiKeys,
    jwtKeys,
    corsOrigins,
    directory,
    eraser: new UserEraser(pool, sync, files.storage),
    push: { subscriptions: new PushSubscriptions(pool, outbound, config.outboundAllowPrivate ?? []), vapidKeys },
    limits: {
      user: createLimiter(pool, "user", config.rateLimitUser, config.rateLimitWindowS),
      key: createLimiter(pool, "key", config.rateLimitKey, config.rateLimitWindowS),
    },
    health,
    onError,
  });
  if (demo) registerDemoRoutes(app, demo, dialogs);
  registerHttpSyncRoutes(app, { sessions: httpSessions, relay, origins: corsOrigins, maxUpdateBytes: config.maxUpdateBytes });
  registerWidgetRoutes(app);
  const archiver = new AutoArchiver(pool, sync, logger, config.archiveAfterSecs);
  const activity = new ActivityPush(pool, hocuspocus, logger);

  let http: HttpServer | null = null;
  const listen = (server: HttpServer) =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(config.port, config.host, () => resolve());
    });

  return {
    name: "chat-server",
    pool,
    sync,
    projector,
    hocuspocus,
    files,
    archiver,
    metrics,
    port: () => (http?.address() as AddressInfo | null)?.port ?? 0,

    async start() {
      if (runProjections) await worker.start();
      if (runWebhooks) await webhooks.start();
      if (!runSync) {
        // Workers answer probes and scrapes on PORT, like the sync role does.
        http = createServer(getRequestListener(createOpsApp({ ...health, onError }).fetch));
        answerClientErrors(http);
        await listen(http);
        logger.info("listening", { host: config.host, port: (http.address() as AddressInfo).port, roles: config.roles });
        return;
      }
      wss = new WebSocketServer({ noServer: true, maxPayload: config.maxUpdateBytes });
      wss.on("connection", (socket, request) => {
        const link = attachConnection({ hocuspocus, guards, logger }, toRequest(request), {
          send: (data) => socket.send(data),
          close: (code, reason) => socket.close(code, reason),
          get readyState() {
            return socket.readyState;
          },
          // Read nothing more from it (what it still sends waits in the kernel until the socket is gone), and free
          // what Hocuspocus queued now, not when a peer that may never answer completes the close handshake.
          abort: () => {
            socket.pause();
            setTimeout(() => socket.terminate(), 1000).unref();
          },
        });
        // Counted as read, before `ws` buffers them into frames: an unfinished frame is held too.
        request.socket.prependListener("data", (chunk: Buffer) => link.received(chunk.byteLength));
        socket.on("message", (data: Buffer, isBinary) => {
          if (isBinary) link.frame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
        });
        socket.on("close", (code, reason) => link.closed(code, reason.toString()));
        socket.on("error", (error) => logger.warn("socket_error", { error: String(error) }));
      });
      http = createServer(getRequestListener(app.fetch));
      answerClientErrors(http);
      http.on("upgrade", (request, socket, head) => {
        const url = new URL(request.url ?? "/", "http://localhost");
        if (url.pathname !== wsPath) {
          socket.end("HTTP/1.1 404 Not Found\r\n\r\n");
          return;
        }
        // Browsers send Origin on every upgrade and CORS does not cover WebSockets: a page on an origin no project
        // allows is turned away here (the token's own project is checked when it authenticates).
        const origin = request.headers.origin;
        const upgrade = () => wss?.handleUpgrade(request, socket, head, (ws) => wss?.emit("connection", ws, request));
        if (!origin || corsOrigins.sameOrigin(origin, request.headers.host)) return upgrade();
        void corsOrigins.anyAllows(origin).then(
          (allowed) => {
            if (allowed) return upgrade();
            socket.end("HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
          },
          () => socket.destroy(),
        );
      });
      await listen(http);
      await relay?.start();
      await archiver.start();
      await activity.start();
      await cluster.start(sync, (projectId) => {
        jwtKeys.invalidate(projectId);
        corsOrigins.invalidate();
      });
      logger.info("listening", {
        host: config.host,
        port: (http.address() as AddressInfo).port,
        database: embedded ? "embedded" : "external",
        roles: config.roles,
      });
    },

    async stop() {
      await archiver.stop();
      await activity.stop();
      if (wss) {
        for (const client of wss.clients) client.close(1001, "server shutting down");
        wss.close();
      }
      // Held polls are answered (closed) now, and no new session is opened, so the HTTP server can drain.
      httpSessions.stop();
      await relay?.stop();
      // Clients that keep their connection busy (polling, keep-alive) are told to close it, and what still hangs on
      // after the grace is cut: a stop always finishes.
      const sockets = wss?.clients;
      if (http) await drain(http, drainGraceMs, () => sockets ?? []);
      // Unloading stores every open document (snapshots) before the pool closes.
      await Promise.all([...hocuspocus.documents.values()].map((document) => hocuspocus.unloadDocument(document)));
      // After the unload: the Redis fan-out unsubscribes each document as it goes, on the connection this closes.
      await cluster.stop();
      await worker.stop();
      if (runProjections) logger.info("projection_lag", { ...projector.lagSummary() });
      files.storage.close();
      if (runWebhooks) await webhooks.stop();
      await outbound.close();
      await projectionPool.end();
      await pool.end();
      await embedded?.stop();
    },
  };
};
