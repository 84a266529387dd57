import { enqueueEvent, eventId, messagePayload } from "@mtchat/projections";
import type { PushJob, PushPayload } from "../push/push-sender.ts";
import type { OutboxRow } from "./chains.ts";
import { type Endpoint, wants } from "./endpoints.ts";
import { type Job, type JobQueue, queues, type Tx } from "./job-queue.ts";

/** Data of a notification job. */
export type NotifyJob = { dialog_id: string; user_id: string };

export type NotificationOptions = {
  delayMs: number;
  /** True when the user has a live connection to the dialog, on any node (`Presence`). */
  isOnline: (dialogId: string, userId: string) => Promise<boolean>;
  /** True when the user muted the dialog. */
  isMuted: (dialogId: string, userId: string) => Promise<boolean>;
  log: (event: string, fields: Record<string, unknown>) => void;
};

type NewMessage = { id: string; sender_id: string; message_type: string; seq: number | null };

/** The start of a message for a push: whole words up to 140 characters, one line. */
export const previewOf = (text: string | null): string => {
  const line = (text ?? "").replace(/\s+/g, " ").trim();
  if (line.length <= 140) return line;
  const cut = line.slice(0, 140);
  const space = cut.lastIndexOf(" ");
  return `${(space > 80 ? cut.slice(0, space) : cut).trimEnd()}…`;
};

/**
 * notification.pending, debounced per (recipient, dialog). Each new text
 * message opens the window of every other participant that has none, or
 * extends it: its end is `delay` after the latest message. Only opening a
 * window writes a row and queues a job; the job reads where the window ends
 * now from the messages, and queues itself again for that end when it is
 * later. When a window ends, the recipient gets one event with the unread count
 * and the latest message, unless they read up to it meanwhile, are online in
 * the dialog, muted it, or left. The same event wakes the recipient's
 * browsers through web push, where they subscribed.
 */
export class Notifications {
  constructor(
    private readonly queue: JobQueue,
    private readonly options: NotificationOptions,
  ) {}

  /**
   * In the fan-out transaction: opens the windows the new messages imply, in
   * one statement for the whole batch (each window once, from the batch's
   * first arrival); open windows are extended by the messages themselves.
   */
  async schedule(tx: Tx, events: readonly OutboxRow[], endpoints: readonly Endpoint[]): Promise<void> {
    const subscribed = new Set(
      endpoints.filter((endpoint) => wants(endpoint, "notification.pending")).map((endpoint) => endpoint.projectId),
    );
    const messages = events.flatMap((event) => {
      const message = (event.data as { message?: NewMessage }).message;
      if (event.event !== "message.new" || !event.dialog_id) return [];
      if (message?.message_type !== "text" || message.seq === null) return [];
      const hooked = subscribed.has(event.project_id);
      return [{ dialog_id: event.dialog_id, project_id: event.project_id, seq: message.seq, sender_id: message.sender_id, hooked }];
    });
    if (messages.length === 0) return;
    // An open window is left as it is: where it ends is read from the messages when its job runs (see `fire`), so a
    // busy dialog writes no row per message and recipient. Only the windows this batch opened come back.
    const { rows: opened } = await tx.client.query<{ dialog_id: string; user_id: string; due_at: Date }>(
      `WITH arrived AS (
         SELECT m.dialog_id, m.project_id, m.seq, m.sender_id, m.hooked
         FROM jsonb_to_recordset($1::jsonb) AS m(dialog_id uuid, project_id text, seq bigint, sender_id text, hooked boolean)
         -- A window is for a webhook endpoint that wants notification.pending, or for a recipient's web push subscriptions.
         WHERE m.hooked OR EXISTS (SELECT 1 FROM push_subscriptions s WHERE s.project_id = m.project_id)
       ), windows AS (
         SELECT a.dialog_id, p.user_id, min(a.project_id) AS project_id, min(a.seq) AS first_seq, max(a.seq) AS latest_seq
         FROM arrived a JOIN participants p ON p.dialog_id = a.dialog_id AND p.user_id <> a.sender_id
         WHERE a.hooked OR EXISTS (SELECT 1 FROM push_subscriptions s WHERE s.project_id = a.project_id AND s.user_id = p.user_id)
         GROUP BY a.dialog_id, p.user_id
       )
       INSERT INTO webhook_pending_notifications (dialog_id, user_id, project_id, first_seq, latest_seq, due_at)
       SELECT dialog_id, user_id, project_id, first_seq, latest_seq, now() + make_interval(secs => $2) FROM windows
       ON CONFLICT (dialog_id, user_id) DO NOTHING
       RETURNING dialog_id, user_id, due_at`,
      [JSON.stringify(messages), this.options.delayMs / 1000],
    );
    await this.queue.insert<NotifyJob>(
      tx,
      queues.notify,
      opened.map((row) => ({ data: { dialog_id: row.dialog_id, user_id: row.user_id }, startAfter: row.due_at })),
    );
  }

  /** One push job per browser the recipient subscribed, in the same transaction as the event. */
  private async queuePushes(tx: Tx, projectId: string, userId: string, payload: PushPayload): Promise<void> {
    const { rows } = await tx.client.query<{ id: string }>("SELECT id FROM push_subscriptions WHERE project_id = $1 AND user_id = $2", [
      projectId,
      userId,
    ]);
    const now = new Date();
    await this.queue.insert<PushJob>(
      tx,
      queues.push,
      rows.map((row) => ({ data: { subscription_id: row.id, payload }, startAfter: now })),
    );
  }

  /** A window's job: emits the event into the outbox (in this transaction), or cancels, or waits for the new end. */
  async fire(tx: Tx, job: Job<NotifyJob>): Promise<void> {
    await this.queue.complete(tx, queues.notify, job.id);
    const { dialog_id: dialogId, user_id: userId } = job.data;
    const { rows } = await tx.client.query<{ project_id: string; first_seq: string }>(
      `SELECT project_id, first_seq FROM webhook_pending_notifications WHERE dialog_id = $1 AND user_id = $2 FOR UPDATE SKIP LOCKED`,
      [dialogId, userId],
    );
    const pending = rows[0];
    if (!pending) return;
    // The window ends `delay` after the latest text message of someone else since it opened.
    const { rows: ends } = await tx.client.query<{ latest_seq: string | null; due_at: Date | null; early: boolean | null }>(
      `SELECT e.latest_seq, e.due_at, e.due_at > now() AS early FROM (
         SELECT max(m.seq) AS latest_seq, max(COALESCE(m.received_at, m.created_at)) + make_interval(secs => $4) AS due_at
         FROM messages m WHERE m.dialog_id = $1 AND m.seq >= $2 AND m.author_id <> $3 AND m.kind = 'text'
       ) AS e`,
      [dialogId, pending.first_seq, userId, this.options.delayMs / 1000],
    );
    const end = ends[0];
    const latestSeq = end?.latest_seq ?? pending.first_seq;
    if (end?.early && end.due_at) {
      await tx.client.query("UPDATE webhook_pending_notifications SET latest_seq = $3, due_at = $4 WHERE dialog_id = $1 AND user_id = $2", [
        dialogId,
        userId,
        latestSeq,
        end.due_at,
      ]);
      await this.queue.insert<NotifyJob>(tx, queues.notify, [{ data: job.data, startAfter: end.due_at }]);
      return;
    }
    const close = (outcome: string) => {
      this.options.log("notification_window_closed", { dialogId, userId, outcome });
      return tx.client.query("DELETE FROM webhook_pending_notifications WHERE dialog_id = $1 AND user_id = $2", [dialogId, userId]);
    };
    if (await this.options.isMuted(dialogId, userId)) return void (await close("muted"));
    if (await this.options.isOnline(dialogId, userId)) return void (await close("online"));
    // Unread: text messages of others in the window, not deleted, after the recipient's read cursor.
    const { rows: window } = await tx.client.query(
      `SELECT m.id, m.author_id, m.kind, m.body_text, m.body, m.reply_to, m.attachments, m.created_at, m.edited_at, m.deleted, m.system, m.seq,
              count(*) OVER () AS unread, d.object_type, d.object_id, d.title,
              COALESCE(sp.display_name, se.display_name, m.author_id) AS sender_name, COALESCE(sp.company, se.company) AS sender_company,
              COALESCE(rp.display_name, re.display_name, $4) AS recipient_name,
              COALESCE(rc.email, re.email) AS recipient_email, COALESCE(rc.phone, re.phone) AS recipient_phone
       FROM messages m LEFT JOIN dialogs d ON d.id = m.dialog_id
       -- Names as the dialog shows them, else as the end-user directory holds them (a sender who left, say).
       LEFT JOIN participants sp ON sp.dialog_id = m.dialog_id AND sp.user_id = m.author_id
       LEFT JOIN end_users se ON se.project_id = d.project_id AND se.user_id = m.author_id
       LEFT JOIN participants rp ON rp.dialog_id = m.dialog_id AND rp.user_id = $4
       LEFT JOIN participant_contacts rc ON rc.dialog_id = m.dialog_id AND rc.user_id = $4
       LEFT JOIN end_users re ON re.project_id = d.project_id AND re.user_id = $4
       WHERE m.dialog_id = $1 AND m.seq BETWEEN $2 AND $3 AND m.author_id <> $4 AND m.kind = 'text' AND NOT m.deleted
         AND m.seq > COALESCE((SELECT r.seq FROM read_cursors c JOIN messages r ON r.dialog_id = c.dialog_id AND r.id = c.message_id
                               WHERE c.dialog_id = $1 AND c.user_id = $4), 0)
         AND EXISTS (SELECT 1 FROM participants p WHERE p.dialog_id = $1 AND p.user_id = $4)
       ORDER BY m.seq DESC LIMIT 1`,
      [dialogId, pending.first_seq, latestSeq, userId],
    );
    const latest = window[0];
    if (!latest) return void (await close("read"));
    await enqueueEvent(tx.client, {
      id: eventId(dialogId, "notification.pending", userId, latest.id),
      projectId: pending.project_id,
      dialogId,
      event: "notification.pending",
      data: {
        dialog_id: dialogId,
        object_type: latest.object_type,
        object_id: latest.object_id,
        recipient_id: userId,
        // What a push needs, in one place: who to reach, about which chat, from whom, saying what.
        recipient: { user_id: userId, display_name: latest.recipient_name, email: latest.recipient_email, phone: latest.recipient_phone },
        chat_title: latest.title,
        sender_id: latest.author_id,
        sender_name: latest.sender_name,
        sender_company: latest.sender_company,
        preview: previewOf(latest.body_text),
        unread_count: Number(latest.unread),
        latest_message: messagePayload(latest),
      },
    });
    await this.queuePushes(tx, pending.project_id, userId, {
      type: "message",
      dialog_id: dialogId,
      title: (latest.title ?? `${latest.object_type} ${latest.object_id}`).slice(0, 200),
      sender_name: String(latest.sender_name ?? latest.author_id).slice(0, 200),
      preview: previewOf(latest.body_text),
      unread_count: Number(latest.unread),
      message_id: latest.id,
    });
    await close("notified");
  }
}
