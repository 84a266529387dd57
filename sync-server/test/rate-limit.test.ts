import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, expect, test } from "vitest";
import { adminToken, startServer, type TestServer, tokenFor, useServer } from "./harness.ts";

const limits = { RATE_LIMIT_USER: "3", RATE_LIMIT_KEY: "3", RATE_LIMIT_WINDOW_S: "3" };
const fixture = useServer("external", "rate_limit", limits);

/** A second process on the same database, as a second replica would be. */
let replica: TestServer;
beforeAll(async () => {
  replica = await startServer({ ...fixture.env.env, ...limits });
});
afterAll(async () => {
  await replica?.stop();
});

type Answer = {
  status: number;
  code: string | undefined;
  limit: string | null;
  remaining: string | null;
  reset: string | null;
  retryAfter: string | null;
};

const call = async (base: string, method: string, route: string, token: string, body?: unknown): Promise<Answer> => {
  const response = await fetch(`${base}${route}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const json = (await response.json()) as { error?: { code: string } };
  return {
    status: response.status,
    code: json.error?.code,
    limit: response.headers.get("ratelimit-limit"),
    remaining: response.headers.get("ratelimit-remaining"),
    reset: response.headers.get("ratelimit-reset"),
    retryAfter: response.headers.get("retry-after"),
  };
};

const waitSeconds = (seconds: number) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

test("a user's budget is shared by every replica; the next request gets 429 with Retry-After; others are unaffected; it resets", async () => {
  const one = fixture.t.httpUrl;
  const two = replica.httpUrl;
  const [alice, bob] = [await tokenFor("alice"), await tokenFor("bob")];
  const route = `/api/v1/dialogs/${uuidv7()}`;

  const served = [await call(one, "GET", route, alice), await call(two, "GET", route, alice), await call(one, "GET", route, alice)];
  expect(served.map(({ status, limit, remaining }) => ({ status, limit, remaining }))).toEqual([
    { status: 404, limit: "3", remaining: "2" },
    { status: 404, limit: "3", remaining: "1" },
    { status: 404, limit: "3", remaining: "0" },
  ]);
  const refused = await call(two, "GET", route, alice);
  expect(refused).toMatchObject({ status: 429, code: "rate_limited", limit: "3", remaining: "0" });
  const retryAfter = Number(refused.retryAfter);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(3);
  expect(refused.reset).toBe(refused.retryAfter);

  // Bob has his own budget.
  expect(await call(one, "GET", route, bob)).toMatchObject({ status: 404, remaining: "2" });

  // With limits off, nothing is counted or announced.
  const unlimited = await startServer({ ...fixture.env.env, RATE_LIMIT_USER: "0" });
  try {
    expect(await call(unlimited.httpUrl, "GET", route, alice)).toMatchObject({ status: 404, limit: null, remaining: null });
  } finally {
    await unlimited.stop();
  }

  // After the announced reset, Alice is served again with a fresh window.
  await waitSeconds(retryAfter);
  expect(await call(one, "GET", route, alice)).toMatchObject({ status: 404, remaining: "2" });
});

test("the Management API counts per API key and per admin token", async () => {
  const base = fixture.t.httpUrl;
  const created = await fetch(`${base}/api/v1/management/api-keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "limited", scopes: ["read"] }),
  });
  expect(created.status).toBe(201);
  expect(created.headers.get("ratelimit-remaining")).toBe("2");
  const key = ((await created.json()) as { data: { key: string } }).data.key;
  const route = `/api/v1/management/dialogs/${uuidv7()}`;

  expect((await call(base, "GET", route, adminToken)).remaining).toBe("1");
  expect((await call(base, "GET", route, adminToken)).remaining).toBe("0");
  const refused = await call(base, "GET", route, adminToken);
  expect(refused).toMatchObject({
    status: 429,
    code: "rate_limited",
    limit: "3",
    remaining: "0",
    retryAfter: expect.stringMatching(/^[1-3]$/),
  });
  // The key's budget is its own.
  expect(await call(base, "GET", route, key)).toMatchObject({ status: 404, limit: "3", remaining: "2" });
});
