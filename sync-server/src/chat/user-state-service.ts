import { setUserState, userDocName } from "@mtchat/protocol";
import type pg from "pg";
import type { User } from "../auth/verify-token.ts";
import { ApiError } from "../http/errors.ts";
import type { ChatSync } from "../sync/chat-sync.ts";
import type { DialogAccess } from "../sync/dialog-access.ts";
import { userStateColumns, userStateJoins } from "./readable-sql.ts";

export type UserStateChange = { archived: boolean } | { pinned: boolean } | { notifications: boolean };

/**
 * Archive, pin and notifications over REST. They are written into the user's
 * own state document as the user, exactly what the SDK writes offline, so
 * both paths meet in one document and one projection.
 */
export class UserStateService {
  constructor(
    private readonly pool: pg.Pool,
    private readonly sync: ChatSync,
    private readonly access: DialogAccess,
  ) {}

  async change(user: User, dialogId: string, change: UserStateChange): Promise<void> {
    const granted = await this.access.accessOf(dialogId, user);
    if (!granted) throw new ApiError("not_found", `dialog ${dialogId} does not exist`);
    if (granted.access === "potential") throw new ApiError("forbidden", "join the dialog before archiving, pinning or muting it");
    // Archive marks name the newest message the user has, as the SDK's do.
    const through = "archived" in change ? await this.newestMessage(dialogId) : null;
    await this.sync.ensureUserDoc(user.projectId, user.userId);
    const written = await this.sync.userWrite(
      userDocName(user.projectId, user.userId),
      { userId: user.userId, access: "member" },
      (doc) => {
        if ("archived" in change) setUserState(doc, dialogId, "archived", { archived: change.archived, through });
        else if ("pinned" in change) setUserState(doc, dialogId, "pinned", change.pinned);
        else setUserState(doc, dialogId, "notifications", change.notifications);
      },
    );
    if (!written.ok) throw new ApiError(written.kind, written.reason);
  }

  /** The user's state of the dialog, as the lists show it. */
  async state(user: User, dialogId: string) {
    const { rows } = await this.pool.query(
      `SELECT ${userStateColumns}
       FROM dialogs d
       ${userStateJoins("$3", "$2")}
       WHERE d.id = $1`,
      [dialogId, user.projectId, user.userId],
    );
    const row = rows[0];
    if (!row) throw new ApiError("not_found", `dialog ${dialogId} does not exist`);
    return {
      dialog_id: dialogId,
      is_archived: row.is_archived,
      is_pinned: row.is_pinned,
      notifications_enabled: row.notifications_enabled,
    };
  }

  private async newestMessage(dialogId: string): Promise<string | null> {
    const { rows } = await this.pool.query<{ id: string }>(
      "SELECT id FROM messages WHERE dialog_id = $1 ORDER BY seq DESC NULLS LAST LIMIT 1",
      [dialogId],
    );
    return rows[0]?.id ?? null;
  }
}
