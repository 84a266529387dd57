import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { isMigrated, loadMigrations, migrate } from "./migrate.ts";
import { createTestDatabase } from "./test-db.ts";

const adminUrl = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let pool: pg.Pool;

beforeAll(async () => {
  db = await createTestDatabase(adminUrl, "migrate");
  pool = new pg.Pool({ connectionString: db.url });
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});

test("an empty database migrates to the full schema, and migrating again changes nothing", async () => {
  expect(await isMigrated(pool).catch(() => false)).toBe(false);
  const all = await loadMigrations();
  const [first, again] = await Promise.all([migrate(pool), migrate(pool)]);
  // Two concurrent runs serialize on the advisory lock: one applies, the other finds nothing.
  expect([...(first ?? []), ...(again ?? [])].sort((a, b) => a - b)).toEqual(all.map((m) => m.version));
  expect(await isMigrated(pool)).toBe(true);
  const { rows } = await pool.query<{ table_name: string }>(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
  );
  expect(rows.map((row) => row.table_name)).toEqual(
    expect.arrayContaining([
      "dialog_registry",
      "doc_log",
      "doc_snapshots",
      "client_bindings",
      "messages",
      "participants",
      "read_cursors",
      "api_keys",
      "jwt_keys",
      "rate_limits",
      "attachments",
      "doc_quarantine",
      "push_subscriptions",
    ]),
  );
  const { rows: projects } = await pool.query("SELECT id FROM projects");
  expect(projects).toEqual([{ id: "default" }]);
  const { rows: views } = await pool.query<{ table_name: string }>(
    "SELECT table_name FROM information_schema.views WHERE table_schema = 'analytics' ORDER BY table_name",
  );
  expect(views.map((row) => row.table_name)).toEqual(["daily_activity", "dialogs", "messages"]);
  const { rows: grants } = await pool.query(
    `SELECT has_schema_privilege('mtchat_analyst', 'analytics', 'USAGE') AS usage,
            has_table_privilege('mtchat_analyst', 'analytics.messages', 'SELECT') AS views,
            has_table_privilege('mtchat_analyst', 'public.doc_log', 'SELECT') AS raw`,
  );
  expect(grants).toEqual([{ usage: true, views: true, raw: false }]);
});

test("the search vector is built from at most 100,000 characters, so no message's vector can overflow", async () => {
  const { rows } = await pool.query<{ expression: string }>(
    "SELECT generation_expression AS expression FROM information_schema.columns WHERE table_name = 'messages' AND column_name = 'search'",
  );
  // The text searched: the segmented copy when the message holds Chinese (migration 0019), else the text itself.
  expect(rows[0]?.expression).toMatch(/"left"\(COALESCE\(search_text, body_text\), 100000\)/);
  // 100,000 distinct words: to_tsvector of the whole text is over 1 MB; of its first 100,000 characters, far less.
  const { rows: sizes } = await pool.query<{ chars: number; bytes: number }>(
    `WITH w AS (SELECT string_agg(md5(i::text), ' ') AS t FROM generate_series(1, 100000) i)
     SELECT length(t) AS chars, pg_column_size(to_tsvector('russian', left(t, 100000))) AS bytes FROM w`,
  );
  expect(sizes[0]?.chars).toBeGreaterThan(3_000_000);
  expect(sizes[0]?.bytes).toBeLessThan(1_048_575);
  const { rows: indexes } = await pool.query(
    "SELECT indexname FROM pg_indexes WHERE tablename = 'messages' AND indexname = 'messages_search'",
  );
  expect(indexes).toHaveLength(1);
});
