import type pg from "pg";
import { type Endpoint, type Endpoints, wants } from "./endpoints.ts";
import { type JobQueue, queues, type Tx } from "./job-queue.ts";

/**
 * Ordered delivery. Every event becomes one delivery per endpoint that wants
 * it, and the deliveries of one endpoint and one dialog form a chain, ordered
 * by delivery id. The fan-out that creates deliveries runs under one global
 * lock and takes outbox rows in order, so ids follow the order in which a
 * dialog's events were committed. Only a chain's head (its oldest pending
 * delivery) ever has a pg-boss job; when the head is delivered or
 * dead-lettered, the same transaction queues a job for the next one. So an
 * event is never attempted before the earlier events of its dialog are done,
 * retries (new jobs with a later start) keep the chain waiting, and one slow
 * endpoint or dialog holds up no other. Whatever moves or reads a head runs
 * under the chain's advisory lock.
 */
export type ChainKey = string;

/** NOTIFY payloads on the webhooks channel: new outbox rows (sent by enqueueEvents), or a chain whose head was reset elsewhere. */
export const outboxPayload = "outbox";
export const chainPayloadPrefix = "chain:";

export const chainKeyOf = (endpointId: string, dialogId: string | null, eventId: string): ChainKey =>
  `${endpointId}/${dialogId ?? eventId}`;

/** Data of a delivery job. */
export type DeliveryJob = { delivery: string };

export type OutboxRow = {
  seq: string;
  id: string;
  project_id: string;
  dialog_id: string | null;
  event: string;
  data: Record<string, unknown>;
  created_at: Date;
};

const chainLockSeed = 7_283_514_006;
/** The fan-out's own lock (two-key form, a space apart from the chain locks). */
const fanOutLock = [7_283_514, 6] as const;

/**
 * Serializes the chains' heads until the transaction ends (advisory locks are
 * re-entrant). Locks are taken in one order, so two transactions locking
 * several chains cannot deadlock.
 */
export const lockChains = async (tx: Tx, chains: readonly ChainKey[]): Promise<void> => {
  if (chains.length === 0) return;
  await tx.client.query(
    `SELECT pg_advisory_xact_lock(s.h) FROM (
       SELECT DISTINCT hashtextextended(k, $2) AS h FROM unnest($1::text[]) AS k ORDER BY 1
     ) AS s`,
    [chains, chainLockSeed],
  );
};

/** The first key of every dispatcher's owner lock (see claims.ts); the second is the owner id. */
export const claimNamespace = 7_283_515;

/** SQL: true while a session holds the owner lock of `owner` (an SQL expression: `$2`, a column) in this database. */
export const ownerLockHeld = (owner: string): string =>
  `EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.classid = ${claimNamespace}::oid
     AND l.objid = (${owner})::bigint::oid AND l.objsubid = 2 AND l.granted
     AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))`;

/** Whether the owner lock of `owner` is held now, by whichever session. */
export const ownerLockStillHeld = async (db: Pick<pg.Pool, "query">, owner: number): Promise<boolean> => {
  const { rows } = await db.query<{ held: boolean }>(`SELECT ${ownerLockHeld("$1")} AS held`, [owner]);
  return rows[0]?.held === true;
};

/** Serializes fan-outs (and sweeps) across processes: deliveries get their ids in outbox order. */
export const lockFanOut = async (tx: Tx): Promise<void> => {
  await tx.client.query("SELECT pg_advisory_xact_lock($1, $2)", [...fanOutLock]);
};

/** Gives each chain's head a job if it has none. The chains must be locked. */
export const queueHeads = async (tx: Tx, queue: JobQueue, chains: readonly ChainKey[]): Promise<void> => {
  if (chains.length === 0) return;
  const { rows: heads } = await tx.client.query<{ id: string; next_attempt_at: Date; job_id: string | null }>(
    `SELECT DISTINCT ON (chain_key) id, next_attempt_at, job_id FROM webhook_deliveries
     WHERE chain_key = ANY($1::text[]) AND state = 'pending' ORDER BY chain_key, id`,
    [chains],
  );
  const unqueued = heads.filter((head) => head.job_id === null);
  if (unqueued.length === 0) return;
  const jobIds = await queue.insert<DeliveryJob>(
    tx,
    queues.deliver,
    unqueued.map((head) => ({ data: { delivery: head.id }, startAfter: head.next_attempt_at })),
  );
  await tx.client.query(
    "UPDATE webhook_deliveries d SET job_id = j.job_id FROM unnest($1::bigint[], $2::uuid[]) AS j(id, job_id) WHERE d.id = j.id",
    [unqueued.map((head) => head.id), jobIds],
  );
};

/**
 * Turns the oldest events not yet fanned out into deliveries and queues the
 * heads of the chains they joined. `also` runs in the same transaction (the
 * notification debounce hooks in there). Resolves with the events handled.
 */
export const fanOut = async (
  tx: Tx,
  queue: JobQueue,
  endpoints: Endpoints,
  batch: number,
  also: (events: OutboxRow[], endpoints: Endpoint[]) => Promise<void>,
): Promise<number> => {
  await lockFanOut(tx);
  const { rows: events } = await tx.client.query<OutboxRow>(
    `SELECT seq, id, project_id, dialog_id, event, data, created_at FROM webhook_outbox
     WHERE fanned_out_at IS NULL ORDER BY seq LIMIT $1`,
    [batch],
  );
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
  // One statement marks the events fanned out and creates their deliveries.
  await tx.client.query(
    `WITH fanned AS (UPDATE webhook_outbox SET fanned_out_at = now() WHERE seq = ANY($2::bigint[]))
     INSERT INTO webhook_deliveries (event_seq, endpoint_id, chain_key)
     SELECT (d.value->>'event_seq')::bigint, d.value->>'endpoint_id', d.value->>'chain_key'
     FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS d(value, ord) ORDER BY d.ord
     ON CONFLICT (event_seq, endpoint_id) DO NOTHING`,
    [JSON.stringify(deliveries), events.map((event) => event.seq)],
  );
  await also(events, targets);
  const chains = [...new Set(deliveries.map((delivery) => delivery.chain_key))];
  await lockChains(tx, chains);
  await queueHeads(tx, queue, chains);
  return events.length;
};

/** A delivery with the event it carries, as a job finds it. */
export type DeliveryRow = {
  id: string;
  state: string;
  job_id: string | null;
  attempts: number;
  endpoint_id: string;
  chain_key: string;
  head: string | null;
  event_id: string;
  event: string;
  project_id: string;
  data: Record<string, unknown>;
  created_at: Date;
};

/**
 * Claims the pending delivery a job is for (the one whose `job_id` is the
 * job's id) for `owner`, and loads it. A job owns at most one at a time, and
 * may pass itself on down the chain (see recordOutcome), so a job pg-boss
 * retries after a crash finds where it was. The claim marks who is sending it
 * (see claims.ts), and is made only while `owner`'s lock is held.
 */
export const loadDelivery = async (db: Pick<pg.Pool, "query">, jobId: string, owner: number): Promise<DeliveryRow | null> => {
  const { rows } = await db.query<DeliveryRow>(
    `WITH claimed AS (
       UPDATE webhook_deliveries SET claimed_by = $2
       WHERE id = (SELECT id FROM webhook_deliveries WHERE job_id = $1 AND state = 'pending' ORDER BY id LIMIT 1)
         AND job_id = $1 AND state = 'pending' AND ${ownerLockHeld("$2")}
       RETURNING id, state, job_id, attempts, endpoint_id, chain_key, event_seq
     )
     SELECT d.id, d.state, d.job_id, d.attempts, d.endpoint_id, d.chain_key,
            (SELECT min(p.id) FROM webhook_deliveries p WHERE p.chain_key = d.chain_key AND p.state = 'pending') AS head,
            o.id AS event_id, o.event, o.project_id, o.data, o.created_at
     FROM claimed d JOIN webhook_outbox o ON o.seq = d.event_seq`,
    [jobId, owner],
  );
  return rows[0] ?? null;
};

/** What became of an attempt, to record under the chain's lock. */
export type Outcome =
  | { kind: "delivered"; status: number }
  | { kind: "retry"; status: number | null; error: string; at: Date }
  | { kind: "dead"; status: number | null; error: string };

/**
 * Records an attempt made by job `jobId`, then sees to the chain's next head:
 * with `handOffTo` (an owner id), a head that is already due is handed to the
 * same job, claimed for that owner (resolves true: the caller delivers it
 * next, which saves a job per event when a chain has a backlog); otherwise it
 * gets a job of its own. The `job_id` guard makes a stale job (one the
 * delivery no longer waits for, say because the reaper took it for orphaned)
 * change nothing.
 */
export const recordOutcome = async (
  tx: Tx,
  queue: JobQueue,
  delivery: DeliveryRow,
  jobId: string,
  outcome: Outcome,
  handOffTo: number | null,
): Promise<boolean> => {
  await lockChains(tx, [delivery.chain_key]);
  const done = () => queue.complete(tx, queues.deliver, jobId);
  const attempts = delivery.attempts + 1;
  const guard = [delivery.id, jobId, attempts] as const;
  let finished = false;
  if (outcome.kind === "delivered") {
    const { rowCount } = await tx.client.query(
      `UPDATE webhook_deliveries SET state = 'delivered', attempts = $3, last_status = $4, last_error = NULL, delivered_at = now(), job_id = NULL,
           claimed_by = NULL
       WHERE id = $1 AND job_id = $2`,
      [...guard, outcome.status],
    );
    finished = rowCount === 1;
  } else if (outcome.kind === "retry") {
    const { rowCount } = await tx.client.query(
      `UPDATE webhook_deliveries SET attempts = $3, last_status = $4, last_error = $5, next_attempt_at = $6, job_id = NULL, claimed_by = NULL
       WHERE id = $1 AND job_id = $2`,
      [...guard, outcome.status, outcome.error, outcome.at],
    );
    // Still the head, now without a job: queueHeads gives it one that starts at `at`.
    if (rowCount === 0) {
      await done();
      return false;
    }
  } else {
    const { rowCount } = await tx.client.query(
      `UPDATE webhook_deliveries SET state = 'dead', attempts = $3, last_status = $4, last_error = $5, job_id = NULL, claimed_by = NULL
       WHERE id = $1 AND job_id = $2`,
      [...guard, outcome.status, outcome.error],
    );
    if (rowCount === 1) {
      await tx.client.query(
        `INSERT INTO webhook_dead_letters (delivery_id, project_id, attempts, last_status, last_error) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (delivery_id) DO UPDATE SET attempts = EXCLUDED.attempts, last_status = EXCLUDED.last_status,
           last_error = EXCLUDED.last_error, dead_at = now()`,
        [delivery.id, delivery.project_id, attempts, outcome.status, outcome.error],
      );
    }
    finished = rowCount === 1;
  }
  if (finished && handOffTo !== null) {
    const { rowCount } = await tx.client.query(
      `UPDATE webhook_deliveries SET job_id = $2, claimed_by = $3
       WHERE id = (SELECT id FROM webhook_deliveries WHERE chain_key = $1 AND state = 'pending' ORDER BY id LIMIT 1)
         AND job_id IS NULL AND next_attempt_at <= now()`,
      [delivery.chain_key, jobId, handOffTo],
    );
    if (rowCount === 1) return true;
  }
  await queueHeads(tx, queue, [delivery.chain_key]);
  await done();
  return false;
};

/** A job for a delivery that is not its chain's head (a replayed dead letter went first): it steps back. */
export const yieldHead = async (tx: Tx, queue: JobQueue, delivery: DeliveryRow, jobId: string): Promise<void> => {
  await lockChains(tx, [delivery.chain_key]);
  await tx.client.query("UPDATE webhook_deliveries SET job_id = NULL, claimed_by = NULL WHERE id = $1 AND job_id = $2", [
    delivery.id,
    jobId,
  ]);
  await queueHeads(tx, queue, [delivery.chain_key]);
  await queue.complete(tx, queues.deliver, jobId);
};

/** Heads of every chain with pending deliveries, for the sweep. */
export const pendingHeads = async (db: Pick<pg.Pool, "query">, overdueSecs: number) => {
  const { rows } = await db.query<{ chain_key: string; id: string; job_id: string | null; overdue: boolean }>(
    `SELECT DISTINCT ON (chain_key) chain_key, id, job_id, next_attempt_at < now() - make_interval(secs => $1) AS overdue
     FROM webhook_deliveries WHERE state = 'pending' ORDER BY chain_key, id`,
    [overdueSecs],
  );
  return rows;
};
