import { httpSyncPath } from "@mtchat/protocol";
import type { Context, Env, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { SessionRelay } from "../cluster/session-relay.ts";
import type { CorsOrigins } from "../projects/cors-origins.ts";
import { HttpSessions, runLocally, type SessionAnswer, type SessionCall } from "../sync/http-sessions.ts";
import { sendError } from "./errors.ts";

export type HttpSyncDeps = {
  sessions: HttpSessions;
  /** Relays calls for sessions held by another node; null on a single node. */
  relay: SessionRelay | null;
  origins: CorsOrigins;
  maxUpdateBytes: number;
};

const reply = (c: Context, answer: SessionAnswer) => {
  c.header("Cache-Control", "no-store");
  switch (answer.kind) {
    case "frames":
      return c.body(answer.frames as Uint8Array<ArrayBuffer>, 200, { "Content-Type": "application/octet-stream" });
    case "accepted":
      return c.json({ data: { next: answer.next } }, 200);
    // Like a WebSocket's close frame: not an error of the request, the end of the connection it polls.
    case "closed":
      return c.json({ data: { closed: { code: answer.code, reason: answer.reason } } }, 200);
    case "refused":
      return sendError(c, answer.status === 409 ? "conflict" : "bad_request", answer.message);
    case "unavailable":
      c.header("Retry-After", "1");
      return sendError(c, "unavailable", answer.message);
  }
};

/**
 * The HTTP transport of the sync protocol, for clients whose network refuses
 * WebSocket upgrades: the same Hocuspocus frames, authenticated, authorized
 * and acknowledged exactly as on the socket (see HttpSessions). A session
 * lives on the node that opened it; a call that reaches another node behind
 * the load balancer is relayed to it through Redis.
 */
export const registerHttpSyncRoutes = <E extends Env>(app: Hono<E>, deps: HttpSyncDeps): void => {
  const { sessions, relay, origins } = deps;
  const run = (c: Context, call: SessionCall): Promise<SessionAnswer> => {
    const id = c.req.param("id") ?? "";
    const node = HttpSessions.nodeOf(id);
    if (sessions.has(id) || !relay || node === sessions.nodeId || node === "") return runLocally(sessions, id, call, c.req.raw.signal);
    return relay.call(node, id, call);
  };

  app.post(httpSyncPath, async (c) => {
    // As for the WebSocket upgrade: a page on an origin no project allows is turned away (the token's own project
    // is checked when a document authenticates).
    const origin = c.req.header("origin");
    if (origin && !origins.sameOrigin(origin, c.req.header("host")) && !(await origins.anyAllows(origin))) {
      return sendError(c, "forbidden", `pages on ${origin} may not open the chat: add the origin to the project's CORS origins`);
    }
    if (!sessions.accepting) {
      // A node that is stopping or full: the balancer's next pick (or this client's next try) may be another node.
      c.header("Retry-After", "1");
      return sendError(
        c,
        "unavailable",
        "this server takes no new HTTP sessions now (shutting down or at MAX_HTTP_SESSIONS); connect again",
      );
    }
    const id = sessions.create(new Request(c.req.url, { headers: c.req.raw.headers }));
    c.header("Cache-Control", "no-store");
    return c.json({ data: { session: id } }, 201);
  });

  app.get(`${httpSyncPath}/:id`, async (c) => {
    const from = Number(c.req.query("from") ?? "0");
    return reply(c, await run(c, { op: "poll", from }));
  });

  const limit = deps.maxUpdateBytes + 64;
  app.post(
    `${httpSyncPath}/:id`,
    bodyLimit({
      maxSize: limit,
      onError: (c) => sendError(c, "payload_too_large", `a batch of frames is limited to ${limit} bytes (MAX_UPDATE_BYTES per frame)`),
    }),
    async (c) => {
      const seq = Number(c.req.query("seq"));
      const body = new Uint8Array(await c.req.arrayBuffer());
      return reply(c, await run(c, { op: "post", seq, body }));
    },
  );

  app.delete(`${httpSyncPath}/:id`, async (c) => reply(c, await run(c, { op: "end" })));
};
