import { type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Directory } from "../users/directory.ts";
import type { UserEraser } from "../users/erase.ts";
import type { ManagementVariables } from "./admin-auth.ts";
import { ApiError } from "./errors.ts";
import { dataOf, errorResponses, json, routesFor } from "./schemas.ts";

const optionalText = (max: number) => z.string().trim().min(1).max(max).nullish();

const endUserInputSchema = z
  .object({
    tenant_uid: optionalText(256).openapi({ description: "The user's tenant: direct dialogs never cross tenants" }),
    display_name: optionalText(256),
    company: optionalText(256),
    email: z.string().email().max(320).nullish(),
    phone: z.string().max(64).nullish(),
    avatar_url: z
      .string()
      .url()
      .max(2048)
      .refine((url) => /^https?:\/\//i.test(url), "avatar_url must be http(s)")
      .nullish(),
    meta: z.record(z.string(), z.unknown()).default({}).openapi({ description: "The host's own fields, returned as given" }),
  })
  .openapi("EndUserInput");

const endUserSchema = z
  .object({
    user_id: z.string(),
    tenant_uid: z.string().nullable(),
    display_name: z.string().nullable(),
    company: z.string().nullable(),
    email: z.string().nullable(),
    phone: z.string().nullable(),
    avatar_url: z.string().nullable(),
    meta: z.record(z.string(), z.unknown()),
    source: z.enum(["api", "token"]).openapi({ description: "api: set here; token: filled from the user's token on first connect" }),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("EndUser");

const userParams = z.object({
  user_id: z
    .string()
    .trim()
    .min(1)
    .max(256)
    .refine((id) => !id.startsWith("$"), "user_id must not start with $")
    .openapi({ param: { name: "user_id", in: "path" } }),
});

const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.string().max(256).optional().openapi({ description: "next_cursor of the previous page" }),
});

const route = routesFor("management", "adminToken");
const errors = errorResponses;

const putUser = route({
  method: "put",
  path: "/api/v1/management/users/{user_id}",
  summary: "Create or replace an end user",
  description:
    "Replaces every field (absent ones become null). From then on the user's token fills nothing; participants named only by id take the name.",
  request: { params: userParams, body: { ...json(endUserInputSchema), required: true } },
  responses: {
    200: { description: "Replaced", ...json(dataOf(endUserSchema)) },
    201: { description: "Created", ...json(dataOf(endUserSchema)) },
    ...errors,
  },
});
const getUser = route({
  method: "get",
  path: "/api/v1/management/users/{user_id}",
  summary: "Read an end user",
  request: { params: userParams },
  responses: { 200: { description: "The directory entry", ...json(dataOf(endUserSchema)) }, ...errors },
});
const listUsers = route({
  method: "get",
  path: "/api/v1/management/users",
  summary: "List end users",
  request: { query: listQuery },
  responses: {
    200: {
      description: "The project's directory, by user id",
      ...json(dataOf(z.object({ items: z.array(endUserSchema), next_cursor: z.string().nullable() }))),
    },
    ...errors,
  },
});

const eraseUser = route({
  method: "delete",
  path: "/api/v1/management/users/{user_id}",
  summary: "Erase an end user (GDPR)",
  description:
    'Their messages become "deleted user" tombstones (no text, no files) in every dialog, and the documents are compacted so the text leaves the log and snapshots too; they leave every dialog; their state document, uploaded files, directory entry and the text of their messages in stored webhook events are removed. Done when it answers.',
  request: { params: userParams },
  responses: {
    200: {
      description: "What was erased",
      ...json(dataOf(z.object({ user_id: z.string(), dialogs: z.number().int(), messages: z.number().int(), files: z.number().int() }))),
    },
    ...errors,
  },
});

/** The end-user directory of the caller's project (see `Directory`), and erasure (`UserEraser`). */
export const registerUserRoutes = <E extends { Variables: ManagementVariables }>(
  app: OpenAPIHono<E>,
  directory: Directory,
  eraser: UserEraser,
) => {
  app.openapi(eraseUser, async (c) => c.json({ data: await eraser.erase(c.get("projectId"), c.req.valid("param").user_id) }, 200));
  app.openapi(putUser, async (c) => {
    const { user, created } = await directory.upsert(c.get("projectId"), c.req.valid("param").user_id, c.req.valid("json"));
    return created ? c.json({ data: user }, 201) : c.json({ data: user }, 200);
  });
  app.openapi(getUser, async (c) => {
    const { user_id } = c.req.valid("param");
    const user = await directory.get(c.get("projectId"), user_id);
    if (!user) throw new ApiError("not_found", `no user ${user_id} in this project's directory`);
    return c.json({ data: user }, 200);
  });
  app.openapi(listUsers, async (c) => {
    const { limit, cursor } = c.req.valid("query");
    return c.json({ data: await directory.list(c.get("projectId"), limit, cursor) }, 200);
  });
};
