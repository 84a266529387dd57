import { describe, expect, test } from "vitest";
import { parseConfig } from "../config/parse-config.ts";
import { demoSetup } from "./demo-routes.ts";

const secret = "a-real-secret-that-is-long-enough-for-hs256";
const setup = (env: Record<string, string>) => demoSetup(parseConfig(env));

describe("the /demo page", () => {
  test("auto: on with a secret of its own when no user-token key is configured, off next to real keys", () => {
    expect(setup({})?.secret).toMatch(/^[\w-]{40,}$/);
    expect(setup({ JWT_SECRET: secret })).toBeNull();
    expect(setup({ JWT_JWKS_URL: "https://keys.example.com/jwks.json" })).toBeNull();
  });

  test("on: signs with JWT_SECRET; never in production; off when off", () => {
    expect(setup({ DEMO: "on", JWT_SECRET: secret })).toEqual({ secret });
    expect(setup({ DEMO: "on", JWT_SECRET: secret, NODE_ENV: "production" })).toBeNull();
    expect(setup({ NODE_ENV: "production" })).toBeNull();
    expect(setup({ DEMO: "off" })).toBeNull();
  });
});
