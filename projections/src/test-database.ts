import { createTestDatabase, migrate } from "@mtchat/migrations";
import pg from "pg";
import { afterAll, beforeAll } from "vitest";

const adminUrl = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/** A fresh, migrated database for one test file (tests only): `db.pool` is set once the file's tests start. */
export const useTestDatabase = (label: string): { pool: pg.Pool } => {
  const db = {} as { pool: pg.Pool };
  let created: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  beforeAll(async () => {
    created = await createTestDatabase(adminUrl, label);
    db.pool = new pg.Pool({ connectionString: created.url, max: 8 });
    await migrate(db.pool);
  });
  afterAll(async () => {
    await db.pool?.end();
    await created?.drop();
  });
  return db;
};
