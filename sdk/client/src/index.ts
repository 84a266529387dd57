/** Link targets a rendered message may point at; anything else (javascript:, data:, …) renders as plain text. */
export { safeHref } from "@mtchat/protocol";
export { ChatClient, type ChatClientConfig, type ChatClientEvents, type ConnectionStatus } from "./client.ts";
export { type ChatMessage, type DialogEvents, DialogSession, messageFromApi, type Presence } from "./dialog-session.ts";
export { Emitter } from "./emitter.ts";
export { dayKey, formatSize } from "./format.ts";
export { HttpSyncSocket, httpSyncUrl } from "./http-socket.ts";
export { type IncomingMessage, MessageWatch, previewLength, previewOf } from "./message-watch.ts";
export { clearUserData, databaseName } from "./persistence.ts";
export { disablePush, enablePush } from "./push.ts";
export { quietWebSocket } from "./quiet-socket.ts";
export {
  ApiError,
  type ApiMessage,
  type Attachment,
  type DialogSummary,
  type HistoryPage,
  type Participant,
  RestClient,
  type SearchHit,
} from "./rest.ts";
export { appendJson, fragmentFromJson, isBlank, mentionsOf } from "./rich-body.ts";
export { type DocState, SyncedDoc } from "./synced-doc.ts";
export { decodeTokenClaims, type TokenClaims, type TokenInput, TokenSource } from "./token.ts";
export { type TransportKind, type TransportOptions, transportSocket } from "./transport.ts";
export { UploadError, uploadFile } from "./upload.ts";
export { UserState, type UserStateEvents } from "./user-state.ts";
