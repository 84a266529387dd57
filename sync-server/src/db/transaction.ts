import type pg from "pg";

/** A transaction in progress, with work to do once it has committed (waking consumers for the jobs it queued). */
export type Tx = { client: pg.PoolClient; afterCommit(run: () => void): void };

/** Runs `work` in one transaction; its after-commit callbacks run only if it commits. */
export const transaction = async <T>(pool: pg.Pool, work: (tx: Tx) => Promise<T>): Promise<T> => {
  const client = await pool.connect();
  const callbacks: (() => void)[] = [];
  try {
    await client.query("BEGIN");
    const result = await work({ client, afterCommit: (run) => callbacks.push(run) });
    await client.query("COMMIT");
    for (const run of callbacks) run();
    return result;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
};
