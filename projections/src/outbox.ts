import { createHash } from "node:crypto";
import type pg from "pg";
import { prepared } from "./prepared.ts";

/** Every event a webhook endpoint can receive. */
export const webhookEvents = [
  "message.new",
  "message.edited",
  "message.deleted",
  "participant.joined",
  "participant.left",
  "dialog.archived",
  "dialog.created",
  "dialog.updated",
  "dialog.deleted",
  "message.read",
  "notification.pending",
] as const;
export type WebhookEvent = (typeof webhookEvents)[number];

/** Notified (once per transaction) when events were added; the dispatcher listens. */
export const webhooksChannel = "mtchat_webhooks";

export type OutboxEvent = {
  /** Stable id: the same event must get the same id however often it is derived (see {@link eventId}). */
  id: string;
  projectId: string;
  /** Events of one dialog are delivered in order; null for events outside any dialog. */
  dialogId: string | null;
  event: WebhookEvent;
  /** The `data` object of the delivered body. */
  data: Record<string, unknown>;
};

type Queryable = Pick<pg.PoolClient, "query">;

/** The namespace of event ids (an arbitrary, fixed UUID). */
const eventNamespace = Buffer.from("5b1f7c9e2a4d4e0f9a3b6c8d0e1f2a3b", "hex");

/** RFC 4122 UUIDv5 (SHA-1, name-based) of `name` in `namespace`. */
export const uuidv5 = (name: string, namespace: Uint8Array = eventNamespace): string => {
  const hash = createHash("sha1").update(namespace).update(name, "utf8").digest();
  const bytes = hash.subarray(0, 16);
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x50;
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80;
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
};

/**
 * A deterministic event id from what the event is about, e.g.
 * `eventId(dialogId, "message.edited", messageId, editedAtMs)`: deriving the
 * event again (a rerun, a replay from zero) gives the same id.
 */
export const eventId = (...parts: (string | number)[]): string => uuidv5(parts.map(String).join("\n"));

/**
 * The CTE `added` that inserts the events in `param` (a jsonb array, see
 * `outboxJson`) in order and returns the ids added; shared by every statement
 * that writes the outbox.
 */
export const outboxInsert = (param: string): string => `added AS (
    INSERT INTO webhook_outbox (id, project_id, dialog_id, event, data)
    SELECT (e.value->>'id')::uuid, e.value->>'project_id', (e.value->>'dialog_id')::uuid, e.value->>'event', e.value->'data'
    FROM jsonb_array_elements(${param}::jsonb) WITH ORDINALITY AS e(value, ord)
    ORDER BY e.ord
    ON CONFLICT (id) DO NOTHING
    RETURNING id
  )`;

/** Events as `outboxInsert` reads them. */
export const outboxJson = (events: readonly OutboxEvent[]): string =>
  JSON.stringify(
    events.map((event) => ({ id: event.id, project_id: event.projectId, dialog_id: event.dialogId, event: event.event, data: event.data })),
  );

const insertOutbox = prepared(
  "outbox-insert",
  `WITH ${outboxInsert("$1")} SELECT id, pg_notify('${webhooksChannel}', 'outbox') FROM added`,
);

/**
 * Adds events to the outbox inside the caller's transaction, in the given
 * order. An id already present is skipped (`ON CONFLICT DO NOTHING`), so the
 * same event is never emitted twice. Resolves with the ids actually added.
 * The dispatcher hears of them when the transaction commits.
 */
export const enqueueEvents = async (db: Queryable, events: readonly OutboxEvent[]): Promise<string[]> => {
  if (events.length === 0) return [];
  const { rows: added } = await db.query<{ id: string }>(insertOutbox([outboxJson(events)]));
  return added.map((row) => row.id);
};

/** One event; resolves true when it was added, false when an event with its id already existed. */
export const enqueueEvent = async (db: Queryable, event: OutboxEvent): Promise<boolean> => (await enqueueEvents(db, [event])).length === 1;
