import type { Hocuspocus } from "@hocuspocus/server";
import { projectedChannel } from "@mtchat/projections";
import { formatActivity, userDocName } from "@mtchat/protocol";
import type pg from "pg";
import { Listener } from "../db/listener.ts";
import type { Logger } from "./logger.ts";

/**
 * Pushes "something changed in these dialogs" to the users taking part, over
 * their own state document (a stateless message), once the projection has
 * committed: the SDK refreshes lists and unread badges then instead of polling.
 * It listens for the projector's notifications, so it works whichever process
 * projects; each node pushes to the users connected to it.
 */
export class ActivityPush {
  private readonly listener: Listener;
  private readonly dialogs = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private stopping = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly hocuspocus: Hocuspocus,
    private readonly logger: Logger,
    /** How long notifications are gathered into one push per user. */
    private readonly batchMs = 100,
  ) {
    this.listener = new Listener(pool, {
      channels: [projectedChannel],
      onMessage: (_channel, dialogId) => this.queue(dialogId),
      name: "activity_listener_lost",
      logger,
    });
  }

  async start(): Promise<void> {
    this.stopping = false;
    await this.listener.start();
  }

  private queue(dialogId: string): void {
    this.dialogs.add(dialogId);
    this.timer ??= setTimeout(() => void this.flush(), this.batchMs);
  }

  private async flush(): Promise<void> {
    this.timer = null;
    const dialogs = [...this.dialogs];
    this.dialogs.clear();
    if (dialogs.length === 0 || this.stopping) return;
    try {
      const { rows } = await this.pool.query<{ project_id: string; user_id: string; dialog_id: string }>(
        `SELECT d.project_id, p.user_id, p.dialog_id FROM participants p JOIN dialogs d ON d.id = p.dialog_id
         WHERE p.dialog_id = ANY($1::uuid[])`,
        [dialogs],
      );
      const byUserDoc = new Map<string, string[]>();
      for (const row of rows) {
        const name = userDocName(row.project_id, row.user_id);
        // Only users connected here, with their own document open, can be told.
        if (!this.hocuspocus.documents.has(name)) continue;
        byUserDoc.set(name, [...(byUserDoc.get(name) ?? []), row.dialog_id]);
      }
      // Straight to this node's connections: every node hears the notification and pushes to its own,
      // so relaying through the cluster would tell each user once per node.
      for (const [name, ids] of byUserDoc) {
        const payload = formatActivity(ids);
        for (const connection of this.hocuspocus.documents.get(name)?.getConnections() ?? []) connection.sendStateless(payload);
      }
    } catch (error) {
      this.logger.warn("activity_push_failed", { error: String(error) });
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.listener.stop();
  }
}
