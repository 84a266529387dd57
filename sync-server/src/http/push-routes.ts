import { type OpenAPIHono, z } from "@hono/zod-openapi";
import type { User } from "../auth/verify-token.ts";
import type { PushSubscriptions } from "../push/push-subscriptions.ts";
import type { VapidKeys } from "../push/vapid-keys.ts";
import { ApiError } from "./errors.ts";
import { dataOf, errorResponses, json, routesFor } from "./schemas.ts";

export type PushDeps = { subscriptions: PushSubscriptions; vapidKeys: () => Promise<VapidKeys> };

/** base64url bytes of a given length, as PushSubscription.toJSON() writes them (padding tolerated). */
const base64urlBytes = (bytes: number, what: string) =>
  z
    .string()
    .max(200)
    .regex(/^[A-Za-z0-9_-]+={0,2}$/, `${what} must be base64url, as PushSubscription.toJSON() gives it`)
    .refine((value) => Buffer.from(value, "base64url").length === bytes, `${what} must be ${bytes} bytes (base64url)`);

const subscriptionInputSchema = z
  .object({
    endpoint: z.string().max(2048).openapi({ description: "The push service's URL for this browser (PushSubscription.endpoint); https" }),
    expirationTime: z.number().nullish().openapi({ description: "Ignored: the push service's 404 or 410 says when it ends" }),
    keys: z.object({
      p256dh: base64urlBytes(65, "keys.p256dh").openapi({ description: "The browser's P-256 public key (65 bytes, uncompressed)" }),
      auth: base64urlBytes(16, "keys.auth").openapi({ description: "The browser's authentication secret (16 bytes)" }),
    }),
  })
  .openapi("PushSubscriptionInput");

const subscriptionSchema = z.object({ id: z.string().uuid(), endpoint: z.string(), created_at: z.string() }).openapi("PushSubscription");

const route = routesFor("chat", "userToken");
const errors = errorResponses;

const vapidKey = route({
  method: "get",
  path: "/api/v1/push/vapid-public-key",
  summary: "Read the web push VAPID public key",
  description: "The applicationServerKey to pass to PushManager.subscribe().",
  responses: {
    200: { description: "The key, base64url", ...json(dataOf(z.object({ public_key: z.string() }))) },
    ...errors,
  },
});
const subscribe = route({
  method: "post",
  path: "/api/v1/push/subscriptions",
  summary: "Subscribe a browser to web push",
  description:
    "Stores the caller's PushSubscription (its toJSON()); the browser then gets a push when a message waits for the caller and they are offline and have not muted the dialog. The same endpoint again replaces the earlier row.",
  request: { body: { ...json(subscriptionInputSchema), required: true } },
  responses: { 201: { description: "Subscribed", ...json(dataOf(subscriptionSchema)) }, ...errors },
});
const unsubscribe = route({
  method: "delete",
  path: "/api/v1/push/subscriptions",
  summary: "Unsubscribe a browser from web push",
  request: { query: z.object({ endpoint: z.string().min(1).max(2048).openapi({ description: "The subscription's endpoint" }) }) },
  responses: {
    200: { description: "Unsubscribed", ...json(dataOf(z.object({ endpoint: z.string(), deleted: z.literal(true) }))) },
    ...errors,
  },
});

/** Web push subscriptions of the calling user (the user token; mounted behind `userAuth` in app.ts). */
export const registerPushRoutes = <E extends { Variables: { user: User } }>(app: OpenAPIHono<E>, deps: PushDeps) => {
  app.openapi(vapidKey, async (c) => c.json({ data: { public_key: (await deps.vapidKeys()).publicKey } }, 200));
  app.openapi(subscribe, async (c) => {
    const input = c.req.valid("json");
    const problem = await deps.subscriptions.endpointProblem(input.endpoint);
    if (problem) throw new ApiError("bad_request", problem);
    const user = c.get("user");
    const stored = await deps.subscriptions.add(user.projectId, user.userId, input, c.req.header("user-agent") ?? null);
    return c.json({ data: { id: stored.id, endpoint: input.endpoint, created_at: stored.created_at } }, 201);
  });
  app.openapi(unsubscribe, async (c) => {
    const { endpoint } = c.req.valid("query");
    const user = c.get("user");
    if (!(await deps.subscriptions.remove(user.projectId, user.userId, endpoint))) {
      throw new ApiError("not_found", "you have no push subscription with this endpoint");
    }
    return c.json({ data: { endpoint, deleted: true as const } }, 200);
  });
};
