import { createTestDatabase, migrate } from "@mtchat/migrations";
import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { Batcher } from "../db/batcher.ts";
import {
  claimHeads,
  claimNamespace,
  type DeliveryRow,
  driveChain,
  type Outcome,
  type OutcomeRecord,
  recordOutcome,
  recordOutcomes,
  releaseClaims,
  runLength,
} from "./chains.ts";

const adminUrl = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
let database: Awaited<ReturnType<typeof createTestDatabase>>;
let pool: pg.Pool;
const owners: pg.Client[] = [];

beforeAll(async () => {
  database = await createTestDatabase(adminUrl, "delivery_chains");
  pool = new pg.Pool({ connectionString: database.url, max: 12 });
  // The drop ends every session with FORCE; a connection still closing then hears of it, which is no failure.
  pool.on("error", () => undefined);
  pool.on("connect", (client) => client.on("error", () => undefined));
  await migrate(pool);
});
afterAll(async () => {
  for (const owner of owners) await owner.end();
  await pool?.end();
  await database?.drop();
});

/** A session holding the owner lock of `owner`, as a dispatcher's OwnerLock does. */
const holdOwnerLock = async (owner: number) => {
  const client = new pg.Client({ connectionString: database.url });
  client.on("error", () => undefined);
  await client.connect();
  await client.query("SELECT pg_advisory_lock($1, $2)", [claimNamespace, owner]);
  owners.push(client);
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test.each([
  ["one statement per outcome", false, 1],
  ["outcomes recorded in batches, as the dispatcher does", true, 2],
] as const)(
  "dispatchers racing over one table deliver every event once, each chain in order, one at a time, retries holding their chain: %s",
  async (_, batched, run) => {
    const chains = 24;
    const prefix = `default/run-${run}-chain-`;
    const perChain = 8;
    // Interleaved, as a fan-out over many dialogs creates them: chain k's events are k, k + chains, k + 2 chains, …
    await pool.query(
      `INSERT INTO webhook_outbox (id, project_id, dialog_id, event, data)
     SELECT gen_random_uuid(), 'default', NULL, 'message.new', jsonb_build_object('n', n) FROM generate_series(0, $1 - 1) AS n`,
      [chains * perChain],
    );
    await pool.query(
      `INSERT INTO webhook_deliveries (event_seq, endpoint_id, chain_key)
     SELECT seq, 'default', $2 || ((data->>'n')::int % $1) FROM webhook_outbox WHERE NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_seq = seq) ORDER BY seq`,
      [chains, prefix],
    );
    const inFlight = new Map<string, string>();
    const sent: { chain: string; id: string }[] = [];
    const retried = new Set<string>();
    const violations: string[] = [];

    const runs: number[] = [];

    /** One slot of a dispatcher: the dispatcher's own driveChain, with attempts that take a few milliseconds. */
    const runChain = (first: DeliveryRow, record: (entry: OutcomeRecord) => Promise<DeliveryRow[]>) =>
      driveChain(first, {
        attempt: async (delivery) => {
          const holder = inFlight.get(delivery.chain_key);
          if (holder !== undefined && holder !== delivery.id)
            violations.push(`${delivery.chain_key}: ${delivery.id} while ${holder} in flight`);
          inFlight.set(delivery.chain_key, delivery.id);
          await sleep(Math.random() * 3);
          sent.push({ chain: delivery.chain_key, id: delivery.id });
          // Every fifth event fails once, and is retried 30 ms later: its chain must wait for it.
          const retry = Number(delivery.id) % 5 === 0 && !retried.has(delivery.id);
          if (retry) retried.add(delivery.id);
          inFlight.delete(delivery.chain_key);
          return retry
            ? { kind: "retry", status: 503, error: "HTTP 503", at: new Date(Date.now() + 30) }
            : { kind: "delivered", status: 204 };
        },
        record: async (entry) => {
          const next = await record(entry);
          if (next.length > 0) runs.push(next.length);
          return next;
        },
        release: (deliveries) => releaseClaims(pool, deliveries),
        mayGoOn: () => true,
        // Small, so chains change hands between dispatchers mid-backlog.
        maxAttempts: 5,
      });

    const dispatcher = async (owner: number, slots: number) => {
      await holdOwnerLock(owner);
      const outcomes = new Batcher<OutcomeRecord, DeliveryRow[]>((records) => recordOutcomes(pool, records), {
        maxBatch: 64,
        maxInFlight: 1,
      });
      const record = batched
        ? (entry: OutcomeRecord) => outcomes.submit(entry)
        : (entry: OutcomeRecord) => recordOutcome(pool, entry.delivery, entry.outcome, entry.handOff);
      const active = new Set<Promise<void>>();
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline) {
        const { rows } = await pool.query<{ left: number }>("SELECT count(*)::int AS left FROM webhook_deliveries WHERE state = 'pending'");
        if (rows[0]?.left === 0) break;
        const claimed = active.size < slots ? await claimHeads(pool, owner, slots - active.size) : [];
        for (const delivery of claimed) {
          expect(delivery.claimed_by).toBe(owner);
          const running: Promise<void> = runChain(delivery, record).finally(() => active.delete(running));
          active.add(running);
        }
        await (active.size >= slots ? Promise.race(active) : sleep(2));
      }
      await Promise.all(active);
    };

    await Promise.all([dispatcher(100 * run + 1, 4), dispatcher(100 * run + 2, 4), dispatcher(100 * run + 3, 2)]);

    expect(violations).toEqual([]);
    const { rows } = await pool.query<{ id: string; chain_key: string; state: string; attempts: number }>(
      "SELECT id, chain_key, state, attempts FROM webhook_deliveries WHERE starts_with(chain_key, $1) ORDER BY id",
      [prefix],
    );
    expect(rows.filter((row) => row.state !== "delivered")).toEqual([]);
    // Each event sent once, or twice when it was made to fail once; never by two dispatchers at once.
    for (const row of rows) {
      const times = sent.filter((attempt) => attempt.id === row.id).length;
      expect(times, `delivery ${row.id}`).toBe(retried.has(row.id) ? 2 : 1);
      expect(row.attempts).toBe(times);
    }
    // Per chain, what was sent is the chain's ids in order (a retried one sent twice in a row, nothing overtaking it).
    for (let k = 0; k < chains; k += 1) {
      const chain = `${prefix}${k}`;
      const expected = rows.filter((row) => row.chain_key === chain).flatMap((row) => (retried.has(row.id) ? [row.id, row.id] : [row.id]));
      expect(sent.filter((attempt) => attempt.chain === chain).map((attempt) => attempt.id)).toEqual(expected);
    }
    expect(retried.size).toBeGreaterThan(10);
    // Hand-offs gave runs of several deliveries (each then sent in order, as checked above), never more than what is
    // left of the claim's five attempts after the head.
    expect(Math.max(...runs)).toBeGreaterThan(1);
    expect(Math.max(...runs)).toBeLessThanOrEqual(4);
  },
);

test("no claim is made under an owner whose lock no session holds", async () => {
  await pool.query(
    `WITH o AS (INSERT INTO webhook_outbox (id, project_id, dialog_id, event, data)
                VALUES (gen_random_uuid(), 'default', NULL, 'message.new', '{}') RETURNING seq)
     INSERT INTO webhook_deliveries (event_seq, endpoint_id, chain_key) SELECT seq, 'default', 'default/lonely' FROM o`,
  );
  expect(await claimHeads(pool, 404, 10)).toEqual([]);
  await holdOwnerLock(404);
  const claimed = await claimHeads(pool, 404, 10);
  expect(claimed.map((delivery) => delivery.chain_key)).toEqual(["default/lonely"]);
});

/** A chain of `count` pending deliveries, oldest first. */
const chainOf = async (chain: string, count: number): Promise<void> => {
  await pool.query(
    `WITH o AS (INSERT INTO webhook_outbox (id, project_id, dialog_id, event, data)
                SELECT gen_random_uuid(), 'default', NULL, 'message.new', jsonb_build_object('n', n) FROM generate_series(1, $2) AS n RETURNING seq)
     INSERT INTO webhook_deliveries (event_seq, endpoint_id, chain_key) SELECT seq, 'default', $1 FROM o ORDER BY seq`,
    [chain, count],
  );
};
const pendingOf = async (chain: string) =>
  (
    await pool.query<{ id: string; claimed_by: number | null }>(
      "SELECT id, claimed_by FROM webhook_deliveries WHERE chain_key = $1 AND state = 'pending' ORDER BY id",
      [chain],
    )
  ).rows;
const delivered: Outcome = { kind: "delivered", status: 204 };

test("a hand-off claims the chain's next run in order, up to a run's length, and stops before a delivery that is not due", async () => {
  await holdOwnerLock(505);
  await chainOf("default/runs", runLength + 4);
  const [head] = await claimHeads(pool, 505, 10);
  expect(head?.chain_key).toBe("default/runs");
  const ids = (await pendingOf("default/runs")).map((row) => row.id);
  const run = await recordOutcome(pool, head as DeliveryRow, delivered, runLength + 10);
  expect(run.map((delivery) => delivery.id)).toEqual(ids.slice(1, runLength + 1));
  expect(run.every((delivery) => delivery.claimed_by === 505)).toBe(true);

  // The rest of the run is given back, and the third is scheduled later (as a retry would be). The run's first two are
  // recorded together: the next run ends before the third, though the ones after it are free and due.
  await releaseClaims(pool, run.slice(2));
  expect((await pendingOf("default/runs")).filter((row) => row.claimed_by !== null).map((row) => row.id)).toEqual(ids.slice(1, 3));
  await pool.query("UPDATE webhook_deliveries SET next_attempt_at = now() + interval '1 hour' WHERE id = $1", [run[2]?.id]);
  const [first, second] = run as [DeliveryRow, DeliveryRow];
  const [none, next] = await recordOutcomes(pool, [
    { delivery: first, outcome: delivered, handOff: 0 },
    { delivery: second, outcome: delivered, handOff: runLength },
  ]);
  expect(none).toEqual([]);
  expect(next).toEqual([]);
  expect(await claimHeads(pool, 505, 10)).toEqual([]);

  // Once due, the chain is claimed again from that head.
  await pool.query("UPDATE webhook_deliveries SET next_attempt_at = now() WHERE id = $1", [run[2]?.id]);
  const [again] = await claimHeads(pool, 505, 10);
  expect(again?.id).toBe(run[2]?.id);
});

test("a slot sends the next delivery only once the record before the previous one is written", async () => {
  const rows = Array.from({ length: 6 }, (_, index) => ({ id: String(index + 1), claimed_by: 1, chain_key: "c" }) as DeliveryRow);
  const events: string[] = [];
  const written = new Map<string, () => void>();
  const chain = driveChain(rows[0] as DeliveryRow, {
    attempt: async (delivery) => {
      events.push(`attempt ${delivery.id}`);
      return delivered;
    },
    record: (entry) =>
      new Promise((resolve) => {
        written.set(entry.delivery.id, () => {
          events.push(`recorded ${entry.delivery.id}`);
          resolve(entry.delivery.id === "1" ? rows.slice(1) : []);
        });
      }),
    release: async () => undefined,
    mayGoOn: () => true,
    maxAttempts: 50,
  });
  const settle = () => new Promise((resolve) => setTimeout(resolve, 5));
  await settle();
  // The head's record hands off the rest of the run.
  expect(events).toEqual(["attempt 1"]);
  written.get("1")?.();
  await settle();
  // 2 and 3 go out while 2's record is in flight; 4 waits for it.
  expect(events).toEqual(["attempt 1", "recorded 1", "attempt 2", "attempt 3"]);
  written.get("2")?.();
  await settle();
  expect(events.slice(4)).toEqual(["recorded 2", "attempt 4"]);
  for (const id of ["3", "4", "5", "6"]) {
    written.get(id)?.();
    await settle();
  }
  await chain;
  expect(events.filter((event) => event.startsWith("attempt"))).toEqual(rows.map((row) => `attempt ${row.id}`));
});
