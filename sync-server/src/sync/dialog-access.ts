import { matchesScopes, type WriterAccess } from "@mtchat/authz";
import type { AccessScope, DialogKind, ParticipantRole } from "@mtchat/protocol";
import type pg from "pg";
import type { User } from "../auth/verify-token.ts";

export type DialogFacts = {
  projectId: string;
  kind: DialogKind;
  headSegment: number;
  participants: Map<string, ParticipantRole>;
  scopes: AccessScope[];
};

/** How long cached facts are trusted without a word from anyone: the safety net under the access notifications. */
const cacheMs = 30_000;

/**
 * Who may do what in each dialog, read from the projected tables and cached.
 * The server's own writes to a meta document call `invalidate` once they are
 * projected, and access changes made on any node reach every node's cache
 * (`mtchat_access`), so a removed participant is refused on their very next
 * step everywhere; entries also expire after 30 s whatever happens.
 */
export class DialogAccess {
  private readonly cache = new Map<string, { at: number; facts: Promise<DialogFacts | null> }>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly now: () => number = Date.now,
  ) {}

  facts(dialogId: string): Promise<DialogFacts | null> {
    const cached = this.cache.get(dialogId);
    if (cached && this.now() - cached.at < cacheMs) return cached.facts;
    // Random dialog ids must not grow the cache without bound.
    if (this.cache.size > 50_000) this.cache.clear();
    const facts = this.load(dialogId);
    const entry = { at: this.now(), facts };
    this.cache.set(dialogId, entry);
    facts.catch(() => {
      if (this.cache.get(dialogId) === entry) this.cache.delete(dialogId);
    });
    return facts;
  }

  invalidate(dialogId: string): void {
    this.cache.delete(dialogId);
  }

  /** The user's access to the dialog, or null when they may not even read it. */
  async accessOf(dialogId: string, user: User): Promise<{ access: WriterAccess; facts: DialogFacts } | null> {
    const facts = await this.facts(dialogId);
    if (!facts || facts.projectId !== user.projectId) return null;
    const role = facts.participants.get(user.userId);
    if (role === "admin") return { access: "admin", facts };
    if (role === "readonly") return { access: "readonly", facts };
    // In a channel only admins post; the other participants read and react.
    if (role === "member") return { access: facts.kind === "channel" ? "subscriber" : "member", facts };
    return matchesScopes(facts.scopes, user) ? { access: "potential", facts } : null;
  }

  private async load(dialogId: string): Promise<DialogFacts | null> {
    const { rows } = await this.pool.query<{ project_id: string; head_segment: number; kind: DialogKind }>(
      "SELECT project_id, head_segment, kind FROM dialogs WHERE id = $1",
      [dialogId],
    );
    const dialog = rows[0];
    if (!dialog) return null;
    const [participants, scopes] = await Promise.all([
      this.pool.query<{ user_id: string; role: ParticipantRole }>("SELECT user_id, role FROM participants WHERE dialog_id = $1", [
        dialogId,
      ]),
      this.pool.query<AccessScope>(
        "SELECT tenant_uid, scope_level1, scope_level2 FROM access_scopes WHERE dialog_id = $1 ORDER BY position",
        [dialogId],
      ),
    ]);
    return {
      projectId: dialog.project_id,
      kind: dialog.kind,
      headSegment: dialog.head_segment,
      participants: new Map(participants.rows.map((row) => [row.user_id, row.role])),
      scopes: scopes.rows,
    };
  }
}
