import { randomUUID } from "node:crypto";
import { createMessage, segmentDocName } from "@mtchat/protocol";
import { expect, test } from "vitest";
import * as Y from "yjs";
import { Projector } from "./projector.ts";
import { useTestDatabase } from "./test-database.ts";
import { appendRow, registerDialog, updateOf } from "./testing.ts";
import { type FailingDocument, ProjectionWorker } from "./worker.ts";

const db = useTestDatabase("worker");

/** Polls the database (another connection's commits) until `check` passes. */
const eventually = async <T>(check: () => Promise<T | false | undefined>, what: string, timeoutMs = 15_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== false && value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
};

const messageRow = async (dialogId: string, text: string) => {
  const doc = new Y.Doc();
  const id = randomUUID();
  const update = updateOf(doc, (d) => createMessage(d, { id, author: "alice", createdAt: Date.now(), text }));
  await appendRow(db.pool, segmentDocName(dialogId, 0), dialogId, update, { messageIds: [id] });
  return id;
};

const projected = async (dialogId: string, id: string) =>
  (await db.pool.query("SELECT 1 FROM messages WHERE dialog_id = $1 AND id = $2", [dialogId, id])).rowCount === 1;

test("a document that keeps failing is retried with backoff, listed as failing, and never holds up other documents", async () => {
  const broken = await registerDialog(db.pool);
  const healthy = await registerDialog(db.pool);
  // Stands for any failure the projection cannot get past on its own (a bug, a constraint added by hand).
  await db.pool.query(`
    CREATE FUNCTION refuse_broken() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'this dialog''s rows are refused'; END $$;
    CREATE TRIGGER refuse_broken BEFORE INSERT OR UPDATE ON messages FOR EACH ROW
      WHEN (NEW.dialog_id = '${broken}') EXECUTE FUNCTION refuse_broken();
  `);
  const failures: (FailingDocument & { at: number })[] = [];
  const recovered: string[] = [];
  const worker = new ProjectionWorker(db.pool, new Projector(db.pool), {
    pollMs: 50,
    batchMs: 5,
    concurrency: 1,
    retryBaseMs: 40,
    retryMaxMs: 400,
    onError: (_docName, _error, failing) => failures.push({ ...failing, at: Date.now() }),
    onRecovered: (docName) => recovered.push(docName),
  });
  const brokenDoc = segmentDocName(broken, 0);
  await messageRow(broken, "never projected while the trigger is there");
  await worker.start();
  try {
    // With one slot, the healthy dialog's messages still project, again and again, while the broken one keeps failing.
    for (let round = 0; round < 3; round += 1) {
      const id = await messageRow(healthy, `healthy ${round}`);
      await eventually(() => projected(healthy, id), `healthy message ${round}`);
    }
    const failing = await eventually(async () => {
      const list = worker.failing();
      return list.length === 1 && (list[0]?.attempts ?? 0) >= 4 ? list : false;
    }, "four failed attempts");
    expect(failing).toEqual([
      {
        docName: brokenDoc,
        error: expect.stringContaining("refused"),
        since: expect.any(String),
        attempts: expect.any(Number),
        retryAt: expect.any(String),
      },
    ]);
    // Exponential: the wait after the n-th failure in a row is 40 ms doubled n-1 times, capped at 400 ms.
    const mine = failures.filter((failure) => failure.docName === brokenDoc);
    for (const failure of mine) {
      const wait = Date.parse(failure.retryAt) - failure.at;
      const expected = Math.min(40 * 2 ** (failure.attempts - 1), 400);
      expect(wait).toBeGreaterThanOrEqual(expected - 5);
      expect(wait).toBeLessThanOrEqual(expected + 5);
    }
    // Retries were not faster than that: between two attempts, at least the wait passed.
    for (let index = 1; index < mine.length; index += 1) {
      expect((mine[index]?.at ?? 0) - Date.parse(mine[index - 1]?.retryAt ?? "")).toBeGreaterThanOrEqual(-2);
    }
    expect(new Set(mine.map((failure) => failure.since)).size).toBe(1);

    // Once the cause is gone, the next retry projects it and the document leaves the list.
    await db.pool.query("DROP TRIGGER refuse_broken ON messages");
    await eventually(async () => worker.failing().length === 0, "recovery");
    expect(recovered).toEqual([brokenDoc]);
    const { rows } = await db.pool.query("SELECT count(*)::int AS n FROM messages WHERE dialog_id = $1", [broken]);
    expect(rows).toEqual([{ n: 1 }]);
  } finally {
    await worker.stop();
  }
});

test("a LISTEN connection the database cuts is replaced by itself, and what was logged meanwhile is projected", async () => {
  const dialogId = await registerDialog(db.pool);
  const lost: unknown[] = [];
  // No sweeps to speak of: only the notifications (and the catch-up after listening again) can project.
  const worker = new ProjectionWorker(db.pool, new Projector(db.pool), {
    pollMs: 600_000,
    batchMs: 5,
    onListenerLost: (error) => lost.push(error),
  });
  await worker.start();
  try {
    const first = await messageRow(dialogId, "before the cut");
    await eventually(() => projected(dialogId, first), "a message projected on its notification");
    // What a restart of PostgreSQL does to every connection; before, the listener's `error` event had no handler and ended the process.
    const { rows } = await db.pool.query<{ cut: boolean }>(
      `SELECT pg_terminate_backend(pid) AS cut FROM pg_stat_activity
       WHERE datname = current_database() AND query = 'LISTEN mtchat_log' AND pid <> pg_backend_pid()`,
    );
    expect(rows).toEqual([{ cut: true }]);
    const during = await messageRow(dialogId, "while it listens again");
    await eventually(async () => lost.length === 1, "the lost listener reported");
    await eventually(() => projected(dialogId, during), "the message logged meanwhile projected by the catch-up");
    await eventually(async () => {
      const { rows: listening } = await db.pool.query(
        "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN mtchat_log'",
      );
      return listening.length === 1;
    }, "one listener again");
    const after = await messageRow(dialogId, "after the new LISTEN");
    await eventually(() => projected(dialogId, after), "a message projected on its notification again");
  } finally {
    await worker.stop();
  }
});
