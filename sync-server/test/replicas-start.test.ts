import pg from "pg";
import { describe, expect, test } from "vitest";
import { type ChildServer, spawnServer } from "./child-server.ts";
import { prepareStorage } from "./harness.ts";

const replicas = 4;
const rounds = 3;

describe("replicas started at the same moment on an empty database", () => {
  // Each round: a fresh database, four processes with every role (migrations and pg-boss's set-up race), all must serve.
  test(`all ${replicas} come up and become ready, ${rounds} rounds in a row`, { timeout: 240_000 }, async () => {
    for (let round = 1; round <= rounds; round += 1) {
      const storage = await prepareStorage("external", `replicas_${round}`);
      const started: ChildServer[] = [];
      try {
        const spawned = await Promise.allSettled(Array.from({ length: replicas }, () => spawnServer(storage.env)));
        for (const result of spawned) if (result.status === "fulfilled") started.push(result.value);
        const failures = spawned.flatMap((result) => (result.status === "rejected" ? [String(result.reason)] : []));
        expect(failures, `round ${round}`).toEqual([]);
        for (const server of started) {
          const response = await fetch(`${server.httpUrl}/health/ready`);
          expect(response.status, `round ${round}, port ${server.port}`).toBe(200);
        }
        // pg-boss was set up once: one row per queue.
        const client = new pg.Client({ connectionString: storage.env.DATABASE_URL });
        await client.connect();
        try {
          const { rows } = await client.query<{ name: string }>("SELECT name FROM pgboss.queue ORDER BY name");
          expect(rows.map((row) => row.name)).toEqual(["web-push", "webhook-notify"]);
        } finally {
          await client.end();
        }
      } finally {
        await Promise.all(started.map((server) => server.stop()));
        await storage.cleanup();
      }
    }
  });
});
