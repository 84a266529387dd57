// Search latency over 100,000 messages, through the real HTTP endpoint. The
// rows are generated straight into the projection table: the query is what is
// measured here, not the write path.
import { createTestDatabase } from "@mtchat/migrations";
import { parseConfig } from "../src/config/parse-config.ts";
import { createChatServer } from "../src/server.ts";
import { createLogger } from "../src/sync/logger.ts";
import { adminToken, adminUrl, benchToken, secret } from "./bench-kit.ts";

export const searchBench = async (messages = 100_000, dialogs = 200): Promise<string[]> => {
  const db = await createTestDatabase(adminUrl, "bench_search");
  const server = await createChatServer(
    // The bench measures the query: 900 searches by one reader would otherwise hit the per-user rate limit.
    parseConfig({ DATABASE_URL: db.url, PORT: "0", JWT_SECRET: secret, ADMIN_API_TOKEN: adminToken, ROLES: "sync", RATE_LIMIT_USER: "0" }),
    createLogger("warn"),
  );
  await server.start();
  try {
    const base = `http://127.0.0.1:${server.port()}`;
    const ids: string[] = [];
    for (let index = 0; index < dialogs; index += 1) {
      const response = await fetch(`${base}/api/v1/management/dialogs`, {
        method: "POST",
        headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
        body: JSON.stringify({ object_id: `o-${index}`, object_type: "order", participants: [{ user_id: "reader", display_name: "R" }] }),
      });
      ids.push(((await response.json()) as { data: { id: string } }).data.id);
    }
    await server.pool.query(
      `INSERT INTO messages (dialog_id, id, segment, seq, author_id, kind, body_text, body, created_at, received_at)
       SELECT ($1::uuid[])[1 + (i % $2)], gen_random_uuid(), 0, i, 'writer', 'text',
              (ARRAY['Где мой заказ номер ' || i || '? Доставка задерживается',
                     'Your order ' || i || ' has shipped and the invoice is attached',
                     '您的订单号是' || i || '，请查收发票',
                     'Routine update ' || i || ' about the warehouse schedule'])[1 + (i % 4)],
              '{}'::jsonb, now() - (i || ' seconds')::interval, now()
       FROM generate_series(1, $3) AS i`,
      [ids, dialogs, messages],
    );
    await server.pool.query("ANALYZE messages");
    const token = await benchToken("reader");
    const rows: string[] = [];
    for (const q of ["заказы", "shipping invoice", "订单"]) {
      const times: number[] = [];
      for (let run = 0; run < 300; run += 1) {
        const started = performance.now();
        const response = await fetch(`${base}/api/v1/search?q=${encodeURIComponent(q)}&limit=20`, {
          headers: { authorization: `Bearer ${token}` },
        });
        await response.json();
        times.push(performance.now() - started);
      }
      times.sort((a, b) => a - b);
      const at = (p: number) => (times[Math.floor((p / 100) * times.length)] ?? Number.NaN).toFixed(1);
      rows.push(`| search "${q}" over ${messages.toLocaleString("en")} messages | p50 ${at(50)} ms / p99 ${at(99)} ms |`);
    }
    return rows;
  } finally {
    await server.stop();
    await db.drop();
  }
};
