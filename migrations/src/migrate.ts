import { readdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type pg from "pg";

/** The folder holding `NNNN_name.sql` files. */
export const migrationsDir = fileURLToPath(new URL("..", import.meta.url));

export type Migration = { version: number; name: string; sql: string };

const filePattern = /^(\d{4})_([a-z0-9_]+)\.sql$/;

export const loadMigrations = async (dir = migrationsDir): Promise<Migration[]> => {
  const files = (await readdir(dir)).filter((file) => filePattern.test(file)).sort();
  return Promise.all(
    files.map(async (file) => {
      const [, version, name] = filePattern.exec(file) as RegExpExecArray;
      return { version: Number(version), name: name as string, sql: await readFile(`${dir}/${file}`, "utf8") };
    }),
  );
};

/** An arbitrary constant: every process migrating this database takes the same lock. */
const advisoryLockKey = 7_283_514_001;

/**
 * Applies pending migrations in one transaction under an advisory lock, so
 * replicas starting together migrate once and a failure leaves nothing half done.
 * Returns the versions applied.
 */
export const migrate = async (pool: pg.Pool, migrations?: Migration[]): Promise<number[]> => {
  const all = migrations ?? (await loadMigrations());
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock($1)", [advisoryLockKey]);
    await client.query(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
    );
    const { rows } = await client.query<{ version: number }>("SELECT version FROM schema_migrations");
    const applied = new Set(rows.map((row) => row.version));
    const pending = all.filter((migration) => !applied.has(migration.version));
    for (const migration of pending) {
      await client.query(migration.sql);
      await client.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", [migration.version, migration.name]);
    }
    await client.query("COMMIT");
    return pending.map((migration) => migration.version);
  } catch (error) {
    await client.query("ROLLBACK");
    throw error;
  } finally {
    client.release();
  }
};

/** True when every known migration is recorded: the readiness check uses it. */
export const isMigrated = async (pool: pg.Pool): Promise<boolean> => {
  const all = await loadMigrations();
  const { rows } = await pool.query<{ version: number }>("SELECT version FROM schema_migrations WHERE version = ANY($1::int[])", [
    all.map((migration) => migration.version),
  ]);
  return rows.length === all.length;
};
