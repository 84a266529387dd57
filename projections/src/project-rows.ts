import {
  type AccessScope,
  messagesOf,
  metaKeys,
  metaOf,
  type ParticipantEntry,
  parseDocName,
  parseUserStateKey,
  participantsOf,
  type ReadCursor,
  readMessage,
  readsOf,
  readUserState,
  userStateOf,
} from "@mtchat/protocol";
import type pg from "pg";
import type * as Y from "yjs";
import { enqueueEvents, eventId, type OutboxEvent } from "./outbox.ts";
import { type DialogRef, messageEvents, type ProjectedMessage, type ProjectedParticipant, participantEvents } from "./webhook-events.ts";

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

/** Records which keys of which roots a transaction touched. */
export const trackChanges = (doc: Y.Doc, changes: Changes): (() => void) => {
  const onMeta = () => {
    changes.meta = true;
  };
  const keysInto = (target: Set<string>) => (event: { keysChanged: Set<string> }) => {
    for (const key of event.keysChanged) target.add(key);
  };
  const onParticipants = keysInto(changes.participants);
  const onReads = keysInto(changes.reads);
  const onMessages = (events: Y.YEvent<Y.AbstractType<unknown>>[]) => {
    for (const event of events) {
      if (event.path.length === 0) {
        for (const key of (event as Y.YMapEvent<unknown>).keysChanged) changes.messages.add(key);
      } else if (typeof event.path[0] === "string") {
        changes.messages.add(event.path[0]);
      }
    }
  };
  const onUserState = (event: { keysChanged: Set<string> }) => {
    for (const key of event.keysChanged) {
      const parsed = parseUserStateKey(key);
      if (parsed) changes.userState.add(parsed.dialogId);
    }
  };
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

/** Milliseconds to an ISO time PostgreSQL accepts, whatever a client wrote. */
const toTime = (ms: unknown): string | null => {
  if (typeof ms !== "number" || !Number.isFinite(ms)) return null;
  return new Date(Math.min(Math.max(ms, 0), 253_402_300_799_999)).toISOString();
};

const text = (value: unknown): string | null => (typeof value === "string" ? value : null);

/** A dialog's project and business object never change once set, so they are remembered (dialog ids are never reused). */
const knownRefs = new Map<string, DialogRef>();

/** The dialog's project and business object, as events describe them (the object once the meta document is projected). */
const dialogRef = async (db: pg.PoolClient, dialogId: string): Promise<DialogRef> => {
  const known = knownRefs.get(dialogId);
  if (known) return known;
  const { rows } = await db.query<{ project_id: string; object_type: string | null; object_id: string | null }>(
    "SELECT r.project_id, d.object_type, d.object_id FROM dialog_registry r LEFT JOIN dialogs d ON d.id = r.id WHERE r.id = $1",
    [dialogId],
  );
  const row = rows[0];
  const ref = { dialogId, projectId: row?.project_id ?? "default", objectType: row?.object_type ?? null, objectId: row?.object_id ?? null };
  if (row?.object_type) {
    if (knownRefs.size >= 10_000) knownRefs.delete(knownRefs.keys().next().value as string);
    knownRefs.set(dialogId, ref);
  }
  return ref;
};

/** Adds the webhook events of this projection to the outbox, in its transaction; the dialog is looked up only when there are any. */
const emit = async (db: pg.PoolClient, dialogId: string, build: (ref: DialogRef) => OutboxEvent[]): Promise<void> => {
  if (build({ dialogId, projectId: "", objectType: null, objectId: null }).length === 0) return;
  await enqueueEvents(db, build(await dialogRef(db, dialogId)));
};

/**
 * Writes the rows a document's current state implies for the changed keys.
 * Rows depend on the state alone (plus the logged arrival order), so replaying
 * the log, or starting from a snapshot, writes the same rows. The webhook
 * events are the difference between the rows replaced and the rows written,
 * with deterministic ids, so a replay adds no event twice.
 */
export const writeRows = async (db: pg.PoolClient, docName: string, doc: Y.Doc, changes: Changes): Promise<void> => {
  const name = parseDocName(docName);
  if (!name) return;
  const { dialogId } = name;
  if (name.kind === "user") {
    await writeUserState(db, name.projectId, name.userId, doc, changes);
    return;
  }
  if (name.kind === "segment") {
    const messages = messagesOf(doc);
    const ids = changes.all ? [...messages.keys()] : [...changes.messages];
    const rows = ids.flatMap((id) => {
      const entry = messages.get(id);
      if (!entry) return [];
      const view = readMessage(id, entry);
      return [
        {
          id,
          author_id: view.author,
          kind: view.kind,
          body_text: view.text,
          body: view.body,
          reply_to: view.replyTo,
          attachments: view.attachments,
          created_at: toTime(view.createdAt) ?? new Date(0).toISOString(),
          edited_at: toTime(view.editedAt),
          deleted: view.deleted,
          system: view.system,
          reactions: view.reactions,
        },
      ];
    });
    if (rows.length === 0) return;
    // One statement: `prev` sees the rows as they were before the upsert, which the events are diffed against.
    const { rows: written } = await db.query<ProjectedMessage>(
      `WITH prev AS (
         SELECT id, edited_at, deleted FROM messages WHERE dialog_id = $1 AND id = ANY($4::uuid[])
       ), written AS (
         INSERT INTO messages (dialog_id, id, segment, seq, author_id, kind, body_text, body, reply_to, attachments, created_at, received_at, edited_at, deleted, system, reactions)
         SELECT $1, x.id, $2, a.seq, x.author_id, x.kind, x.body_text, x.body, x.reply_to, x.attachments,
                LEAST(x.created_at, COALESCE(a.received_at, x.created_at)), a.received_at, x.edited_at, x.deleted, x.system, x.reactions
         FROM jsonb_to_recordset($3::jsonb) AS x(id uuid, author_id text, kind text, body_text text, body jsonb, reply_to uuid,
              attachments jsonb, created_at timestamptz, edited_at timestamptz, deleted boolean, system jsonb, reactions jsonb)
         LEFT JOIN message_arrivals a ON a.dialog_id = $1 AND a.message_id = x.id
         ON CONFLICT (dialog_id, id) DO UPDATE SET
           segment = EXCLUDED.segment, seq = EXCLUDED.seq, author_id = EXCLUDED.author_id, kind = EXCLUDED.kind,
           body_text = EXCLUDED.body_text, body = EXCLUDED.body, reply_to = EXCLUDED.reply_to, attachments = EXCLUDED.attachments,
           created_at = EXCLUDED.created_at, received_at = EXCLUDED.received_at, edited_at = EXCLUDED.edited_at,
           deleted = EXCLUDED.deleted, system = EXCLUDED.system, reactions = EXCLUDED.reactions
         RETURNING id, author_id, kind, body_text, body, reply_to, attachments, created_at, edited_at, deleted, system, seq
       )
       SELECT w.*, p.id IS NOT NULL AS existed, p.edited_at AS prev_edited_at, p.deleted AS prev_deleted
       FROM written w LEFT JOIN prev p ON p.id = w.id`,
      [dialogId, name.segment, JSON.stringify(rows), rows.map((row) => row.id)],
    );
    await emit(db, dialogId, (ref) => messageEvents(ref, written));
    return;
  }

  const meta = metaOf(doc);
  if (changes.meta && meta.has(metaKeys.objectType)) {
    const scopes = (meta.get(metaKeys.accessScopes) as AccessScope[] | undefined) ?? [];
    const archivedThrough = text(meta.get(metaKeys.autoArchivedThrough));
    const { rows: previous } = await db.query<{ auto_archived_through: string | null }>(
      "SELECT auto_archived_through FROM dialogs WHERE id = $1",
      [dialogId],
    );
    await db.query(
      `INSERT INTO dialogs (id, project_id, object_type, object_id, title, object_url, created_by, created_at, meta, head_segment, kind, auto_archived_through)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
       ON CONFLICT (id) DO UPDATE SET project_id = EXCLUDED.project_id, object_type = EXCLUDED.object_type,
         object_id = EXCLUDED.object_id, title = EXCLUDED.title, object_url = EXCLUDED.object_url, created_by = EXCLUDED.created_by,
         created_at = EXCLUDED.created_at, meta = EXCLUDED.meta, head_segment = EXCLUDED.head_segment, kind = EXCLUDED.kind,
         auto_archived_through = EXCLUDED.auto_archived_through`,
      [
        dialogId,
        text(meta.get(metaKeys.projectId)) ?? "default",
        text(meta.get(metaKeys.objectType)),
        text(meta.get(metaKeys.objectId)),
        text(meta.get(metaKeys.title)),
        text(meta.get(metaKeys.objectUrl)),
        text(meta.get(metaKeys.createdBy)),
        toTime(meta.get(metaKeys.createdAt)),
        JSON.stringify(meta.get(metaKeys.hostMeta) ?? {}),
        Number(meta.get(metaKeys.headSegment) ?? 0),
        text(meta.get(metaKeys.kind)) ?? "object",
        archivedThrough,
      ],
    );
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
    await db.query("DELETE FROM access_scopes WHERE dialog_id = $1", [dialogId]);
    if (scopes.length > 0) {
      await db.query(
        `INSERT INTO access_scopes (dialog_id, position, tenant_uid, scope_level1, scope_level2)
         SELECT $1, s.ord - 1, s.value->>'tenant_uid',
                ARRAY(SELECT jsonb_array_elements_text(s.value->'l1')), ARRAY(SELECT jsonb_array_elements_text(s.value->'l2'))
         FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS s(value, ord)`,
        [
          dialogId,
          JSON.stringify(scopes.map((scope) => ({ tenant_uid: scope.tenant_uid, l1: scope.scope_level1, l2: scope.scope_level2 }))),
        ],
      );
    }
  }

  const participants = participantsOf(doc);
  const participantIds = changes.all ? null : [...changes.participants];
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
    const entry = participants.get(userId) as ParticipantEntry | undefined;
    return entry
      ? [{ user_id: userId, display_name: entry.displayName, company: entry.company, role: entry.role, joined_at: toTime(entry.joinedAt) }]
      : [];
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

  const reads = readsOf(doc);
  const readIds = changes.all ? [...reads.keys()] : [...changes.reads];
  if (changes.all) await db.query("DELETE FROM read_cursors WHERE dialog_id = $1", [dialogId]);
  const cursors = readIds.flatMap((userId) => {
    const cursor = reads.get(userId) as ReadCursor | undefined;
    return cursor ? [{ user_id: userId, message_id: cursor.messageId, read_at: toTime(cursor.readAt) }] : [];
  });
  if (cursors.length > 0) {
    await db.query(
      `INSERT INTO read_cursors (dialog_id, user_id, message_id, read_at)
       SELECT $1, c.user_id, c.message_id, c.read_at FROM jsonb_to_recordset($2::jsonb) AS c(user_id text, message_id uuid, read_at timestamptz)
       ON CONFLICT (dialog_id, user_id) DO UPDATE SET message_id = EXCLUDED.message_id, read_at = EXCLUDED.read_at`,
      [dialogId, JSON.stringify(cursors)],
    );
  }
};

/** A user's state document → `user_dialog_state`, one row per dialog the user set anything for. */
const writeUserState = async (db: pg.PoolClient, projectId: string, userId: string, doc: Y.Doc, changes: Changes): Promise<void> => {
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
            archived_through: state.archived?.through ?? null,
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
