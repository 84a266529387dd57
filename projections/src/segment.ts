import { Jieba } from "@node-rs/jieba";
import { dict } from "@node-rs/jieba/dict.js";
import type pg from "pg";

/** Runs of Han characters: written without spaces, so PostgreSQL's parser cannot find their words. */
const hanRun = /[\p{Script=Han}]+/gu;
const hasHan = /\p{Script=Han}/u;

let jieba: Jieba | null = null;
/** Loaded on first use (its dictionary is a few MB). */
const segmenter = (): Jieba => {
  jieba ??= Jieba.withDict(dict);
  return jieba;
};

const words = (parts: string[]) => parts.map((part) => part.trim()).filter((part) => part.length > 0);

/**
 * The text a message's search vector is built from when it holds Chinese: each run of Han characters cut into its
 * words and, for search, the shorter words inside them (jieba's search mode: 订单号 also gives 订单 and 单号), spaced so
 * PostgreSQL sees each; the rest as it is, so Russian and English keep their stemming. Null without Han: the text is
 * searched as it stands.
 */
export const searchText = (text: string): string | null => {
  if (!hasHan.test(text)) return null;
  return text.replace(hanRun, (run) => ` ${words(segmenter().cutForSearch(run, true)).join(" ")} `);
};

/**
 * A query's terms: Han runs cut into words (precise mode, so 订单号 stays one term, which the search mode indexed), the
 * rest split on white space. Every term must match.
 */
export const queryTerms = (query: string): string[] =>
  words(query.replace(hanRun, (run) => ` ${segmenter().cut(run, true).join(" ")} `).split(/\s+/u)).filter((term) =>
    /[\p{L}\p{N}]/u.test(term),
  );

/**
 * Messages projected before Chinese was segmented (search_text NULL, Han in the text) get their search text, in
 * batches; several workers may run it at once (SKIP LOCKED). Resolves with how many rows it filled.
 */
export const backfillSearchText = async (pool: pg.Pool, batch = 500): Promise<number> => {
  let filled = 0;
  for (;;) {
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      // U+3400..U+9FFF and U+F900..U+FAFF: the Han blocks written in chats.
      const { rows } = await client.query<{ dialog_id: string; id: string; body_text: string }>(
        `SELECT dialog_id, id, body_text FROM messages
         WHERE search_text IS NULL AND body_text ~ '[\u3400-\u9fff\uf900-\ufaff]'
         LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [batch],
      );
      const filledRows = rows.map((row) => ({
        dialog_id: row.dialog_id,
        id: row.id,
        search_text: searchText(row.body_text) ?? row.body_text,
      }));
      if (filledRows.length > 0) {
        await client.query(
          `UPDATE messages m SET search_text = x.search_text
           FROM jsonb_to_recordset($1::jsonb) AS x(dialog_id uuid, id uuid, search_text text)
           WHERE m.dialog_id = x.dialog_id AND m.id = x.id`,
          [JSON.stringify(filledRows)],
        );
      }
      await client.query("COMMIT");
      filled += filledRows.length;
      if (rows.length < batch) return filled;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }
};
