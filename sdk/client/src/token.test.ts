import { describe, expect, test } from "vitest";
import { decodeTokenClaims, TokenSource } from "./token.ts";

const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
const jwt = (payload: Record<string, unknown>) => `${encode({ alg: "HS256" })}.${encode(payload)}.signature`;

describe("token claims", () => {
  test("the user, project and expiry come from the token", () => {
    expect(decodeTokenClaims(jwt({ sub: "ann", prj: "acme", exp: 100, name: "Ann" }))).toEqual({
      userId: "ann",
      projectId: "acme",
      expiresAt: 100_000,
      name: "Ann",
    });
    expect(decodeTokenClaims(jwt({ sub: "ann", exp: 100 })).projectId).toBe("default");
  });

  test("tokens without sub or exp, and non-JWTs, are refused with a reason", () => {
    expect(() => decodeTokenClaims(jwt({ exp: 1 }))).toThrow(/sub/);
    expect(() => decodeTokenClaims(jwt({ sub: "ann" }))).toThrow(/exp/);
    expect(() => decodeTokenClaims("not a token")).toThrow(/JWT/);
  });
});

describe("token source", () => {
  test("a token function is called again only near expiry or after a refusal, and concurrent callers share a call", async () => {
    let now = 0;
    let calls = 0;
    const source = new TokenSource(
      async () => {
        calls += 1;
        return jwt({ sub: "ann", exp: 120, n: calls });
      },
      () => now,
      30_000,
    );
    const [first, second] = await Promise.all([source.get(), source.get()]);
    expect(first).toBe(second);
    expect(calls).toBe(1);
    now = 80_000;
    await source.get();
    expect(calls).toBe(1);
    now = 95_000;
    await source.get();
    expect(calls).toBe(2);
    source.invalidate();
    expect(source.claims?.userId).toBe("ann");
    await source.get();
    expect(calls).toBe(3);
  });

  test("a token for another user is refused: switching users needs a logout", async () => {
    let user = "ann";
    const source = new TokenSource(
      () => jwt({ sub: user, exp: 1 }),
      () => 10_000_000,
    );
    await source.get();
    user = "bob";
    source.invalidate();
    await expect(source.get()).rejects.toThrow(/another user/);
  });
});
