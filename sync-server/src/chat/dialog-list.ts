import type pg from "pg";
import { z } from "zod";
import type { User } from "../auth/verify-token.ts";
import { cursorCodec, cursorInstant, cursorUuid } from "../http/cursor.ts";
import {
  participatesSql,
  scopeMatchSql,
  scopePlaceholders,
  sqlParams,
  unreadCountSql,
  userStateColumns,
  userStateJoins,
} from "./readable-sql.ts";

export type DialogListQuery = {
  type: "participating" | "available";
  /** true: only archived dialogs; false (the default): only the rest. Participating lists only. */
  archived: boolean;
  search?: string | undefined;
  limit: number;
  cursor?: string | undefined;
};

/**
 * Where the previous page ended. `asOf` fixes the moment the first page was
 * read: later pages order dialogs by their activity as of then, so a dialog
 * that gets a new message while the caller pages neither jumps ahead of the
 * cursor (and is missed) nor appears twice. It shows up on top after a refresh.
 */
const cursors = cursorCodec(z.strictObject({ asOf: cursorInstant, pinned: z.boolean(), at: cursorInstant, id: cursorUuid }));

const escapeLike = (text: string) => text.replace(/[\\%_]/g, (char) => `\\${char}`);

const iso = (value: unknown) => (value ? new Date(value as Date).toISOString() : null);

/** Columns every list item has, in MTChat's names. */
const dialogColumns = `d.id, d.object_id, d.object_type, d.title, d.object_url, d.created_by, d.created_at, d.meta, d.kind AS type`;

/**
 * The per-user fields of a dialog for a participant: unread count, archive,
 * pin, notifications and the newest message that is not deleted.
 */
const participantFields = (user: string) => `
  ${unreadCountSql("d", user)} AS unread_count,
  ${userStateColumns},
  lm.id AS lm_id, lm.author_id AS lm_sender_id, lm.kind AS lm_type, lm.body_text AS lm_content, lm.created_at AS lm_sent_at`;

const participantJoins = (user: string, project: string) => `
  ${userStateJoins(user, project)}
  LEFT JOIN LATERAL (SELECT id, author_id, kind, body_text, created_at FROM messages
                     WHERE dialog_id = d.id AND NOT deleted ORDER BY seq DESC NULLS LAST LIMIT 1) lm ON true`;

export type DialogListItem = Record<string, unknown>;

/** Shapes a row of {@link DialogList} queries into the API's list item. */
export const toListItem = (row: Record<string, unknown>, participant: boolean): DialogListItem => {
  const item: DialogListItem = {
    id: row.id,
    object_id: row.object_id,
    object_type: row.object_type,
    type: row.type,
    title: row.title,
    object_url: row.object_url,
    created_by: row.created_by,
    created_at: iso(row.created_at),
    meta: row.meta,
    participants_count: Number(row.participants_count),
    i_am_participant: participant,
    can_join: !participant,
    last_activity_at: iso(row.activity_at),
  };
  if (!participant) return item;
  return {
    ...item,
    unread_count: Number(row.unread_count),
    is_archived: row.is_archived === true,
    is_pinned: row.is_pinned === true,
    notifications_enabled: row.notifications_enabled !== false,
    last_message: row.lm_id
      ? { id: row.lm_id, sender_id: row.lm_sender_id, message_type: row.lm_type, content: row.lm_content, sent_at: iso(row.lm_sent_at) }
      : null,
  };
};

/**
 * The caller's dialog lists, read from the projection. Participating: pinned
 * first, then by last activity (the newest message's arrival). Available: the
 * dialogs the caller's scopes match but they have not joined.
 */
export class DialogList {
  constructor(private readonly pool: pg.Pool) {}

  async list(user: User, query: DialogListQuery): Promise<{ items: DialogListItem[]; next_cursor: string | null }> {
    const cursor = query.cursor ? cursors.decode(query.cursor) : null;
    const asOf = cursor?.asOf ?? new Date().toISOString();
    const participating = query.type === "participating";
    const { values, add } = sqlParams();
    const me = add(user.userId);
    const project = add(user.projectId);
    const at = add(asOf);
    const candidates = participating
      ? participatesSql("d", me)
      : `NOT ${participatesSql("d", me)} AND ${scopeMatchSql("d", scopePlaceholders(add, user))}`;
    const like = query.search ? add(`%${escapeLike(query.search)}%`) : null;
    // Like MTChat: the title, or a participant's company (and here their name, and the object too).
    const search = like
      ? `AND (d.title ILIKE ${like} OR d.object_id ILIKE ${like} OR d.object_type ILIKE ${like}
              OR EXISTS (SELECT 1 FROM participants ps WHERE ps.dialog_id = d.id AND (ps.display_name ILIKE ${like} OR ps.company ILIKE ${like})))`
      : "";
    const archived = participating ? `AND x.is_archived = ${add(query.archived)}` : "";
    const after = cursor
      ? `AND (x.is_pinned::int, x.activity_at, x.id) < (${add(cursor.pinned ? 1 : 0)}::int, ${add(cursor.at)}::timestamptz, ${add(cursor.id)}::uuid)`
      : "";
    // The cursor keeps activity to the microsecond: cut to a JavaScript Date's millisecond, it would skip the dialogs
    // whose last message arrived in the same millisecond as the page's last one.
    const { rows } = await this.pool.query(
      `SELECT *, to_char(x.activity_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS activity_exact FROM (
         SELECT ${dialogColumns},
                (SELECT count(*) FROM participants pc WHERE pc.dialog_id = d.id) AS participants_count,
                COALESCE(asof.received_at, d.created_at) AS activity_at
                ${participating ? `, ${participantFields(me)}` : ", false AS is_pinned"}
         FROM dialogs d
         LEFT JOIN LATERAL (SELECT received_at FROM messages WHERE dialog_id = d.id AND received_at <= ${at}::timestamptz
                            ORDER BY seq DESC NULLS LAST LIMIT 1) asof ON true
         ${participating ? participantJoins(me, project) : ""}
         WHERE d.project_id = ${project} AND d.created_at <= ${at}::timestamptz AND ${candidates} ${search}
       ) x
       WHERE true ${archived} ${after}
       ORDER BY x.is_pinned DESC, x.activity_at DESC, x.id DESC
       LIMIT ${add(query.limit + 1)}`,
      values,
    );
    const page = rows.slice(0, query.limit);
    const last = page.at(-1);
    return {
      items: page.map((row) => toListItem(row, participating)),
      next_cursor:
        rows.length > query.limit && last
          ? cursors.encode({ asOf, pinned: last.is_pinned === true, at: last.activity_exact, id: last.id })
          : null,
    };
  }

  /** The dialogs bound to a host object that the caller may read, oldest first. */
  async byObject(user: User, objectType: string, objectId: string): Promise<DialogListItem[]> {
    const { values, add } = sqlParams();
    const me = add(user.userId);
    const project = add(user.projectId);
    const { rows } = await this.pool.query(
      `SELECT ${dialogColumns},
              (SELECT count(*) FROM participants pc WHERE pc.dialog_id = d.id) AS participants_count,
              COALESCE((SELECT received_at FROM messages WHERE dialog_id = d.id ORDER BY seq DESC NULLS LAST LIMIT 1), d.created_at) AS activity_at,
              ${participatesSql("d", me)} AS participant,
              ${participantFields(me)}
       FROM dialogs d
       ${participantJoins(me, project)}
       WHERE d.project_id = ${project} AND d.object_type = ${add(objectType)} AND d.object_id = ${add(objectId)}
         AND (${participatesSql("d", me)} OR ${scopeMatchSql("d", scopePlaceholders(add, user))})
       ORDER BY d.created_at, d.id`,
      values,
    );
    return rows.map((row) => toListItem(row, row.participant === true));
  }
}
