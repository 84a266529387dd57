import { metaDocName, participantsOf } from "@mtchat/protocol";
import type pg from "pg";
import type { User } from "../auth/verify-token.ts";
import type { Logger } from "../sync/logger.ts";

export type EndUser = {
  user_id: string;
  tenant_uid: string | null;
  display_name: string | null;
  company: string | null;
  email: string | null;
  phone: string | null;
  avatar_url: string | null;
  meta: Record<string, unknown>;
  /** api: set by the host's backend; token: filled from the user's token on first connect. */
  source: "api" | "token";
  created_at: string;
  updated_at: string;
};

export type EndUserInput = {
  tenant_uid?: string | null | undefined;
  display_name?: string | null | undefined;
  company?: string | null | undefined;
  email?: string | null | undefined;
  phone?: string | null | undefined;
  avatar_url?: string | null | undefined;
  meta?: Record<string, unknown> | undefined;
};

const columns = "user_id, tenant_uid, display_name, company, email, phone, avatar_url, meta, source, created_at, updated_at";

const toEndUser = (row: Record<string, unknown>): EndUser =>
  ({
    ...row,
    created_at: (row.created_at as Date).toISOString(),
    updated_at: (row.updated_at as Date).toISOString(),
  }) as EndUser;

/** Claims already written for a user, so a connect writes only when they changed; bounded. */
const seenLimit = 10_000;

/** Writes participant entries into dialogs' meta documents (the sync server), as the server. */
export type ParticipantWriter = { serverWrite(documentName: string, mutate: (doc: import("yjs").Doc) => void): Promise<void> };

/**
 * The end-user directory of each project. The host's backend upserts entries
 * (`PUT /api/v1/management/users/{user_id}`); a user's connect fills theirs
 * from the token's claims unless the backend set it. Participant profiles, the
 * direct-dialog checks and notification.pending read it. When a user's name
 * becomes known, the participant entries that only held their id (added by id
 * alone) take it, in every dialog of theirs.
 */
export class Directory {
  private readonly seen = new Map<string, string>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly logger: Logger,
    private readonly participants?: ParticipantWriter,
  ) {}

  async get(projectId: string, userId: string): Promise<EndUser | null> {
    const { rows } = await this.pool.query(`SELECT ${columns} FROM end_users WHERE project_id = $1 AND user_id = $2`, [projectId, userId]);
    return rows[0] ? toEndUser(rows[0]) : null;
  }

  async getMany(projectId: string, userIds: string[]): Promise<Map<string, EndUser>> {
    if (userIds.length === 0) return new Map();
    const { rows } = await this.pool.query(`SELECT ${columns} FROM end_users WHERE project_id = $1 AND user_id = ANY($2::text[])`, [
      projectId,
      userIds,
    ]);
    return new Map(rows.map((row) => [row.user_id as string, toEndUser(row)]));
  }

  async list(projectId: string, limit: number, after: string | undefined): Promise<{ items: EndUser[]; next_cursor: string | null }> {
    const { rows } = await this.pool.query(
      `SELECT ${columns} FROM end_users WHERE project_id = $1 AND ($2::text IS NULL OR user_id > $2) ORDER BY user_id LIMIT $3`,
      [projectId, after ?? null, limit + 1],
    );
    const items = rows.slice(0, limit).map(toEndUser);
    return { items, next_cursor: rows.length > limit ? (items.at(-1)?.user_id ?? null) : null };
  }

  /** Whether the project keeps its directory through the API: then an id it does not hold is nobody. */
  async authoritative(projectId: string): Promise<boolean> {
    const { rowCount } = await this.pool.query("SELECT 1 FROM end_users WHERE project_id = $1 AND source = 'api' LIMIT 1", [projectId]);
    return rowCount !== 0;
  }

  /** The backend's entry: replaces every field (absent ones become null), and from now on the token fills nothing. */
  async upsert(projectId: string, userId: string, input: EndUserInput): Promise<{ user: EndUser; created: boolean }> {
    const { rows } = await this.pool.query(
      `INSERT INTO end_users (project_id, user_id, tenant_uid, display_name, company, email, phone, avatar_url, meta, source)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'api')
       ON CONFLICT (project_id, user_id) DO UPDATE SET
         tenant_uid = EXCLUDED.tenant_uid, display_name = EXCLUDED.display_name, company = EXCLUDED.company,
         email = EXCLUDED.email, phone = EXCLUDED.phone, avatar_url = EXCLUDED.avatar_url, meta = EXCLUDED.meta,
         source = 'api', updated_at = now()
       RETURNING ${columns}, xmax = 0 AS created`,
      [
        projectId,
        userId,
        input.tenant_uid ?? null,
        input.display_name ?? null,
        input.company ?? null,
        input.email ?? null,
        input.phone ?? null,
        input.avatar_url ?? null,
        JSON.stringify(input.meta ?? {}),
      ],
    );
    const { created, ...row } = rows[0];
    const user = toEndUser(row);
    this.seen.delete(`${projectId}\u0000${userId}`);
    await this.nameParticipants(projectId, user);
    return { user, created: created === true };
  }

  /**
   * A user connected (WebSocket) or called the Chat API: their entry is filled from the token's claims when the
   * backend has not set it, and kept in step with the claims while the token is its source. At most one write
   * per change of claims; a failure is logged and the caller goes on.
   */
  async seenInToken(user: User): Promise<void> {
    const key = `${user.projectId}\u0000${user.userId}`;
    const claims = JSON.stringify([user.tenant_uid, user.name, user.company]);
    if (this.seen.get(key) === claims) return;
    try {
      const { rows } = await this.pool.query(
        `INSERT INTO end_users (project_id, user_id, tenant_uid, display_name, company, source)
         VALUES ($1, $2, $3, $4, $5, 'token')
         ON CONFLICT (project_id, user_id) DO UPDATE SET
           tenant_uid = EXCLUDED.tenant_uid, display_name = EXCLUDED.display_name, company = EXCLUDED.company, updated_at = now()
         WHERE end_users.source = 'token' AND (end_users.tenant_uid, end_users.display_name, end_users.company)
           IS DISTINCT FROM (EXCLUDED.tenant_uid, EXCLUDED.display_name, EXCLUDED.company)
         RETURNING ${columns}`,
        [user.projectId, user.userId, user.tenant_uid || null, user.name, user.company],
      );
      if (this.seen.size >= seenLimit) this.seen.delete(this.seen.keys().next().value as string);
      this.seen.set(key, claims);
      if (rows[0]) await this.nameParticipants(user.projectId, toEndUser(rows[0]));
    } catch (error) {
      this.logger.warn("directory_fill_failed", { user: user.userId, error: String(error) });
    }
  }

  /** Participant entries of the user that hold only their id (or an older name of theirs) take the directory's name. */
  private async nameParticipants(projectId: string, user: EndUser): Promise<void> {
    const name = user.display_name;
    if (!name || !this.participants) return;
    const { rows } = await this.pool.query<{ dialog_id: string }>(
      `SELECT p.dialog_id FROM participants p JOIN dialog_registry r ON r.id = p.dialog_id
       WHERE r.project_id = $1 AND p.user_id = $2 AND p.display_name = p.user_id`,
      [projectId, user.user_id],
    );
    for (const { dialog_id: dialogId } of rows) {
      await this.participants.serverWrite(metaDocName(dialogId), (doc) => {
        const entries = participantsOf(doc);
        const entry = entries.get(user.user_id);
        if (entry && entry.displayName === user.user_id) entries.set(user.user_id, { ...entry, displayName: name, company: user.company });
      });
    }
  }
}
