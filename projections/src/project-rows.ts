import { messagesOf, metaOf, parseDocName, parseUserStateKey, participantsOf, readMessage, readsOf, userStateOf } from "@mtchat/protocol";
import type pg from "pg";
import * as Y from "yjs";
import type { OutboxEvent } from "./outbox.ts";
import { prepared } from "./prepared.ts";
import { eventsFor } from "./project-events.ts";
import { writeMeta, writeUserState } from "./project-meta.ts";
import { cleanId, cleanText, jsonObject, jsonSafe, toTime, truncateText, uuidOrNull } from "./sanitize.ts";
import { searchText } from "./segment.ts";
import { messageEvents, type ProjectedMessage } from "./webhook-events.ts";

/** What changed in a document since its last projection; `all` after a cold load. */
export type Changes = {
  all: boolean;
  meta: boolean;
  participants: Set<string>;
  reads: Set<string>;
  messages: Set<string>;
  /** Dialog ids whose state changed in a user's state document. */
  userState: Set<string>;
};

export const noChanges = (all: boolean): Changes => ({
  all,
  meta: all,
  participants: new Set(),
  reads: new Set(),
  messages: new Set(),
  userState: new Set(),
});

/** What the projection writes beyond what a document says. */
export type RowLimits = {
  /** Longest `body_text` written (MAX_MESSAGE_CHARS); longer text is cut, the body is kept. */
  maxMessageChars: number;
};

/**
 * Records which keys of which roots a transaction touched. An observer that
 * fails marks everything changed, which is always correct (only slower): a
 * valid update must never look like a bad one because a listener threw.
 */
export const trackChanges = (doc: Y.Doc, changes: Changes): (() => void) => {
  const safely =
    <E>(observe: (event: E) => void) =>
    (event: E) => {
      try {
        observe(event);
      } catch {
        changes.all = true;
        changes.meta = true;
      }
    };
  const onMeta = () => {
    changes.meta = true;
  };
  const keysInto = (target: Set<string>) =>
    safely((event: { keysChanged: Set<string> }) => {
      for (const key of event.keysChanged) target.add(key);
    });
  const onParticipants = keysInto(changes.participants);
  const onReads = keysInto(changes.reads);
  const onMessages = safely((events: Y.YEvent<Y.AbstractType<unknown>>[]) => {
    for (const event of events) {
      if (event.path.length === 0) {
        for (const key of (event as Y.YMapEvent<unknown>).keysChanged) changes.messages.add(key);
      } else if (typeof event.path[0] === "string") {
        changes.messages.add(event.path[0]);
      }
    }
  });
  const onUserState = safely((event: { keysChanged: Set<string> }) => {
    for (const key of event.keysChanged) {
      const parsed = parseUserStateKey(key);
      if (parsed) changes.userState.add(parsed.dialogId);
    }
  });
  const meta = metaOf(doc);
  const participants = participantsOf(doc);
  const reads = readsOf(doc);
  const messages = messagesOf(doc);
  const userState = userStateOf(doc);
  meta.observe(onMeta);
  participants.observe(onParticipants);
  reads.observe(onReads);
  messages.observeDeep(onMessages);
  userState.observe(onUserState);
  return () => {
    meta.unobserve(onMeta);
    participants.unobserve(onParticipants);
    reads.unobserve(onReads);
    messages.unobserveDeep(onMessages);
    userState.unobserve(onUserState);
  };
};

/** The message columns the projection writes, as `jsonb_to_recordset` reads a row of them. */
const messageRecord = `id uuid, author_id text, kind text, body_text text, search_text text, body jsonb, reply_to uuid,
  attachments jsonb, created_at timestamptz, edited_at timestamptz, deleted boolean, system jsonb, reactions jsonb`;

/**
 * The upsert of message rows `x` (with `dialog` and `segment` expressions) into
 * `written`, with the rows they replace in `prev` (`messages m` and how to find
 * them): `prev` sees the table as it was before the upsert, which the events
 * are diffed against.
 */
const upsertMessagesCte = (x: string, dialog: string, segment: string, prev: string) => `prev AS (
      SELECT m.dialog_id, m.id, m.edited_at, m.deleted FROM ${prev}
    ), written AS (
      INSERT INTO messages (dialog_id, id, segment, seq, author_id, kind, body_text, search_text, body, reply_to, attachments, created_at, received_at, edited_at, deleted, system, reactions)
      SELECT ${dialog}, x.id, ${segment}, a.seq, x.author_id, x.kind, x.body_text, x.search_text, x.body, x.reply_to, x.attachments,
             LEAST(x.created_at, COALESCE(a.received_at, x.created_at)), a.received_at, x.edited_at, x.deleted, x.system, x.reactions
      FROM ${x} LEFT JOIN message_arrivals a ON a.dialog_id = ${dialog} AND a.message_id = x.id
      ON CONFLICT (dialog_id, id) DO UPDATE SET
        segment = EXCLUDED.segment, seq = EXCLUDED.seq, author_id = EXCLUDED.author_id, kind = EXCLUDED.kind,
        body_text = EXCLUDED.body_text, search_text = EXCLUDED.search_text, body = EXCLUDED.body, reply_to = EXCLUDED.reply_to, attachments = EXCLUDED.attachments,
        created_at = EXCLUDED.created_at, received_at = EXCLUDED.received_at, edited_at = EXCLUDED.edited_at,
        deleted = EXCLUDED.deleted, system = EXCLUDED.system, reactions = EXCLUDED.reactions
      RETURNING dialog_id, id, author_id, kind, body_text, body, reply_to, attachments, created_at, edited_at, deleted, system, seq
    )
    SELECT w.*, p.id IS NOT NULL AS existed, p.edited_at AS prev_edited_at, p.deleted AS prev_deleted
    FROM written w LEFT JOIN prev p ON p.dialog_id = w.dialog_id AND p.id = w.id`;

const upsertMessages = prepared(
  "projection-upsert-messages",
  `WITH ${upsertMessagesCte(
    `jsonb_to_recordset($3::jsonb) AS x(${messageRecord})`,
    "$1::uuid",
    "$2::integer",
    "messages m WHERE m.dialog_id = $1 AND m.id = ANY($4::uuid[])",
  )}`,
);

/**
 * The same for the segments of many dialogs at once (each row names its
 * dialog and segment). Not prepared: a generic plan fixed while the tables
 * were small would keep joining this set against them as if they still were.
 */
const upsertManyMessagesSql = `WITH ${upsertMessagesCte(
  `jsonb_to_recordset($1::jsonb) AS x(dialog_id uuid, segment integer, ${messageRecord})`,
  "x.dialog_id",
  "x.segment",
  "messages m JOIN jsonb_to_recordset($1::jsonb) AS k(dialog_id uuid, id uuid) ON m.dialog_id = k.dialog_id AND m.id = k.id",
)}`;

const epoch = new Date(0).toISOString();

/**
 * A message row as the table holds it, or null when the entry cannot be one:
 * its id is not a lowercase UUID, or it is not a message map. Text is cleaned
 * and cut at `maxMessageChars`; a `replyTo` that is no message id reads as none.
 */
export const messageRow = (id: string, entry: unknown, limits: RowLimits) => {
  if (uuidOrNull(id) === null || !(entry instanceof Y.Map)) return null;
  const view = readMessage(id, entry as Y.Map<unknown>);
  const system = view.system === null ? null : jsonObject(view.system);
  const bodyText = truncateText(cleanText(view.text), limits.maxMessageChars);
  return {
    id,
    author_id: cleanId(view.author),
    kind: view.kind,
    body_text: bodyText,
    search_text: searchText(bodyText),
    body: jsonObject(view.body),
    reply_to: uuidOrNull(view.replyTo),
    attachments: view.attachments.map((ref) => ({
      ...jsonObject(ref),
      id: cleanText(ref.id),
      name: cleanText(ref.name),
      mime: cleanText(ref.mime),
      size: Number.isFinite(ref.size) ? Math.min(Math.max(Math.trunc(ref.size), 0), Number.MAX_SAFE_INTEGER) : 0,
    })),
    created_at: toTime(view.createdAt) ?? epoch,
    edited_at: toTime(view.editedAt),
    deleted: view.deleted,
    system,
    reactions: jsonSafe(view.reactions),
  };
};

/**
 * Writes the rows a document's current state implies for the changed keys.
 * Rows depend on the state alone (plus the logged arrival order), so replaying
 * the log, or starting from a snapshot, writes the same rows. The webhook
 * events are the difference between the rows replaced and the rows written,
 * with deterministic ids, so a replay adds no event twice: a segment's are
 * returned, for the caller to add with its checkpoint (meta and user
 * documents add their own). Every value a client can write is projected (see `sanitize.ts`): what a column cannot
 * hold is cleaned, clamped, or read as empty, and never fails the projection.
 */
export const writeRows = async (
  db: pg.PoolClient,
  docName: string,
  doc: Y.Doc,
  changes: Changes,
  limits: RowLimits,
): Promise<OutboxEvent[]> => {
  const name = parseDocName(docName);
  if (!name) return [];
  const { dialogId } = name;
  if (name.kind === "user") {
    await writeUserState(db, name.projectId, name.userId, doc, changes);
    return [];
  }
  if (name.kind === "meta") {
    await writeMeta(db, dialogId, doc, changes);
    return [];
  }
  const rows = segmentRows(doc, changes, limits);
  if (rows.length === 0) return [];
  const { rows: written } = await db.query<ProjectedMessage>(
    upsertMessages([dialogId, name.segment, JSON.stringify(rows), rows.map((row) => row.id)]),
  );
  return eventsFor(db, dialogId, (ref) => messageEvents(ref, written));
};

/** The message rows of a segment's changed messages. */
const segmentRows = (doc: Y.Doc, changes: Changes, limits: RowLimits) => {
  const messages = messagesOf(doc);
  const ids = changes.all ? [...messages.keys()] : [...changes.messages];
  return ids.flatMap((id) => {
    const row = messageRow(id, messages.get(id), limits);
    return row ? [row] : [];
  });
};

/** A segment document to project along with others: its dialog and segment, its state, and what changed. */
export type SegmentWrite = { dialogId: string; segment: number; doc: Y.Doc; changes: Changes };

/**
 * `writeRows` for many segment documents in one statement: their message
 * rows are upserted together, and the events of each dialog are returned.
 */
export const writeSegmentRows = async (db: pg.PoolClient, segments: readonly SegmentWrite[], limits: RowLimits): Promise<OutboxEvent[]> => {
  const rows = segments.flatMap(({ dialogId, segment, doc, changes }) =>
    segmentRows(doc, changes, limits).map((row) => ({ dialog_id: dialogId, segment, ...row })),
  );
  if (rows.length === 0) return [];
  const { rows: written } = await db.query<ProjectedMessage & { dialog_id: string }>(upsertManyMessagesSql, [JSON.stringify(rows)]);
  const byDialog = new Map<string, ProjectedMessage[]>();
  for (const row of written) byDialog.set(row.dialog_id, [...(byDialog.get(row.dialog_id) ?? []), row]);
  const events: OutboxEvent[] = [];
  for (const [dialogId, dialogRows] of byDialog) events.push(...(await eventsFor(db, dialogId, (ref) => messageEvents(ref, dialogRows))));
  return events;
};
