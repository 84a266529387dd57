export { type AppliedLog, type ApplyLogOptions, applyChecked, applyDocLog } from "./apply-log.ts";
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
export { prepared } from "./prepared.ts";
export {
  type EventLogger,
  type LagSummary,
  logQuarantined,
  Projector,
  type ProjectorOptions,
  projectedChannel,
} from "./projector.ts";
export {
  emptyUpdate,
  type Quarantined,
  type QuarantineStats,
  quarantineKinds,
  quarantineRow,
  quarantineStats,
} from "./quarantine.ts";
export { backfillSearchText, queryTerms, searchText } from "./segment.ts";
export type { Service } from "./service.ts";
export { type DialogRef, messageEvents, messagePayload, participantEvents } from "./webhook-events.ts";
export { type FailingDocument, logChannel, ProjectionWorker, type WorkerOptions } from "./worker.ts";
