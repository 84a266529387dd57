import { prepared, webhooksChannel } from "@mtchat/projections";
import type pg from "pg";
import { type Endpoint, type Endpoints, wants } from "./endpoints.ts";
import type { Tx } from "./job-queue.ts";

/**
 * Ordered delivery. Every event becomes one delivery per endpoint that wants
 * it, and the deliveries of one endpoint and one dialog form a chain, ordered
 * by delivery id. The fan-out that creates deliveries runs under one global
 * lock and takes outbox rows in order, so ids follow the order in which a
 * dialog's events were committed. Deliveries are their own queue: a
 * dispatcher claims a chain's head (its oldest pending delivery) only while
 * nothing else of that chain is in flight and the head is due, and records
 * the outcome in the statement that claims the chain's next head for itself.
 * So an event is never attempted before the earlier events of its dialog are
 * done, a retry (a later `next_attempt_at`) keeps the chain waiting, and one
 * slow endpoint or dialog holds up no other. Each claim is a single
 * statement that re-checks `claimed_by IS NULL` on the row it takes, so two
 * dispatchers never take the same delivery.
 */
export type ChainKey = string;

/** NOTIFY payloads on the webhooks channel: new outbox rows (sent by enqueueEvents), or deliveries that became due. */
export const outboxPayload = "outbox";
export const deliveriesPayload = "deliveries";

export const chainKeyOf = (endpointId: string, dialogId: string | null, eventId: string): ChainKey =>
  `${endpointId}/${dialogId ?? eventId}`;

export type OutboxRow = {
  seq: string;
  id: string;
  project_id: string;
  dialog_id: string | null;
  event: string;
  data: Record<string, unknown>;
  created_at: Date;
};

/** The fan-out's own lock (two-key form, a space apart from the owner locks). */
const fanOutLock = [7_283_514, 6] as const;

/** The first key of every dispatcher's owner lock (see claims.ts); the second is the owner id. */
export const claimNamespace = 7_283_515;

/** SQL: true while a session holds the owner lock of `owner` (an SQL expression: `$2`, a column) in this database. */
export const ownerLockHeld = (owner: string): string =>
  `EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.classid = ${claimNamespace}::oid
     AND l.objid = (${owner})::bigint::oid AND l.objsubid = 2 AND l.granted
     AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))`;

/** Serializes fan-outs across processes: deliveries get their ids in outbox order. */
const lockFanOut = async (tx: Tx): Promise<void> => {
  await tx.client.query("SELECT pg_advisory_xact_lock($1, $2)", [...fanOutLock]);
};

const fanOutSql = prepared(
  "webhook-fan-out",
  `WITH fanned AS (UPDATE webhook_outbox SET fanned_out_at = now() WHERE seq = ANY($2::bigint[])),
    created AS (
      INSERT INTO webhook_deliveries (event_seq, endpoint_id, chain_key)
      SELECT (d.value->>'event_seq')::bigint, d.value->>'endpoint_id', d.value->>'chain_key'
      FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS d(value, ord) ORDER BY d.ord
      ON CONFLICT (event_seq, endpoint_id) DO NOTHING
      RETURNING 1
    )
    SELECT pg_notify($3, $4) FROM (SELECT 1 FROM created LIMIT 1) AS any_created`,
);

const outboxBatch = prepared(
  "webhook-outbox-batch",
  `SELECT seq, id, project_id, dialog_id, event, data, created_at FROM webhook_outbox
    WHERE fanned_out_at IS NULL ORDER BY seq LIMIT $1`,
);

/**
 * Turns the oldest events not yet fanned out into deliveries, and tells every
 * dispatcher (NOTIFY, delivered on commit) that there is work. `also` runs in
 * the same transaction (the notification debounce hooks in there). Resolves
 * with the events handled.
 */
export const fanOut = async (
  tx: Tx,
  endpoints: Endpoints,
  batch: number,
  also: (events: OutboxRow[], endpoints: Endpoint[]) => Promise<void>,
): Promise<number> => {
  await lockFanOut(tx);
  const { rows: events } = await tx.client.query<OutboxRow>(outboxBatch([batch]));
  if (events.length === 0) return 0;
  const targets = await endpoints.forProjects(tx.client, [...new Set(events.map((event) => event.project_id))]);
  const deliveries = events.flatMap((event) =>
    targets
      .filter((endpoint) => endpoint.projectId === event.project_id && wants(endpoint, event.event))
      .map((endpoint) => ({
        event_seq: event.seq,
        endpoint_id: endpoint.id,
        chain_key: chainKeyOf(endpoint.id, event.dialog_id, event.id),
      })),
  );
  // One statement marks the events fanned out, creates their deliveries and wakes the dispatchers.
  await tx.client.query(fanOutSql([JSON.stringify(deliveries), events.map((event) => event.seq), webhooksChannel, deliveriesPayload]));
  await also(events, targets);
  return events.length;
};

/** A delivery with the event it carries, as its claim returns it. */
export type DeliveryRow = {
  id: string;
  /** The owner id it is claimed under. */
  claimed_by: number;
  attempts: number;
  endpoint_id: string;
  chain_key: string;
  event_id: string;
  event: string;
  project_id: string;
  data: Record<string, unknown>;
  created_at: Date;
};

/** The columns of a claimed delivery (`claimed`, a CTE of updated rows) and of its event. */
const claimedColumns = `c.id, c.claimed_by, c.attempts, c.endpoint_id, c.chain_key,
  o.id AS event_id, o.event, o.project_id, o.data, o.created_at
  FROM claimed c JOIN webhook_outbox o ON o.seq = c.event_seq`;

/**
 * How many of the oldest pending deliveries a claim looks at. Every chain's
 * head among them is found without looking further (anything older that is
 * pending is among them too), so the claim costs the same however deep the
 * backlog; a chain whose pending deliveries all lie beyond is claimed once
 * older ones are done.
 */
const claimWindow = 500;

const claimHeadsSql = prepared(
  "webhook-claim-heads",
  `WITH oldest AS (
     SELECT id, chain_key, claimed_by, next_attempt_at FROM webhook_deliveries WHERE state = 'pending' ORDER BY id LIMIT ${claimWindow}
   ), heads AS (
     SELECT DISTINCT ON (chain_key) id, chain_key, claimed_by, next_attempt_at FROM oldest ORDER BY chain_key, id
   ), due AS (
     SELECT h.id FROM heads h
     WHERE h.claimed_by IS NULL AND h.next_attempt_at <= now()
       AND NOT EXISTS (SELECT 1 FROM oldest b WHERE b.chain_key = h.chain_key AND b.claimed_by IS NOT NULL)
     ORDER BY h.id LIMIT $2
   ), claimed AS (
     UPDATE webhook_deliveries d SET claimed_by = $1 FROM due
     WHERE d.id = due.id AND d.claimed_by IS NULL AND d.state = 'pending' AND ${ownerLockHeld("$1")}
     RETURNING d.*
   )
   SELECT ${claimedColumns} ORDER BY c.id`,
);

/**
 * Claims up to `limit` chain heads for `owner`, oldest first: a chain's
 * oldest pending delivery, when it is due and nothing of its chain is in
 * flight (among the oldest `claimWindow` pending deliveries). The claim is made only while `owner`'s lock is held (so the reaper,
 * which reads the same locks, never takes back a claim a live owner has just
 * made), and only if the row is still unclaimed when it is updated.
 */
export const claimHeads = async (db: Pick<pg.Pool, "query">, owner: number, limit: number): Promise<DeliveryRow[]> => {
  const { rows } = await db.query<DeliveryRow>(claimHeadsSql([owner, limit]));
  return rows;
};

/** What became of an attempt. */
export type Outcome =
  | { kind: "delivered"; status: number }
  | { kind: "retry"; status: number | null; error: string; at: Date }
  | { kind: "dead"; status: number | null; error: string };

/**
 * How many of a chain's next deliveries a hand-off claims at once. The slot
 * that holds them sends them one after another, with the record of each in
 * flight while the next goes out, so a chain with a backlog is not held to one
 * database round trip per event.
 */
export const runLength = 16;

/**
 * SQL (a LATERAL subquery over `done`): the chain's next pending deliveries
 * after the one just recorded (`others` leaves out what is being recorded), in
 * the order of webhook_deliveries_chain so the scan stops after `take` (an SQL
 * expression; never more than `runLength`).
 * `ok` is true for the run's prefix that is free and due: a run never skips a
 * delivery, so it is sent in the chain's order.
 */
const nextRun = (others: string, take: string): string => `
  SELECT p.id, bool_and(p.claimed_by IS NULL AND p.next_attempt_at <= now()) OVER (ORDER BY p.id) AS ok
  FROM (
    SELECT p.id, p.claimed_by, p.next_attempt_at FROM webhook_deliveries p
    WHERE p.chain_key = done.chain_key AND p.state = 'pending' AND ${others}
    ORDER BY p.chain_key, p.id LIMIT LEAST(${take}, ${runLength})
  ) AS p`;

const recordOutcomeSql = prepared(
  "webhook-record-outcome",
  `WITH done AS (
      UPDATE webhook_deliveries SET state = $3, attempts = attempts + 1, last_status = $4, last_error = $5,
        next_attempt_at = COALESCE($6, next_attempt_at), delivered_at = CASE WHEN $3 = 'delivered' THEN now() END, claimed_by = NULL
      WHERE id = $1 AND claimed_by = $2 AND state = 'pending'
      RETURNING id, chain_key, state, attempts, last_status, last_error
    ), letter AS (
      INSERT INTO webhook_dead_letters (delivery_id, project_id, attempts, last_status, last_error)
      SELECT id, $7, attempts, last_status, last_error FROM done WHERE state = 'dead'
      ON CONFLICT (delivery_id) DO UPDATE SET attempts = EXCLUDED.attempts, last_status = EXCLUDED.last_status,
        last_error = EXCLUDED.last_error, dead_at = now()
    ), next AS (
      SELECT q.id FROM done, LATERAL (${nextRun("p.id <> done.id", "$8")}) AS q
      WHERE $8 > 0 AND done.state <> 'pending' AND q.ok
    ), claimed AS (
      UPDATE webhook_deliveries d SET claimed_by = $2 FROM next
      WHERE d.id = next.id AND d.claimed_by IS NULL AND d.state = 'pending' AND d.next_attempt_at <= now()
      RETURNING d.*
    )
    SELECT ${claimedColumns} ORDER BY c.id`,
);

/**
 * `recordOutcomeSql` for several deliveries (of different chains: a chain has
 * one in flight) in one statement; `ord` says whose next head each claimed row
 * is. Not prepared: a generic plan fixed while the table was small joined this
 * set against every pending row (13–16 ms a statement when that was tried).
 */
const recordOutcomesSql = `WITH x AS (
      SELECT * FROM jsonb_to_recordset($1::jsonb)
        AS x (ord integer, id bigint, owner integer, state text, status integer, error text, at timestamptz, project_id text, hand_off integer)
    ), done AS (
      UPDATE webhook_deliveries d SET state = x.state, attempts = d.attempts + 1, last_status = x.status, last_error = x.error,
        next_attempt_at = COALESCE(x.at, d.next_attempt_at), delivered_at = CASE WHEN x.state = 'delivered' THEN now() END, claimed_by = NULL
      -- The array lets the primary key find the rows (the join's estimate of x would scan the table).
      FROM x WHERE d.id = ANY (ARRAY(SELECT x.id FROM x)) AND d.id = x.id AND d.claimed_by = x.owner AND d.state = 'pending'
      RETURNING d.id, d.chain_key, d.state, d.attempts, d.last_status, d.last_error, x.ord, x.owner, x.project_id, x.hand_off
    ), letter AS (
      INSERT INTO webhook_dead_letters (delivery_id, project_id, attempts, last_status, last_error)
      SELECT id, project_id, attempts, last_status, last_error FROM done WHERE state = 'dead'
      ON CONFLICT (delivery_id) DO UPDATE SET attempts = EXCLUDED.attempts, last_status = EXCLUDED.last_status,
        last_error = EXCLUDED.last_error, dead_at = now()
    ), next AS (
      -- A delivery recorded in this statement is still pending in its snapshot: none of them is anyone's next. (An
      -- array, a filter on the chain's index scan: an anti-join made the planner walk every pending delivery by id.)
      SELECT done.ord, done.owner, q.id FROM done, LATERAL (${nextRun("p.id <> ALL (ARRAY(SELECT x.id FROM x))", "done.hand_off")}) AS q
      WHERE done.hand_off > 0 AND done.state <> 'pending' AND q.ok
    ), claimed AS (
      UPDATE webhook_deliveries d SET claimed_by = next.owner FROM next
      WHERE d.id = next.id AND d.claimed_by IS NULL AND d.state = 'pending' AND d.next_attempt_at <= now()
      RETURNING d.*, next.ord
    )
    SELECT c.ord, ${claimedColumns} ORDER BY c.ord, c.id`;

/** An attempt to record: the delivery, what became of it, and how many of its chain's next deliveries to claim (0: none). */
export type OutcomeRecord = { delivery: DeliveryRow; outcome: Outcome; handOff: number };

const outcomeValues = (outcome: Outcome) => ({
  state: outcome.kind === "delivered" ? "delivered" : outcome.kind === "dead" ? "dead" : "pending",
  error: outcome.kind === "delivered" ? null : outcome.error,
  at: outcome.kind === "retry" ? outcome.at : null,
});

/**
 * `recordOutcome` for many deliveries at once (one statement; one alone uses
 * the prepared statement): resolves with each one's next run (empty without one).
 */
export const recordOutcomes = async (db: Pick<pg.Pool, "query">, records: readonly OutcomeRecord[]): Promise<DeliveryRow[][]> => {
  if (records.length === 1) {
    const [only] = records as [OutcomeRecord];
    return [await recordOutcome(db, only.delivery, only.outcome, only.handOff)];
  }
  const rows = records.map((record, index) => {
    const { state, error, at } = outcomeValues(record.outcome);
    return {
      ord: index,
      id: record.delivery.id,
      owner: record.delivery.claimed_by,
      state,
      status: record.outcome.status,
      error,
      at,
      project_id: record.delivery.project_id,
      hand_off: record.handOff,
    };
  });
  const { rows: claimed } = await db.query<DeliveryRow & { ord: number }>(recordOutcomesSql, [JSON.stringify(rows)]);
  const next: DeliveryRow[][] = records.map(() => []);
  for (const { ord, ...row } of claimed) next[ord]?.push(row);
  return next;
};

/**
 * Records an attempt at a delivery its owner claimed, in one statement that
 * also claims the chain's next run for the same owner: up to `handOff`
 * deliveries (at most `runLength`), in order, as far as they are due (resolves with
 * them: the caller delivers them next, at no further round trip). The caller hands off only while it still holds the owner lock
 * it claimed under; the statement does not read pg_locks again (that cost
 * more than the rest of it), since the chain is the owner's already: were the
 * lock lost since, the `claimed_by` guard finds the claim released, or the
 * reaper releases the next one with it. A retry keeps the delivery at its chain's head, unclaimed,
 * until `at`; a dead one gets its dead letter in the same statement. The
 * `claimed_by` guard makes an outcome whose claim the reaper took back (its
 * owner's lock was lost) change nothing.
 */
export const recordOutcome = async (
  db: Pick<pg.Pool, "query">,
  delivery: DeliveryRow,
  outcome: Outcome,
  handOff: number,
): Promise<DeliveryRow[]> => {
  const { state, error, at } = outcomeValues(outcome);
  const { rows } = await db.query<DeliveryRow>(
    recordOutcomeSql([delivery.id, delivery.claimed_by, state, outcome.status, error, at, delivery.project_id, handOff]),
  );
  return rows;
};

/**
 * Gives back claimed deliveries that were not attempted (the rest of a run, all
 * claimed under one owner), so any dispatcher may claim them. Found by id: a
 * join with unnest was planned as a scan.
 */
export const releaseClaims = async (db: Pick<pg.Pool, "query">, deliveries: readonly DeliveryRow[]): Promise<void> => {
  const [first] = deliveries;
  if (!first) return;
  await db.query("UPDATE webhook_deliveries SET claimed_by = NULL WHERE id = ANY($1::bigint[]) AND claimed_by = $2 AND state = 'pending'", [
    deliveries.map((delivery) => delivery.id),
    first.claimed_by,
  ]);
};

/** What `driveChain` needs of its dispatcher. */
export type ChainDriver = {
  /** Makes one attempt; never rejects. */
  attempt: (delivery: DeliveryRow) => Promise<Outcome>;
  /** Records an outcome (see recordOutcome); resolves with the run handed off, or null if it could not be recorded. */
  record: (record: OutcomeRecord) => Promise<DeliveryRow[] | null>;
  /** Gives back claimed deliveries that were not attempted. */
  release: (deliveries: DeliveryRow[]) => Promise<void>;
  /** False once no attempt may be made under the delivery's claim (the dispatcher stopping, its owner lock lost). */
  mayGoOn: (delivery: DeliveryRow) => boolean;
  /** A slot gives its chain back after this many attempts, so other chains get their turn. */
  maxAttempts: number;
};

/**
 * Delivers a claimed head, then the runs its records hand off, one delivery
 * at a time in the chain's order. The record of each attempt is in flight
 * while the next goes out, but never two: a delivery is attempted only once
 * the attempt before the previous one is recorded, so a process that dies
 * leaves at most the two latest attempts unrecorded (they are sent again, in
 * order). A retry ends the run (the chain waits for it); the rest of an
 * unfinished run is given back.
 */
export const driveChain = async (first: DeliveryRow, driver: ChainDriver): Promise<void> => {
  let run: DeliveryRow[] = [first];
  let attempts = 0;
  while (run.length > 0) {
    const records: Promise<DeliveryRow[] | null>[] = [];
    let taken = 0;
    for (const delivery of run) {
      const beforePrevious = records.at(-2);
      if (beforePrevious && (await beforePrevious) === null) break;
      if (!driver.mayGoOn(delivery)) break;
      taken += 1;
      const outcome = await driver.attempt(delivery);
      attempts += 1;
      const goesOn = outcome.kind !== "retry" && attempts < driver.maxAttempts;
      // The next run fits in what is left of this claim's attempts, so it is never cut short and given back.
      const handOff = goesOn && taken === run.length && driver.mayGoOn(delivery) ? driver.maxAttempts - attempts : 0;
      records.push(driver.record({ delivery, outcome, handOff }));
      if (!goesOn) break;
    }
    const recorded = await Promise.all(records);
    if (taken < run.length) await driver.release(run.slice(taken));
    run = taken === run.length && recorded.every((next) => next !== null) ? (recorded.at(-1) ?? []) : [];
  }
};
