import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { expect, test } from "vitest";
import { startEmbeddedPostgres } from "./embedded-postgres.ts";

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

// initdb plus two starts: several seconds on a slow machine, far more under load.
test("initialises, serves mtchat with pg_trgm, and keeps its data across a restart", { timeout: 180_000 }, async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), "mtchat-embedded-pg-"));
  try {
    const first = await startEmbeddedPostgres({ dataDir, port: 0 });
    try {
      const url = new URL(first.url);
      expect(url.hostname).toBe("127.0.0.1");
      expect(url.pathname).toBe("/mtchat");

      const [row] = await query<{ db: string; version: string }>(
        first.url,
        "SELECT current_database() AS db, current_setting('server_version') AS version",
      );
      expect(row?.db).toBe("mtchat");
      expect(row?.version).toMatch(/^18\./);

      const [listen] = await query<{ addresses: string }>(first.url, "SELECT current_setting('listen_addresses') AS addresses");
      expect(listen?.addresses).toBe("127.0.0.1");

      await query(first.url, "CREATE EXTENSION IF NOT EXISTS pg_trgm");
      await query(first.url, "CREATE TABLE notes (body text NOT NULL)");
      await query(first.url, "INSERT INTO notes VALUES ('café au lait'), ('Привет, мир')");
      // Non-ASCII letters must count as word characters, or searching non-English text fails.
      const matches = await query<{ body: string }>(first.url, "SELECT body FROM notes WHERE body % 'привет' ORDER BY body");
      expect(matches.map((m) => m.body)).toEqual(["Привет, мир"]);
    } finally {
      await first.stop();
    }
    // Stopping twice is harmless.
    await first.stop();

    const second = await startEmbeddedPostgres({ dataDir });
    try {
      const rows = await query<{ body: string }>(second.url, "SELECT body FROM notes ORDER BY body");
      expect(rows.map((r) => r.body)).toEqual(["café au lait", "Привет, мир"]);
      const [ext] = await query<{ n: number }>(second.url, "SELECT count(*)::int AS n FROM pg_extension WHERE extname = 'pg_trgm'");
      expect(ext?.n).toBe(1);
    } finally {
      await second.stop();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

// Runs in a separate process so that it can be SIGKILLed like a crashed server.
const OWNER_SCRIPT = `
const { startEmbeddedPostgres } = await import(process.argv[1]);
const db = await startEmbeddedPostgres({ dataDir: process.argv[2] });
process.stdout.write("READY " + db.url + "\\n");
setInterval(() => {}, 1 << 30);
`;

test("a postmaster orphaned by a SIGKILL of its owner does not block the next start", { timeout: 180_000 }, async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), "mtchat-embedded-pg-"));
  const modulePath = fileURLToPath(new URL("./embedded-postgres.ts", import.meta.url));
  const owner = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", OWNER_SCRIPT, modulePath, dataDir], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    const orphanUrl = await new Promise<string>((resolve, reject) => {
      let out = "";
      owner.stdout.on("data", (chunk: Buffer) => {
        out += chunk.toString();
        const match = /READY (\S+)/.exec(out);
        if (match?.[1] !== undefined) resolve(match[1]);
      });
      owner.once("exit", (code) => reject(new Error(`owner process exited early (${code})`)));
    });
    await query(orphanUrl, "CREATE TABLE survivors (n int); INSERT INTO survivors VALUES (42)");
    const orphanPid = Number.parseInt((await readFile(path.join(dataDir, "pgdata", "postmaster.pid"), "utf8")).split("\n")[0] ?? "", 10);

    const killed = new Promise((resolve) => owner.once("exit", resolve));
    owner.kill("SIGKILL");
    await killed;
    // PostgreSQL outlives its owner and keeps serving; that is what the next start must cope with.
    expect(await query<{ one: number }>(orphanUrl, "SELECT 1 AS one")).toEqual([{ one: 1 }]);

    const next = await startEmbeddedPostgres({ dataDir });
    try {
      expect(await query<{ n: number }>(next.url, "SELECT n FROM survivors")).toEqual([{ n: 42 }]);
      const lockPid = Number.parseInt((await readFile(path.join(dataDir, "pgdata", "postmaster.pid"), "utf8")).split("\n")[0] ?? "", 10);
      expect(lockPid).not.toBe(orphanPid);
    } finally {
      await next.stop();
    }
  } finally {
    owner.kill("SIGKILL");
    await rm(dataDir, { recursive: true, force: true });
  }
});
