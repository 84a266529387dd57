import { type OpenAPIHono, z } from "@hono/zod-openapi";
import type { User } from "../auth/verify-token.ts";
import type { ChatService } from "../chat/chat-service.ts";
import type { DialogService } from "../management/dialog-service.ts";
import type { Directory } from "../users/directory.ts";
import type { ManagementVariables } from "./admin-auth.ts";
import { historyQuery, historySchema, messageSchema } from "./chat-routes.ts";
import { cursorCodec, cursorInstant, cursorUuid } from "./cursor.ts";
import { dataOf, dialogIdParams, dialogSchema, errorResponses, instantSchema, json, routesFor } from "./schemas.ts";

/** Where the previous page ended: its last dialog's activity (to the microsecond) and id. */
const cursors = cursorCodec(z.strictObject({ at: cursorInstant, id: cursorUuid }));

const listQuery = z.object({
  object_type: z.string().min(1).max(128).optional(),
  object_id: z.string().min(1).max(256).optional(),
  participant: z.string().min(1).max(256).optional().openapi({ description: "Only dialogs this user participates in" }),
  active_after: instantSchema.optional().openapi({ description: "Last activity at or after this instant" }),
  active_before: instantSchema.optional().openapi({ description: "Last activity before this instant" }),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(512).optional().openapi({ description: "next_cursor of the previous page" }),
});

const hostDialogSchema = dialogSchema
  .extend({ participants_count: z.number().int(), last_activity_at: z.string() })
  .openapi("HostDialogListItem");

const patchSchema = z
  .object({
    title: z.string().max(1024).nullish(),
    object_url: z
      .string()
      .url()
      .max(2048)
      .refine((url) => /^https?:\/\//i.test(url), "object_url must be http(s)")
      .nullish(),
    meta: z.record(z.string(), z.unknown()).optional().openapi({ description: "Replaces the host's meta as a whole" }),
  })
  .refine((body) => body.title !== undefined || body.object_url !== undefined || body.meta !== undefined, {
    message: "send title, object_url or meta",
  })
  .openapi("PatchDialog");

const hostMessageSchema = (maxMessageChars: number) =>
  z
    .object({
      content: z.string().trim().min(1).max(maxMessageChars, `content must be at most ${maxMessageChars} characters (MAX_MESSAGE_CHARS)`),
      sender_id: z.string().min(1).max(256).optional().openapi({
        description:
          "A participant to send as (a person, or a bot the host added as a participant), under that participant's rights. Absent: a system notice from the host, shown as written",
      }),
      reply_to_id: z.string().uuid().nullish(),
    })
    .openapi("HostMessage");

const route = routesFor("management", "adminToken");
const errors = errorResponses;

const listDialogs = route({
  method: "get",
  path: "/api/v1/management/dialogs",
  summary: "List the project's dialogs",
  request: { query: listQuery },
  responses: {
    200: {
      description: "Newest activity first",
      ...json(dataOf(z.object({ items: z.array(hostDialogSchema), next_cursor: z.string().nullable() }))),
    },
    ...errors,
  },
});
const patchDialog = route({
  method: "patch",
  path: "/api/v1/management/dialogs/{id}",
  summary: "Change a dialog's title, object URL or meta",
  request: { params: dialogIdParams, body: { ...json(patchSchema), required: true } },
  responses: { 200: { description: "The dialog as changed", ...json(dataOf(dialogSchema)) }, ...errors },
});
const readMessages = route({
  method: "get",
  path: "/api/v1/management/dialogs/{id}/messages",
  summary: "Read a dialog's messages",
  request: { params: dialogIdParams, query: historyQuery },
  responses: { 200: { description: "A page of the history, as the Chat API pages it", ...json(dataOf(historySchema)) }, ...errors },
});
const sendMessage = (maxMessageChars: number) =>
  route({
    method: "post",
    path: "/api/v1/management/dialogs/{id}/messages",
    summary: "Send a message from the host's backend",
    request: { params: dialogIdParams, body: { ...json(hostMessageSchema(maxMessageChars)), required: true } },
    responses: { 201: { description: "The message", ...json(dataOf(messageSchema)) }, ...errors },
  });

type MessageOut = z.infer<typeof messageSchema>;

/**
 * What the host's backend does with dialogs besides creating them: list, change, read, and post into them. A
 * message on a participant's behalf is written as that participant, through the same authorization as their own.
 */
export const registerHostRoutes = <E extends { Variables: ManagementVariables }>(
  app: OpenAPIHono<E>,
  deps: { dialogs: DialogService; chat: ChatService; directory: Pick<Directory, "get">; maxMessageChars: number },
) => {
  app.openapi(listDialogs, async (c) => {
    const { cursor, ...query } = c.req.valid("query");
    const page = await deps.dialogs.list(c.get("projectId"), { ...query, after: cursor ? cursors.decode(cursor) : undefined });
    return c.json({ data: { items: page.items, next_cursor: page.next ? cursors.encode(page.next) : null } }, 200);
  });
  app.openapi(patchDialog, async (c) => {
    return c.json({ data: await deps.dialogs.update(c.get("projectId"), c.req.valid("param").id, c.req.valid("json")) }, 200);
  });
  app.openapi(readMessages, async (c) => {
    const history = await deps.chat.hostHistory(c.get("projectId"), c.req.valid("param").id, c.req.valid("query"));
    return c.json({ data: { ...history, messages: history.messages as MessageOut[] } }, 200);
  });
  app.openapi(sendMessage(deps.maxMessageChars), async (c) => {
    const projectId = c.get("projectId");
    const { id } = c.req.valid("param");
    const { content, sender_id, reply_to_id } = c.req.valid("json");
    if (sender_id === undefined) return c.json({ data: (await deps.chat.hostNotice(projectId, id, content)) as MessageOut }, 201);
    // The participant as a token would present them; their rights come from the dialog (participation, role).
    const profile = await deps.directory.get(projectId, sender_id);
    const sender: User = {
      userId: sender_id,
      projectId,
      tenant_uid: profile?.tenant_uid ?? "",
      scope_level1: [],
      scope_level2: [],
      name: profile?.display_name ?? null,
      company: profile?.company ?? null,
      expiresAt: Math.floor(Date.now() / 1000) + 60,
    };
    return c.json({ data: (await deps.chat.hostSend(projectId, id, sender, { content, reply_to_id })) as MessageOut }, 201);
  });
};
