import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { blockedReason, OutboundGuard, type Resolve } from "../src/outbound/outbound-guard.ts";
import { createDialog, prepareStorage, startServer, type TestEnv, type TestServer } from "./harness.ts";
import { eventually } from "./wait.ts";
import { WebhookReceiver } from "./webhook-receiver.ts";

/**
 * Server-side request forgery: what a project sets through the Management API
 * (webhook endpoints, JWKS URLs) must not make the server call loopback,
 * private or metadata addresses. Every server here listens on 127.0.0.1, and
 * every address the tests name is either refused before any connection or
 * on loopback: no traffic leaves the machine.
 */

const secret = "receiver-secret-0123456789abcdef";
const env = {
  WEBHOOK_RETRY_BASE_MS: "20",
  WEBHOOK_RETRY_MAX_MS: "200",
  WEBHOOK_MAX_ATTEMPTS: "1000",
  WEBHOOK_POLL_MS: "500",
  NOTIFICATION_DELAY_SECS: "3600",
};

type Setup = { t: TestServer; storage: TestEnv };

/** A server whose OUTBOUND_ALLOW_PRIVATE is `allow` ("" for the default: none), on fresh storage. */
const useGuardedServer = (label: string, allow: string): Setup => {
  const setup = {} as Setup;
  beforeAll(async () => {
    setup.storage = await prepareStorage("external", label);
    setup.t = await startServer({ ...setup.storage.env, ...env, OUTBOUND_ALLOW_PRIVATE: allow });
  });
  afterAll(async () => {
    await setup.t?.stop();
    await setup.storage?.cleanup();
  });
  return setup;
};

/** A plain loopback HTTP server that counts what reaches it and answers with `reply`. */
const startCounter = async (
  reply: (request: import("node:http").IncomingMessage, response: import("node:http").ServerResponse) => void,
) => {
  const hits: string[] = [];
  const server: Server = createServer((request, response) => {
    hits.push(`${request.method} ${request.url}`);
    request.resume();
    reply(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    hits,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
};

type DeadLetter = { endpoint_id: string; attempts: number; last_status: number | null; last_error: string | null };
const deadLetters = async (t: TestServer, key?: string) =>
  (await t.api<{ data: { dead_letters: DeadLetter[] } }>("GET", "/api/v1/management/webhooks/dead-letters", undefined, key)).body.data
    .dead_letters;

/** An ES256 key pair and the JWKS that publishes its public half. */
const signingKey = async (kid: string) => {
  const { publicKey, privateKey } = await generateKeyPair("ES256");
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" }] };
  const sign = (project: string) =>
    new SignJWT({ prj: project }).setProtectedHeader({ alg: "ES256", kid }).setSubject("gus").setExpirationTime("5m").sign(privateKey);
  return { jwks, sign };
};

const internalUrls = [
  "http://127.0.0.1:9/hooks",
  "http://localhost:9/hooks",
  "http://LocalHost./hooks",
  "http://hooks.localhost/",
  "http://[::1]:9/hooks",
  "http://10.0.0.1/hooks",
  "http://172.20.1.1/hooks",
  "http://192.168.1.10/hooks",
  "http://100.64.0.1/hooks",
  "http://169.254.169.254/latest/meta-data/",
  "http://[fd00:ec2::254]/latest/meta-data/",
  "http://0.0.0.0:9/hooks",
  "http://[::]:9/hooks",
  "http://[::ffff:127.0.0.1]:9/hooks",
  "http://[::ffff:169.254.169.254]/",
  "http://2130706433:9/hooks",
  "http://0x7f000001:9/hooks",
  "http://127.1:9/hooks",
  "http://224.0.0.1/hooks",
  "http://255.255.255.255/hooks",
];

describe("with no allowance (the default)", () => {
  const setup = useGuardedServer("outbound-strict", "");
  /**
   * Registrations are tried by a project that never gets a dialog nor a user token, so that even a
   * guard broken by some later change, storing these URLs, could not make the server call them.
   */
  let registrant = "";
  /** The project whose stored destinations the connect-time tests exercise (all on loopback). */
  let projectKey = "";

  beforeAll(async () => {
    const keys = [];
    for (const id of ["epsilon", "gamma"]) {
      const project = await setup.t.api<{ data: { api_key: { key: string } } }>("POST", "/api/v1/management/projects", { id, name: id });
      expect(project.status).toBe(201);
      keys.push(project.body.data.api_key.key);
    }
    [registrant = "", projectKey = ""] = keys;
  });

  test("a project cannot register a webhook endpoint at an internal address or a name that resolves there; nothing is stored", async () => {
    const { t } = setup;
    for (const url of internalUrls) {
      const response = await t.api<{ error: { code: string; message: string } }>(
        "POST",
        "/api/v1/management/webhooks/endpoints",
        { url, events: ["dialog.archived"] },
        registrant,
      );
      expect({ url, status: response.status, code: response.body.error?.code }).toEqual({ url, status: 400, code: "bad_request" });
      expect(response.body.error.message).toMatch(/^url points at .+: the server does not call .+OUTBOUND_ALLOW_PRIVATE\.$/);
    }
    // The admin token is held to the same rule for the default project's endpoints.
    expect(await t.api("POST", "/api/v1/management/webhooks/endpoints", { url: "http://127.0.0.1:9/hooks" })).toMatchObject({
      status: 400,
      body: { error: { code: "bad_request", message: expect.stringContaining("127.0.0.1, a loopback address") } },
    });
    expect((await t.api("GET", "/api/v1/management/webhooks/endpoints", undefined, registrant)).body).toEqual({ data: [] });
    expect((await t.api("GET", "/api/v1/management/webhooks/endpoints")).body).toEqual({ data: [] });
    const stored = await t.server.pool.query("SELECT url FROM webhook_endpoints");
    expect(stored.rows).toEqual([]);
  });

  test("a project cannot register a JWKS URL at an internal address; nothing is stored", async () => {
    const { t } = setup;
    for (const url of internalUrls) {
      const response = await t.api<{ error: { code: string; message: string } }>(
        "POST",
        "/api/v1/management/jwt-keys",
        { kind: "jwks_url", jwks_url: url },
        registrant,
      );
      expect({ url, status: response.status, code: response.body.error?.code }).toEqual({ url, status: 400, code: "bad_request" });
      expect(response.body.error.message).toMatch(/^jwks_url points at .+OUTBOUND_ALLOW_PRIVATE\.$/);
    }
    expect((await t.api("GET", "/api/v1/management/jwt-keys", undefined, registrant)).body).toEqual({ data: [] });
  });

  test("an endpoint stored before (or whose name resolves inside only later) is refused at connect time and dead-lettered at once", async () => {
    const { t } = setup;
    const receiver = await WebhookReceiver.start(secret);
    try {
      // As if registered under an allowance since withdrawn, or under a name that resolved elsewhere then.
      const urls = [receiver.url, receiver.url.replace("127.0.0.1", "localhost"), receiver.url.replace("127.0.0.1", "[::ffff:127.0.0.1]")];
      for (const url of urls) {
        await t.server.pool.query(
          "INSERT INTO webhook_endpoints (id, project_id, url, secret, events) VALUES ($1, 'gamma', $2, $3, ARRAY['participant.joined'])",
          [randomUUID(), url, secret],
        );
      }
      await t.api(
        "POST",
        "/api/v1/management/dialogs",
        {
          object_id: "order-1",
          object_type: "order",
          participants: [{ user_id: "gus", display_name: "Gus" }],
        },
        projectKey,
      );
      const dead = await eventually(
        async () => {
          const rows = await deadLetters(t, projectKey);
          return rows.length === urls.length && rows;
        },
        { what: "three dead letters" },
      );
      for (const row of dead) {
        // One attempt: a refused destination is not retried.
        expect(row).toMatchObject({
          attempts: 1,
          last_status: null,
          last_error: expect.stringMatching(/^refused to connect to .*loopback/),
        });
      }
      expect(dead.map((row) => row.last_error).join("\n")).toContain("localhost: it resolves to 127.0.0.1");
      expect(receiver.received).toEqual([]);
      expect(receiver.rejected).toEqual([]);
    } finally {
      await receiver.stop();
    }
  });

  test("a JWKS URL stored before is never fetched: its tokens do not verify", async () => {
    const { t } = setup;
    const key = await signingKey("gamma-1");
    const jwks = await startCounter((_request, response) => {
      response.setHeader("content-type", "application/json");
      response.end(JSON.stringify(key.jwks));
    });
    try {
      await t.server.pool.query("INSERT INTO jwt_keys (id, project_id, kind, value) VALUES ($1, 'gamma', 'jwks_url', $2)", [
        randomUUID(),
        `http://127.0.0.1:${jwks.port}/jwks.json`,
      ]);
      expect(await t.api("GET", "/api/v1/dialogs", undefined, await key.sign("gamma"))).toMatchObject({ status: 401 });
      expect(jwks.hits).toEqual([]);
    } finally {
      await jwks.stop();
    }
  });
});

describe("with the operator's allowance", () => {
  // Loopback under a name of its own: the allowance opens that host, and 127.0.0.1 stays closed.
  const setup = useGuardedServer("outbound-allowed", "receiver.localhost");

  test("an allowed host is registered and delivered to; other internal destinations stay refused", async () => {
    const { t } = setup;
    const receiver = await WebhookReceiver.start(secret);
    try {
      const url = receiver.url.replace("127.0.0.1", "receiver.localhost");
      const created = await t.api("POST", "/api/v1/management/webhooks/endpoints", { url, secret, events: ["participant.joined"] });
      expect(created).toMatchObject({ status: 201, body: { data: { url, source: "api" } } });
      expect(await t.api("POST", "/api/v1/management/webhooks/endpoints", { url: receiver.url, secret })).toMatchObject({
        status: 400,
        body: { error: { code: "bad_request" } },
      });
      const dialog = await createDialog(t, ["alice"]);
      const [delivered] = await receiver.until(
        () => receiver.deliveredOf(dialog.id).length > 0 && receiver.deliveredOf(dialog.id),
        "the allowed endpoint's delivery",
      );
      expect(delivered?.event).toBe("participant.joined");
      expect(receiver.rejected).toEqual([]);
    } finally {
      await t.server.pool.query("DELETE FROM webhook_endpoints");
      await receiver.stop();
    }
  });

  test("a redirect is not followed, even to an allowed host: the 3xx is a failed delivery", async () => {
    const { t } = setup;
    const trap = await startCounter((_request, response) => response.writeHead(200).end("ok"));
    const redirector = await startCounter((_request, response) =>
      response.writeHead(307, { location: `http://receiver.localhost:${trap.port}/hooks` }).end(),
    );
    try {
      const created = await t.api<{ data: { id: string } }>("POST", "/api/v1/management/webhooks/endpoints", {
        url: `http://receiver.localhost:${redirector.port}/hooks`,
        secret,
        events: ["participant.joined"],
      });
      expect(created.status).toBe(201);
      await createDialog(t, ["bob"]);
      const dead = await eventually(
        async () => {
          const row = (await deadLetters(t)).find((letter) => letter.endpoint_id === created.body.data.id);
          return row;
        },
        { what: "the redirected delivery's dead letter" },
      );
      expect(dead).toMatchObject({ attempts: 1, last_status: 307 });
      expect(redirector.hits).toEqual(["POST /hooks"]);
      expect(trap.hits).toEqual([]);
    } finally {
      await t.server.pool.query("DELETE FROM webhook_endpoints");
      await Promise.all([trap.stop(), redirector.stop()]);
    }
  });

  test("a JWKS URL at an allowed host verifies tokens, and a JWKS redirect is not followed", async () => {
    const { t } = setup;
    const project = await t.api<{ data: { api_key: { key: string } } }>("POST", "/api/v1/management/projects", { id: "delta", name: "D" });
    const projectKey = project.body.data.api_key.key;
    const good = await signingKey("delta-1");
    const moved = await signingKey("delta-2");
    const jwks = await startCounter((request, response) => {
      response.setHeader("content-type", "application/json");
      response.end(JSON.stringify(request.url === "/moved.json" ? moved.jwks : good.jwks));
    });
    const redirector = await startCounter((_request, response) =>
      response.writeHead(302, { location: `http://receiver.localhost:${jwks.port}/moved.json` }).end(),
    );
    try {
      for (const jwks_url of [
        `http://receiver.localhost:${jwks.port}/jwks.json`,
        `http://receiver.localhost:${redirector.port}/jwks.json`,
      ]) {
        expect(await t.api("POST", "/api/v1/management/jwt-keys", { kind: "jwks_url", jwks_url }, projectKey)).toMatchObject({
          status: 201,
        });
      }
      const dialog = await t.api<{ data: { id: string } }>(
        "POST",
        "/api/v1/management/dialogs",
        { object_id: "order-1", object_type: "order", participants: [{ user_id: "gus", display_name: "Gus" }] },
        projectKey,
      );
      const route = `/api/v1/dialogs/${dialog.body.data.id}`;
      expect(await t.api("GET", route, undefined, await good.sign("delta"))).toMatchObject({ status: 200 });
      expect(await t.api("GET", route, undefined, await moved.sign("delta"))).toMatchObject({ status: 401 });
      expect(redirector.hits).toContain("GET /jwks.json");
      expect(jwks.hits.filter((hit) => hit === "GET /moved.json")).toEqual([]);
    } finally {
      await Promise.all([jwks.stop(), redirector.stop()]);
    }
  });
});

describe("the guard's own connections", () => {
  /**
   * DNS rebinding: a name that resolves to a public address when it is registered and to loopback
   * when the server connects. The public address is only ever handed to the registration check;
   * every connection resolves to 127.0.0.1, so nothing here can leave the machine.
   */
  const rebinding = () => {
    let phase: "registration" | "connection" = "registration";
    const resolve: Resolve = async (host) => {
      if (host !== "rebind.test") throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
      return [{ address: phase === "registration" ? "93.184.215.14" : "127.0.0.1", family: 4 }];
    };
    return { resolve, connecting: () => (phase = "connection") };
  };
  const request = () => ({
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
    signal: AbortSignal.timeout(5_000),
  });

  test("a name that passed registration but resolves to loopback at connect time is refused before any byte is sent", async () => {
    const trap = await startCounter((_request, response) => response.writeHead(200).end("ok"));
    const dns = rebinding();
    const guard = new OutboundGuard([], dns.resolve);
    try {
      const url = `http://rebind.test:${trap.port}/hooks`;
      expect(await guard.check("url", url)).toBeNull();
      dns.connecting();
      const failure = await guard.fetch(url, request()).then(
        () => null,
        (error: unknown) => error,
      );
      expect(blockedReason(failure)).toBe(
        "refused to connect to rebind.test: it resolves to 127.0.0.1, a loopback address (OUTBOUND_ALLOW_PRIVATE can allow it)",
      );
      for (const literal of [
        `http://127.0.0.1:${trap.port}/`,
        `http://[::ffff:127.0.0.1]:${trap.port}/`,
        `http://localhost:${trap.port}/`,
      ]) {
        expect(blockedReason(await guard.fetch(literal, request()).catch((error: unknown) => error))).toMatch(/^refused to connect to/);
      }
      expect(trap.hits).toEqual([]);
    } finally {
      await guard.close();
      await trap.stop();
    }
  });

  test("the same name, allowed by the operator, reaches the address it resolves to then, and a redirect comes back unfollowed", async () => {
    const trap = await startCounter((request, response) => {
      if (request.url === "/moved") response.writeHead(308, { location: "/hooks" }).end();
      else response.writeHead(200).end("ok");
    });
    const dns = rebinding();
    const guard = new OutboundGuard(["rebind.test"], dns.resolve);
    try {
      dns.connecting();
      const delivered = await guard.fetch(`http://rebind.test:${trap.port}/hooks`, request());
      expect(delivered.status).toBe(200);
      const moved = await guard.fetch(`http://rebind.test:${trap.port}/moved`, request());
      expect([moved.status, moved.headers.get("location")]).toEqual([308, "/hooks"]);
      expect(trap.hits).toEqual(["POST /hooks", "POST /moved"]);
    } finally {
      await guard.close();
      await trap.stop();
    }
  });
});
