export { type LogRead, readDocLog } from "./log-reader.ts";
export { type LagSummary, Projector, type ProjectorOptions } from "./projector.ts";
export type { Service } from "./service.ts";
export { logChannel, ProjectionWorker, type WorkerOptions } from "./worker.ts";
