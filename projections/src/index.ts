export { type LogRead, readDocLog } from "./log-reader.ts";
export {
  enqueueEvent,
  enqueueEvents,
  eventId,
  type OutboxEvent,
  uuidv5,
  type WebhookEvent,
  webhookEvents,
  webhooksChannel,
} from "./outbox.ts";
export { type LagSummary, Projector, type ProjectorOptions, projectedChannel } from "./projector.ts";
export type { Service } from "./service.ts";
export { type DialogRef, messageEvents, messagePayload, participantEvents } from "./webhook-events.ts";
export { logChannel, ProjectionWorker, type WorkerOptions } from "./worker.ts";
