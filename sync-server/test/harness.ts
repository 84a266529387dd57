import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { HocuspocusProviderWebsocket } from "@hocuspocus/provider";
import { createTestDatabase } from "@mtchat/migrations";
import { createMessage, metaDocName, metaKeys, metaOf, segmentDocName } from "@mtchat/protocol";
import { SignJWT } from "jose";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll } from "vitest";
import { parseConfig } from "../src/config/parse-config.ts";
import { type ChatServer, createChatServer } from "../src/server.ts";
import { createLogger } from "../src/sync/logger.ts";
import { openSocket } from "./clients.ts";

/** The two PostgreSQL set-ups every storage-facing suite runs against. */
export const storages = ["external", "embedded"] as const;
export type Storage = (typeof storages)[number];

export const adminUrl = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
export const jwtSecret = "test-secret-that-is-long-enough-for-hs256!";
export const adminToken = "admin-token-for-tests-0123456789";

export type TestEnv = {
  /** Environment variables a server process for this test would get. */
  env: Record<string, string>;
  cleanup(): Promise<void>;
};

/** A fresh database (external) or a fresh data dir (embedded) for one test file. */
export const prepareStorage = async (storage: Storage, label: string): Promise<TestEnv> => {
  const base = {
    PORT: "0",
    JWT_SECRET: jwtSecret,
    ADMIN_API_TOKEN: adminToken,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "error",
    PROJECTION_POLL_MS: "200",
    // Test receivers (webhook endpoints, JWKS servers) listen on loopback, which a project may not reach by default.
    OUTBOUND_ALLOW_PRIVATE: "127.0.0.1",
  };
  if (storage === "external") {
    const db = await createTestDatabase(adminUrl, label);
    return { env: { ...base, DATABASE_URL: db.url }, cleanup: db.drop };
  }
  const dir = await mkdtemp(path.join(tmpdir(), `mtchat-${label}-`));
  // mkdtemp makes a private folder; the embedded server runs as the postgres account and must traverse it.
  await chmod(dir, 0o711);
  // PostgreSQL's last backends may still be exiting after the postmaster was told to stop; retry briefly.
  return { env: { ...base, DATA_DIR: dir }, cleanup: () => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 }) };
};

export type TestServer = {
  server: ChatServer;
  httpUrl: string;
  wsUrl: string;
  api: <T = unknown>(method: string, route: string, body?: unknown, token?: string | null) => Promise<{ status: number; body: T }>;
  stop(): Promise<void>;
};

export const startServer = async (env: Record<string, string>): Promise<TestServer> => {
  const config = parseConfig(env);
  const server = await createChatServer(config, createLogger(config.logLevel));
  await server.start();
  const httpUrl = `http://127.0.0.1:${server.port()}`;
  return {
    server,
    httpUrl,
    wsUrl: `ws://127.0.0.1:${server.port()}/api/v1/ws`,
    api: (method, route, body, token = adminToken) => callApi(httpUrl, method, route, body, token),
    stop: () => server.stop(),
  };
};

export const callApi = async <T>(base: string, method: string, route: string, body?: unknown, token: string | null = adminToken) => {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(`${base}${route}`, {
    method,
    headers,
    ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body) } : {}),
  });
  return { status: response.status, body: (await response.json()) as T };
};

export type Claims = { tenant_uid?: string; scope_level1?: string[]; scope_level2?: string[]; name?: string };

/** A user token as the host backend would sign it. */
export const tokenFor = (userId: string, claims: Claims = {}, expiresIn: string | number = "10m") =>
  new SignJWT({ tenant_uid: "tenant-1", scope_level1: [], scope_level2: [], name: userId, ...claims })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(jwtSecret));

export type DialogData = { id: string; object_id: string; object_type: string; title: string | null };

export const createDialog = async (t: TestServer, participants: string[], extra: Record<string, unknown> = {}): Promise<DialogData> => {
  const { status, body } = await t.api<{ data: DialogData }>("POST", "/api/v1/management/dialogs", {
    object_id: `order-${Math.random().toString(36).slice(2)}`,
    object_type: "order",
    title: "Order chat",
    participants: participants.map((userId) => ({ user_id: userId, display_name: userId.toUpperCase() })),
    ...extra,
  });
  if (status !== 201) throw new Error(`create dialog: ${status} ${JSON.stringify(body)}`);
  return body.data;
};

export type ServerFixture = {
  env: TestEnv;
  t: TestServer;
  /** A client socket closed automatically after the file's tests. */
  socket(): HocuspocusProviderWebsocket;
};

/** Registers a server on fresh storage for the current test file (or describe block), torn down afterwards. */
export const useServer = (storage: Storage, label: string, extraEnv: Record<string, string> = {}): ServerFixture => {
  const sockets: HocuspocusProviderWebsocket[] = [];
  const fixture = {
    socket: () => {
      const socket = openSocket(fixture.t.wsUrl);
      sockets.push(socket);
      return socket;
    },
  } as ServerFixture;
  beforeAll(async () => {
    fixture.env = await prepareStorage(storage, label);
    fixture.t = await startServer({ ...fixture.env.env, ...extraEnv });
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await fixture.t?.stop();
    await fixture.env?.cleanup();
  });
  return fixture;
};

/** Fills segments 0..count-1 with `perSegment` messages each, as the server would after many sends. */
export const seedSegments = async (t: TestServer, dialogId: string, segments: number, perSegment: number) => {
  for (let segment = 0; segment < segments; segment += 1) {
    if (segment > 0) await t.server.sync.serverWrite(metaDocName(dialogId), (doc) => metaOf(doc).set(metaKeys.headSegment, segment));
    await t.server.sync.serverWrite(segmentDocName(dialogId, segment), (doc) =>
      doc.transact(() => {
        for (let index = 0; index < perSegment; index += 1) {
          createMessage(doc, {
            id: uuidv7(),
            author: "alice",
            createdAt: Date.now(),
            text: `history ${segment}/${index}: lorem ipsum dolor sit amet`,
          });
        }
      }),
    );
  }
};
