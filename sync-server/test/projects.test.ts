import { createHash, generateKeyPairSync } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { metaDocName, segmentDocName } from "@mtchat/protocol";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { v7 as uuidv7 } from "uuid";
import { describe, expect, test } from "vitest";
import { deniedReason, openDoc } from "./clients.ts";
import { type Claims, jwtSecret, tokenFor, useServer } from "./harness.ts";

const fixture = useServer("external", "projects");

const secretB = "project-beta-secret-that-is-long-enough!!";

/** A user token as project beta's backend signs it: its own secret, `prj: beta`. */
const betaToken = (userId: string, claims: Claims & { prj?: string } = {}, secret = secretB) =>
  new SignJWT({ tenant_uid: "tenant-1", scope_level1: ["ops"], scope_level2: [], name: userId, prj: "beta", ...claims })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(userId)
    .setExpirationTime("10m")
    .sign(new TextEncoder().encode(secret));

type Created<T> = { status: number; body: { data: T } };
type KeyOut = { id: string; prefix: string; key?: string; scopes: string[]; expires_at: string | null; revoked_at: string | null };
type ErrorOut = { error: { code: string; message: string } };

/** Both projects, set up once: identical object ids, user ids and scopes, one message each. */
const world = (() => {
  let ready: Promise<{
    keyB: string;
    dialogA: string;
    dialogB: string;
    messageA: string;
    messageB: string;
  }> | null = null;
  return () => {
    ready ??= (async () => {
      const { t } = fixture;
      const project = await t.api<{ data: { project: { id: string }; api_key: KeyOut } }>("POST", "/api/v1/management/projects", {
        id: "beta",
        name: "Beta Logistics",
      });
      expect(project).toMatchObject({ status: 201, body: { data: { project: { id: "beta" }, api_key: { scopes: ["admin"] } } } });
      const keyB = project.body.data.api_key.key as string;
      expect(keyB).toMatch(/^mtk_live_[a-z0-9]{8}_[A-Za-z0-9_-]{43}$/);
      expect(await t.api("POST", "/api/v1/management/jwt-keys", { kind: "hs256", secret: secretB }, keyB)).toMatchObject({ status: 201 });

      const dialogBody = {
        object_id: "order-1",
        object_type: "order",
        title: "Order 1",
        participants: [
          { user_id: "alice", display_name: "Alice", email: "alice@a.test" },
          { user_id: "bob", display_name: "Bob" },
        ],
        access_scopes: [{ tenant_uid: "tenant-1", scope_level1: ["ops"], scope_level2: [] }],
      };
      const a = (await t.api("POST", "/api/v1/management/dialogs", dialogBody)) as Created<{ id: string }>;
      const b = (await t.api("POST", "/api/v1/management/dialogs", dialogBody, keyB)) as Created<{ id: string }>;
      expect([a.status, b.status]).toEqual([201, 201]);
      const send = async (dialogId: string, token: string, content: string) => {
        const sent = (await t.api("POST", `/api/v1/dialogs/${dialogId}/messages`, { content }, token)) as Created<{ id: string }>;
        expect(sent.status).toBe(201);
        return sent.body.data.id;
      };
      const messageA = await send(a.body.data.id, await tokenFor("alice", { scope_level1: ["ops"] }), "shipment alpha is late");
      const messageB = await send(b.body.data.id, await betaToken("alice"), "shipment beta is late");
      return { keyB, dialogA: a.body.data.id, dialogB: b.body.data.id, messageA, messageB };
    })();
    return ready;
  };
})();

describe("isolation between projects", () => {
  test("no Chat API route crosses projects, even with the same dialog, user and scopes", async () => {
    const { t } = fixture;
    const { dialogA, dialogB, messageA, messageB } = await world();
    const tokens = {
      aliceA: await tokenFor("alice", { scope_level1: ["ops"] }),
      patA: await tokenFor("pat", { scope_level1: ["ops"] }),
      aliceB: await betaToken("alice"),
      patB: await betaToken("pat"),
    };
    const routes = (dialog: string, message: string): [string, string, unknown][] => [
      ["GET", `/api/v1/dialogs/${dialog}`, undefined],
      ["GET", `/api/v1/dialogs/${dialog}/messages`, undefined],
      ["GET", `/api/v1/dialogs/${dialog}/messages?around=${message}`, undefined],
      ["GET", `/api/v1/dialogs/${dialog}/participants`, undefined],
      ["POST", `/api/v1/dialogs/${dialog}/messages`, { content: "crossing over" }],
      ["PUT", `/api/v1/dialogs/${dialog}/messages/${message}`, { content: "rewritten" }],
      ["DELETE", `/api/v1/dialogs/${dialog}/messages/${message}`, undefined],
      ["POST", `/api/v1/dialogs/${dialog}/read`, { message_id: message }],
      ["POST", `/api/v1/dialogs/${dialog}/join`, undefined],
      ["POST", `/api/v1/dialogs/${dialog}/leave`, undefined],
      ["POST", `/api/v1/dialogs/${dialog}/archive`, undefined],
      ["POST", `/api/v1/dialogs/${dialog}/pin`, undefined],
      ["POST", `/api/v1/dialogs/${dialog}/notifications`, { enabled: false }],
      ["PUT", `/api/v1/dialogs/${dialog}/messages/${message}/reactions/${encodeURIComponent("👍")}`, undefined],
    ];
    const crossings: [string, string, string][] = [
      [tokens.aliceB, dialogA, messageA],
      [tokens.patB, dialogA, messageA],
      [tokens.aliceA, dialogB, messageB],
      [tokens.patA, dialogB, messageB],
    ];
    for (const [token, dialog, message] of crossings) {
      for (const [method, route, body] of routes(dialog, message)) {
        const response = await t.api<ErrorOut>(method, route, body, token);
        expect({ method, route, status: response.status, code: response.body.error?.code }).toEqual({
          method,
          route,
          status: 404,
          code: "not_found",
        });
      }
    }
    // The same tokens do reach their own project's dialog, and nothing above changed it.
    const own = await t.api<{ data: { messages: { id: string; content: string }[] } }>(
      "GET",
      `/api/v1/dialogs/${dialogA}/messages`,
      undefined,
      tokens.aliceA,
    );
    expect(own.status).toBe(200);
    expect(own.body.data.messages.filter((m) => m.id === messageA)).toEqual([
      expect.objectContaining({ content: "shipment alpha is late" }),
    ]);
    expect(own.body.data.messages.map((m) => m.content)).not.toContain("crossing over");
    expect(await t.api("GET", `/api/v1/dialogs/${dialogB}`, undefined, tokens.patB)).toMatchObject({
      status: 200,
      body: { data: { can_join: true, object_id: "order-1" } },
    });

    // Lists and object lookups show each project's own dialog only.
    type Items = { data: { items: { id: string }[] } };
    for (const [token, own, other] of [
      [tokens.aliceA, dialogA, dialogB],
      [tokens.aliceB, dialogB, dialogA],
    ] as const) {
      const participating = await t.api<Items>("GET", "/api/v1/dialogs?limit=100", undefined, token);
      expect(participating.body.data.items.map((item) => item.id)).toContain(own);
      expect(participating.body.data.items.map((item) => item.id)).not.toContain(other);
      const byObject = await t.api<{ data: { id: string }[] }>("GET", "/api/v1/dialogs/by-object/order/order-1/list", undefined, token);
      expect(byObject.body.data.map((item) => item.id)).toEqual([own]);
    }
    const available = await t.api<Items>("GET", "/api/v1/dialogs?type=available&limit=100", undefined, tokens.patA);
    expect(available.body.data.items.map((item) => item.id)).toEqual([dialogA]);
    // The same pair of users gets one direct dialog per project.
    const directA = await t.api<{ data: { id: string } }>("POST", "/api/v1/dialogs/direct", { user_id: "bob" }, tokens.aliceA);
    const directB = await t.api<{ data: { id: string } }>("POST", "/api/v1/dialogs/direct", { user_id: "bob" }, tokens.aliceB);
    expect(directA.body.data.id).not.toBe(directB.body.data.id);
    expect(await t.api("GET", `/api/v1/dialogs/${directA.body.data.id}`, undefined, tokens.aliceB)).toMatchObject({ status: 404 });
  });

  test("search finds only the caller's project", async () => {
    const { t } = fixture;
    const { messageA, messageB } = await world();
    const find = async (token: string) =>
      (
        await t.api<{ data: { results: { message_id: string }[] } }>("GET", "/api/v1/search?q=shipment", undefined, token)
      ).body.data.results.map((hit) => hit.message_id);
    expect(await find(await tokenFor("alice", { scope_level1: ["ops"] }))).toEqual([messageA]);
    expect(await find(await betaToken("alice"))).toEqual([messageB]);
    // Pat's scopes match beta's dialog, but a potential participant's search sees no messages until they join.
    expect(await find(await betaToken("pat"))).toEqual([]);
  });

  test("the Management API with project B's key cannot see or touch project A's dialog, nor the admin token B's", async () => {
    const { t } = fixture;
    const { keyB, dialogA, dialogB } = await world();
    const calls: [string, string, unknown][] = [
      ["GET", "", undefined],
      ["POST", "/participants", { user_id: "mallory", display_name: "M" }],
      ["DELETE", "/participants/alice", undefined],
      ["PUT", "/access-scopes", { access_scopes: [] }],
      ["DELETE", "", undefined],
    ];
    for (const [token, dialog] of [
      [keyB, dialogA],
      [undefined, dialogB],
    ] as const) {
      for (const [method, suffix, body] of calls) {
        const response = await t.api<ErrorOut>(method, `/api/v1/management/dialogs/${dialog}${suffix}`, body, token);
        expect({ method, suffix, status: response.status }).toEqual({ method, suffix, status: 404 });
      }
    }
    const a = await t.api<{ data: { participants: { user_id: string }[] } }>("GET", `/api/v1/management/dialogs/${dialogA}`);
    expect(a.body.data.participants.map((p) => p.user_id)).toEqual(["alice", "bob"]);
    expect(await t.api("GET", `/api/v1/management/dialogs/${dialogB}`, undefined, keyB)).toMatchObject({ status: 200 });
  });

  test("a WebSocket user of one project cannot open the other project's dialog documents", async () => {
    const { dialogA, dialogB } = await world();
    const aliceB = await betaToken("alice");
    const aliceA = await tokenFor("alice", { scope_level1: ["ops"] });
    for (const name of [metaDocName(dialogA), segmentDocName(dialogA, 0)]) {
      expect(await deniedReason(fixture.socket(), name, aliceB)).toMatch(/^4403 forbidden/);
    }
    expect(await deniedReason(fixture.socket(), segmentDocName(dialogB, 0), aliceA)).toMatch(/^4403 forbidden/);
    // Each reaches their own.
    const own = await openDoc(fixture.socket(), segmentDocName(dialogB, 0), aliceB);
    expect(own.synced).toBe(true);
    expect((await openDoc(fixture.socket(), segmentDocName(dialogA, 0), aliceA)).synced).toBe(true);
  });

  test("a token signed with the default secret cannot claim another project, nor a project's key the default one", async () => {
    const { t } = fixture;
    const { dialogB, dialogA } = await world();
    const forged = await betaToken("alice", {}, jwtSecret);
    const reply = await t.api<ErrorOut>("GET", `/api/v1/dialogs/${dialogB}`, undefined, forged);
    expect(reply).toMatchObject({ status: 401, body: { error: { code: "unauthorized", message: expect.stringMatching(/signature/) } } });
    expect(await deniedReason(fixture.socket(), segmentDocName(dialogB, 0), forged)).toMatch(/^4401 unauthorized/);
    // beta's secret signing a token without `prj` (the default project) does not verify either.
    const sneaky = await new SignJWT({ tenant_uid: "tenant-1", scope_level1: ["ops"] })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("alice")
      .setExpirationTime("10m")
      .sign(new TextEncoder().encode(secretB));
    expect(await t.api("GET", `/api/v1/dialogs/${dialogA}`, undefined, sneaky)).toMatchObject({ status: 401 });
    // A project with no keys accepts no tokens.
    expect(await t.api("GET", "/api/v1/search?q=x", undefined, await betaToken("alice", { prj: "gamma" }, jwtSecret))).toMatchObject({
      status: 401,
      body: { error: { message: expect.stringMatching(/project "gamma"/) } },
    });
  });
});

describe("API keys", () => {
  test("a key is shown once, stored only as a hash, listed by its prefix", async () => {
    const { t } = fixture;
    const { keyB } = await world();
    const created = await t.api<{ data: KeyOut }>(
      "POST",
      "/api/v1/management/api-keys",
      { name: "backend", scopes: ["read", "write"] },
      keyB,
    );
    expect(created.status).toBe(201);
    const { key, id, prefix } = created.body.data;
    expect(key).toMatch(new RegExp(`^${prefix}_[A-Za-z0-9_-]{43}$`));
    const secret = (key as string).slice(prefix.length + 1);

    const listed = await t.api<{ data: KeyOut[] }>("GET", "/api/v1/management/api-keys", undefined, keyB);
    const entry = listed.body.data.find((row) => row.id === id);
    expect(entry).toMatchObject({ prefix: `mtk_live_${id}`, scopes: ["read", "write"], revoked_at: null });
    expect(entry).not.toHaveProperty("key");
    expect(JSON.stringify(listed.body)).not.toContain(secret);

    const { rows } = await t.server.pool.query<{ row: string; key_hash: Buffer }>(
      "SELECT row_to_json(k)::text AS row, key_hash FROM api_keys k WHERE id = $1",
      [id],
    );
    expect(rows[0]?.row).toContain(prefix);
    expect(rows[0]?.row).not.toContain(secret);
    expect(
      rows[0]?.key_hash.equals(
        createHash("sha256")
          .update(key as string)
          .digest(),
      ),
    ).toBe(true);
    // The admin token (default project) does not see beta's keys.
    const adminList = await t.api<{ data: KeyOut[] }>("GET", "/api/v1/management/api-keys");
    expect(adminList.body.data.map((row) => row.id)).not.toContain(id);
  });

  test("scopes: GET needs read, writes need write, keys need admin, projects need the admin token", async () => {
    const { t } = fixture;
    const { keyB, dialogB } = await world();
    const make = async (scopes: string[]) =>
      (await t.api<{ data: KeyOut }>("POST", "/api/v1/management/api-keys", { name: scopes.join("+"), scopes }, keyB)).body.data
        .key as string;
    const [reader, writer] = [await make(["read"]), await make(["write"])];
    const dialog = `/api/v1/management/dialogs/${dialogB}`;
    const newDialog = { object_id: "o-2", object_type: "order" };
    const expectations: [string, string, string, unknown, number][] = [
      [reader, "GET", dialog, undefined, 200],
      [reader, "POST", "/api/v1/management/dialogs", newDialog, 403],
      [reader, "GET", "/api/v1/management/api-keys", undefined, 403],
      [writer, "POST", "/api/v1/management/dialogs", newDialog, 201],
      [writer, "GET", dialog, undefined, 403],
      [writer, "POST", "/api/v1/management/jwt-keys", { kind: "hs256", secret: "z".repeat(40) }, 403],
      [keyB, "GET", "/api/v1/management/projects", undefined, 403],
      [keyB, "POST", "/api/v1/management/projects", { id: "delta", name: "D" }, 403],
    ];
    for (const [token, method, route, body, status] of expectations) {
      const response = await t.api<ErrorOut>(method, route, body, token);
      expect({ method, route, status: response.status }).toEqual({ method, route, status });
      if (status === 403)
        expect(response.body.error).toMatchObject({ code: "forbidden", message: expect.stringMatching(/scope|ADMIN_API_TOKEN/) });
    }
  });

  test("an expired or revoked key answers 401 with the reason; so does a wrong secret", async () => {
    const { t } = fixture;
    const { keyB } = await world();
    const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
    const created = await t.api<{ data: KeyOut }>(
      "POST",
      "/api/v1/management/api-keys",
      { name: "short-lived", scopes: ["read"], expires_at: expiresAt },
      keyB,
    );
    expect(created.body.data.expires_at).toBe(expiresAt);
    const key = created.body.data.key as string;
    expect((await t.api("GET", "/api/v1/management/api-keys", undefined, key)).status).toBe(403);
    expect((await t.api("GET", `/api/v1/management/dialogs/${uuidv7()}`, undefined, key)).status).toBe(404);
    // Time passes: moved in the database rather than waited for.
    await t.server.pool.query("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1", [created.body.data.id]);
    expect(await t.api("GET", `/api/v1/management/dialogs/${uuidv7()}`, undefined, key)).toMatchObject({
      status: 401,
      body: { error: { code: "unauthorized", message: expect.stringMatching(/expired/) } },
    });

    const other = await t.api<{ data: KeyOut }>("POST", "/api/v1/management/api-keys", { name: "to revoke", scopes: ["read"] }, keyB);
    const otherKey = other.body.data.key as string;
    expect((await t.api("GET", `/api/v1/management/dialogs/${uuidv7()}`, undefined, otherKey)).status).toBe(404);
    // Another project cannot revoke it; its own project can.
    expect((await t.api("DELETE", `/api/v1/management/api-keys/${other.body.data.id}`)).status).toBe(404);
    const revoked = await t.api<{ data: KeyOut }>("DELETE", `/api/v1/management/api-keys/${other.body.data.id}`, undefined, keyB);
    expect(revoked).toMatchObject({ status: 200, body: { data: { revoked_at: expect.any(String) } } });
    expect(await t.api("GET", `/api/v1/management/dialogs/${uuidv7()}`, undefined, otherKey)).toMatchObject({
      status: 401,
      body: { error: { code: "unauthorized", message: expect.stringMatching(/revoked/) } },
    });

    const wrongSecret = `${keyB.slice(0, -4)}AAAA`;
    expect(await t.api("GET", "/api/v1/management/api-keys", undefined, wrongSecret)).toMatchObject({
      status: 401,
      body: { error: { message: "the API key is not valid" } },
    });
    expect(
      await t.api("POST", "/api/v1/management/api-keys", { name: "x", scopes: ["read"], expires_at: "2001-01-01T00:00:00Z" }, keyB),
    ).toMatchObject({
      status: 400,
    });
  });
});

test("the new routes are in the OpenAPI document", async () => {
  const openapi = await fixture.t.api<{ paths: Record<string, unknown> }>("GET", "/api/v1/openapi.json", undefined, null);
  expect(Object.keys(openapi.body.paths)).toEqual(
    expect.arrayContaining([
      "/api/v1/management/projects",
      "/api/v1/management/api-keys",
      "/api/v1/management/api-keys/{key_id}",
      "/api/v1/management/jwt-keys",
      "/api/v1/management/jwt-keys/{key_id}",
    ]),
  );
});

describe("JWT keys per project", () => {
  test("a PEM public key and a JWKS URL verify the project's tokens; the HS256 secret is never listed; deleting a key stops it", async () => {
    const { t } = fixture;
    const project = await t.api<{ data: { api_key: KeyOut } }>("POST", "/api/v1/management/projects", { id: "gamma", name: "Gamma" });
    const key = project.body.data.api_key.key as string;
    const dialog = await t.api<{ data: { id: string } }>(
      "POST",
      "/api/v1/management/dialogs",
      { object_id: "order-1", object_type: "order", participants: [{ user_id: "gus", display_name: "Gus" }] },
      key,
    );
    const route = `/api/v1/dialogs/${dialog.body.data.id}`;

    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const pem = rsa.publicKey.export({ type: "spki", format: "pem" }).toString();
    const { publicKey: ecPublic, privateKey: ecPrivate } = await generateKeyPair("ES256");
    const jwk = { ...(await exportJWK(ecPublic)), kid: "gamma-1", alg: "ES256", use: "sig" };
    const jwks = createServer((_req, res) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, "127.0.0.1", resolve));
    try {
      const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;
      const rsaToken = await new SignJWT({ prj: "gamma" })
        .setProtectedHeader({ alg: "RS256" })
        .setSubject("gus")
        .setExpirationTime("5m")
        .sign(rsa.privateKey);
      const ecToken = await new SignJWT({ prj: "gamma" })
        .setProtectedHeader({ alg: "ES256", kid: "gamma-1" })
        .setSubject("gus")
        .setExpirationTime("5m")
        .sign(ecPrivate);
      expect((await t.api("GET", route, undefined, rsaToken)).status).toBe(401);

      const added = [
        await t.api<{ data: { id: string } }>("POST", "/api/v1/management/jwt-keys", { kind: "public_key", public_key: pem }, key),
        await t.api<{ data: { id: string } }>("POST", "/api/v1/management/jwt-keys", { kind: "jwks_url", jwks_url: jwksUrl }, key),
        await t.api<{ data: { id: string } }>("POST", "/api/v1/management/jwt-keys", { kind: "hs256", secret: "g".repeat(48) }, key),
      ];
      expect(added.map((response) => response.status)).toEqual([201, 201, 201]);
      expect(
        await t.api("POST", "/api/v1/management/jwt-keys", { kind: "public_key", public_key: "-----BEGIN PUBLIC KEY-----\nnope" }, key),
      ).toMatchObject({
        status: 400,
        body: { error: { code: "bad_request" } },
      });
      expect(await t.api("GET", route, undefined, rsaToken)).toMatchObject({ status: 200, body: { data: { object_id: "order-1" } } });
      expect(await t.api("GET", route, undefined, ecToken)).toMatchObject({ status: 200 });

      const listed = await t.api<{ data: Record<string, unknown>[] }>("GET", "/api/v1/management/jwt-keys", undefined, key);
      expect(listed.body.data).toEqual([
        expect.objectContaining({ kind: "public_key", public_key: pem, secret_fingerprint: null }),
        expect.objectContaining({ kind: "jwks_url", jwks_url: jwksUrl }),
        expect.objectContaining({ kind: "hs256", public_key: null, jwks_url: null, secret_fingerprint: expect.stringMatching(/^sha256:/) }),
      ]);
      expect(JSON.stringify(listed.body)).not.toContain("g".repeat(48));

      expect((await t.api("DELETE", `/api/v1/management/jwt-keys/${added[0]?.body.data.id}`, undefined, key)).status).toBe(200);
      expect(await t.api("GET", route, undefined, rsaToken)).toMatchObject({ status: 401 });
      expect(await t.api("GET", route, undefined, ecToken)).toMatchObject({ status: 200 });
      // Another project's key cannot delete gamma's keys.
      expect((await t.api("DELETE", `/api/v1/management/jwt-keys/${added[1]?.body.data.id}`)).status).toBe(404);
    } finally {
      jwks.close();
    }
  });
});
