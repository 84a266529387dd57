import type { z } from "@hono/zod-openapi";
import { matchesScopes, systemUserId } from "@mtchat/authz";
import { enqueueEvent, eventId } from "@mtchat/projections";
import {
  type AccessScope,
  createMessage,
  type DialogKind,
  metaDocName,
  metaKeys,
  metaOf,
  type ParticipantEntry,
  participantsOf,
  schemaVersion,
  segmentDocName,
} from "@mtchat/protocol";
import type pg from "pg";
import { v7 as uuidv7 } from "uuid";
import { sqlParams } from "../chat/readable-sql.ts";
import { publishAccessChange } from "../cluster/cluster.ts";
import { transaction } from "../db/transaction.ts";
import { ApiError } from "../http/errors.ts";
import type { createDialogSchema, participantInputSchema, participantRefSchema } from "../http/schemas.ts";
import type { ChatSync, ConnectionContext } from "../sync/chat-sync.ts";
import type { DialogAccess } from "../sync/dialog-access.ts";
import { Refusal } from "../sync/refusal.ts";
import type { Directory } from "../users/directory.ts";

/** Request bodies, inferred from the schemas that validate them. */
export type ParticipantInput = z.output<typeof participantInputSchema>;
/** A participant as the API takes it: maybe without a name (then the directory's, or the id), maybe the id alone. */
export type ParticipantRef = z.output<typeof participantRefSchema>;
export type CreateDialogInput = z.output<typeof createDialogSchema>;

export type DialogRow = {
  id: string;
  object_id: string;
  object_type: string;
  type: DialogKind;
  title: string | null;
  object_url: string | null;
  created_by: string | null;
  created_at: string;
  meta: Record<string, unknown>;
};

const entryOf = (participant: ParticipantInput, joinedAt: number): ParticipantEntry => ({
  displayName: participant.display_name,
  company: participant.company ?? null,
  role: participant.role,
  joinedAt,
});

/**
 * The Management API's operations. Dialog content is written into the meta
 * document as the server (so clients see it, offline too) and read back from
 * the projection, which `serverWrite` has caught up before it returns.
 */
export class DialogService {
  constructor(
    private readonly pool: pg.Pool,
    private readonly sync: ChatSync,
    private readonly access: DialogAccess,
    private readonly options: { segmentSize: number; now?: () => number },
    private readonly directory?: Pick<Directory, "getMany">,
  ) {}

  /**
   * Profiles for participants given by id or without a name: what the host's directory holds, else the id (until
   * the user's token names them, see `Directory`). What the request gives wins over the directory.
   */
  private async resolve(projectId: string, refs: ParticipantRef[]): Promise<ParticipantInput[]> {
    const unique = [...new Map(refs.map((ref) => [ref.user_id, ref])).values()];
    const known = this.directory
      ? await this.directory.getMany(
          projectId,
          unique.map((ref) => ref.user_id),
        )
      : new Map();
    return unique.map((ref) => {
      const entry = known.get(ref.user_id);
      const given = ref as Partial<ParticipantInput> & { user_id: string; role: ParticipantInput["role"] };
      return {
        user_id: ref.user_id,
        role: given.role,
        display_name: given.display_name ?? entry?.display_name ?? ref.user_id,
        company: given.company ?? entry?.company ?? null,
        email: given.email ?? entry?.email ?? null,
        phone: given.phone ?? entry?.phone ?? null,
      };
    });
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /**
   * The dialog registered under `key` in the project (direct and self
   * dialogs), created from `input` when there is none. A session advisory
   * lock on the key makes concurrent callers, on any node, get the same one.
   */
  async getOrCreate(projectId: string, key: string, input: CreateDialogInput): Promise<{ dialog: DialogRow; created: boolean }> {
    const client = await this.pool.connect();
    try {
      await client.query("SELECT pg_advisory_lock(hashtextextended($1, 0))", [JSON.stringify([projectId, key])]);
      try {
        const { rows } = await client.query<{ dialog_id: string }>("SELECT dialog_id FROM dialog_keys WHERE project_id = $1 AND key = $2", [
          projectId,
          key,
        ]);
        const existing = rows[0]?.dialog_id;
        if (existing) return { dialog: await this.mustDialog(projectId, existing), created: false };
        const dialog = await this.create(projectId, input);
        await client.query("INSERT INTO dialog_keys (project_id, key, dialog_id) VALUES ($1, $2, $3)", [projectId, key, dialog.id]);
        return { dialog, created: true };
      } finally {
        await client.query("SELECT pg_advisory_unlock(hashtextextended($1, 0))", [JSON.stringify([projectId, key])]);
      }
    } finally {
      client.release();
    }
  }

  async create(projectId: string, input: CreateDialogInput): Promise<DialogRow> {
    const id = uuidv7();
    const createdAt = this.now();
    const participants = await this.resolve(projectId, input.participants);
    await this.pool.query("INSERT INTO dialog_registry (id, project_id) VALUES ($1, $2)", [id, projectId]);
    await this.saveContacts(id, participants);
    await this.sync.serverWrite(metaDocName(id), (doc) => {
      const meta = metaOf(doc);
      meta.set(metaKeys.schemaVersion, schemaVersion);
      meta.set(metaKeys.dialogId, id);
      meta.set(metaKeys.projectId, projectId);
      meta.set(metaKeys.kind, input.type);
      meta.set(metaKeys.objectType, input.object_type);
      meta.set(metaKeys.objectId, input.object_id);
      meta.set(metaKeys.title, input.title ?? null);
      meta.set(metaKeys.objectUrl, input.object_url ?? null);
      meta.set(metaKeys.createdBy, input.created_by ?? null);
      meta.set(metaKeys.createdAt, createdAt);
      meta.set(metaKeys.hostMeta, input.meta);
      meta.set(metaKeys.accessScopes, input.access_scopes);
      meta.set(metaKeys.headSegment, 0);
      meta.set(metaKeys.segmentSize, this.options.segmentSize);
      const entries = participantsOf(doc);
      for (const participant of participants) entries.set(participant.user_id, entryOf(participant, createdAt));
    });
    await this.sync.serverWrite(
      segmentDocName(id, 0),
      (doc) => {
        createMessage(doc, {
          id: uuidv7(),
          author: systemUserId,
          kind: "system",
          createdAt,
          text: "",
          system: { event: "chat_created", title: input.title ?? null, created_by: input.created_by ?? null },
        });
      },
      { onlyNewMessages: true },
    );
    return this.mustDialog(projectId, id);
  }

  async get(projectId: string, id: string) {
    const dialog = await this.mustDialog(projectId, id);
    const [participants, scopes] = await Promise.all([
      this.pool.query(
        `SELECT p.user_id, p.display_name, p.company, c.email, c.phone, p.role, p.joined_at
         FROM participants p LEFT JOIN participant_contacts c USING (dialog_id, user_id)
         WHERE p.dialog_id = $1 ORDER BY p.joined_at, p.user_id`,
        [id],
      ),
      this.pool.query("SELECT tenant_uid, scope_level1, scope_level2 FROM access_scopes WHERE dialog_id = $1 ORDER BY position", [id]),
    ]);
    return {
      ...dialog,
      participants: participants.rows.map((row) => ({ ...row, joined_at: new Date(row.joined_at).toISOString() })),
      access_scopes: scopes.rows as AccessScope[],
    };
  }

  /**
   * MTChat's `POST /dialogs/search`: the newest dialog bound to the object, and when `scopes` is given, the newest
   * whose access scopes are exactly those (in any order); null when none is.
   */
  async findByObject(projectId: string, objectType: string, objectId: string, scopes?: AccessScope[]): Promise<DialogRow | null> {
    const key = (list: AccessScope[]) =>
      JSON.stringify(
        list
          .map((scope) =>
            JSON.stringify([scope.tenant_uid, [...new Set(scope.scope_level1)].sort(), [...new Set(scope.scope_level2)].sort()]),
          )
          .sort()
          .filter((entry, index, all) => index === 0 || all[index - 1] !== entry),
      );
    const { rows } = await this.pool.query<{ id: string; scopes: AccessScope[] }>(
      `SELECT d.id, COALESCE((SELECT jsonb_agg(jsonb_build_object('tenant_uid', s.tenant_uid, 'scope_level1', s.scope_level1,
                                                              'scope_level2', s.scope_level2))
                              FROM access_scopes s WHERE s.dialog_id = d.id), '[]') AS scopes
       FROM dialogs d WHERE d.project_id = $1 AND d.object_type = $2 AND d.object_id = $3
       ORDER BY d.created_at DESC, d.id DESC`,
      [projectId, objectType, objectId],
    );
    const wanted = scopes && key(scopes);
    const found = rows.find((row) => wanted === undefined || key(row.scopes) === wanted);
    return found ? this.mustDialog(projectId, found.id) : null;
  }

  /** Changes what the host may change after creation: the title, the object's address and the host's meta. */
  async update(
    projectId: string,
    id: string,
    changes: { title?: string | null | undefined; object_url?: string | null | undefined; meta?: Record<string, unknown> | undefined },
  ): Promise<DialogRow> {
    await this.mustDialog(projectId, id);
    await this.sync.serverWrite(metaDocName(id), (doc) => {
      const meta = metaOf(doc);
      if (changes.title !== undefined) meta.set(metaKeys.title, changes.title);
      if (changes.object_url !== undefined) meta.set(metaKeys.objectUrl, changes.object_url);
      if (changes.meta !== undefined) meta.set(metaKeys.hostMeta, changes.meta);
      // Names the dialog.updated event this change causes.
      meta.set(metaKeys.updatedAt, this.now());
    });
    return this.mustDialog(projectId, id);
  }

  /**
   * The project's dialogs for its backend: by object, by participant, by last activity (the newest message's
   * arrival, else the creation), newest activity first, paged by (activity, id).
   */
  async list(
    projectId: string,
    query: {
      object_type?: string | undefined;
      object_id?: string | undefined;
      participant?: string | undefined;
      active_after?: string | undefined;
      active_before?: string | undefined;
      limit: number;
      after?: { at: string; id: string } | undefined;
    },
  ): Promise<{ items: (DialogRow & { last_activity_at: string; participants_count: number })[]; next: { at: string; id: string } | null }> {
    const { values, add } = sqlParams();
    const project = add(projectId);
    const where = [
      query.object_type !== undefined ? `d.object_type = ${add(query.object_type)}` : null,
      query.object_id !== undefined ? `d.object_id = ${add(query.object_id)}` : null,
      query.participant !== undefined
        ? `EXISTS (SELECT 1 FROM participants p WHERE p.dialog_id = d.id AND p.user_id = ${add(query.participant)})`
        : null,
    ].filter((clause) => clause !== null);
    const outer = [
      query.active_after !== undefined ? `x.activity_at >= ${add(query.active_after)}::timestamptz` : null,
      query.active_before !== undefined ? `x.activity_at < ${add(query.active_before)}::timestamptz` : null,
      query.after ? `(x.activity_at, x.id) < (${add(query.after.at)}::timestamptz, ${add(query.after.id)}::uuid)` : null,
    ].filter((clause) => clause !== null);
    const { rows } = await this.pool.query(
      `SELECT *, to_char(x.activity_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS activity_exact FROM (
         SELECT d.id, d.object_id, d.object_type, d.kind AS type, d.title, d.object_url, d.created_by, d.created_at, d.meta,
                (SELECT count(*)::int FROM participants pc WHERE pc.dialog_id = d.id) AS participants_count,
                COALESCE((SELECT received_at FROM messages WHERE dialog_id = d.id ORDER BY seq DESC NULLS LAST LIMIT 1), d.created_at) AS activity_at
         FROM dialogs d WHERE d.project_id = ${project} ${where.map((clause) => `AND ${clause}`).join(" ")}
       ) x WHERE true ${outer.map((clause) => `AND ${clause}`).join(" ")}
       ORDER BY x.activity_at DESC, x.id DESC LIMIT ${add(query.limit + 1)}`,
      values,
    );
    const page = rows.slice(0, query.limit);
    const last = page.at(-1);
    return {
      items: page.map(({ activity_at, activity_exact: _exact, ...row }) => ({
        ...row,
        created_at: new Date(row.created_at).toISOString(),
        last_activity_at: new Date(activity_at).toISOString(),
      })),
      next: rows.length > query.limit && last ? { at: last.activity_exact, id: last.id } : null,
    };
  }

  async remove(projectId: string, id: string): Promise<void> {
    const dialog = await this.mustDialog(projectId, id);
    this.sync.closeConnections(id, null, new Refusal("not_found", "this dialog was deleted"));
    await this.sync.unloadDialog(id);
    // The deletion and its dialog.deleted event commit together (the outbox has no key on the dialog: it outlives it).
    await transaction(this.pool, async ({ client }) => {
      await client.query("DELETE FROM dialog_registry WHERE id = $1", [id]);
      await enqueueEvent(client, {
        id: eventId(id, "dialog.deleted"),
        projectId,
        dialogId: id,
        event: "dialog.deleted",
        data: {
          dialog_id: id,
          object_type: dialog.object_type,
          object_id: dialog.object_id,
          title: dialog.title,
          deleted_at: new Date(this.now()).toISOString(),
        },
      });
    });
    this.access.invalidate(id);
    await publishAccessChange(this.pool, { dialog: id });
  }

  async addParticipant(projectId: string, id: string, ref: ParticipantRef) {
    await this.mustDialog(projectId, id);
    const [participant] = await this.resolve(projectId, [ref]);
    if (!participant) throw new Error("no participant to add");
    const joinedAt = this.now();
    await this.saveContacts(id, [participant]);
    await this.sync.serverWrite(metaDocName(id), (doc) => {
      const participants = participantsOf(doc);
      const existing = participants.get(participant.user_id);
      participants.set(participant.user_id, entryOf(participant, existing?.joinedAt ?? joinedAt));
    });
    const detail = await this.get(projectId, id);
    const added = detail.participants.find((row) => row.user_id === participant.user_id);
    if (!added) throw new Error("participant missing after write");
    return added;
  }

  async removeParticipant(projectId: string, id: string, userId: string): Promise<void> {
    await this.mustDialog(projectId, id);
    const facts = await this.access.facts(id);
    if (!facts?.participants.has(userId)) throw new ApiError("not_found", `${userId} is not a participant of this dialog`);
    await this.sync.serverWrite(metaDocName(id), (doc) => participantsOf(doc).delete(userId));
    this.sync.closeConnections(id, userId, new Refusal("forbidden", "you were removed from this dialog"));
    await publishAccessChange(this.pool, { dialog: id, removed: userId });
    await this.pool.query("DELETE FROM participant_contacts WHERE dialog_id = $1 AND user_id = $2", [id, userId]);
  }

  async replaceScopes(projectId: string, id: string, scopes: AccessScope[]): Promise<AccessScope[]> {
    await this.mustDialog(projectId, id);
    await this.sync.serverWrite(metaDocName(id), (doc) => metaOf(doc).set(metaKeys.accessScopes, scopes));
    // Potential participants who no longer match lose their live connections too.
    const facts = await this.access.facts(id);
    this.sync.closeConnectionsWhere(
      id,
      (context: ConnectionContext) => !facts?.participants.has(context.user.userId) && !matchesScopes(scopes, context.user),
      new Refusal("forbidden", "the dialog's access scopes no longer include you"),
    );
    await publishAccessChange(this.pool, { dialog: id });
    return (await this.get(projectId, id)).access_scopes;
  }

  private async mustDialog(projectId: string, id: string): Promise<DialogRow> {
    const { rows } = await this.pool.query<DialogRow & { created_at: Date }>(
      `SELECT id, object_id, object_type, kind AS type, title, object_url, created_by, created_at, meta
       FROM dialogs WHERE id = $1 AND project_id = $2`,
      [id, projectId],
    );
    const row = rows[0];
    if (!row) throw new ApiError("not_found", `dialog ${id} does not exist`);
    return { ...row, created_at: new Date(row.created_at).toISOString() };
  }

  private async saveContacts(dialogId: string, participants: ParticipantInput[]): Promise<void> {
    if (participants.length === 0) return;
    await this.pool.query(
      `INSERT INTO participant_contacts (dialog_id, user_id, email, phone)
       SELECT $1, c.user_id, c.email, c.phone FROM jsonb_to_recordset($2::jsonb) AS c(user_id text, email text, phone text)
       ON CONFLICT (dialog_id, user_id) DO UPDATE SET email = EXCLUDED.email, phone = EXCLUDED.phone`,
      [dialogId, JSON.stringify(participants.map((p) => ({ user_id: p.user_id, email: p.email ?? null, phone: p.phone ?? null })))],
    );
  }
}
