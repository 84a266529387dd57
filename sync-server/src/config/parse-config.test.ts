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
    expect(() => parseConfig({ OUTBOUND_ALLOW_PRIVATE: "10.0.0.0/8,10/8" })).toThrow(/OUTBOUND_ALLOW_PRIVATE: "10\/8" is neither/);
  });

  test("the outbound allowance is a list of hosts, addresses and ranges, empty unless set", () => {
    expect(parseConfig({}).outboundAllowPrivate).toBeUndefined();
    expect(parseConfig({ OUTBOUND_ALLOW_PRIVATE: " 10.0.0.0/8, hooks.internal ,::1" }).outboundAllowPrivate).toEqual([
      "10.0.0.0/8",
      "hooks.internal",
      "::1",
    ]);
  });

  test("CORS origins are a list of origins; MTChat's S3 variable names are read as aliases", () => {
    expect(parseConfig({}).corsAllowedOrigins).toEqual([]);
    expect(parseConfig({ CORS_ALLOWED_ORIGINS: "https://shop.example, http://localhost:5173" }).corsAllowedOrigins).toEqual([
      "https://shop.example",
      "http://localhost:5173",
    ]);
    expect(() => parseConfig({ CORS_ALLOWED_ORIGINS: "https://shop.example/app" })).toThrow(
      /CORS_ALLOWED_ORIGINS: each entry must be an origin/,
    );
    const s3 = { S3_BUCKET: "files", S3_ACCESS_KEY: "mtchat-key", S3_SECRET_KEY: "mtchat-secret" };
    expect(parseConfig(s3)).toMatchObject({ s3AccessKeyId: "mtchat-key", s3SecretAccessKey: "mtchat-secret" });
    // Our own names win when both are set.
    expect(parseConfig({ ...s3, S3_ACCESS_KEY_ID: "ours", S3_SECRET_ACCESS_KEY: "ours-secret" })).toMatchObject({ s3AccessKeyId: "ours" });
  });

  test("the JSON body cap must carry the longest message", () => {
    expect(parseConfig({})).toMatchObject({ maxJsonBodyBytes: 1024 * 1024, maxMessageChars: 20_000 });
    expect(() => parseConfig({ MAX_JSON_BODY_BYTES: "65536" })).toThrow(/MAX_JSON_BODY_BYTES: must be at least 124096/);
    expect(() => parseConfig({ MAX_MESSAGE_CHARS: "200000" })).toThrow(/MAX_JSON_BODY_BYTES: .*MAX_MESSAGE_CHARS \(200000\)/);
    expect(parseConfig({ MAX_MESSAGE_CHARS: "200000", MAX_JSON_BODY_BYTES: "2000000" })).toMatchObject({ maxMessageChars: 200_000 });
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
