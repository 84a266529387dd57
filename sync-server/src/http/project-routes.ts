import { type OpenAPIHono, z } from "@hono/zod-openapi";
import { type ApiKeys, apiKeyScopes } from "../projects/api-keys.ts";
import type { CorsOrigins } from "../projects/cors-origins.ts";
import type { JwtKeys } from "../projects/jwt-keys.ts";
import { maxCorsOrigins } from "../projects/origin.ts";
import type { Projects } from "../projects/projects.ts";
import type { ManagementVariables } from "./admin-auth.ts";
import { dataOf, errorResponses, instantSchema, json, routesFor } from "./schemas.ts";

const projectSchema = z
  .object({ id: z.string(), name: z.string(), created_at: z.string() })
  .openapi("Project", { description: "A customer of the service: the isolation boundary of dialogs, keys and users" });

const createProjectSchema = z
  .object({
    id: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, "id must be 1-63 lowercase letters, digits, - or _")
      .openapi({ description: "Stable id; user tokens name it in their `prj` claim" }),
    name: z.string().trim().min(1).max(256),
  })
  .openapi("CreateProject");

const apiKeySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    prefix: z.string().openapi({ description: "mtk_live_<id>: shown in listings to recognize the key; not a credential" }),
    scopes: z.array(z.enum(apiKeyScopes)).openapi({ description: "read (GET), write (other methods), admin (keys; implies both)" }),
    created_at: z.string(),
    expires_at: z.string().nullable(),
    revoked_at: z.string().nullable(),
    last_used_at: z.string().nullable().openapi({ description: "Updated at most once a minute" }),
  })
  .openapi("ApiKey");

const createdApiKeySchema = apiKeySchema
  .extend({ key: z.string().openapi({ description: "The key itself. Shown this once: only its hash is stored" }) })
  .openapi("CreatedApiKey");

const createApiKeySchema = z
  .object({
    name: z.string().trim().min(1).max(256),
    scopes: z.array(z.enum(apiKeyScopes)).min(1).max(3),
    expires_at: instantSchema.nullish().openapi({ description: "After this instant the key answers 401" }),
  })
  .openapi("CreateApiKey");

const jwtKeySchema = z
  .object({
    id: z.string().uuid(),
    kind: z.enum(["hs256", "public_key", "jwks_url"]),
    created_at: z.string(),
    public_key: z.string().nullable(),
    jwks_url: z.string().nullable(),
    secret_fingerprint: z.string().nullable().openapi({ description: "For HS256 keys, whose secret is never shown again" }),
  })
  .openapi("JwtKey");

const addJwtKeySchema = z
  .discriminatedUnion("kind", [
    z.object({ kind: z.literal("hs256"), secret: z.string().min(32, "secret must be at least 32 characters (256 bits)").max(4096) }),
    z.object({
      kind: z.literal("public_key"),
      public_key: z.string().includes("BEGIN PUBLIC KEY", { message: "must be a PEM (SPKI) public key" }).max(16_384),
    }),
    z.object({
      kind: z.literal("jwks_url"),
      jwks_url: z
        .string()
        .url()
        .max(2048)
        .refine((url) => /^https?:\/\//.test(url), "jwks_url must be http(s)")
        .openapi({ description: "A public address: internal ones (loopback, private, link-local …) need OUTBOUND_ALLOW_PRIVATE" }),
    }),
  ])
  .openapi("AddJwtKey");

const keyIdParams = z.object({
  key_id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: "key_id", in: "path" } }),
});
const jwtKeyIdParams = z.object({
  key_id: z
    .string()
    .uuid()
    .openapi({ param: { name: "key_id", in: "path" } }),
});

const corsOriginsSchema = z
  .object({
    origins: z
      .array(z.string().max(2048))
      .max(maxCorsOrigins)
      .openapi({
        description:
          "Origins whose pages may call the service with this project's user tokens (CORS and the WebSocket's Origin check): scheme://host[:port], or * for any",
        example: ["https://shop.example.com", "http://localhost:5173"],
      }),
  })
  .openapi("CorsOrigins");

const route = routesFor("management", "adminToken");
const errors = errorResponses;

const createProject = route({
  method: "post",
  path: "/api/v1/management/projects",
  summary: "Create a project",
  description: "ADMIN_API_TOKEN only. Creates a project and its first admin API key (shown once).",
  request: { body: { ...json(createProjectSchema), required: true } },
  responses: {
    201: {
      description: "The project and its first key",
      ...json(dataOf(z.object({ project: projectSchema, api_key: createdApiKeySchema }))),
    },
    ...errors,
  },
});
const listProjects = route({
  method: "get",
  path: "/api/v1/management/projects",
  summary: "List projects",
  description: "ADMIN_API_TOKEN only.",
  responses: { 200: { description: "Every project", ...json(dataOf(z.array(projectSchema))) }, ...errors },
});
const listApiKeys = route({
  method: "get",
  path: "/api/v1/management/api-keys",
  summary: "List API keys",
  responses: { 200: { description: "The project's API keys, without secrets", ...json(dataOf(z.array(apiKeySchema))) }, ...errors },
});
const createApiKey = route({
  method: "post",
  path: "/api/v1/management/api-keys",
  summary: "Create an API key",
  request: { body: { ...json(createApiKeySchema), required: true } },
  responses: { 201: { description: "The key, shown this once", ...json(dataOf(createdApiKeySchema)) }, ...errors },
});
const revokeApiKey = route({
  method: "delete",
  path: "/api/v1/management/api-keys/{key_id}",
  summary: "Revoke an API key",
  request: { params: keyIdParams },
  responses: { 200: { description: "Revoked: it answers 401 from now on", ...json(dataOf(apiKeySchema)) }, ...errors },
});
const listJwtKeys = route({
  method: "get",
  path: "/api/v1/management/jwt-keys",
  summary: "List user-token keys",
  responses: { 200: { description: "Keys verifying the project's user tokens", ...json(dataOf(z.array(jwtKeySchema))) }, ...errors },
});
const addJwtKey = route({
  method: "post",
  path: "/api/v1/management/jwt-keys",
  summary: "Add a user-token key",
  request: { body: { ...json(addJwtKeySchema), required: true } },
  responses: { 201: { description: "Added; tokens with this project's `prj` verify with it", ...json(dataOf(jwtKeySchema)) }, ...errors },
});
const deleteJwtKey = route({
  method: "delete",
  path: "/api/v1/management/jwt-keys/{key_id}",
  summary: "Delete a user-token key",
  request: { params: jwtKeyIdParams },
  responses: {
    200: { description: "Deleted", ...json(dataOf(z.object({ id: z.string().uuid(), deleted: z.literal(true) }))) },
    ...errors,
  },
});

const getCorsOrigins = route({
  method: "get",
  path: "/api/v1/management/cors-origins",
  summary: "Read the allowed browser origins",
  description: "The project's list; the default project also allows CORS_ALLOWED_ORIGINS, which is not shown here.",
  responses: { 200: { description: "The project's allowed origins", ...json(dataOf(corsOriginsSchema)) }, ...errors },
});
const replaceCorsOrigins = route({
  method: "put",
  path: "/api/v1/management/cors-origins",
  summary: "Replace the allowed browser origins",
  description: "Replaces the list. Every node applies it within seconds; pages already open keep their WebSocket until it closes.",
  request: { body: { ...json(corsOriginsSchema), required: true } },
  responses: { 200: { description: "The new list, normalized", ...json(dataOf(corsOriginsSchema)) }, ...errors },
});

/** Projects, API keys and JWT verification keys; scopes are enforced by `adminAuth` from the path. */
export const registerProjectRoutes = <E extends { Variables: ManagementVariables }>(
  app: OpenAPIHono<E>,
  deps: { projects: Projects; apiKeys: ApiKeys; jwtKeys: JwtKeys; corsOrigins: CorsOrigins },
) => {
  app.openapi(createProject, async (c) => c.json({ data: await deps.projects.create(c.req.valid("json")) }, 201));
  app.openapi(listProjects, async (c) => c.json({ data: await deps.projects.list() }, 200));
  app.openapi(listApiKeys, async (c) => c.json({ data: await deps.apiKeys.list(c.get("projectId")) }, 200));
  app.openapi(createApiKey, async (c) => c.json({ data: await deps.apiKeys.create(c.get("projectId"), c.req.valid("json")) }, 201));
  app.openapi(revokeApiKey, async (c) => c.json({ data: await deps.apiKeys.revoke(c.get("projectId"), c.req.valid("param").key_id) }, 200));
  app.openapi(listJwtKeys, async (c) => c.json({ data: await deps.jwtKeys.list(c.get("projectId")) }, 200));
  app.openapi(addJwtKey, async (c) => c.json({ data: await deps.jwtKeys.add(c.get("projectId"), c.req.valid("json")) }, 201));
  app.openapi(getCorsOrigins, async (c) => c.json({ data: { origins: await deps.corsOrigins.list(c.get("projectId")) } }, 200));
  app.openapi(replaceCorsOrigins, async (c) => {
    const origins = await deps.corsOrigins.replace(c.get("projectId"), c.req.valid("json").origins);
    return c.json({ data: { origins } }, 200);
  });
  app.openapi(deleteJwtKey, async (c) => {
    const { key_id } = c.req.valid("param");
    await deps.jwtKeys.remove(c.get("projectId"), key_id);
    return c.json({ data: { id: key_id, deleted: true as const } }, 200);
  });
};
