import { Jieba } from "@node-rs/jieba";
import { dict } from "@node-rs/jieba/dict.js";

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
