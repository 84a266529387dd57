import { createHash } from "node:crypto";
import { type OpenAPIHono, z } from "@hono/zod-openapi";
import type { User, VerifyToken } from "../auth/verify-token.ts";
import type { ChatService } from "../chat/chat-service.ts";
import type { DialogList } from "../chat/dialog-list.ts";
import type { UserStateService } from "../chat/user-state-service.ts";
import type { DialogService, ParticipantRef } from "../management/dialog-service.ts";
import type { Directory } from "../users/directory.ts";
import { messageParams, messageSchema } from "./chat-routes.ts";
import { ApiError } from "./errors.ts";
import { dataOf, dialogIdParams, dialogSchema, errorResponses, json, routesFor } from "./schemas.ts";

const lastMessageSchema = z
  .object({ id: z.string().uuid(), sender_id: z.string(), message_type: z.string(), content: z.string(), sent_at: z.string() })
  .openapi("LastMessage");

const listItemSchema = dialogSchema
  .extend({
    participants_count: z.number(),
    i_am_participant: z.boolean(),
    can_join: z.boolean(),
    last_activity_at: z.string().openapi({ description: "Arrival of the newest message (or creation)" }),
    unread_count: z.number().optional().openapi({ description: "Participants only" }),
    is_archived: z.boolean().optional().openapi({ description: "Participants only" }),
    is_pinned: z.boolean().optional().openapi({ description: "Participants only" }),
    notifications_enabled: z.boolean().optional().openapi({ description: "Participants only" }),
    last_message: lastMessageSchema.nullable().optional().openapi({ description: "Participants only" }),
  })
  .openapi("DialogListItem");

const booleanQuery = z
  .enum(["true", "false"])
  .default("false")
  .transform((value) => value === "true");

const listQuery = z.object({
  type: z.enum(["participating", "available"]).default("participating"),
  archived: booleanQuery.openapi({ description: "true: only archived dialogs; false (default): the rest" }),
  search: z.string().trim().min(1).max(200).optional().openapi({ description: "Matches title, object id or object type" }),
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: z.string().max(512).optional(),
});

const objectParams = z.object({
  type: z
    .string()
    .min(1)
    .max(128)
    .openapi({ param: { name: "type", in: "path" } }),
  object_id: z
    .string()
    .min(1)
    .max(256)
    .openapi({ param: { name: "object_id", in: "path" } }),
});

const stateSchema = z
  .object({ dialog_id: z.string().uuid(), is_archived: z.boolean(), is_pinned: z.boolean(), notifications_enabled: z.boolean() })
  .openapi("DialogUserState");
const notificationsSchema = z.object({ enabled: z.boolean() }).openapi("Notifications");
const directSchema = z
  .object({
    user_id: z.string().trim().min(1).max(256).openapi({
      description:
        "The other user. Their name comes from the end-user directory (else their id until their token names them); the caller cannot set it",
    }),
  })
  .openapi("DirectDialog");
const reactionParams = messageParams.extend({
  emoji: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: "emoji", in: "path" }, description: "The emoji, URL-encoded" }),
});

const route = routesFor("chat", "userToken");
const errors = errorResponses;

const listDialogs = route({
  method: "get",
  path: "/api/v1/dialogs",
  summary: "List the caller's dialogs",
  request: { query: listQuery },
  responses: {
    200: {
      description: "Pinned first, then by last activity; the cursor pages stably while messages arrive",
      ...json(dataOf(z.object({ items: z.array(listItemSchema), next_cursor: z.string().nullable() }))),
    },
    ...errors,
  },
});
const byObject = route({
  method: "get",
  path: "/api/v1/dialogs/by-object/{type}/{object_id}",
  summary: "Find the newest dialog of a host object",
  request: { params: objectParams },
  responses: {
    200: {
      description:
        "The newest dialog bound to the object that the caller may read, or null when there is none (as MTChat answers; not 404)",
      ...json(dataOf(listItemSchema.nullable())),
    },
    ...errors,
  },
});
const byObjectList = route({
  method: "get",
  path: "/api/v1/dialogs/by-object/{type}/{object_id}/list",
  summary: "List the dialogs of a host object",
  request: { params: objectParams },
  responses: {
    200: { description: "Every dialog bound to the object that the caller may read", ...json(dataOf(z.array(listItemSchema))) },
    ...errors,
  },
});
const stateRoute = (path: string, description: string) =>
  route({
    method: "post",
    path: `/api/v1/dialogs/{id}/${path}`,
    summary: `${path[0]?.toUpperCase()}${path.slice(1)} the dialog for the caller`,
    request: { params: dialogIdParams },
    responses: { 200: { description, ...json(dataOf(stateSchema)) }, ...errors },
  });
const notifications = route({
  method: "post",
  path: "/api/v1/dialogs/{id}/notifications",
  summary: "Mute or unmute a dialog",
  request: { params: dialogIdParams, body: { ...json(notificationsSchema), required: true } },
  responses: { 200: { description: "Notifications turned on or off for the caller", ...json(dataOf(stateSchema)) }, ...errors },
});
const direct = route({
  method: "post",
  path: "/api/v1/dialogs/direct",
  summary: "Open the direct dialog with a user",
  request: { body: { ...json(directSchema), required: true } },
  responses: {
    200: { description: "The one direct dialog of the caller and the user, created on first use", ...json(dataOf(dialogSchema)) },
    ...errors,
  },
});
const self = route({
  method: "post",
  path: "/api/v1/dialogs/self",
  summary: "Open the notes-to-self dialog",
  responses: { 200: { description: "The caller's notes-to-self dialog, created on first use", ...json(dataOf(dialogSchema)) }, ...errors },
});
const reactionRoute = (method: "put" | "delete") =>
  route({
    method,
    path: "/api/v1/dialogs/{id}/messages/{mid}/reactions/{emoji}",
    summary: method === "put" ? "React to a message" : "Take a reaction back",
    request: { params: reactionParams },
    responses: {
      200: { description: method === "put" ? "Reaction added" : "Reaction removed", ...json(dataOf(messageSchema)) },
      ...errors,
    },
  });

type ListItemOut = z.infer<typeof listItemSchema>;

/** Dialog lists, lookups by host object, per-user state, direct and self dialogs, and reactions. */
export const registerDialogRoutes = <E extends { Variables: { user: User } }>(
  app: OpenAPIHono<E>,
  deps: {
    list: DialogList;
    userState: UserStateService;
    dialogs: DialogService;
    chat: ChatService;
    verifyToken: VerifyToken;
    directory: Pick<Directory, "get" | "authoritative">;
  },
) => {
  app.openapi(listDialogs, async (c) => {
    const page = await deps.list.list(c.get("user"), c.req.valid("query"));
    return c.json({ data: { ...page, items: page.items as ListItemOut[] } }, 200);
  });
  app.openapi(byObject, async (c) => {
    const { type, object_id } = c.req.valid("param");
    const newest = (await deps.list.byObject(c.get("user"), type, object_id)).at(-1);
    return c.json({ data: (newest ?? null) as ListItemOut | null }, 200);
  });
  app.openapi(byObjectList, async (c) => {
    const { type, object_id } = c.req.valid("param");
    return c.json({ data: (await deps.list.byObject(c.get("user"), type, object_id)) as ListItemOut[] }, 200);
  });

  const changes = [
    ["archive", "Archived for the caller until a new message arrives", { archived: true }],
    ["unarchive", "Back in the caller's main list", { archived: false }],
    ["pin", "Pinned to the top of the caller's list", { pinned: true }],
    ["unpin", "No longer pinned", { pinned: false }],
  ] as const;
  for (const [path, description, change] of changes) {
    app.openapi(stateRoute(path, description), async (c) => {
      const { id } = c.req.valid("param");
      await deps.userState.change(c.get("user"), id, change);
      return c.json({ data: await deps.userState.state(c.get("user"), id) }, 200);
    });
  }
  app.openapi(notifications, async (c) => {
    const { id } = c.req.valid("param");
    const { enabled } = c.req.valid("json");
    await deps.userState.change(c.get("user"), id, { notifications: enabled });
    return c.json({ data: await deps.userState.state(c.get("user"), id) }, 200);
  });

  /**
   * The caller's direct dialog with `other`, or their self dialog when `other` is the caller or absent. A direct
   * dialog stays within the caller's tenant (as the directory knows the other user), and names only users the
   * directory holds when the project keeps it through the API.
   */
  const personal = async (user: User, other?: { user_id: string }) => {
    const kind = other && other.user_id !== user.userId ? "direct" : "self";
    const users = kind === "direct" && other ? [user.userId, other.user_id] : [user.userId];
    const key = `${kind}:${JSON.stringify([...users].sort())}`;
    const participants: ParticipantRef[] = [
      { user_id: user.userId, display_name: user.name ?? user.userId, company: user.company, role: "member" },
    ];
    if (kind === "direct" && other) {
      const entry = await deps.directory.get(user.projectId, other.user_id);
      if (!entry && (await deps.directory.authoritative(user.projectId))) {
        throw new ApiError("not_found", `no user ${other.user_id} in this project's directory`);
      }
      if (entry?.tenant_uid && entry.tenant_uid !== user.tenant_uid) {
        throw new ApiError("forbidden", `${other.user_id} belongs to another tenant: direct dialogs stay within a tenant`);
      }
      // By id: the dialog service takes the name and contacts from the directory.
      participants.push({ user_id: other.user_id, role: "member" });
    }
    const { dialog } = await deps.dialogs.getOrCreate(user.projectId, key, {
      type: kind,
      object_type: kind,
      // A stable id users never have to parse, whatever the length of the user ids.
      object_id: `${kind}-${createHash("sha256").update(key).digest("hex").slice(0, 32)}`,
      created_by: user.userId,
      participants,
      access_scopes: [],
      meta: {},
    });
    return dialog;
  };
  app.openapi(direct, async (c) => c.json({ data: await personal(c.get("user"), c.req.valid("json")) }, 200));
  app.openapi(self, async (c) => c.json({ data: await personal(c.get("user")) }, 200));

  for (const method of ["put", "delete"] as const) {
    app.openapi(reactionRoute(method), async (c) => {
      const { id, mid, emoji } = c.req.valid("param");
      const message = await deps.chat.react(c.get("user"), id, mid, emoji, method === "put");
      return c.json({ data: message as z.infer<typeof messageSchema> }, 200);
    });
  }
};
