import { type OpenAPIHono, z } from "@hono/zod-openapi";
import type { User } from "../auth/verify-token.ts";
import type { ChatService } from "../chat/chat-service.ts";
import type { SearchService } from "../chat/search-service.ts";
import { dataOf, dialogIdParams, dialogSchema, errorResponses, instantSchema, json, routesFor } from "./schemas.ts";

export const messageSchema = z
  .object({
    id: z.string().uuid(),
    dialog_id: z.string().uuid(),
    sender_id: z.string(),
    message_type: z.enum(["text", "system"]),
    content: z.string().openapi({ description: "Plain text of the body" }),
    body: z.unknown().openapi({ description: "The rich body as ProseMirror JSON" }),
    sent_at: z.string(),
    last_edited_at: z.string().nullable(),
    reply_to_id: z.string().uuid().nullable(),
    attachments: z.array(z.unknown()),
    deleted: z.boolean(),
    reactions: z.record(z.string(), z.array(z.string())).openapi({ description: "Emoji → the users who reacted with it" }),
    seq: z.number().nullable().openapi({ description: "Order of arrival at the server" }),
    segment: z.number().int().openapi({ description: "The segment document holding the message: `dialog/<id>/seg/<segment>`" }),
    system: z
      .record(z.string(), z.unknown())
      .nullable()
      .openapi({ description: "For system messages, what happened (`event`, `user_id` …); null for text" }),
  })
  .openapi("Message");

const userDialogSchema = dialogSchema
  .extend({ participants_count: z.number(), i_am_participant: z.boolean(), can_join: z.boolean() })
  .openapi("UserDialog");

export const historySchema = z
  .object({
    messages: z.array(messageSchema),
    first_unread_message_id: z.string().uuid().nullable(),
    has_more_before: z.boolean(),
    has_more_after: z.boolean(),
  })
  .openapi("History");

export const historyQuery = z.object({
  before: z.string().uuid().optional(),
  after: z.string().uuid().optional(),
  around: z.string().uuid().optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

/** Message content is as long as the service's MAX_MESSAGE_CHARS allows: one option for REST and the WebSocket alike. */
const messageSchemas = (maxMessageChars: number) => {
  const content = z.string().trim().max(maxMessageChars, `content must be at most ${maxMessageChars} characters (MAX_MESSAGE_CHARS)`);
  return {
    send: z
      .object({
        content: content.default(""),
        reply_to_id: z.string().uuid().nullish(),
        reply_to: z.string().uuid().nullish().openapi({ description: "MTChat's name for reply_to_id; either may be sent" }),
        attachment_ids: z
          .array(z.string().uuid())
          .max(20)
          .optional()
          .openapi({ description: "Uploaded files to attach; each is checked (complete) before the message is written" }),
        attachments: z
          .array(z.object({ s3_key: z.string().min(1).max(1024) }).passthrough())
          .max(20)
          .optional()
          .openapi({
            description: "MTChat's way to attach: the s3_key the presign answered (other fields are ignored: the file says them)",
          }),
      })
      .refine((body) => body.content.length > 0 || (body.attachment_ids?.length ?? 0) + (body.attachments?.length ?? 0) > 0, {
        message: "send content, attachment_ids or both",
        path: ["content"],
      })
      .refine((body) => !body.reply_to || !body.reply_to_id || body.reply_to === body.reply_to_id, {
        message: "reply_to and reply_to_id name the same message: send one, or the same id in both",
        path: ["reply_to"],
      })
      .openapi("SendMessage"),
    edit: z.object({ content: content.min(1) }).openapi("EditMessage"),
  };
};
export const messageParams = dialogIdParams.extend({
  mid: z
    .string()
    .uuid()
    .openapi({ param: { name: "mid", in: "path" } }),
});

const route = routesFor("chat", "userToken");
const errors = errorResponses;

const getDialog = route({
  method: "get",
  path: "/api/v1/dialogs/{id}",
  summary: "Read a dialog",
  request: { params: dialogIdParams },
  responses: { 200: { description: "The dialog as the caller sees it", ...json(dataOf(userDialogSchema)) }, ...errors },
});
const listMessages = route({
  method: "get",
  path: "/api/v1/dialogs/{id}/messages",
  summary: "Read messages",
  request: { params: dialogIdParams, query: historyQuery },
  responses: { 200: { description: "A page of history across all segments", ...json(dataOf(historySchema)) }, ...errors },
});
const writeRoutes = (schemas: ReturnType<typeof messageSchemas>) => ({
  send: route({
    method: "post",
    path: "/api/v1/dialogs/{id}/messages",
    summary: "Send a message",
    request: { params: dialogIdParams, body: { ...json(schemas.send), required: true } },
    responses: {
      201: { description: "Sent: written into the dialog's document as the caller", ...json(dataOf(messageSchema)) },
      ...errors,
    },
  }),
  edit: route({
    method: "put",
    path: "/api/v1/dialogs/{id}/messages/{mid}",
    summary: "Edit a message",
    request: { params: messageParams, body: { ...json(schemas.edit), required: true } },
    responses: { 200: { description: "Edited (own messages only)", ...json(dataOf(messageSchema)) }, ...errors },
  }),
});
const deleteMessage = route({
  method: "delete",
  path: "/api/v1/dialogs/{id}/messages/{mid}",
  summary: "Delete a message",
  request: { params: messageParams },
  responses: { 200: { description: "Soft-deleted (own messages; admins any)", ...json(dataOf(messageSchema)) }, ...errors },
});

const participantOutSchema = z
  .object({
    user_id: z.string(),
    display_name: z.string(),
    company: z.string().nullable(),
    email: z.string().nullable().openapi({ description: "Shown to participants only" }),
    phone: z.string().nullable().openapi({ description: "Shown to participants only" }),
    avatar_url: z.string().nullable().openapi({ description: "From the end-user directory" }),
    role: z.string(),
    dialog_id: z.string().uuid(),
    joined_at: z.string(),
    joined_as: z.literal("participant").openapi({ description: "MTChat's field; every participant here is one" }),
    last_read_message_id: z.string().uuid().nullable(),
    is_online: z.boolean(),
    unread_count: z.number().int().nullable().openapi({ description: "The caller's own; null for the others" }),
    is_archived: z.boolean().nullable().openapi({ description: "The caller's own; null for the others" }),
    is_pinned: z.boolean().nullable().openapi({ description: "The caller's own; null for the others" }),
    notifications_enabled: z.boolean().nullable().openapi({ description: "The caller's own; null for the others" }),
  })
  .openapi("DialogParticipant");
const okSchema = z.object({ ok: z.literal(true) });
const readSchema = z
  .object({
    message_id: z.string().uuid().optional(),
    last_read_message_id: z.string().uuid().optional().openapi({ description: "MTChat's name for message_id; either may be sent" }),
  })
  .refine((body) => (body.message_id ?? body.last_read_message_id) !== undefined, {
    message: "send message_id (or MTChat's last_read_message_id): the newest message read",
    path: ["message_id"],
  })
  .refine((body) => !body.message_id || !body.last_read_message_id || body.message_id === body.last_read_message_id, {
    message: "message_id and last_read_message_id differ: send one",
    path: ["last_read_message_id"],
  })
  .openapi("MarkRead");

const joinDialog = route({
  method: "post",
  path: "/api/v1/dialogs/{id}/join",
  summary: "Join a dialog",
  request: { params: dialogIdParams },
  responses: { 200: { description: "Joined (scope match required); a system message records it", ...json(dataOf(okSchema)) }, ...errors },
});
const leaveDialog = route({
  method: "post",
  path: "/api/v1/dialogs/{id}/leave",
  summary: "Leave a dialog",
  request: { params: dialogIdParams },
  responses: { 200: { description: "Left; a system message records it", ...json(dataOf(okSchema)) }, ...errors },
});
const markRead = route({
  method: "post",
  path: "/api/v1/dialogs/{id}/read",
  summary: "Mark messages read",
  request: { params: dialogIdParams, body: { ...json(readSchema), required: true } },
  responses: { 200: { description: "The caller's read cursor moved", ...json(dataOf(okSchema)) }, ...errors },
});
const listParticipants = route({
  method: "get",
  path: "/api/v1/dialogs/{id}/participants",
  summary: "List participants",
  request: { params: dialogIdParams },
  responses: {
    200: { description: "Participants with presence and last read message", ...json(dataOf(z.array(participantOutSchema))) },
    ...errors,
  },
});

const searchHitSchema = z
  .object({
    dialog_id: z.string().uuid(),
    message_id: z.string().uuid(),
    sender_id: z.string(),
    content: z.string(),
    highlight: z.string().openapi({ description: "The content, HTML-escaped, with matches in <mark>" }),
    sent_at: z.string(),
    rank: z.number(),
  })
  .openapi("SearchHit");
const searchQuery = z.object({
  q: z.string().trim().min(1).max(200),
  dialog_id: z.string().uuid().optional().openapi({ description: "Only this dialog" }),
  sender_id: z.string().min(1).max(256).optional().openapi({ description: "Only this sender's messages" }),
  from: instantSchema.optional().openapi({ description: "Sent at or after this instant" }),
  to: instantSchema.optional().openapi({ description: "Sent before this instant" }),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(64).optional(),
});
const searchMessages = route({
  method: "get",
  path: "/api/v1/search",
  summary: "Search messages",
  request: { query: searchQuery },
  responses: {
    200: {
      description: "Messages across every dialog the caller may read, best first",
      ...json(dataOf(z.object({ results: z.array(searchHitSchema), next_cursor: z.string().nullable() }))),
    },
    ...errors,
  },
});

type MessageOut = z.infer<typeof messageSchema>;

/** The Chat API for end users and bots: identity and scopes come from the user JWT only (`userAuth`, mounted in app.ts). */
export const registerChatRoutes = <E extends { Variables: { user: User } }>(
  app: OpenAPIHono<E>,
  chat: ChatService,
  search: SearchService,
  limits: { maxMessageChars: number },
) => {
  const { send: sendMessage, edit: editMessage } = writeRoutes(messageSchemas(limits.maxMessageChars));
  app.openapi(searchMessages, async (c) => {
    const { q, limit, cursor, dialog_id, sender_id, from, to } = c.req.valid("query");
    return c.json({ data: await search.search(c.get("user"), q, limit, cursor, { dialog_id, sender_id, from, to }) }, 200);
  });
  app.openapi(getDialog, async (c) => c.json({ data: await chat.dialog(c.get("user"), c.req.valid("param").id) }, 200));
  app.openapi(listMessages, async (c) => {
    const history = await chat.history(c.get("user"), c.req.valid("param").id, c.req.valid("query"));
    return c.json({ data: { ...history, messages: history.messages as MessageOut[] } }, 200);
  });
  app.openapi(sendMessage, async (c) => {
    const { reply_to, attachments, ...body } = c.req.valid("json");
    const { id } = c.req.valid("param");
    // MTChat names uploads by their key: the same files, found by it (in this dialog only).
    const byKey = attachments?.length
      ? await chat.attachmentIdsByKey(
          id,
          attachments.map((file) => file.s3_key),
        )
      : [];
    const attachment_ids = [...(body.attachment_ids ?? []), ...byKey];
    const message = await chat.send(c.get("user"), id, {
      ...body,
      reply_to_id: body.reply_to_id ?? reply_to,
      ...(attachment_ids.length > 0 ? { attachment_ids } : {}),
    });
    return c.json({ data: message as MessageOut }, 201);
  });
  app.openapi(editMessage, async (c) => {
    const { id, mid } = c.req.valid("param");
    return c.json({ data: (await chat.edit(c.get("user"), id, mid, c.req.valid("json").content)) as MessageOut }, 200);
  });
  app.openapi(deleteMessage, async (c) => {
    const { id, mid } = c.req.valid("param");
    return c.json({ data: (await chat.remove(c.get("user"), id, mid)) as MessageOut }, 200);
  });
  app.openapi(joinDialog, async (c) => {
    await chat.join(c.get("user"), c.req.valid("param").id);
    return c.json({ data: { ok: true as const } }, 200);
  });
  app.openapi(leaveDialog, async (c) => {
    await chat.leave(c.get("user"), c.req.valid("param").id);
    return c.json({ data: { ok: true as const } }, 200);
  });
  app.openapi(markRead, async (c) => {
    const { message_id, last_read_message_id } = c.req.valid("json");
    await chat.markRead(c.get("user"), c.req.valid("param").id, (message_id ?? last_read_message_id) as string);
    return c.json({ data: { ok: true as const } }, 200);
  });
  app.openapi(listParticipants, async (c) => c.json({ data: await chat.participants(c.get("user"), c.req.valid("param").id) }, 200));
  app.openAPIRegistry.registerComponent("securitySchemes", "userToken", { type: "http", scheme: "bearer", bearerFormat: "JWT" });
};
