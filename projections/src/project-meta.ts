import { dialogKinds, metaKeys, metaOf, participantRoles, participantsOf, readsOf, readUserState } from "@mtchat/protocol";
import type pg from "pg";
import type * as Y from "yjs";
import { eventId, type OutboxEvent } from "./outbox.ts";
import { emit } from "./project-events.ts";
import type { Changes } from "./project-rows.ts";
import { clampInt, cleanId, isKeyText, jsonObject, textOrNull, toTime, truncateText, uuidOrNull } from "./sanitize.ts";
import { type DialogRef, type ProjectedParticipant, participantEvents } from "./webhook-events.ts";

/** The largest segment index a document name may carry (`parseDocName`). */
const maxSegment = 1_000_000;

const epoch = new Date(0).toISOString();

const isRecord = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === "object" && !Array.isArray(value);

/** An identifier as a row shows it (NUL marked, never dropped), cut to `max` characters, or null. */
const idOrNull = (value: unknown, max = 256): string | null => (typeof value === "string" ? truncateText(cleanId(value), max) : null);

/**
 * Access scopes as the tables hold them. An empty level list on the dialog
 * side matches anyone in the tenant, so a scope is dropped whole (never
 * narrowed to a wider one) when any part of it cannot be stored exactly.
 */
export const readScopes = (value: unknown): { tenant_uid: string; l1: string[]; l2: string[] }[] => {
  if (!Array.isArray(value)) return [];
  const exactStrings = (list: unknown): list is string[] =>
    Array.isArray(list) && list.every((item) => typeof item === "string" && isKeyText(item));
  return value.flatMap((scope: unknown) => {
    if (!isRecord(scope)) return [];
    const { tenant_uid: tenant, scope_level1: l1, scope_level2: l2 } = scope;
    if (typeof tenant !== "string" || !isKeyText(tenant) || !exactStrings(l1) || !exactStrings(l2)) return [];
    return [{ tenant_uid: tenant, l1, l2 }];
  });
};

const roles = new Set<string>(Object.values(participantRoles));
const kinds = new Set<string>(Object.values(dialogKinds));

/** A participant row, or null when the entry cannot be one (its user id cannot be stored exactly and indexed, or it is no entry). */
export const participantRow = (userId: string, entry: unknown): ProjectedParticipant | null => {
  if (!isKeyText(userId) || !isRecord(entry)) return null;
  return {
    user_id: userId,
    display_name: textOrNull(entry.displayName) ?? "",
    company: textOrNull(entry.company),
    // Least privilege for a role the protocol does not know.
    role: typeof entry.role === "string" && roles.has(entry.role) ? entry.role : participantRoles.readonly,
    joined_at: toTime(entry.joinedAt) ?? epoch,
  };
};

/** A read cursor row, or null when it names no message id (or its user id cannot be stored exactly and indexed). */
export const readCursorRow = (userId: string, cursor: unknown): { user_id: string; message_id: string; read_at: string } | null => {
  if (!isKeyText(userId) || !isRecord(cursor)) return null;
  const messageId = uuidOrNull(cursor.messageId);
  return messageId ? { user_id: userId, message_id: messageId, read_at: toTime(cursor.readAt) ?? epoch } : null;
};

/**
 * dialog.created the first time the dialog is projected (its id is the dialog's: a replay finds it taken), and
 * dialog.updated when its title, object URL or meta changed, named by the meta document's `updatedAt` (the host's
 * change that caused it).
 */
const lifecycleEvents = (
  ref: DialogRef,
  dialogId: string,
  meta: Y.Map<unknown>,
  before: { title: string | null; object_url: string | null; meta: Record<string, unknown> } | undefined,
): OutboxEvent[] => {
  const now = {
    title: textOrNull(meta.get(metaKeys.title)),
    object_url: textOrNull(meta.get(metaKeys.objectUrl)),
    meta: jsonObject(meta.get(metaKeys.hostMeta)),
  };
  const base = { dialog_id: dialogId, object_type: ref.objectType, object_id: ref.objectId, ...now };
  if (!before) {
    return [
      {
        id: eventId(dialogId, "dialog.created"),
        projectId: ref.projectId,
        dialogId,
        event: "dialog.created",
        data: {
          ...base,
          type: textOrNull(meta.get(metaKeys.kind)) ?? dialogKinds.object,
          created_by: textOrNull(meta.get(metaKeys.createdBy)),
        },
      },
    ];
  }
  const changed = (["title", "object_url", "meta"] as const).filter((key) => JSON.stringify(before[key]) !== JSON.stringify(now[key]));
  if (changed.length === 0) return [];
  return [
    {
      id: eventId(dialogId, "dialog.updated", String(meta.get(metaKeys.updatedAt) ?? ""), JSON.stringify(now)),
      projectId: ref.projectId,
      dialogId,
      event: "dialog.updated",
      data: { ...base, changed, previous: Object.fromEntries(changed.map((key) => [key, before[key]])) },
    },
  ];
};

/** The meta document → `dialogs`, `access_scopes`, `participants`, `read_cursors` (and their events). */
export const writeMeta = async (db: pg.PoolClient, dialogId: string, doc: Y.Doc, changes: Changes): Promise<void> => {
  const meta = metaOf(doc);
  if (changes.meta && meta.has(metaKeys.objectType)) {
    const archivedThrough = uuidOrNull(meta.get(metaKeys.autoArchivedThrough));
    const projectId = meta.get(metaKeys.projectId);
    const kind = meta.get(metaKeys.kind);
    const { rows: previous } = await db.query<{
      auto_archived_through: string | null;
      title: string | null;
      object_url: string | null;
      meta: Record<string, unknown>;
    }>("SELECT auto_archived_through, title, object_url, meta FROM dialogs WHERE id = $1", [dialogId]);
    // The registry is where the dialog belongs; the meta document's copy is used only when it can be stored exactly.
    // Object type and id are cut to the Management API's limits (128, 256), which keeps their index entry in bounds.
    await db.query(
      `INSERT INTO dialogs (id, project_id, object_type, object_id, title, object_url, created_by, created_at, meta, head_segment, kind, auto_archived_through)
       SELECT $1, COALESCE($2, r.project_id), $3, $4, $5, $6, $7, COALESCE($8, r.created_at), $9, $10, $11, $12
       FROM dialog_registry r WHERE r.id = $1
       ON CONFLICT (id) DO UPDATE SET project_id = EXCLUDED.project_id, object_type = EXCLUDED.object_type,
         object_id = EXCLUDED.object_id, title = EXCLUDED.title, object_url = EXCLUDED.object_url, created_by = EXCLUDED.created_by,
         created_at = EXCLUDED.created_at, meta = EXCLUDED.meta, head_segment = EXCLUDED.head_segment, kind = EXCLUDED.kind,
         auto_archived_through = EXCLUDED.auto_archived_through`,
      [
        dialogId,
        typeof projectId === "string" && isKeyText(projectId) && projectId.length <= 128 ? projectId : null,
        idOrNull(meta.get(metaKeys.objectType), 128) ?? "",
        idOrNull(meta.get(metaKeys.objectId), 256) ?? "",
        textOrNull(meta.get(metaKeys.title)),
        textOrNull(meta.get(metaKeys.objectUrl)),
        idOrNull(meta.get(metaKeys.createdBy), Number.MAX_SAFE_INTEGER),
        toTime(meta.get(metaKeys.createdAt)),
        JSON.stringify(jsonObject(meta.get(metaKeys.hostMeta))),
        clampInt(meta.get(metaKeys.headSegment), 0, maxSegment, 0),
        typeof kind === "string" && kinds.has(kind) ? kind : dialogKinds.object,
        archivedThrough,
      ],
    );
    await emit(db, dialogId, (ref) => lifecycleEvents(ref, dialogId, meta, previous[0]));
    // Auto-archive is the server's mark in the meta document; each new mark is one event, named by the message it archives through.
    if (archivedThrough && previous[0]?.auto_archived_through !== archivedThrough) {
      await emit(db, dialogId, (ref) => [
        {
          id: eventId(dialogId, "dialog.archived", archivedThrough),
          projectId: ref.projectId,
          dialogId,
          event: "dialog.archived",
          data: {
            dialog_id: dialogId,
            object_type: ref.objectType,
            object_id: ref.objectId,
            reason: "inactive",
            archived_through: archivedThrough,
          },
        },
      ]);
    }
    const scopes = readScopes(meta.get(metaKeys.accessScopes));
    await db.query("DELETE FROM access_scopes WHERE dialog_id = $1", [dialogId]);
    if (scopes.length > 0) {
      await db.query(
        `INSERT INTO access_scopes (dialog_id, position, tenant_uid, scope_level1, scope_level2)
         SELECT $1, s.ord - 1, s.value->>'tenant_uid',
                ARRAY(SELECT jsonb_array_elements_text(s.value->'l1')), ARRAY(SELECT jsonb_array_elements_text(s.value->'l2'))
         FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS s(value, ord)`,
        [dialogId, JSON.stringify(scopes)],
      );
    }
  }

  const participants = participantsOf(doc);
  const participantIds = changes.all ? null : [...changes.participants].filter(isKeyText);
  const replaced = "RETURNING user_id, display_name, company, role, joined_at";
  let before: ProjectedParticipant[] = [];
  if (changes.all)
    before = (await db.query<ProjectedParticipant>(`DELETE FROM participants WHERE dialog_id = $1 ${replaced}`, [dialogId])).rows;
  else if (participantIds && participantIds.length > 0) {
    before = (
      await db.query<ProjectedParticipant>(`DELETE FROM participants WHERE dialog_id = $1 AND user_id = ANY($2::text[]) ${replaced}`, [
        dialogId,
        participantIds,
      ])
    ).rows;
  }
  const present = (participantIds ?? [...participants.keys()]).flatMap((userId) => {
    const row = participantRow(userId, participants.get(userId));
    return row ? [row] : [];
  });
  if (present.length > 0) {
    await db.query(
      `INSERT INTO participants (dialog_id, user_id, display_name, company, role, joined_at)
       SELECT $1, p.user_id, p.display_name, p.company, p.role, p.joined_at
       FROM jsonb_to_recordset($2::jsonb) AS p(user_id text, display_name text, company text, role text, joined_at timestamptz)`,
      [dialogId, JSON.stringify(present)],
    );
  }
  await emit(db, dialogId, (ref) => participantEvents(ref, before, present));

  // Each changed cursor is replaced: one removed, or changed to something that names no message, leaves no row (as a replay would).
  const reads = readsOf(doc);
  const readIds = changes.all ? [...reads.keys()] : [...changes.reads];
  if (changes.all) await db.query("DELETE FROM read_cursors WHERE dialog_id = $1", [dialogId]);
  else if (readIds.length > 0) {
    await db.query("DELETE FROM read_cursors WHERE dialog_id = $1 AND user_id = ANY($2::text[])", [dialogId, readIds.filter(isKeyText)]);
  }
  const cursors = readIds.flatMap((userId) => {
    const row = readCursorRow(userId, reads.get(userId));
    return row ? [row] : [];
  });
  if (cursors.length > 0) {
    await db.query(
      `INSERT INTO read_cursors (dialog_id, user_id, message_id, read_at)
       SELECT $1, c.user_id, c.message_id, c.read_at FROM jsonb_to_recordset($2::jsonb) AS c(user_id text, message_id uuid, read_at timestamptz)`,
      [dialogId, JSON.stringify(cursors)],
    );
    // One event per cursor a user moved, named by the message it reaches (a replay finds it taken).
    await emit(db, dialogId, (ref) =>
      cursors.map((cursor) => ({
        id: eventId(dialogId, "message.read", cursor.user_id, cursor.message_id),
        projectId: ref.projectId,
        dialogId,
        event: "message.read" as const,
        data: {
          dialog_id: dialogId,
          object_type: ref.objectType,
          object_id: ref.objectId,
          user_id: cursor.user_id,
          last_read_message_id: cursor.message_id,
          read_at: cursor.read_at,
        },
      })),
    );
  }
};

/**
 * A user's state document → `user_dialog_state`, one row per dialog the user
 * set anything for. A user id or project id that cannot be stored exactly
 * and indexed (NUL, over `maxKeyChars`) has no rows: no query can name that user anyway.
 */
export const writeUserState = async (db: pg.PoolClient, projectId: string, userId: string, doc: Y.Doc, changes: Changes): Promise<void> => {
  if (!isKeyText(projectId) || !isKeyText(userId)) return;
  const states = readUserState(doc);
  const dialogIds = changes.all ? [...states.keys()] : [...changes.userState];
  if (changes.all) await db.query("DELETE FROM user_dialog_state WHERE project_id = $1 AND user_id = $2", [projectId, userId]);
  if (dialogIds.length === 0) return;
  const rows = dialogIds.flatMap((dialogId) => {
    const state = states.get(dialogId);
    return state
      ? [
          {
            dialog_id: dialogId,
            pinned: state.pinned,
            notifications_enabled: state.notifications,
            archived: state.archived?.archived ?? null,
            archived_through: uuidOrNull(state.archived?.through),
          },
        ]
      : [];
  });
  await db.query("DELETE FROM user_dialog_state WHERE project_id = $1 AND user_id = $2 AND dialog_id = ANY($3::uuid[])", [
    projectId,
    userId,
    dialogIds,
  ]);
  if (rows.length === 0) return;
  await db.query(
    `INSERT INTO user_dialog_state (project_id, user_id, dialog_id, pinned, notifications_enabled, archived, archived_through)
     SELECT $1, $2, s.dialog_id, s.pinned, s.notifications_enabled, s.archived, s.archived_through
     FROM jsonb_to_recordset($3::jsonb) AS s(dialog_id uuid, pinned boolean, notifications_enabled boolean, archived boolean, archived_through uuid)`,
    [projectId, userId, JSON.stringify(rows)],
  );
};
