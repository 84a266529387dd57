import type pg from "pg";
import { enqueueEvents, type OutboxEvent } from "./outbox.ts";
import type { DialogRef } from "./webhook-events.ts";

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

/** The events `build` derives for the dialog; the dialog is looked up only when there are any. */
export const eventsFor = async (db: pg.PoolClient, dialogId: string, build: (ref: DialogRef) => OutboxEvent[]): Promise<OutboxEvent[]> => {
  if (build({ dialogId, projectId: "", objectType: null, objectId: null }).length === 0) return [];
  return build(await dialogRef(db, dialogId));
};

/** Adds the webhook events of this projection to the outbox, in its transaction. */
export const emit = async (db: pg.PoolClient, dialogId: string, build: (ref: DialogRef) => OutboxEvent[]): Promise<void> => {
  await enqueueEvents(db, await eventsFor(db, dialogId, build));
};
