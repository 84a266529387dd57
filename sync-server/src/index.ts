export { createTokenVerifier, type User, type VerifyToken } from "./auth/verify-token.ts";
export { type Config, options } from "./config/options.ts";
export { ConfigError, parseConfig, renderEnvExample, renderHelp } from "./config/parse-config.ts";
export { type ChatServer, createChatServer, wsPath } from "./server.ts";
export { ChatSync, type ConnectionContext } from "./sync/chat-sync.ts";
export { Refusal } from "./sync/refusal.ts";
