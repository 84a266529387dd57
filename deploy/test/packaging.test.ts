import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect, test } from "vitest";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const workspaces = ["", "authz", "migrations", "projections", "sync-server", "sdk/protocol", "sdk/client", "sdk/vue"];

test("the project is MIT-licensed, every package says so, and the documents a user looks for exist", async () => {
  expect(await readFile(path.join(root, "LICENSE"), "utf8")).toMatch(/^MIT License\n/);
  for (const dir of workspaces) {
    const manifest = JSON.parse(await readFile(path.join(root, dir, "package.json"), "utf8")) as { name: string; license?: string };
    expect(manifest.license, manifest.name).toBe("MIT");
  }
  for (const file of ["CHANGELOG.md", "CONTRIBUTING.md", "SECURITY.md", "docs/migrating-from-mtchat.md"]) {
    expect((await readFile(path.join(root, file), "utf8")).length, file).toBeGreaterThan(500);
  }
});
