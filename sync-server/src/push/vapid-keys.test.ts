import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, test } from "vitest";
import { parseConfig } from "../config/parse-config.ts";
import { persistentVapidKeys, vapidSubject } from "./vapid-keys.ts";

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true }))));

test("unset keys are generated once into DATA_DIR: replicas sharing it, and restarts, get the same pair", async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), "vapid-"));
  dirs.push(dataDir);
  const [first, second] = await Promise.all([persistentVapidKeys({ dataDir })(), persistentVapidKeys({ dataDir })()]);
  expect(second).toEqual(first);
  expect(Buffer.from(first.publicKey, "base64url")).toHaveLength(65);
  expect(Buffer.from(first.privateKey, "base64url")).toHaveLength(32);
  expect(JSON.parse(await readFile(path.join(dataDir, "vapid-keys.json"), "utf8"))).toEqual({
    publicKey: first.publicKey,
    privateKey: first.privateKey,
  });
  expect(await persistentVapidKeys({ dataDir })()).toEqual(first);
});

test("configured keys are used as given, and both or neither must be set", async () => {
  const config = parseConfig({
    VAPID_PUBLIC_KEY: `B${"A".repeat(86)}`,
    VAPID_PRIVATE_KEY: "a".repeat(43),
    VAPID_SUBJECT: "mailto:ops@example.com",
    DATA_DIR: "/nonexistent",
  });
  expect(await persistentVapidKeys(config)()).toEqual({
    publicKey: `B${"A".repeat(86)}`,
    privateKey: "a".repeat(43),
    subject: "mailto:ops@example.com",
  });
  expect(() => parseConfig({ VAPID_PUBLIC_KEY: `B${"A".repeat(86)}` })).toThrow(
    /VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY: set both or neither/,
  );
  expect(() => parseConfig({ VAPID_SUBJECT: "ops@example.com" })).toThrow(/VAPID_SUBJECT: must be a mailto: or https: URL/);
  expect(vapidSubject({ publicUrl: "https://chat.example.com" })).toBe("https://chat.example.com");
  expect(vapidSubject({ publicUrl: "http://127.0.0.1:8080" })).toBe("mailto:push@localhost");
});
