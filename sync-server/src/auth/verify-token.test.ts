import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, UnsecuredJWT } from "jose";
import { describe, expect, test } from "vitest";
import { createTokenVerifier, noKeys } from "./verify-token.ts";

const secret = "s".repeat(40);
const key = new TextEncoder().encode(secret);
const claims = { tenant_uid: "t1", scope_level1: ["sales"], scope_level2: [], name: "Alice" };
const sign = (payload: Record<string, unknown>, exp: string | number | null = "5m") => {
  const jwt = new SignJWT(payload).setProtectedHeader({ alg: "HS256" }).setSubject("alice").setIssuedAt();
  if (exp !== null) jwt.setExpirationTime(exp);
  return jwt.sign(key);
};

describe("HS256 user tokens", () => {
  const verify = createTokenVerifier({ jwtSecret: secret });

  test("a valid token yields the user with scopes from its claims", async () => {
    expect(await verify(await sign(claims))).toMatchObject({
      ok: true,
      user: { userId: "alice", projectId: "default", tenant_uid: "t1", scope_level1: ["sales"], scope_level2: [], name: "Alice" },
    });
  });

  test("missing or past exp, a wrong signature and alg none are refused", async () => {
    expect(await verify(await sign(claims, null))).toMatchObject({ ok: false, kind: "unauthorized", reason: expect.stringMatching(/exp/) });
    expect(await verify(await sign(claims, Math.floor(Date.now() / 1000) - 10))).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/expired/),
    });
    const forged = await new SignJWT(claims)
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("alice")
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode("x".repeat(40)));
    expect(await verify(forged)).toMatchObject({ ok: false, reason: expect.stringMatching(/signature/) });
    const unsecured = new UnsecuredJWT({ ...claims, sub: "alice" }).setExpirationTime("5m").encode();
    expect(await verify(unsecured)).toMatchObject({ ok: false, kind: "unauthorized" });
    expect(await verify("garbage")).toMatchObject({ ok: false, kind: "unauthorized" });
  });

  test("the reserved $ prefix cannot be claimed as a user id", async () => {
    const token = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("$system").setExpirationTime("5m").sign(key);
    expect(await verify(token)).toMatchObject({ ok: false, reason: expect.stringMatching(/reserved/) });
  });

  test("identity claims PostgreSQL cannot store are refused; control characters in display claims are dropped", async () => {
    const withSub = (sub: string, payload: Record<string, unknown> = claims) =>
      new SignJWT(payload).setProtectedHeader({ alg: "HS256" }).setSubject(sub).setExpirationTime("5m").sign(key);
    expect(await verify(await withSub("al\u0000ice"))).toMatchObject({
      ok: false,
      kind: "unauthorized",
      reason: expect.stringMatching(/sub .*NUL/),
    });
    expect(await verify(await withSub("al\ud800ice"))).toMatchObject({ ok: false, reason: expect.stringMatching(/sub/) });
    for (const bad of [{ tenant_uid: "t\u0000" }, { scope_level1: ["ok", "x\u0000"] }, { prj: "de\u0000fault" }]) {
      expect(await verify(await withSub("alice", { ...claims, ...bad }))).toMatchObject({ ok: false, kind: "unauthorized" });
    }
    expect(
      await verify(await withSub("alice", { ...claims, name: "Al\u0000ice\u0007 \ud800Smith\n", company: "\u0000\u001b" })),
    ).toMatchObject({
      ok: true,
      user: { userId: "alice", name: "Alice Smith", company: null },
    });
  });
});

describe("asymmetric user tokens", () => {
  test("a PEM public key verifies RS256 and refuses an HS256 token signed with the PEM text", async () => {
    const { publicKey, privateKey } = await generateKeyPair("RS256");
    const pem = await exportSPKI(publicKey);
    const verify = createTokenVerifier({ jwtPublicKey: pem });
    const token = await new SignJWT(claims).setProtectedHeader({ alg: "RS256" }).setSubject("bob").setExpirationTime("5m").sign(privateKey);
    expect(await verify(token)).toMatchObject({ ok: true, user: { userId: "bob" } });
    // The classic key-confusion attack: HMAC keyed with the public key's text.
    const confused = await new SignJWT(claims)
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("bob")
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode(pem));
    expect(await verify(confused)).toMatchObject({ ok: false, kind: "unauthorized" });
  });

  test("a JWKS URL (served on loopback) verifies ES256", async () => {
    const { publicKey, privateKey } = await generateKeyPair("ES256");
    const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256", use: "sig" };
    const server = createServer((_req, res) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const verify = createTokenVerifier({ jwtJwksUrl: `http://127.0.0.1:${port}/jwks.json` });
      const token = await new SignJWT(claims)
        .setProtectedHeader({ alg: "ES256", kid: "k1" })
        .setSubject("carol")
        .setExpirationTime("5m")
        .sign(privateKey);
      expect(await verify(token)).toMatchObject({ ok: true, user: { userId: "carol" } });
    } finally {
      server.close();
    }
  });
});

describe("per-project keys", () => {
  const projectSecret = "p".repeat(40);
  const keysOf = async (projectId: string) =>
    projectId === "beta" ? { ...noKeys, secrets: [new TextEncoder().encode(projectSecret)] } : noKeys;
  const verify = createTokenVerifier({ jwtSecret: secret }, keysOf);
  const signWith = (payload: Record<string, unknown>, with_: string) =>
    new SignJWT(payload)
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("alice")
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode(with_));

  test("the prj claim selects the project, verified only by that project's keys", async () => {
    expect(await verify(await signWith({ prj: "beta" }, projectSecret))).toMatchObject({
      ok: true,
      user: { userId: "alice", projectId: "beta" },
    });
    expect(await verify(await signWith({}, secret))).toMatchObject({ ok: true, user: { projectId: "default" } });
    // The configured (default project's) secret cannot vouch for another project, nor beta's for the default one.
    expect(await verify(await signWith({ prj: "beta" }, secret))).toMatchObject({ ok: false, kind: "unauthorized" });
    expect(await verify(await signWith({}, projectSecret))).toMatchObject({ ok: false, kind: "unauthorized" });
    expect(await verify(await signWith({ prj: "nobody" }, secret))).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/project "nobody"/),
    });
    expect(await verify(await signWith({ prj: 7 }, secret))).toMatchObject({ ok: false, reason: expect.stringMatching(/prj/) });
  });

  test("a key source that fails answers unavailable, not a verdict on the token", async () => {
    const failing = createTokenVerifier({ jwtSecret: secret }, async () => {
      throw new Error("database down");
    });
    expect(await failing(await signWith({ prj: "beta" }, projectSecret))).toMatchObject({ ok: false, kind: "unavailable" });
  });
});
