import { eventId, type OutboxEvent } from "./outbox.ts";

/** What every event of a dialog carries about the dialog. */
export type DialogRef = { dialogId: string; projectId: string; objectType: string | null; objectId: string | null };

/** A message row as written by the projection, with the row it replaced (if any). */
export type ProjectedMessage = {
  id: string;
  author_id: string;
  kind: string;
  body_text: string;
  body: unknown;
  reply_to: string | null;
  attachments: unknown;
  created_at: Date;
  edited_at: Date | null;
  deleted: boolean;
  system: Record<string, unknown> | null;
  seq: string | number | null;
  /** False when the message had no row before this projection. */
  existed: boolean;
  prev_edited_at: Date | null;
  prev_deleted: boolean | null;
};

export type ProjectedParticipant = {
  user_id: string;
  display_name: string;
  company: string | null;
  role: string;
  joined_at: Date | string | null;
};

const ms = (value: Date | string | null): number | null => (value === null ? null : new Date(value).getTime());
const iso = (value: Date | string | null): string | null => (value === null ? null : new Date(value).toISOString());

const dialogData = (ref: DialogRef) => ({ dialog_id: ref.dialogId, object_type: ref.objectType, object_id: ref.objectId });

/** A message in the Chat API's shape (MTChat's names), as webhook bodies carry it. */
export const messagePayload = (row: Omit<ProjectedMessage, "existed" | "prev_edited_at" | "prev_deleted">) => ({
  id: row.id,
  sender_id: row.author_id,
  message_type: row.kind,
  content: row.body_text,
  body: row.body,
  sent_at: iso(row.created_at),
  last_edited_at: iso(row.edited_at),
  reply_to_id: row.reply_to,
  attachments: row.attachments,
  deleted: row.deleted,
  seq: row.seq === null ? null : Number(row.seq),
  ...(row.system ? { system: row.system } : {}),
});

/**
 * The message events a projection implies: the difference between the rows it
 * replaced and the rows it wrote. A message first seen already edited or
 * deleted yields those events too, with the ids a step-by-step projection
 * would have given them, so a replay from zero finds every id taken.
 */
export const messageEvents = (ref: DialogRef, rows: readonly ProjectedMessage[]): OutboxEvent[] => {
  const events: OutboxEvent[] = [];
  const ordered = [...rows].sort((a, b) => Number(a.seq ?? Number.MAX_SAFE_INTEGER) - Number(b.seq ?? Number.MAX_SAFE_INTEGER));
  for (const row of ordered) {
    const data = { ...dialogData(ref), message: messagePayload(row) };
    const event = (kind: OutboxEvent["event"], ...version: (string | number)[]) =>
      events.push({
        id: eventId(ref.dialogId, kind, row.id, ...version),
        projectId: ref.projectId,
        dialogId: ref.dialogId,
        event: kind,
        data,
      });
    if (!row.existed) event("message.new");
    const editedAt = ms(row.edited_at);
    if (editedAt !== null && editedAt !== ms(row.existed ? row.prev_edited_at : null)) event("message.edited", editedAt);
    if (row.deleted && !(row.existed && row.prev_deleted)) event("message.deleted");
  }
  return events;
};

const participantPayload = (row: ProjectedParticipant) => ({
  user_id: row.user_id,
  display_name: row.display_name,
  company: row.company,
  role: row.role,
  joined_at: iso(row.joined_at),
});

/**
 * Joins and leaves: participants present now and not before, and participants
 * gone; one who left and came back between two projections (a new join time)
 * has both. Leaves come first, each group ordered by user id, so the order
 * does not depend on the database.
 */
export const participantEvents = (
  ref: DialogRef,
  before: readonly ProjectedParticipant[],
  after: readonly ProjectedParticipant[],
): OutboxEvent[] => {
  const previous = new Map(before.map((row) => [row.user_id, row]));
  const current = new Map(after.map((row) => [row.user_id, row]));
  const byUser = (a: ProjectedParticipant, b: ProjectedParticipant) => (a.user_id < b.user_id ? -1 : a.user_id > b.user_id ? 1 : 0);
  const rejoined = (a: ProjectedParticipant | undefined, b: ProjectedParticipant) => !a || ms(a.joined_at) !== ms(b.joined_at);
  const left = before.filter((row) => rejoined(current.get(row.user_id), row)).sort(byUser);
  const joined = after.filter((row) => rejoined(previous.get(row.user_id), row)).sort(byUser);
  const event = (kind: "participant.joined" | "participant.left", row: ProjectedParticipant): OutboxEvent => ({
    id: eventId(ref.dialogId, kind, row.user_id, ms(row.joined_at) ?? 0),
    projectId: ref.projectId,
    dialogId: ref.dialogId,
    event: kind,
    data: { ...dialogData(ref), participant: participantPayload(row) },
  });
  return [...left.map((row) => event("participant.left", row)), ...joined.map((row) => event("participant.joined", row))];
};
