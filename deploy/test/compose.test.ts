import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { HocuspocusProvider } from "@hocuspocus/provider";
import { createMessage, messagesOf, segmentDocName } from "@mtchat/protocol";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parse } from "yaml";
import { acknowledged, docUntil, openDoc, openSocket } from "../../sync-server/test/clients.ts";
import { callApi, prepareStorage, startServer, type TestEnv, type TestServer, tokenFor } from "../../sync-server/test/harness.ts";
import { freePort } from "../../sync-server/test/redis-server.ts";
import { eventually } from "../../sync-server/test/wait.ts";

/**
 * The scale-out layouts: `docker-compose config` (no Docker engine needed) must accept docker-compose.yml and
 * docker-compose.prod.yml and give the structure README's "Scaling out" and "Deploying" describe; HAProxy must accept
 * deploy/haproxy.cfg, and with its settings carry chat WebSockets to two real replicas. `.ci/run` installs both tools
 * when they are missing.
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const run = promisify(execFile);

const secrets = {
  POSTGRES_PASSWORD: "pg0123456789abcdef",
  REDIS_PASSWORD: "redis0123456789abcdef",
  ADMIN_API_TOKEN: "admin-token-0123456789",
  JWT_SECRET: "jwt-secret-0123456789abcdef0123456789abcdef",
};

/** What docker-compose.prod.yml requires besides: MinIO's root account, the service's own MinIO user, its address. */
const prodRequired = {
  ...secrets,
  MINIO_ROOT_USER: "minio-root-0123",
  MINIO_ROOT_PASSWORD: "minio-root-password-0123456789",
  S3_ACCESS_KEY_ID: "mtchat-app-0123",
  S3_SECRET_ACCESS_KEY: "s3-secret-0123456789abcdef",
  S3_ENDPOINT: "https://files.chat.example",
};

type Service = {
  image?: string;
  build?: unknown;
  deploy?: { replicas?: number };
  environment?: Record<string, string | null> | string[];
  healthcheck?: { test?: string[] | string; disable?: boolean };
  depends_on?: Record<string, { condition?: string }> | string[];
  ports?: unknown[];
  volumes?: (string | { source?: string; target?: string; type?: string })[];
  restart?: string;
  command?: string[] | string;
  entrypoint?: string[] | string;
};

/** `docker-compose config` with only PATH, HOME and `env`: no developer's `.env` or COMPOSE_* variables leak in. */
let emptyEnvFile: Promise<string> | null = null;
const composeConfig = async (env: Record<string, string>, file = "docker-compose.yml") => {
  emptyEnvFile ??= mkdtemp(path.join(tmpdir(), "mtchat-compose-")).then(async (directory) => {
    const file = path.join(directory, "empty.env");
    await writeFile(file, "");
    return file;
  });
  return run("docker-compose", ["--env-file", await emptyEnvFile, "-f", path.join(root, file), "config"], {
    cwd: root,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? tmpdir(), ...env },
  });
};

afterAll(async () => {
  if (emptyEnvFile) await rm(path.dirname(await emptyEnvFile), { recursive: true, force: true });
});

const environmentOf = (service: Service): Record<string, string> => {
  const env = service.environment ?? {};
  if (Array.isArray(env)) return Object.fromEntries(env.map((entry) => [entry.split("=")[0], entry.slice(entry.indexOf("=") + 1)]));
  return Object.fromEntries(Object.entries(env).map(([key, value]) => [key, value ?? ""]));
};

const conditionOf = (service: Service, dependency: string) => {
  const dependsOn = service.depends_on ?? {};
  return Array.isArray(dependsOn) ? (dependsOn.includes(dependency) ? "service_started" : undefined) : dependsOn[dependency]?.condition;
};

const sourcesOf = (service: Service) =>
  (service.volumes ?? []).map((volume) => (typeof volume === "string" ? volume.split(":")[0] : volume.source));

/** Whether the service bind-mounts the repository or anything in it. */
const mountsCode = (service: Service) => sourcesOf(service).some((source) => source === root || source?.startsWith(`${root}/`));

const buildContextOf = (service: Service) =>
  typeof service.build === "string" ? path.resolve(root, service.build) : (service.build as { context?: string } | undefined)?.context;

/**
 * Without any one of `required`, config fails naming it; none of their values is written in the file. Debian's
 * docker-compose is a Python program that takes seconds per run on a busy machine, hence the tests' longer timeouts.
 */
const expectRequired = async (file: string, required: Record<string, string>) => {
  const names = Object.keys(required);
  const failures = await Promise.all(
    names.map((name) => {
      const { [name]: _left, ...rest } = required;
      return composeConfig(rest, file).then(
        () => null,
        (error: { stderr: string }) => error,
      );
    }),
  );
  for (const [index, name] of names.entries()) {
    expect(failures[index], `config without ${name}`).not.toBeNull();
    expect(failures[index]?.stderr).toContain(`set ${name}`);
  }
  const text = await readFile(path.join(root, file), "utf8");
  for (const value of Object.values(required)) expect(text).not.toContain(value);
};

describe("docker-compose.yml", () => {
  let services: Record<string, Service>;
  beforeAll(async () => {
    const { stdout } = await composeConfig(secrets);
    services = (parse(stdout) as { services: Record<string, Service> }).services;
  });
  const appServices = () => Object.entries(services).filter(([, service]) => environmentOf(service).ROLES !== undefined);

  test(
    "each required secret comes from the environment: without it, config names it and fails",
    () => expectRequired("docker-compose.yml", secrets),
    120_000,
  );

  test("two sync replicas behind the balancer, the worker roles as their own services", () => {
    expect(environmentOf(services.sync ?? {}).ROLES).toBe("sync");
    expect(services.sync?.deploy?.replicas).toBe(2);
    // Replicas cannot share a host port: only the balancer publishes one.
    expect(services.sync?.ports ?? []).toEqual([]);
    expect(environmentOf(services.sync ?? {}).HOST).toBe("0.0.0.0");
    expect(Object.fromEntries(appServices().map(([name, service]) => [name, environmentOf(service).ROLES]))).toEqual({
      sync: "sync",
      projections: "projections",
      webhooks: "webhooks",
    });
    const lb = services.lb ?? {};
    expect(lb.image).toMatch(/^haproxy:/);
    expect(sourcesOf(lb).some((source) => source?.endsWith("deploy/haproxy.cfg"))).toBe(true);
    expect(lb.ports).toHaveLength(1);
    expect(conditionOf(lb, "sync")).toBe("service_healthy");
    expect(
      Object.entries(services)
        .filter(([, service]) => (service.ports ?? []).length > 0)
        .map(([name]) => name),
    ).toEqual(["lb"]);
  });

  test("every app service reaches PostgreSQL and Redis, waits for them, and is health-checked on /health/ready", () => {
    expect(services.postgres?.image).toMatch(/^postgres:/);
    expect(services.redis?.image).toMatch(/^redis:/);
    for (const [name, service] of appServices()) {
      const env = environmentOf(service);
      expect(env.DATABASE_URL, name).toBe(`postgres://chat:${secrets.POSTGRES_PASSWORD}@postgres:5432/chat`);
      expect(env.REDIS_URL, name).toBe(`redis://:${secrets.REDIS_PASSWORD}@redis:6379`);
      expect(env.PORT, name).toBe("8080");
      expect(env.ADMIN_API_TOKEN, name).toBe(secrets.ADMIN_API_TOKEN);
      expect(env.JWT_SECRET, name).toBe(secrets.JWT_SECRET);
      expect(conditionOf(service, "postgres"), name).toBe("service_healthy");
      expect(conditionOf(service, "redis"), name).toBe("service_healthy");
      expect(JSON.stringify(service.healthcheck?.test), name).toContain("http://127.0.0.1:8080/health/ready");
    }
  });

  test("every long-running service has a health check and a restart policy", () => {
    for (const [name, service] of Object.entries(services)) {
      expect(service.healthcheck?.test, name).toBeDefined();
      expect(service.healthcheck?.disable, name).not.toBe(true);
      expect(service.restart, name).toBe("unless-stopped");
    }
  });

  test("the app services run the image the Dockerfile builds, with no code mounted", () => {
    expect(existsSync(path.join(root, "Dockerfile"))).toBe(true);
    expect(services.deps).toBeUndefined();
    for (const [name, service] of appServices()) {
      expect({ name, build: buildContextOf(service), mountsCode: mountsCode(service) }).toEqual({ name, build: root, mountsCode: false });
      // Local files stay on the shared volume (docker-compose.prod.yml puts them in MinIO).
      expect(sourcesOf(service), name).toEqual(["files"]);
      expect(environmentOf(service).DATA_DIR, name).toBe("/data");
    }
    // The workers keep their port on loopback; only sync replicas are reached from outside their container.
    expect(environmentOf(services.projections ?? {}).HOST).toBe("127.0.0.1");
    expect(environmentOf(services.webhooks ?? {}).HOST).toBe("127.0.0.1");
  });
});

describe("docker-compose.prod.yml", () => {
  const file = "docker-compose.prod.yml";
  let services: Record<string, Service>;
  beforeAll(async () => {
    const { stdout } = await composeConfig(prodRequired, file);
    services = (parse(stdout) as { services: Record<string, Service> }).services;
  });
  const appServices = () => Object.entries(services).filter(([, service]) => environmentOf(service).ROLES !== undefined);

  test(
    "each required secret (and MinIO's address) comes from the environment: without it, config names it and fails",
    () => expectRequired(file, prodRequired),
    120_000,
  );

  test("the built image in every role, no code mounted, PostgreSQL and Redis reached with the secrets", () => {
    expect(Object.fromEntries(appServices().map(([name, service]) => [name, environmentOf(service).ROLES]))).toEqual({
      sync: "sync",
      projections: "projections",
      webhooks: "webhooks",
    });
    expect(services.sync?.deploy?.replicas).toBe(2);
    expect(environmentOf(services.sync ?? {}).HOST).toBe("0.0.0.0");
    for (const [name, service] of appServices()) {
      const env = environmentOf(service);
      expect({ name, build: buildContextOf(service), mountsCode: mountsCode(service) }).toEqual({ name, build: root, mountsCode: false });
      expect(service.volumes ?? [], name).toEqual([]);
      expect(env.NODE_ENV, name).toBe("production");
      expect(env.DATABASE_URL, name).toBe(`postgres://chat:${secrets.POSTGRES_PASSWORD}@postgres:5432/chat`);
      expect(env.REDIS_URL, name).toBe(`redis://:${secrets.REDIS_PASSWORD}@redis:6379`);
      expect(env.ADMIN_API_TOKEN, name).toBe(secrets.ADMIN_API_TOKEN);
      expect(env.JWT_SECRET, name).toBe(secrets.JWT_SECRET);
      expect(conditionOf(service, "postgres"), name).toBe("service_healthy");
      expect(conditionOf(service, "redis"), name).toBe("service_healthy");
      expect(JSON.stringify(service.healthcheck?.test), name).toContain("http://127.0.0.1:8080/health/ready");
    }
    // Only the balancer and MinIO (which browsers reach through signed links) publish a port.
    expect(
      Object.entries(services)
        .filter(([, service]) => (service.ports ?? []).length > 0)
        .map(([name]) => name)
        .sort(),
    ).toEqual(["lb", "minio"]);
    expect(services.lb?.image).toMatch(/^haproxy:/);
    expect(conditionOf(services.lb ?? {}, "sync")).toBe("service_healthy");
  });

  test("files go to MinIO: the bucket and the service's user are made by a one-shot minio/mc job the app waits for", () => {
    expect(services.minio?.image).toMatch(/^minio\/minio:/);
    expect(services["minio-init"]?.image).toMatch(/^minio\/mc:/);
    const init = services["minio-init"] ?? {};
    expect(init.restart ?? "no").toBe("no");
    expect(conditionOf(init, "minio")).toBe("service_healthy");
    const script = [init.entrypoint, init.command].flat().join(" ");
    expect(script).toMatch(/mc mb --ignore-existing "local\/\$\$S3_BUCKET"/);
    expect(script).toMatch(/mc admin user add local "\$\$S3_ACCESS_KEY_ID" "\$\$S3_SECRET_ACCESS_KEY"/);
    const initEnv = environmentOf(init);
    expect(initEnv).toMatchObject({
      MINIO_ROOT_USER: prodRequired.MINIO_ROOT_USER,
      MINIO_ROOT_PASSWORD: prodRequired.MINIO_ROOT_PASSWORD,
      S3_ACCESS_KEY_ID: prodRequired.S3_ACCESS_KEY_ID,
      S3_SECRET_ACCESS_KEY: prodRequired.S3_SECRET_ACCESS_KEY,
    });
    for (const [name, service] of appServices()) {
      const env = environmentOf(service);
      expect(conditionOf(service, "minio-init"), name).toBe("service_completed_successfully");
      expect(env, name).toMatchObject({
        S3_BUCKET: initEnv.S3_BUCKET,
        S3_ENDPOINT: prodRequired.S3_ENDPOINT,
        S3_FORCE_PATH_STYLE: "true",
        S3_ACCESS_KEY_ID: prodRequired.S3_ACCESS_KEY_ID,
        S3_SECRET_ACCESS_KEY: prodRequired.S3_SECRET_ACCESS_KEY,
      });
    }
  });

  test("every long-running service has a health check and a restart policy", () => {
    for (const [name, service] of Object.entries(services)) {
      if (name === "minio-init") continue;
      expect(service.healthcheck?.test, name).toBeDefined();
      expect(service.restart, name).toBe("unless-stopped");
    }
  });
});

const haproxyConfig = path.join(root, "deploy", "haproxy.cfg");

/** The lines of one section of an HAProxy config (without comments and blank lines). */
const section = (config: string, header: string) => {
  const lines = config.split("\n");
  const start = lines.findIndex((line) => line.trim() === header);
  const end = lines.findIndex((line, index) => index > start && /^\S/.test(line) && !line.startsWith("#"));
  return lines
    .slice(start + 1, end === -1 ? undefined : end)
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
};

describe("deploy/haproxy.cfg", () => {
  test("HAProxy accepts it; it balances HTTP (WebSocket upgrades included) over the sync service's replicas", async () => {
    const { stdout } = await run("haproxy", ["-c", "-f", haproxyConfig]);
    expect(stdout).toContain("valid");
    const config = await readFile(haproxyConfig, "utf8");
    const defaults = section(config, "defaults");
    // HTTP mode forwards `Connection: Upgrade` and tunnels after the 101; without `timeout tunnel` an idle chat
    // socket would be cut at `timeout client`.
    expect(defaults).toContain("mode http");
    expect(config).not.toMatch(/^\s*mode tcp/m);
    const tunnel = defaults.find((line) => line.startsWith("timeout tunnel"));
    expect(tunnel).toBeDefined();
    const [, amount, unit] = /^timeout tunnel (\d+)(ms|s|m|h|d)?$/.exec(tunnel ?? "") ?? [];
    const seconds = Number(amount) * { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400 }[(unit ?? "ms") as "ms"];
    expect(seconds).toBeGreaterThanOrEqual(600);

    expect(section(config, "frontend chat")).toEqual(["bind :8080", "default_backend sync"]);
    const backend = section(config, "backend sync");
    expect(backend).toContain("http-check send meth GET uri /health/ready ver HTTP/1.1 hdr Host sync");
    expect(backend.find((line) => line.startsWith("server-template"))).toMatch(/ sync:8080$/);
    expect(backend.find((line) => line.startsWith("default-server"))).toMatch(/resolvers docker/);
    expect(section(config, "resolvers docker")).toContain("nameserver dns 127.0.0.11:53");
  });

  describe("in front of two real replicas", () => {
    let env: TestEnv;
    const replicas: TestServer[] = [];
    let haproxy: ChildProcess | null = null;
    let directory = "";
    let lbUrl = "";
    let healthUrl = "";

    beforeAll(async () => {
      env = await prepareStorage("external", "deploy_haproxy");
      // Two sync processes on one database, as the compose replicas are (one also projects, which REST needs).
      replicas.push(await startServer({ ...env.env, ROLES: "sync,projections" }));
      replicas.push(await startServer({ ...env.env, ROLES: "sync" }));
      const [chatPort, healthPort] = [await freePort(), await freePort()];
      // The file as it is, but for where the replicas are: loopback ports instead of Docker's DNS, and a stats page
      // that says which replicas HAProxy has seen pass their checks.
      const config = (await readFile(haproxyConfig, "utf8"))
        .replace(/^(\s*default-server .*?) resolvers docker init-addr none$/m, "$1")
        .replace(
          /^(\s*)server-template .*$/m,
          replicas.map((replica, index) => `$1server sync-${index + 1} 127.0.0.1:${replica.server.port()}`).join("\n"),
        )
        .replace("bind :8080", `bind 127.0.0.1:${chatPort}`)
        .replace("bind :8404", `bind 127.0.0.1:${healthPort}\n  stats enable\n  stats uri /stats`);
      expect(config).toContain("server sync-2 127.0.0.1:");
      directory = await mkdtemp(path.join(tmpdir(), "mtchat-haproxy-"));
      await writeFile(path.join(directory, "haproxy.cfg"), config);
      haproxy = spawn("haproxy", ["-db", "-f", path.join(directory, "haproxy.cfg")], { stdio: ["ignore", "ignore", "pipe"] });
      let exited: string | null = null;
      let stderr = "";
      haproxy.stderr?.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      haproxy.once("exit", (code) => {
        exited = `haproxy exited with ${code}: ${stderr}`;
      });
      lbUrl = `http://127.0.0.1:${chatPort}`;
      healthUrl = `http://127.0.0.1:${healthPort}`;
      // Both replicas pass HAProxy's /health/ready check.
      await eventually(
        async () => {
          if (exited) throw new Error(exited);
          const csv = await fetch(`${healthUrl}/stats;csv`).then(
            (response) => response.text(),
            () => "",
          );
          const up = csv.split("\n").filter((line) => /^sync,sync-\d,/.test(line) && line.split(",")[17] === "UP");
          return up.length === 2 ? true : undefined;
        },
        { what: "both replicas UP in HAProxy", timeoutMs: 20_000 },
      );
    });

    const stopped = new Set<number>();
    const stopReplica = async (index: number) => {
      if (stopped.has(index)) return;
      stopped.add(index);
      await replicas[index]?.stop();
    };

    afterAll(async () => {
      haproxy?.kill("SIGTERM");
      for (const index of replicas.keys()) await stopReplica(index);
      await env?.cleanup();
      if (directory) await rm(directory, { recursive: true, force: true });
    });

    test("WebSockets and REST go through it to both replicas; a replica's clients come back through it when it stops", async () => {
      expect((await fetch(`${healthUrl}/health`)).status).toBe(200);
      expect((await fetch(`${lbUrl}/health/ready`)).status).toBe(200);
      const dialog = await callApi<{ data: { id: string } }>(lbUrl, "POST", "/api/v1/management/dialogs", {
        object_id: `order-${uuidv7()}`,
        object_type: "order",
        participants: [
          { user_id: "alice", display_name: "Alice" },
          { user_id: "bob", display_name: "Bob" },
        ],
      });
      expect(dialog.status).toBe(201);
      const docName = segmentDocName(dialog.body.data.id, 0);
      const wsUrl = `${lbUrl.replace(/^http/, "ws")}/api/v1/ws`;
      const connections = () => replicas.map((replica) => replica.server.hocuspocus.getConnectionsCount());

      // leastconn counts every session a replica holds: the REST calls' keep-alive connection first has to end,
      // else both sockets go to the other replica.
      await eventually(
        async () => {
          const csv = await fetch(`${healthUrl}/stats;csv`, { headers: { connection: "close" } }).then((response) => response.text());
          const current = csv
            .split("\n")
            .filter((line) => /^sync,sync-\d,/.test(line))
            .map((line) => Number(line.split(",")[4]));
          return current.length === 2 && current.every((sessions) => sessions === 0) ? true : undefined;
        },
        { what: "no session left on either replica", timeoutMs: 20_000 },
      );
      // leastconn: the second socket goes to the replica the first one did not take.
      const sockets = [openSocket(wsUrl), openSocket(wsUrl)] as const;
      const alice = await openDoc(sockets[0], docName, () => tokenFor("alice"));
      const aliceOnSecond = connections()[1] === 1;
      const bob = await openDoc(sockets[1], docName, () => tokenFor("bob"));
      expect(connections()).toEqual([1, 1]);
      const send = (provider: HocuspocusProvider, author: string, text: string) => {
        const id = uuidv7();
        createMessage(provider.document, { id, author, createdAt: Date.now(), text });
        return id;
      };
      send(alice, "alice", "through the balancer");
      await acknowledged(alice);

      // The second replica stops (its sockets are closed with 1001). Its client reconnects through the balancer,
      // which sends it to the first replica, and what it wrote meanwhile is logged there and reaches the other user.
      const [moving, movingUser, staying] = aliceOnSecond ? [alice, "alice", bob] : [bob, "bob", alice];
      await stopReplica(1);
      const id = send(moving, movingUser, "written while its replica went away");
      await acknowledged(moving);
      expect(connections()[0]).toBe(2);
      await docUntil(staying.document, () => messagesOf(staying.document).has(id), "the message on the other client");
      for (const socket of sockets) socket.destroy();
    });
  });
});
