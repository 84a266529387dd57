// What every part of `npm run bench` shares: the bench's own credentials, a
// server in a child process, CPU readings and percentiles. Loopback only.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { SignJWT } from "jose";

export const adminUrl = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
export const secret = "bench-secret-bench-secret-bench-secret!!";
export const adminToken = "bench-admin-token-0123456789";
const repoRoot = new URL("../../", import.meta.url).pathname;
const ticks = 100; // USER_HZ on Linux

/** A user token for the bench's servers, valid for an hour. */
export const benchToken = (userId: string) =>
  new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(userId).setExpirationTime("1h").sign(new TextEncoder().encode(secret));

/**
 * Runs `script` (a path from the repository root) with tsx in its own
 * process; resolves once it logs `listening`. `events` collects every JSON log
 * line, for numbers the server reports itself (projection lag on shutdown).
 */
export const spawnServer = async (script: string, env: Record<string, string>) => {
  // BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the servers (Node refuses --cpu-prof in NODE_OPTIONS).
  const extra = (process.env.BENCH_SERVER_NODE_ARGS ?? "").split(" ").filter((arg) => arg !== "");
  const child = spawn(process.execPath, [...extra, "--conditions=mtchat-source", "--import", "tsx", script], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const events: Record<string, unknown>[] = [];
  const port = await new Promise<number>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`server exited with ${code}`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      try {
        const event = JSON.parse(line) as { event?: string; port?: number; level?: string };
        events.push(event);
        // BENCH_SERVER_ERRORS=1 shows the servers' warnings and errors as they happen.
        if (process.env.BENCH_SERVER_ERRORS && (event.level === "error" || event.level === "warn")) process.stderr.write(`${line}\n`);
        if (event.event === "listening" && event.port) resolve(event.port);
      } catch {}
    });
  });
  return { child, port, events };
};

/**
 * The full service (every role) on database `databaseUrl`, with the bench's
 * credentials; `env` adds or overrides options. It logs at info, whatever
 * `env` says: the "listening" line that reports its port is an info line.
 */
export const spawnService = (databaseUrl: string, env: Record<string, string> = {}) =>
  spawnServer("sync-server/src/main.ts", {
    DATABASE_URL: databaseUrl,
    PORT: "0",
    JWT_SECRET: secret,
    ADMIN_API_TOKEN: adminToken,
    ...env,
    LOG_LEVEL: "info",
  });

/** CPU seconds (user + system) a process has used so far. */
export const cpuOf = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) / ticks;
};

export const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
