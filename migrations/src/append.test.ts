import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { migrate } from "./migrate.ts";
import { createTestDatabase } from "./test-db.ts";

const adminUrl = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let pool: pg.Pool;

beforeAll(async () => {
  db = await createTestDatabase(adminUrl, "append");
  pool = new pg.Pool({ connectionString: db.url });
  await migrate(pool);
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});

type Entry = { doc: string; dialog: string; user: string; clients?: number[]; messages?: string[] };
type Row = { ord: number; seq: string | null; code: string | null };

const dialog = async (): Promise<string> => {
  const id = randomUUID();
  await pool.query("INSERT INTO dialog_registry (id, project_id) VALUES ($1, 'default')", [id]);
  return id;
};

const appendMany = async (entries: Entry[]): Promise<Row[]> => {
  const { rows } = await pool.query<Row>(
    "SELECT ord, seq, code FROM mtchat_append_many($1::text[], $2::uuid[], $3::bytea[], $4::text[], $5::jsonb, $6::jsonb)",
    [
      entries.map((e) => e.doc),
      entries.map((e) => e.dialog),
      entries.map((_, index) => Buffer.from([index])),
      entries.map((e) => e.user),
      JSON.stringify(entries.map((e) => e.clients ?? [])),
      JSON.stringify(entries.map((e) => e.messages ?? [])),
    ],
  );
  return rows.map((row) => ({ ...row, seq: row.seq === null ? null : String(row.seq) }));
};

const logOf = async (doc: string) =>
  (
    await pool.query<{ seq: string; user_id: string; update: Buffer }>(
      "SELECT seq, user_id, update FROM doc_log WHERE doc_name = $1 ORDER BY seq",
      [doc],
    )
  ).rows;
const arrivalsOf = async (dialogId: string) =>
  (
    await pool.query<{ message_id: string; seq: string }>(
      "SELECT message_id, seq FROM message_arrivals WHERE dialog_id = $1 ORDER BY seq",
      [dialogId],
    )
  ).rows;

test("a batch appends as its entries would one by one: consecutive seqs per document, arrivals in order", async () => {
  const [d1, d2] = [await dialog(), await dialog()];
  const [a, b] = [`${d1}/0`, `${d2}/0`];
  const [m1, m2, m3] = [randomUUID(), randomUUID(), randomUUID()];
  const rows = await appendMany([
    { doc: a, dialog: d1, user: "alice", clients: [11], messages: [m1] },
    { doc: b, dialog: d2, user: "bob", messages: [m3] },
    { doc: a, dialog: d1, user: "alice", clients: [11], messages: [m2] },
    { doc: a, dialog: d1, user: "carol", clients: [12] },
  ]);
  expect(rows).toEqual([
    { ord: 1, seq: "1", code: null },
    { ord: 2, seq: "1", code: null },
    { ord: 3, seq: "2", code: null },
    { ord: 4, seq: "3", code: null },
  ]);
  expect((await logOf(a)).map((row) => [row.seq, row.user_id, row.update[0]])).toEqual([
    ["1", "alice", 0],
    ["2", "alice", 2],
    ["3", "carol", 3],
  ]);
  expect(await arrivalsOf(d1)).toEqual([
    { message_id: m1, seq: "1" },
    { message_id: m2, seq: "2" },
  ]);
  // The next batch continues where this one ended.
  expect(await appendMany([{ doc: a, dialog: d1, user: "alice", messages: [randomUUID()] }])).toEqual([{ ord: 1, seq: "4", code: null }]);
  expect((await arrivalsOf(d1)).map((row) => row.seq)).toEqual(["1", "2", "3"]);
});

test("a refused entry is reported alone: the others in its batch are appended, in order, and it leaves no trace", async () => {
  const d = await dialog();
  const doc = `${d}/0`;
  const taken = randomUUID();
  await appendMany([{ doc, dialog: d, user: "alice", clients: [21], messages: [taken] }]);
  const fresh = [randomUUID(), randomUUID()];
  const rows = await appendMany([
    { doc, dialog: d, user: "bob", clients: [22], messages: [fresh[0] as string] },
    { doc, dialog: d, user: "bob", messages: [taken] }, // that message id is already in the dialog
    { doc, dialog: d, user: "mallory", clients: [21, 23] }, // client 21 is alice's
    { doc, dialog: d, user: "bob", messages: [fresh[1] as string] },
  ]);
  expect(rows).toEqual([
    { ord: 1, seq: "2", code: null },
    { ord: 2, seq: null, code: "MT410" },
    { ord: 3, seq: null, code: "MT409" },
    { ord: 4, seq: "3", code: null },
  ]);
  expect((await logOf(doc)).map((row) => row.user_id)).toEqual(["alice", "bob", "bob"]);
  expect((await arrivalsOf(d)).map((row) => row.message_id)).toEqual([taken, fresh[0], fresh[1]]);
  const bindings = await pool.query<{ client_id: string; user_id: string }>(
    "SELECT client_id, user_id FROM client_bindings WHERE dialog_id = $1 ORDER BY client_id",
    [d],
  );
  // Mallory's entry bound nothing, not even the client id that was free.
  expect(bindings.rows).toEqual([
    { client_id: "21", user_id: "alice" },
    { client_id: "22", user_id: "bob" },
  ]);
});

test("the same message id twice in one batch: the first is appended, the second refused", async () => {
  const d = await dialog();
  const doc = `${d}/0`;
  const id = randomUUID();
  const rows = await appendMany([
    { doc, dialog: d, user: "alice", messages: [id] },
    { doc, dialog: d, user: "bob", messages: [id] },
  ]);
  expect(rows.map((row) => row.code)).toEqual([null, "MT410"]);
  expect((await logOf(doc)).map((row) => row.user_id)).toEqual(["alice"]);
});

test("two batches over the same dialogs in opposite orders, at once, both commit", async () => {
  const [d1, d2] = [await dialog(), await dialog()];
  const entry = (d: string): Entry => ({ doc: `${d}/0`, dialog: d, user: "alice", messages: [randomUUID()] });
  for (let round = 0; round < 20; round += 1) {
    const results = await Promise.all([appendMany([entry(d1), entry(d2)]), appendMany([entry(d2), entry(d1)])]);
    expect(results.flat().every((row) => row.code === null && row.seq !== null)).toBe(true);
  }
  for (const d of [d1, d2]) {
    expect((await logOf(`${d}/0`)).map((row) => Number(row.seq))).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect((await arrivalsOf(d)).map((row) => Number(row.seq))).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  }
});
