import { type OpenAPIHono, z } from "@hono/zod-openapi";
import { webhookEvents } from "@mtchat/projections";
import { dataOf, errorResponses, json, routesFor } from "../http/schemas.ts";
import { webhookFormats } from "./endpoints.ts";
import type { WebhookAdmin } from "./webhook-admin.ts";

const endpointSchema = z
  .object({
    id: z.string().openapi({ description: "`default` for the endpoint set by WEBHOOK_URL" }),
    url: z.string(),
    events: z.array(z.string()).nullable().openapi({ description: "The events it receives; null for all" }),
    source: z.enum(["config", "api"]),
    format: z.enum(webhookFormats).openapi({ description: "standard, or mtchat: MTChat's body and signature (see the README)" }),
    created_at: z.string().nullable(),
  })
  .openapi("WebhookEndpoint");

const endpointInputSchema = z
  .object({
    url: z
      .string()
      .url()
      .max(2048)
      .refine((url) => /^https?:\/\//i.test(url), "url must be http or https")
      .openapi({ description: "A public address: internal ones (loopback, private, link-local …) need OUTBOUND_ALLOW_PRIVATE" }),
    secret: z.string().min(16).max(256).optional().openapi({ description: "HMAC key; generated when omitted" }),
    events: z
      .array(z.enum(webhookEvents))
      .max(webhookEvents.length)
      .nullish()
      .openapi({ description: "Only these events; omitted, null or empty for all" }),
    format: z.enum(webhookFormats).default("standard").openapi({
      description: "mtchat: `{id, type, timestamp, payload}` signed sha256=HMAC(secret, body), for receivers written for MTChat",
    }),
  })
  .openapi("WebhookEndpointInput");

const createdEndpointSchema = endpointSchema.extend({
  secret: z.string().openapi({ description: "Returned only here: keep it to verify signatures" }),
});

const payloadSchema = z.object({
  id: z.string().uuid(),
  event: z.string(),
  created_at: z.string(),
  project_id: z.string(),
  data: z.record(z.string(), z.unknown()),
});

const deadLetterSchema = z
  .object({
    id: z.string().uuid(),
    event_id: z.string().uuid().openapi({ description: "The X-Webhook-Id; a replay sends it again" }),
    event: z.string(),
    dialog_id: z.string().uuid().nullable(),
    endpoint_id: z.string(),
    attempts: z.number(),
    last_status: z.number().nullable().openapi({ description: "HTTP status of the last attempt; null when it got none" }),
    last_error: z.string().nullable(),
    dead_at: z.string(),
    payload: payloadSchema,
  })
  .openapi("WebhookDeadLetter");

const idParams = z.object({
  id: z
    .string()
    .uuid()
    .openapi({ param: { name: "id", in: "path" } }),
});
const endpointParams = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: "id", in: "path" } }),
});

const route = routesFor("management", "adminToken");
const errors = errorResponses;

const listEndpoints = route({
  method: "get",
  path: "/api/v1/management/webhooks/endpoints",
  summary: "List webhook endpoints",
  responses: {
    200: { description: "The project's webhook endpoints (secrets are never shown again)", ...json(dataOf(z.array(endpointSchema))) },
    ...errors,
  },
});
const createEndpoint = route({
  method: "post",
  path: "/api/v1/management/webhooks/endpoints",
  summary: "Add a webhook endpoint",
  request: { body: { ...json(endpointInputSchema), required: true } },
  responses: { 201: { description: "The endpoint, with its secret", ...json(dataOf(createdEndpointSchema)) }, ...errors },
});
const deleteEndpoint = route({
  method: "delete",
  path: "/api/v1/management/webhooks/endpoints/{id}",
  summary: "Remove a webhook endpoint",
  request: { params: endpointParams },
  responses: {
    200: { description: "Removed, with its pending deliveries", ...json(dataOf(z.object({ id: z.string(), deleted: z.literal(true) }))) },
    ...errors,
  },
});
const listDeadLetters = route({
  method: "get",
  path: "/api/v1/management/webhooks/dead-letters",
  summary: "List dead letters",
  request: {
    query: z.object({
      limit: z.coerce.number().int().min(1).max(200).default(50),
      cursor: z.string().max(200).optional(),
    }),
  },
  responses: {
    200: {
      description: "Deliveries that failed for good, newest first",
      ...json(dataOf(z.object({ dead_letters: z.array(deadLetterSchema), next_cursor: z.string().nullable() }))),
    },
    ...errors,
  },
});
const replayDeadLetter = route({
  method: "post",
  path: "/api/v1/management/webhooks/dead-letters/{id}/replay",
  summary: "Replay a dead letter",
  request: { params: idParams },
  responses: {
    202: {
      description: "Queued again, with the same event id and body, ahead of the dialog's later events",
      ...json(dataOf(z.object({ id: z.string().uuid(), event_id: z.string().uuid() }))),
    },
    ...errors,
  },
});

/** The Management API's webhook routes (behind the same admin authentication as the rest of it). */
export const registerWebhookRoutes = <E extends { Variables: { projectId: string } }>(app: OpenAPIHono<E>, admin: WebhookAdmin) => {
  app.openapi(listEndpoints, async (c) => c.json({ data: await admin.listEndpoints(c.get("projectId")) }, 200));
  app.openapi(createEndpoint, async (c) => c.json({ data: await admin.createEndpoint(c.get("projectId"), c.req.valid("json")) }, 201));
  app.openapi(deleteEndpoint, async (c) => {
    const { id } = c.req.valid("param");
    await admin.deleteEndpoint(c.get("projectId"), id);
    return c.json({ data: { id, deleted: true as const } }, 200);
  });
  app.openapi(listDeadLetters, async (c) => {
    const { limit, cursor } = c.req.valid("query");
    return c.json({ data: await admin.listDeadLetters(c.get("projectId"), limit, cursor) }, 200);
  });
  app.openapi(replayDeadLetter, async (c) => c.json({ data: await admin.replay(c.get("projectId"), c.req.valid("param").id) }, 202));
};
