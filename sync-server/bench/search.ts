// Search latency over 100,000 and 1,000,000 messages (SEARCH_SIZES), through
// the real HTTP endpoint. The rows are generated straight into the projection
// table: the query is what is measured here, not the write path.
//
// The corpus: a third each Russian, English and Chinese; each message holds 8
// words drawn from a vocabulary of 2,000 made-up words of its language (Chinese
// words are two Han characters, stored segmented as the projector stores them),
// plus real words at known rates: "invoice" / "заказ" / "订单" in 1% of the
// messages of their language, "shipping" / "доставка" / "发货" in 0.1% (always with
// the first, so two-word queries have hits), so a query matches as many rows as it
// would in a real history, not a quarter of them.
import { createTestDatabase } from "@mtchat/migrations";
import { parseConfig } from "../src/config/parse-config.ts";
import { createChatServer } from "../src/server.ts";
import { createLogger } from "../src/sync/logger.ts";
import { adminToken, adminUrl, benchToken, secret } from "./bench-kit.ts";

/** `count` made-up words from syllables (deterministic). */
const vocabulary = (syllables: string[], count: number, join = ""): string[] => {
  const words: string[] = [];
  for (let index = 0; words.length < count; index += 1) {
    const a = syllables[index % syllables.length] ?? "";
    const b = syllables[Math.floor(index / syllables.length) % syllables.length] ?? "";
    const c = syllables[Math.floor(index / syllables.length ** 2) % syllables.length] ?? "";
    words.push(index < syllables.length ** 2 ? `${a}${join}${b}` : `${a}${b}${c}`);
  }
  return words;
};
const latin = vocabulary("ka lo mi ter san vel dor pin rus tam gel fo nix bar".split(" "), 2000);
const cyrillic = vocabulary("ка ло ми тер сан вел дор пин рус там гел фо ник бар".split(" "), 2000);
const han = vocabulary(
  "山 水 木 火 金 土 日 月 风 云 雨 雪 花 草 石 田 川 林 光 明 星 海 江 河 春 夏 秋 冬 东 西 南 北 天 地 人 心 手 口 目 耳 车 门 马 牛 羊 鱼 鸟 竹".split(
    " ",
  ),
  2000,
);

export const searchBench = async (messages = 100_000, dialogs = 200): Promise<string[]> => {
  const db = await createTestDatabase(adminUrl, "bench_search");
  const server = await createChatServer(
    // The bench measures the query: the searches by one reader would otherwise hit the per-user rate limit.
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
    // In batches, so a million rows do not make one huge transaction. Language by i % 3; word k of message i is
    // picked by a hash of (i, k); the real words by i's remainders.
    for (let from = 1; from <= messages; from += 100_000) {
      await server.pool.query(
        `WITH raw AS (
           SELECT i, i % 3 AS lang,
                  ARRAY(SELECT (CASE i % 3 WHEN 0 THEN $5::text[] WHEN 1 THEN $6::text[] ELSE $7::text[] END)
                                 [1 + abs(hashint4(i * 16 + k)) % 2000] FROM generate_series(1, 8) AS k)
                  || CASE WHEN (i / 3) % 100 = 5 THEN ARRAY[(ARRAY['invoice', 'заказ', '订单'])[1 + i % 3]] ELSE '{}' END
                  || CASE WHEN (i / 3) % 1000 = 105 THEN ARRAY[(ARRAY['shipping', 'доставка', '发货'])[1 + i % 3]] ELSE '{}' END AS words
           FROM generate_series($3::int, $4::int) AS i)
         INSERT INTO messages (dialog_id, id, segment, seq, author_id, kind, body_text, search_text, body, created_at, received_at)
         SELECT ($1::uuid[])[1 + (i % $2)], gen_random_uuid(), 0, i, 'writer', 'text',
                array_to_string(words, CASE WHEN lang = 2 THEN '' ELSE ' ' END),
                CASE WHEN lang = 2 THEN array_to_string(words, ' ') END,
                '{}'::jsonb, now() - (i || ' seconds')::interval, now()
         FROM raw`,
        [ids, dialogs, from, Math.min(messages, from + 99_999), latin, cyrillic, han],
      );
    }
    await server.pool.query("ANALYZE");
    const token = await benchToken("reader");
    const rows: string[] = [];
    for (const q of ["invoice", "заказы", "订单", "订单 发货", "shipping invoice", "доставка заказ", "风云"]) {
      const times: number[] = [];
      let hits = 0;
      for (let run = 0; run < 200; run += 1) {
        const started = performance.now();
        const response = await fetch(`${base}/api/v1/search?q=${encodeURIComponent(q)}&limit=20`, {
          headers: { authorization: `Bearer ${token}` },
        });
        hits = ((await response.json()) as { data: { results: unknown[] } }).data.results.length;
        times.push(performance.now() - started);
      }
      times.sort((a, b) => a - b);
      const at = (p: number) => (times[Math.floor((p / 100) * times.length)] ?? Number.NaN).toFixed(1);
      rows.push(
        `| search "${q}" over ${messages.toLocaleString("en")} messages (${hits} on the page) | p50 ${at(50)} ms / p99 ${at(99)} ms |`,
      );
    }
    return rows;
  } finally {
    await server.stop();
    await db.drop();
  }
};
