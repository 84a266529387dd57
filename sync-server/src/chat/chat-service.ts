import { matchesScopes, systemUserId, type Writer } from "@mtchat/authz";
import {
  type AttachmentRef,
  createMessage,
  deleteMessage,
  editMessageText,
  maxReactionLength,
  messagesOf,
  metaDocName,
  parseReactionKey,
  participantsOf,
  reactionKey,
  reactionsOf,
  readsOf,
  segmentDocName,
  setReaction,
} from "@mtchat/protocol";
import type pg from "pg";
import { v7 as uuidv7 } from "uuid";
import type { User } from "../auth/verify-token.ts";
import { publishAccessChange } from "../cluster/cluster.ts";
import type { FileService } from "../files/file-service.ts";
import { ApiError } from "../http/errors.ts";
import { type ChatSync, potentialReadsNoMessages } from "../sync/chat-sync.ts";
import type { DialogAccess } from "../sync/dialog-access.ts";
import { Refusal } from "../sync/refusal.ts";
import { unreadCountSql, userStateColumns, userStateJoins } from "./readable-sql.ts";

/** A message in MTChat's shape, plus the rich body and our arrival order. */
export type MessageRow = {
  id: string;
  dialog_id: string;
  sender_id: string;
  message_type: string;
  content: string;
  body: unknown;
  sent_at: string;
  last_edited_at: string | null;
  reply_to_id: string | null;
  attachments: unknown[];
  deleted: boolean;
  /** Emoji → the users who reacted with it. */
  reactions: Record<string, string[]>;
  seq: number | null;
  /** The segment document holding the message (a client opens it to edit, react or follow live). */
  segment: number;
  /** What a system message records (event, user …); null for text. */
  system: Record<string, unknown> | null;
};

export type HistoryQuery = { before?: string | undefined; after?: string | undefined; around?: string | undefined; limit: number };

const messageColumns = `id, dialog_id, author_id AS sender_id, kind AS message_type, body_text AS content, body,
  created_at AS sent_at, edited_at AS last_edited_at, reply_to AS reply_to_id, attachments, deleted, reactions, seq, segment, system`;

const toMessage = (row: Record<string, unknown>): MessageRow => ({
  ...(row as MessageRow),
  sent_at: new Date(row.sent_at as Date).toISOString(),
  last_edited_at: row.last_edited_at ? new Date(row.last_edited_at as Date).toISOString() : null,
  seq: row.seq === null ? null : Number(row.seq),
});

/** The most bytes of JSON a history page's messages take: a page of long messages holds fewer of them. */
export const historyPageBytes = 1024 * 1024;

/**
 * How many messages of each side fit in `budget` bytes of JSON, taken in turns
 * from each side's start (each side is ordered nearest the page's anchor
 * first); at least one, however large, so paging always moves on.
 */
const fitting = (sides: MessageRow[][], budget: number): number[] => {
  const counts = sides.map(() => 0);
  let used = 0;
  for (let added = true; added; ) {
    added = false;
    for (const [index, side] of sides.entries()) {
      const message = side[counts[index] ?? 0];
      if (!message) continue;
      const size = Buffer.byteLength(JSON.stringify(message)) + 1;
      if (used > 0 && used + size > budget) return counts;
      used += size;
      counts[index] = (counts[index] ?? 0) + 1;
      added = true;
    }
  }
  return counts;
};

/**
 * The Chat API's operations for one user. Reads come from the projection;
 * writes go into the dialog's documents on the user's behalf, through the same
 * authorization as a WebSocket client, so both kinds of client see one truth.
 */
export class ChatService {
  constructor(
    private readonly pool: pg.Pool,
    private readonly sync: ChatSync,
    private readonly access: DialogAccess,
    private readonly now: () => number = Date.now,
    private readonly files?: Pick<FileService, "finalize">,
  ) {}

  /** The user's access, or 404: a dialog the user may not read does not exist for them. */
  private async writerFor(user: User, dialogId: string): Promise<{ writer: Writer; headSegment: number; participants: number }> {
    const granted = await this.access.accessOf(dialogId, user);
    if (!granted) throw new ApiError("not_found", `dialog ${dialogId} does not exist`);
    return {
      writer: { userId: user.userId, access: granted.access },
      headSegment: granted.facts.headSegment,
      participants: granted.facts.participants.size,
    };
  }

  async dialog(user: User, dialogId: string) {
    const { writer, participants } = await this.writerFor(user, dialogId);
    const { rows } = await this.pool.query(
      "SELECT id, object_id, object_type, title, object_url, created_by, created_at, meta FROM dialogs WHERE id = $1 AND project_id = $2",
      [dialogId, user.projectId],
    );
    const row = rows[0];
    if (!row) throw new ApiError("not_found", `dialog ${dialogId} does not exist`);
    return {
      ...row,
      created_at: new Date(row.created_at).toISOString(),
      participants_count: participants,
      i_am_participant: writer.access !== "potential",
      can_join: writer.access === "potential",
    };
  }

  async history(user: User, dialogId: string, query: HistoryQuery) {
    const { writer } = await this.writerFor(user, dialogId);
    if (writer.access === "potential") throw new ApiError("forbidden", potentialReadsNoMessages);
    return this.page(dialogId, query, user.userId);
  }

  /** The host backend's read of a dialog of its project (the Management API): every message, no read cursor. */
  async hostHistory(projectId: string, dialogId: string, query: HistoryQuery) {
    await this.hostDialog(projectId, dialogId);
    return this.page(dialogId, query, null);
  }

  private async hostDialog(projectId: string, dialogId: string): Promise<void> {
    const { rowCount } = await this.pool.query("SELECT 1 FROM dialogs WHERE id = $1 AND project_id = $2", [dialogId, projectId]);
    if (rowCount === 0) throw new ApiError("not_found", `dialog ${dialogId} does not exist`);
  }

  /**
   * The host's own message, as the server: a system notice everyone sees as written (`system.event` "notice"). A
   * message from a bot or on a user's behalf goes through {@link send} as that participant instead.
   */
  async hostNotice(projectId: string, dialogId: string, content: string): Promise<MessageRow> {
    await this.hostDialog(projectId, dialogId);
    const granted = await this.access.facts(dialogId);
    if (!granted) throw new ApiError("not_found", `dialog ${dialogId} does not exist`);
    const id = uuidv7();
    await this.sync.serverWrite(
      segmentDocName(dialogId, granted.headSegment),
      (doc) =>
        createMessage(doc, { id, author: systemUserId, kind: "system", createdAt: this.now(), text: content, system: { event: "notice" } }),
      { onlyNewMessages: true },
    );
    return this.message(dialogId, id);
  }

  /** The host's message on a participant's behalf (a person, or a bot it added): as that participant, under their rights. */
  async hostSend(projectId: string, dialogId: string, sender: User, input: { content: string; reply_to_id?: string | null | undefined }) {
    await this.hostDialog(projectId, dialogId);
    const facts = await this.access.facts(dialogId);
    if (!facts?.participants.has(sender.userId)) {
      throw new ApiError("forbidden", `${sender.userId} is not a participant of this dialog: add them (a bot too) before sending as them`);
    }
    return this.send(sender, dialogId, input);
  }

  /** The attachments of this dialog stored under these keys (MTChat's `s3_key`); an unknown key is a 400 naming it. */
  async attachmentIdsByKey(dialogId: string, keys: string[]): Promise<string[]> {
    const { rows } = await this.pool.query<{ id: string; key: string }>(
      "SELECT id, key FROM attachments WHERE dialog_id = $1 AND key = ANY($2::text[])",
      [dialogId, keys],
    );
    const found = new Map(rows.map((row) => [row.key, row.id]));
    const missing = keys.find((key) => !found.has(key));
    if (missing !== undefined) throw new ApiError("bad_request", `attachments: no upload of this dialog has s3_key "${missing}"`);
    return keys.map((key) => found.get(key) as string);
  }

  private async page(dialogId: string, query: HistoryQuery, reader: string | null) {
    const anchorId = query.before ?? query.after ?? query.around;
    let anchor: { created_at: Date; id: string } | null = null;
    if (anchorId) {
      const { rows } = await this.pool.query<{ created_at: Date; id: string }>(
        "SELECT created_at, id FROM messages WHERE dialog_id = $1 AND id = $2",
        [dialogId, anchorId],
      );
      anchor = rows[0] ?? null;
      if (!anchor) throw new ApiError("not_found", `message ${anchorId} does not exist in this dialog`);
    }
    const older = async (limit: number, inclusive: boolean) => {
      const { rows } = await this.pool.query(
        `SELECT ${messageColumns} FROM messages WHERE dialog_id = $1
         AND ($2::timestamptz IS NULL OR (created_at, id) ${inclusive ? "<=" : "<"} ($2, $3::uuid))
         ORDER BY created_at DESC, id DESC LIMIT $4`,
        [dialogId, anchor?.created_at ?? null, anchor?.id ?? null, limit + 1],
      );
      return { rows: rows.slice(0, limit).reverse().map(toMessage), more: rows.length > limit };
    };
    const newer = async (limit: number) => {
      const { rows } = await this.pool.query(
        `SELECT ${messageColumns} FROM messages WHERE dialog_id = $1 AND (created_at, id) > ($2, $3::uuid)
         ORDER BY created_at, id LIMIT $4`,
        [dialogId, anchor?.created_at, anchor?.id, limit + 1],
      );
      return { rows: rows.slice(0, limit).map(toMessage), more: rows.length > limit };
    };

    // Each page is cut to the byte budget on the side away from its anchor; has_more_* then says there is more that way,
    // and the next page, anchored at this one's last message, starts where this one stopped.
    let messages: MessageRow[];
    let hasMoreBefore = false;
    let hasMoreAfter = false;
    if (query.after) {
      const page = await newer(query.limit);
      const [count = 0] = fitting([page.rows], historyPageBytes);
      messages = page.rows.slice(0, count);
      hasMoreAfter = page.more || count < page.rows.length;
      hasMoreBefore = true;
    } else if (query.around) {
      const half = Math.max(1, Math.floor(query.limit / 2));
      const [before, after] = await Promise.all([older(query.limit - half, true), newer(half)]);
      const [keptBefore = 0, keptAfter = 0] = fitting([[...before.rows].reverse(), after.rows], historyPageBytes);
      messages = [...before.rows.slice(before.rows.length - keptBefore), ...after.rows.slice(0, keptAfter)];
      hasMoreBefore = before.more || keptBefore < before.rows.length;
      hasMoreAfter = after.more || keptAfter < after.rows.length;
    } else {
      const page = await older(query.limit, false);
      const [count = 0] = fitting([[...page.rows].reverse()], historyPageBytes);
      messages = page.rows.slice(page.rows.length - count);
      hasMoreBefore = page.more || count < page.rows.length;
      hasMoreAfter = Boolean(query.before);
    }
    return {
      messages,
      first_unread_message_id: reader === null ? null : await this.firstUnread(reader, dialogId),
      has_more_before: hasMoreBefore,
      has_more_after: hasMoreAfter,
    };
  }

  /** The first message, in arrival order, after the user's read cursor that someone else wrote. */
  private async firstUnread(userId: string, dialogId: string): Promise<string | null> {
    const { rows } = await this.pool.query<{ id: string }>(
      `SELECT m.id FROM messages m
       WHERE m.dialog_id = $1 AND m.author_id <> $2 AND m.kind = 'text' AND NOT m.deleted
         AND m.seq > COALESCE((SELECT r.seq FROM read_cursors c JOIN messages r ON r.dialog_id = c.dialog_id AND r.id = c.message_id
                               WHERE c.dialog_id = $1 AND c.user_id = $2), 0)
       ORDER BY m.seq LIMIT 1`,
      [dialogId, userId],
    );
    return rows[0]?.id ?? null;
  }

  async send(
    user: User,
    dialogId: string,
    input: { content: string; reply_to_id?: string | null | undefined; attachment_ids?: string[] | undefined },
  ): Promise<MessageRow> {
    const { writer, headSegment } = await this.writerFor(user, dialogId);
    let attachments: AttachmentRef[] = [];
    if (input.attachment_ids && input.attachment_ids.length > 0) {
      // Checked (and made ready) before anything is written: a refused file leaves no message behind.
      if (!this.files) throw new ApiError("unavailable", "attachments are not available on this server");
      const finalized = await this.files.finalize(user.projectId, dialogId, user.userId, input.attachment_ids);
      if (!finalized.ok) throw new ApiError(finalized.kind, finalized.reason);
      attachments = finalized.attachments;
    }
    const id = uuidv7();
    const written = await this.sync.userWrite(
      segmentDocName(dialogId, headSegment),
      writer,
      (doc) =>
        createMessage(doc, {
          id,
          author: user.userId,
          createdAt: this.now(),
          text: input.content,
          replyTo: input.reply_to_id ?? null,
          attachments,
        }),
      { onlyNewMessages: true },
    );
    if (!written.ok) throw new ApiError(written.kind, written.reason);
    return this.message(dialogId, id);
  }

  async edit(user: User, dialogId: string, messageId: string, content: string): Promise<MessageRow> {
    await this.changeMessage(user, dialogId, messageId, (entry) => editMessageText(entry, content, this.now()));
    return this.message(dialogId, messageId);
  }

  async remove(user: User, dialogId: string, messageId: string): Promise<MessageRow> {
    await this.changeMessage(user, dialogId, messageId, (entry) => deleteMessage(entry));
    return this.message(dialogId, messageId);
  }

  private async changeMessage(user: User, dialogId: string, messageId: string, change: (entry: import("yjs").Map<unknown>) => void) {
    const { writer } = await this.writerFor(user, dialogId);
    const { rows } = await this.pool.query<{ segment: number }>("SELECT segment FROM messages WHERE dialog_id = $1 AND id = $2", [
      dialogId,
      messageId,
    ]);
    const segment = rows[0]?.segment;
    if (segment === undefined) throw new ApiError("not_found", `message ${messageId} does not exist in this dialog`);
    const written = await this.sync.userWrite(segmentDocName(dialogId, segment), writer, (doc) => {
      const entry = messagesOf(doc).get(messageId);
      if (entry) change(entry);
    });
    if (!written.ok) throw new ApiError(written.kind, written.reason);
  }

  /** Adds or removes the caller's reaction, as their own write: anyone but read-only participants may react. */
  async react(user: User, dialogId: string, messageId: string, emoji: string, on: boolean): Promise<MessageRow> {
    if (!parseReactionKey(reactionKey(user.userId, emoji))) {
      throw new ApiError("bad_request", `a reaction is one emoji or code of at most ${maxReactionLength} characters, without spaces`);
    }
    await this.changeMessage(user, dialogId, messageId, (entry) => {
      if (!reactionsOf(entry)) throw new ApiError("conflict", "this message takes no reactions");
      setReaction(entry, user.userId, emoji, on, this.now());
    });
    return this.message(dialogId, messageId);
  }

  /** A potential participant (scope match) becomes a member; a system message records it. */
  async join(user: User, dialogId: string): Promise<void> {
    const { writer, headSegment } = await this.writerFor(user, dialogId);
    if (writer.access !== "potential") throw new ApiError("conflict", "you are already a participant of this dialog");
    const joinedAt = this.now();
    await this.sync.serverWrite(metaDocName(dialogId), (doc) =>
      participantsOf(doc).set(user.userId, { displayName: user.name ?? user.userId, company: user.company, role: "member", joinedAt }),
    );
    await this.systemMessage(dialogId, headSegment, {
      event: "participant_joined",
      user_id: user.userId,
      display_name: user.name ?? user.userId,
    });
  }

  /**
   * A participant leaves; if their scopes do not match the dialog, their live connections close too, and if they
   * do, those to the messages (they are a potential participant again).
   */
  async leave(user: User, dialogId: string): Promise<void> {
    const { writer, headSegment } = await this.writerFor(user, dialogId);
    if (writer.access === "potential") throw new ApiError("conflict", "you are not a participant of this dialog");
    await this.sync.serverWrite(metaDocName(dialogId), (doc) => participantsOf(doc).delete(user.userId));
    await this.systemMessage(dialogId, headSegment, {
      event: "participant_left",
      user_id: user.userId,
      display_name: user.name ?? user.userId,
    });
    const facts = await this.access.facts(dialogId);
    if (!facts || !matchesScopes(facts.scopes, user)) {
      this.sync.closeConnections(dialogId, user.userId, new Refusal("forbidden", "you left this dialog"));
      await publishAccessChange(this.pool, { dialog: dialogId, removed: user.userId });
    } else {
      // Still a scope match, now a potential participant: every node closes their segments (the messages).
      await publishAccessChange(this.pool, { dialog: dialogId });
    }
  }

  /** Moves the caller's read cursor, as their own write to the meta document. */
  async markRead(user: User, dialogId: string, messageId: string): Promise<void> {
    const { writer } = await this.writerFor(user, dialogId);
    await this.message(dialogId, messageId);
    const written = await this.sync.userWrite(metaDocName(dialogId), writer, (doc) =>
      readsOf(doc).set(user.userId, { messageId, readAt: this.now() }),
    );
    if (!written.ok) throw new ApiError(written.kind, written.reason);
  }

  /** Participants with presence and their last read message; contact details only for participants. */
  async participants(user: User, dialogId: string) {
    const { writer } = await this.writerFor(user, dialogId);
    const seesContacts = writer.access !== "potential";
    const online = await this.sync.onlineUsers(dialogId);
    // Contacts from the dialog, else from the end-user directory; the caller's own per-user state (MTChat's fields),
    // which is nobody else's business: for others those fields are null.
    const { rows } = await this.pool.query(
      `SELECT p.dialog_id, p.user_id, p.display_name, p.company, COALESCE(c.email, eu.email) AS email, COALESCE(c.phone, eu.phone) AS phone,
              eu.avatar_url, p.role, p.joined_at, r.message_id AS last_read_message_id,
              CASE WHEN p.user_id = $2 THEN ${unreadCountSql("d", "p.user_id")} END AS unread_count, ${userStateColumns}
       FROM participants p
       JOIN dialogs d ON d.id = p.dialog_id
       LEFT JOIN participant_contacts c ON c.dialog_id = p.dialog_id AND c.user_id = p.user_id
       LEFT JOIN read_cursors r ON r.dialog_id = p.dialog_id AND r.user_id = p.user_id
       LEFT JOIN end_users eu ON eu.project_id = d.project_id AND eu.user_id = p.user_id
       ${userStateJoins("p.user_id", "d.project_id")}
       WHERE p.dialog_id = $1 ORDER BY p.joined_at, p.user_id`,
      [dialogId, user.userId],
    );
    return rows.map((row) => {
      const own = row.user_id === user.userId;
      return {
        ...row,
        email: seesContacts ? row.email : null,
        phone: seesContacts ? row.phone : null,
        joined_at: new Date(row.joined_at).toISOString(),
        joined_as: "participant" as const,
        is_online: online.has(row.user_id),
        unread_count: own ? row.unread_count : null,
        is_archived: own ? row.is_archived : null,
        is_pinned: own ? row.is_pinned : null,
        notifications_enabled: own ? row.notifications_enabled : null,
      };
    });
  }

  private async systemMessage(dialogId: string, segment: number, system: Record<string, unknown>): Promise<void> {
    await this.sync.serverWrite(
      segmentDocName(dialogId, segment),
      (doc) => createMessage(doc, { id: uuidv7(), author: systemUserId, kind: "system", createdAt: this.now(), text: "", system }),
      { onlyNewMessages: true },
    );
  }

  private async message(dialogId: string, messageId: string): Promise<MessageRow> {
    const { rows } = await this.pool.query(`SELECT ${messageColumns} FROM messages WHERE dialog_id = $1 AND id = $2`, [
      dialogId,
      messageId,
    ]);
    if (!rows[0]) throw new ApiError("not_found", `message ${messageId} does not exist in this dialog`);
    return toMessage(rows[0]);
  }
}
