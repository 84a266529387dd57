import { readFile } from "node:fs/promises";
import { describe, expect, test } from "vitest";
import { parseConfig, renderConfigTable, renderEnvExample } from "./parse-config.ts";

describe("configuration", () => {
  test("nothing configured gives the documented defaults", () => {
    const config = parseConfig({});
    expect(config).toMatchObject({ port: 8080, databaseUrl: undefined, roles: ["sync", "projections", "webhooks"], segmentSize: 500 });
  });

  test("a bad value fails with a message naming the variable", () => {
    expect(() => parseConfig({ PORT: "eighty" })).toThrow(/PORT:/);
    expect(() => parseConfig({ JWT_SECRET: "short" })).toThrow(/JWT_SECRET: must be at least 32 characters/);
    expect(() => parseConfig({ DATABASE_URL: "not a url", ROLES: "sync,nope" })).toThrow(/DATABASE_URL:[\s\S]*ROLES:/);
    expect(() => parseConfig({ WEBHOOK_URL: "http://127.0.0.1:9/hook" })).toThrow(/WEBHOOK_SECRET: required with WEBHOOK_URL/);
    expect(() => parseConfig({ MAX_PREAUTH_SOCKET_BYTES: "2048", MAX_PREAUTH_BYTES: "1024" })).toThrow(
      /MAX_PREAUTH_SOCKET_BYTES: must not exceed/,
    );
  });

  test("the README documents every variable, as generated from the table", async () => {
    const readme = await readFile(new URL("../../../README.md", import.meta.url), "utf8");
    expect(readme).toContain(renderConfigTable());
  });

  test(".env.example is the generated one", async () => {
    const committed = await readFile(new URL("../../../.env.example", import.meta.url), "utf8");
    expect(committed).toBe(renderEnvExample());
  });
});
