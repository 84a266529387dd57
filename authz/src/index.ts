export { type Decision, type Denial, deny, denyMissing } from "./decision.ts";
export { matchesScopes, type UserScope } from "./scope-match.ts";
export { type Accepted, type DocKind, type InspectContext, inspectUpdate } from "./update-inspector.ts";
export { systemUserId, type Writer, type WriterAccess, writerAccess } from "./writer.ts";
