import { OpenAPIHono, z } from "@hono/zod-openapi";
import { httpSyncPath } from "@mtchat/protocol";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import type { User, VerifyToken } from "../auth/verify-token.ts";
import type { ChatService } from "../chat/chat-service.ts";
import type { DialogList } from "../chat/dialog-list.ts";
import type { SearchService } from "../chat/search-service.ts";
import type { UserStateService } from "../chat/user-state-service.ts";
import { inputProblem } from "../db/storable.ts";
import { isDatabaseUnavailable } from "../db/unavailable.ts";
import type { FileService } from "../files/file-service.ts";
import { filesRoute } from "../files/local-storage.ts";
import type { DialogService } from "../management/dialog-service.ts";
import type { ApiKeys } from "../projects/api-keys.ts";
import type { CorsOrigins } from "../projects/cors-origins.ts";
import type { JwtKeys } from "../projects/jwt-keys.ts";
import type { Projects } from "../projects/projects.ts";
import { Refusal } from "../sync/refusal.ts";
import type { Directory } from "../users/directory.ts";
import type { UserEraser } from "../users/erase.ts";
import type { WebhookAdmin } from "../webhooks/webhook-admin.ts";
import { registerWebhookRoutes } from "../webhooks/webhook-routes.ts";
import { adminAuth, type ManagementVariables } from "./admin-auth.ts";
import { registerChatRoutes } from "./chat-routes.ts";
import { corsMiddleware } from "./cors.ts";
import { registerDialogRoutes } from "./dialog-routes.ts";
import { ApiError, errorBody, sendError } from "./errors.ts";
import { registerFileRoutes } from "./file-routes.ts";
import { type HealthDeps, registerHealthRoutes } from "./health-routes.ts";
import { registerHostRoutes } from "./host-routes.ts";
import { registerProjectRoutes } from "./project-routes.ts";
import { type PushDeps, registerPushRoutes } from "./push-routes.ts";
import { type Limiter, managementCaller, rateLimit, userCaller } from "./rate-limit.ts";
import {
  accessScopesInputSchema,
  createDialogSchema,
  dataOf,
  dialogDetailSchema,
  dialogIdParams,
  dialogSchema,
  errorResponses,
  json,
  participantAddSchema,
  participantParams,
  participantSchema,
  routesFor,
  searchDialogSchema,
} from "./schemas.ts";
import { userAuth } from "./user-auth.ts";
import { registerUserRoutes } from "./user-routes.ts";

export type AppDeps = {
  dialogs: DialogService;
  chat: ChatService;
  dialogList: DialogList;
  userState: UserStateService;
  search: SearchService;
  files: FileService;
  /** PUBLIC_URL: where links to files this server serves point. */
  publicUrl: string | undefined;
  webhooks: WebhookAdmin;
  verifyToken: VerifyToken;
  adminApiToken: string | undefined;
  projects: Projects;
  apiKeys: ApiKeys;
  jwtKeys: JwtKeys;
  /** Which browser origins each project's pages call from (CORS_ALLOWED_ORIGINS and the Management API). */
  corsOrigins: CorsOrigins;
  /** The end-user directory: the Management API's users, filled from tokens as users arrive. */
  directory: Directory;
  /** Erases an end user (GDPR): DELETE /api/v1/management/users/{user_id}. */
  eraser: UserEraser;
  /** Web push: the users' browser subscriptions and the VAPID key they subscribe with. */
  push: PushDeps;
  /** MAX_JSON_BODY_BYTES: the largest request body read, file uploads aside. */
  maxJsonBodyBytes: number;
  /** MAX_MESSAGE_CHARS: the longest message content accepted. */
  maxMessageChars: number;
  /** Per-caller budgets; null when off. */
  limits: { user: Limiter | null; key: Limiter | null };
  /** Readiness checks, the health detail and the metrics registry (see health-routes.ts). */
  health: HealthDeps;
  onError: (error: unknown) => void;
};

type Env = { Variables: ManagementVariables & { user: User } };

const route = routesFor("management", "adminToken");
const errors = errorResponses;

const createDialog = route({
  method: "post",
  path: "/api/v1/management/dialogs",
  summary: "Create a dialog",
  request: { body: { ...json(createDialogSchema), required: true } },
  responses: { 201: { description: "The created dialog", ...json(dataOf(dialogSchema)) }, ...errors },
});
const searchDialog = route({
  method: "post",
  path: "/api/v1/management/dialogs/search",
  summary: "Find a dialog by its object (MTChat's lookup)",
  description:
    "The newest dialog bound to the object; with access_scopes, the newest whose scopes are exactly those, in any order (MTChat's scope_level0 shape too). null when there is none.",
  request: { body: { ...json(searchDialogSchema), required: true } },
  responses: { 200: { description: "The dialog, or null", ...json(dataOf(dialogSchema.nullable())) }, ...errors },
});
const getDialog = route({
  method: "get",
  path: "/api/v1/management/dialogs/{id}",
  summary: "Read a dialog with participants and scopes",
  request: { params: dialogIdParams },
  responses: { 200: { description: "The dialog with participants and access scopes", ...json(dataOf(dialogDetailSchema)) }, ...errors },
});
const deleteDialog = route({
  method: "delete",
  path: "/api/v1/management/dialogs/{id}",
  summary: "Delete a dialog",
  request: { params: dialogIdParams },
  responses: { 200: { description: "Deleted", ...json(dataOf(z.object({ id: z.string().uuid(), deleted: z.literal(true) }))) }, ...errors },
});
const addParticipant = route({
  method: "post",
  path: "/api/v1/management/dialogs/{id}/participants",
  summary: "Add or update a participant",
  request: { params: dialogIdParams, body: { ...json(participantAddSchema), required: true } },
  responses: { 201: { description: "The participant", ...json(dataOf(participantSchema)) }, ...errors },
});
const removeParticipant = route({
  method: "delete",
  path: "/api/v1/management/dialogs/{id}/participants/{user_id}",
  summary: "Remove a participant",
  request: { params: participantParams },
  responses: { 200: { description: "Removed; their live connections are closed", ...json(dataOf(participantParams)) }, ...errors },
});
const replaceScopes = route({
  method: "put",
  path: "/api/v1/management/dialogs/{id}/access-scopes",
  summary: "Replace a dialog's access scopes",
  request: { params: dialogIdParams, body: { ...json(accessScopesInputSchema), required: true } },
  responses: { 200: { description: "The new access scopes", ...json(dataOf(accessScopesInputSchema)) }, ...errors },
});

/** The HTTP API: health, the Management API and its OpenAPI document. */
export const createApp = (deps: AppDeps) => {
  const app = new OpenAPIHono<Env>({
    // Every validated input, of every route, passes here: what a schema lets through must still be storable.
    defaultHook: (result, c) => {
      if (result.success) {
        const problem = inputProblem(result.data);
        if (!problem) return undefined;
        return c.json(errorBody("bad_request", `${problem.path.join(".") || result.target}: ${problem.problem}`), 400);
      }
      const issues = result.error.issues.map((issue) => `${issue.path.join(".") || "body"}: ${issue.message}`);
      return c.json(errorBody("bad_request", issues.join("; ")), 400);
    },
  });

  app.onError((error, c) => {
    if (error instanceof ApiError) return sendError(c, error.kind, error.message);
    // A write the sync extension refused (its hooks speak in refusals), e.g. `unavailable` while the database is away.
    if (error instanceof Refusal) {
      if (error.kind === "unavailable") c.header("Retry-After", "1");
      return sendError(c, error.kind, error.message);
    }
    if (error instanceof HTTPException && error.status === 415) {
      return sendError(c, "unsupported_media_type", "send the body as Content-Type: application/json");
    }
    if (error instanceof HTTPException && error.status < 500) return sendError(c, "bad_request", `${error.message}; send a JSON object`);
    deps.onError(error);
    if (isDatabaseUnavailable(error)) {
      c.header("Retry-After", "1");
      return sendError(c, "unavailable", "the database is unreachable; nothing was changed, retry shortly");
    }
    return sendError(c, "internal", "something went wrong on our side; the request was not completed");
  });
  app.notFound((c) => sendError(c, "not_found", `no route for ${c.req.method} ${c.req.path}`));

  // Before everything else, so refusals carry CORS headers too (a page can read why); a preflight answers here,
  // without credentials.
  app.use("*", corsMiddleware(deps.corsOrigins, deps.verifyToken));

  // Before anything reads a body: a declared length over the cap is refused unread, a streamed (chunked) body as it passes
  // the cap. A body with a length is left alone otherwise: touching the request's stream would keep it from being drained
  // when a route never reads it, and the connection would be dropped. The signed upload route streams files to storage
  // under its own limit (MAX_UPLOAD_BYTES).
  const tooLarge = (c: Context) => {
    c.header("connection", "close");
    return sendError(c, "payload_too_large", `the request body is larger than ${deps.maxJsonBodyBytes} bytes (MAX_JSON_BODY_BYTES)`);
  };
  const streamedBodyLimit = bodyLimit({ maxSize: deps.maxJsonBodyBytes, onError: tooLarge });
  app.use("*", async (c, next) => {
    // The HTTP transport carries sync frames up to MAX_UPDATE_BYTES, under its own limit.
    if (c.req.path.startsWith(`${filesRoute}/`) || c.req.path.startsWith(httpSyncPath)) return next();
    if (c.req.header("transfer-encoding") !== undefined) return streamedBodyLimit(c, next);
    return Number(c.req.header("content-length") ?? 0) > deps.maxJsonBodyBytes ? tooLarge(c) : next();
  });

  registerHealthRoutes(app, deps.health);

  app.use("/api/v1/management/*", adminAuth(deps.adminApiToken, deps.apiKeys));
  app.use("/api/v1/management/*", rateLimit(deps.limits.key, managementCaller));
  app.use("/api/v1/*", rateLimit(deps.limits.user, userCaller(deps.verifyToken)));
  registerProjectRoutes(app, deps);
  registerUserRoutes(app, deps.directory, deps.eraser);
  registerHostRoutes(app, { dialogs: deps.dialogs, chat: deps.chat, directory: deps.directory, maxMessageChars: deps.maxMessageChars });

  app.openapi(createDialog, async (c) => {
    const dialog = await deps.dialogs.create(c.get("projectId"), c.req.valid("json"));
    return c.json({ data: dialog }, 201);
  });
  app.openapi(searchDialog, async (c) => {
    const { object_type, object_id, access_scopes } = c.req.valid("json");
    return c.json({ data: await deps.dialogs.findByObject(c.get("projectId"), object_type, object_id, access_scopes) }, 200);
  });
  app.openapi(getDialog, async (c) => c.json({ data: await deps.dialogs.get(c.get("projectId"), c.req.valid("param").id) }, 200));
  app.openapi(deleteDialog, async (c) => {
    const { id } = c.req.valid("param");
    await deps.dialogs.remove(c.get("projectId"), id);
    return c.json({ data: { id, deleted: true as const } }, 200);
  });
  app.openapi(addParticipant, async (c) => {
    const participant = await deps.dialogs.addParticipant(c.get("projectId"), c.req.valid("param").id, c.req.valid("json"));
    return c.json({ data: participant }, 201);
  });
  app.openapi(removeParticipant, async (c) => {
    const { id, user_id } = c.req.valid("param");
    await deps.dialogs.removeParticipant(c.get("projectId"), id, user_id);
    return c.json({ data: { id, user_id } }, 200);
  });
  app.openapi(replaceScopes, async (c) => {
    const scopes = await deps.dialogs.replaceScopes(c.get("projectId"), c.req.valid("param").id, c.req.valid("json").access_scopes);
    return c.json({ data: { access_scopes: scopes } }, 200);
  });

  for (const path of ["/api/v1/dialogs", "/api/v1/dialogs/*", "/api/v1/search", "/api/v1/push/*"]) {
    app.use(path, userAuth(deps.verifyToken));
    // A user calling the Chat API is known from their token: a cache hit after the first call, and a failure is
    // logged by the directory, never the request's.
    app.use(path, async (c, next) => {
      await deps.directory.seenInToken(c.get("user"));
      await next();
    });
  }
  // Before the chat routes, so /dialogs/direct and /dialogs/by-object/… are not taken for dialog ids.
  registerDialogRoutes(app, {
    list: deps.dialogList,
    userState: deps.userState,
    dialogs: deps.dialogs,
    chat: deps.chat,
    verifyToken: deps.verifyToken,
    directory: deps.directory,
  });
  registerChatRoutes(app, deps.chat, deps.search, { maxMessageChars: deps.maxMessageChars });
  registerPushRoutes(app, deps.push);
  registerFileRoutes(app, deps.files, deps.verifyToken, deps.publicUrl);
  registerWebhookRoutes(app, deps.webhooks);

  app.openAPIRegistry.registerComponent("securitySchemes", "adminToken", { type: "http", scheme: "bearer" });
  app.doc31("/api/v1/openapi.json", (c) => ({
    openapi: "3.1.0",
    info: {
      title: "MTChat-compatible chat service",
      version: "0.1.0",
      description:
        "The Management API (host backends, API keys) and the Chat API (end users, user tokens). Errors: {error: {code, message}}.",
      license: { name: "MIT", identifier: "MIT" },
    },
    // Where this very document was fetched from, unless PUBLIC_URL says where clients reach the service.
    servers: [{ url: deps.publicUrl ?? new URL(c.req.url).origin, description: "This service" }],
  }));
  return app;
};
