import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";

const repoRoot = new URL("../../", import.meta.url).pathname;

export type ChildServer = {
  child: ChildProcess;
  port: number;
  httpUrl: string;
  wsUrl: string;
  /** The process's resident set size now, in bytes (Linux: VmRSS of /proc/<pid>/status). */
  rss(): number;
  /** Samples RSS every few milliseconds until `stop()`, which returns the largest value seen. */
  sampleRss(): { stop(): number };
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<void>;
};

const rssOf = (pid: number): number => {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!match?.[1]) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]) * 1024;
};

/** Runs the service exactly as `npm start` does, in its own process, so its memory can be read from outside. */
export const spawnServer = async (env: Record<string, string>): Promise<ChildServer> => {
  const child = spawn(process.execPath, ["--conditions=mtchat-source", "--import", "tsx", "sync-server/src/main.ts"], {
    cwd: repoRoot,
    // The "listening" line (at info) reports the port.
    env: { ...process.env, ...env, LOG_LEVEL: "info" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  // The port from the "listening" line; a process without one (no HTTP) is up at "started".
  let listening = 0;
  const port = await new Promise<number>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`server exited early with ${code}`)));
    lines.on("line", (line) => {
      if (!line.startsWith("{")) return;
      const event = JSON.parse(line) as { event: string; port?: number };
      if (event.event === "listening" && event.port) listening = event.port;
      if (event.event === "started") resolve(listening);
    });
  });
  const pid = child.pid as number;
  return {
    child,
    port,
    httpUrl: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/api/v1/ws`,
    rss: () => rssOf(pid),
    sampleRss: () => {
      let peak = rssOf(pid);
      const timer = setInterval(() => {
        peak = Math.max(peak, rssOf(pid));
      }, 20);
      return {
        stop: () => {
          clearInterval(timer);
          return Math.max(peak, rssOf(pid));
        },
      };
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
};
