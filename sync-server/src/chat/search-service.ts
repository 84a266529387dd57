import { queryTerms } from "@mtchat/projections";
import type pg from "pg";
import { z } from "zod";
import type { User } from "../auth/verify-token.ts";
import { cursorCodec, cursorOffset } from "../http/cursor.ts";
import { participatesSql } from "./readable-sql.ts";

export type SearchHit = {
  dialog_id: string;
  message_id: string;
  sender_id: string;
  content: string;
  highlight: string;
  sent_at: string;
  rank: number;
};

/** Han, Hiragana, Katakana and Hangul: scripts written without spaces between words. */
const unspaced = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;
/** Those jieba does not segment (Japanese kana, Korean): still matched by substring of the whole query. */
const unsegmented = /[\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;

/** How many hits the previous pages held. */
const cursors = cursorCodec(z.strictObject({ offset: cursorOffset }));

const escapeLike = (text: string) => text.replace(/[\\%_]/g, (char) => `\\${char}`);
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);

/**
 * Search across the messages of every dialog the caller participates in. A dialog they only could join (a scope
 * match) shows its metadata in the "available" list, never its messages, here neither.
 */
export class SearchService {
  constructor(private readonly pool: pg.Pool) {}

  async search(
    user: User,
    query: string,
    limit: number,
    cursor: string | undefined,
    filters: { dialog_id?: string | undefined; sender_id?: string | undefined; from?: string | undefined; to?: string | undefined } = {},
  ): Promise<{ results: SearchHit[]; next_cursor: string | null }> {
    const offset = cursor ? cursors.decode(cursor).offset : 0;
    // Chinese is segmented as the index was (see @mtchat/projections' segment.ts): every term must match, in any
    // script mix; Russian and English keep their stemming. Kana and Hangul stay a literal substring.
    const literal = unsegmented.test(query);
    const terms = queryTerms(query);
    const { rows } = await this.pool.query(
      `WITH readable AS (
         SELECT d.id FROM dialogs d
         -- Participants only: a potential participant (a scope match) sees no messages until they join.
         WHERE d.project_id = $2 AND ${participatesSql("d", "$1")}
       ), q AS (SELECT plainto_tsquery('russian', $12) AS ts),
       hits AS (
         SELECT m.dialog_id, m.id AS message_id, m.author_id AS sender_id, m.body_text AS content, m.created_at AS sent_at,
                CASE WHEN $4 THEN similarity(m.body_text, $3) ELSE ts_rank(m.search, q.ts) END AS rank
         FROM messages m, q
         WHERE m.dialog_id IN (SELECT id FROM readable) AND m.kind = 'text' AND NOT m.deleted
           AND ($8::uuid IS NULL OR m.dialog_id = $8) AND ($9::text IS NULL OR m.author_id = $9)
           AND ($10::timestamptz IS NULL OR m.created_at >= $10) AND ($11::timestamptz IS NULL OR m.created_at < $11)
           AND (m.search @@ q.ts OR ($4 AND m.body_text LIKE '%' || $5 || '%'))
         ORDER BY rank DESC, m.created_at DESC, m.id
         LIMIT $6 OFFSET $7)
       -- Highlighting is costly: only the page gets it, not every match. ts_headline drops whatever looks
       -- like an HTML tag, so the text goes in with & < > as entities (kept as they are) to come out whole.
       SELECT hits.*, CASE WHEN $4 OR $13 THEN NULL
                           ELSE ts_headline('russian', replace(replace(replace(hits.content, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
                                            q.ts, 'StartSel=<mark>, StopSel=</mark>, HighlightAll=false') END AS highlight
       FROM hits, q ORDER BY hits.rank DESC, hits.sent_at DESC, hits.message_id`,
      [
        user.userId,
        user.projectId,
        query,
        literal,
        escapeLike(query),
        limit + 1,
        offset,
        filters.dialog_id ?? null,
        filters.sender_id ?? null,
        filters.from ?? null,
        filters.to ?? null,
        terms.join(" "),
        unspaced.test(query),
      ],
    );
    const results = rows.slice(0, limit).map((row) => ({
      ...row,
      sent_at: new Date(row.sent_at).toISOString(),
      rank: Number(row.rank),
      // ts_headline escapes nothing, and CJK hits are highlighted here: both must be safe to render as HTML.
      highlight:
        row.highlight !== null
          ? sanitizeHeadline(row.highlight)
          : literal
            ? highlightSubstring(row.content, query)
            : highlightTerms(row.content, terms),
    }));
    return { results, next_cursor: rows.length > limit ? cursors.encode({ offset: offset + limit }) : null };
  }
}

const highlightSubstring = (content: string, query: string) =>
  content
    .split(query)
    .map(escapeHtml)
    .join(`<mark>${escapeHtml(query)}</mark>`);

/**
 * Marks each term in the original text (which has no spaces inside Chinese, so ts_headline cannot): a Han term where
 * it stands, another from its start, give or take an ending (ts_headline's stemming, roughly).
 */
export const highlightTerms = (content: string, terms: string[]): string => {
  const patterns = [...new Set(terms)]
    .sort((a, b) => b.length - a.length)
    .map((term) => {
      const escaped = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      if (/\p{Script=Han}/u.test(term)) return escaped(term);
      const stem = term.length > 4 ? term.slice(0, -2) : term;
      return `${escaped(stem)}[\\p{L}\\p{N}]*`;
    });
  if (patterns.length === 0) return escapeHtml(content);
  const pattern = new RegExp(`(${patterns.join("|")})`, "giu");
  return content
    .split(pattern)
    .map((part, index) => (index % 2 === 1 ? `<mark>${escapeHtml(part)}</mark>` : escapeHtml(part)))
    .join("");
};

const entities: Record<string, string> = { "&amp;": "&", "&lt;": "<", "&gt;": ">" };

/** Escapes everything but the <mark> tags ts_headline added (the text between them went in with & < > as entities). */
const sanitizeHeadline = (headline: string) =>
  headline
    .split(/(<mark>|<\/mark>)/)
    .map((part) =>
      part === "<mark>" || part === "</mark>" ? part : escapeHtml(part.replace(/&(?:amp|lt|gt);/g, (entity) => entities[entity] ?? entity)),
    )
    .join("");
