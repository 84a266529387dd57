import { deleteMessage, messagesOf, metaDocName, participantsOf, readsOf, segmentDocName, userDocId } from "@mtchat/protocol";
import type pg from "pg";
import { publishAccessChange } from "../cluster/cluster.ts";
import { thumbnailKey } from "../files/file-keys.ts";
import type { FileStorage } from "../files/file-storage.ts";
import type { ChatSync } from "../sync/chat-sync.ts";
import { Refusal } from "../sync/refusal.ts";

/** Who wrote a message whose author was erased: the SDK shows "Deleted user". */
export const erasedAuthorId = "$erased";

export type Erased = { user_id: string; dialogs: number; messages: number; files: number };

/**
 * Erases an end user of a project (GDPR): their messages become "deleted user" tombstones (empty, deleted, author
 * `$erased`) in the documents, so every copy that syncs drops the text too; the documents are then compacted, so
 * the text is gone from the log and the snapshots, not only from the projection; they leave every dialog (entry,
 * contacts, read cursor, live connections on every node); their own state document, their uploaded files (objects
 * and rows), their directory entry and the text of their messages in stored webhook events go too.
 */
export class UserEraser {
  constructor(
    private readonly pool: pg.Pool,
    private readonly sync: Pick<ChatSync, "serverWrite" | "compact" | "closeConnections" | "unloadDialog">,
    private readonly storage: Pick<FileStorage, "delete">,
  ) {}

  async erase(projectId: string, userId: string): Promise<Erased> {
    const { rows: dialogs } = await this.pool.query<{ dialog_id: string }>(
      `SELECT m.dialog_id FROM messages m JOIN dialog_registry r ON r.id = m.dialog_id WHERE r.project_id = $1 AND m.author_id = $2
       UNION SELECT p.dialog_id FROM participants p JOIN dialog_registry r ON r.id = p.dialog_id WHERE r.project_id = $1 AND p.user_id = $2
       UNION SELECT c.dialog_id FROM read_cursors c JOIN dialog_registry r ON r.id = c.dialog_id WHERE r.project_id = $1 AND c.user_id = $2`,
      [projectId, userId],
    );
    let messages = 0;
    for (const { dialog_id: dialogId } of dialogs) {
      this.sync.closeConnections(dialogId, userId, new Refusal("forbidden", "this user was erased"));
      const { rows } = await this.pool.query<{ id: string; segment: number }>(
        "SELECT id, segment FROM messages WHERE dialog_id = $1 AND author_id = $2",
        [dialogId, userId],
      );
      const bySegment = new Map<number, { id: string }[]>();
      for (const row of rows) bySegment.set(row.segment, [...(bySegment.get(row.segment) ?? []), row]);
      for (const [segment, ids] of bySegment) {
        const name = segmentDocName(dialogId, segment);
        await this.sync.serverWrite(name, (doc) => {
          for (const { id } of ids) {
            const entry = messagesOf(doc).get(id);
            if (!entry) continue;
            deleteMessage(entry);
            entry.delete("attachments");
            entry.set("author", erasedAuthorId);
          }
        });
        await this.sync.compact(name);
        messages += ids.length;
      }
      await this.sync.serverWrite(metaDocName(dialogId), (doc) => {
        participantsOf(doc).delete(userId);
        readsOf(doc).delete(userId);
      });
      await this.sync.compact(metaDocName(dialogId));
      await this.pool.query("DELETE FROM participant_contacts WHERE dialog_id = $1 AND user_id = $2", [dialogId, userId]);
      await publishAccessChange(this.pool, { dialog: dialogId, removed: userId });
    }

    // Their own state document (pins, drafts, archive marks): its registry row takes the log and snapshots with it.
    const stateDoc = userDocId(projectId, userId);
    this.sync.closeConnections(stateDoc, userId, new Refusal("forbidden", "this user was erased"));
    await this.sync.unloadDialog(stateDoc);
    await this.pool.query("DELETE FROM dialog_registry WHERE id = $1 AND owner_user_id = $2", [stateDoc, userId]);

    const { rows: files } = await this.pool.query<{ key: string }>(
      "DELETE FROM attachments WHERE project_id = $1 AND uploader_id = $2 RETURNING key",
      [projectId, userId],
    );
    for (const { key } of files) await Promise.all([key, thumbnailKey(key)].map((object) => this.storage.delete(object)));

    // Stored webhook events keep their ids and order; the user's text and contacts leave them.
    const redacted = { content: "", body: null, attachments: [], sender_id: erasedAuthorId };
    for (const key of ["message", "latest_message"]) {
      await this.pool.query(
        `UPDATE webhook_outbox SET data = jsonb_set(data, ARRAY[$3], (data -> $3) || $4::jsonb)
         WHERE project_id = $1 AND data -> $3 ->> 'sender_id' = $2`,
        [projectId, userId, key, JSON.stringify(redacted)],
      );
    }
    await this.pool.query(
      `UPDATE webhook_outbox SET data = data || jsonb_build_object('preview', '', 'sender_id', $3::text, 'sender_name', NULL)
       WHERE project_id = $1 AND event = 'notification.pending' AND data ->> 'sender_id' = $2`,
      [projectId, userId, erasedAuthorId],
    );
    await this.pool.query(
      `UPDATE webhook_outbox SET data = data || jsonb_build_object('recipient', jsonb_build_object('user_id', $2::text))
       WHERE project_id = $1 AND event = 'notification.pending' AND data ->> 'recipient_id' = $2`,
      [projectId, userId],
    );
    // Their browsers' push subscriptions: the endpoints identify the browsers.
    await this.pool.query("DELETE FROM push_subscriptions WHERE project_id = $1 AND user_id = $2", [projectId, userId]);
    await this.pool.query("DELETE FROM end_users WHERE project_id = $1 AND user_id = $2", [projectId, userId]);
    return { user_id: userId, dialogs: dialogs.length, messages, files: files.length };
  }
}
