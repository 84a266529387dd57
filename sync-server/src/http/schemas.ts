import { createRoute, z } from "@hono/zod-openapi";
import { isStorableInstant } from "../db/storable.ts";

/** Request and response schemas of the Management API; they validate requests and generate the OpenAPI document. */
export const errorSchema = z
  .object({ error: z.object({ code: z.string().openapi({ example: "not_found" }), message: z.string() }) })
  .openapi("Error");

const text = (max: number) => z.string().trim().min(1).max(max);

/** An ISO 8601 instant with an offset, whose UTC form PostgreSQL's timestamptz reads (years 1 to 9999). */
export const instantSchema = z
  .string()
  .datetime({ offset: true })
  .refine((value) => {
    const time = Date.parse(value);
    return !Number.isNaN(time) && isStorableInstant(new Date(time).toISOString());
  }, "must be an instant in the years 1 to 9999");

export const accessScopeSchema = z
  .object({
    tenant_uid: text(256),
    scope_level1: z.array(text(256)).max(256).default([]),
    scope_level2: z.array(text(256)).max(256).default([]),
  })
  .openapi("AccessScope");

/**
 * MTChat's scope: `scope_level0` (its tenants) replaced `tenant_uid`, as a list. Each tenant it names becomes one of
 * our scopes with the same levels 1 and 2, which matches the same users. An empty `scope_level0` (MTChat: any tenant)
 * is refused: here tenants never share a scope.
 */
export const mtchatAccessScopeSchema = z
  .object({
    scope_level0: z
      .array(text(256))
      .min(1, "scope_level0 must name at least one tenant (a scope across every tenant is not allowed)")
      .max(256),
    scope_level1: z.array(text(256)).max(256).default([]),
    scope_level2: z.array(text(256)).max(256).default([]),
  })
  .openapi("MTChatAccessScope", { description: "MTChat's shape: one scope per tenant in scope_level0" });

/** Access scopes as given, in either shape, as the scopes they stand for. */
export const accessScopesInput = z
  .array(z.union([accessScopeSchema, mtchatAccessScopeSchema]))
  .max(1000)
  .transform((scopes) =>
    scopes.flatMap((scope) =>
      "scope_level0" in scope
        ? [...new Set(scope.scope_level0)].map((tenant_uid) => ({
            tenant_uid,
            scope_level1: scope.scope_level1,
            scope_level2: scope.scope_level2,
          }))
        : [scope],
    ),
  )
  .refine((scopes) => scopes.length <= 1000, "at most 1000 scopes (counting one per tenant of scope_level0)");

const userIdSchema = text(256).refine((id) => !id.startsWith("$"), "user_id must not start with $");

export const participantInputSchema = z
  .object({
    user_id: userIdSchema,
    display_name: text(256),
    company: z.string().max(256).nullish(),
    email: z.string().email().max(320).nullish(),
    phone: z.string().max(64).nullish(),
    role: z.enum(["member", "admin", "readonly"]).default("member"),
  })
  .openapi("ParticipantInput");

/** A participant to add: a full profile, one without a name (the directory's, or the id), or the user id alone. */
export const participantAddSchema = participantInputSchema
  .extend({
    display_name: text(256)
      .optional()
      .openapi({ description: "Absent: the end-user directory's name, else the user id until the user's token names them" }),
  })
  .openapi("ParticipantAdd");
export const participantRefSchema = z.union([
  userIdSchema.transform((user_id) => ({ user_id, role: "member" as const })),
  participantAddSchema,
]);

export const dialogTypeSchema = z
  .enum(["object", "direct", "self", "group", "channel"])
  .openapi({ description: "object (bound to a host object, the default), direct, self, group, or channel (only admins post)" });

export const createDialogSchema = z
  .object({
    type: dialogTypeSchema.default("object"),
    object_id: text(256),
    object_type: text(128),
    title: z.string().max(1024).nullish(),
    object_url: z.string().url().max(2048).nullish(),
    created_by: z.string().max(256).nullish(),
    participants: z.array(participantRefSchema).max(10_000).default([]).openapi({
      description:
        "Participants as objects, or as user ids alone (MTChat's README); then the name and contacts come from the end-user directory, else the id until the user's token names them",
    }),
    access_scopes: accessScopesInput.default([]),
    meta: z.record(z.string(), z.unknown()).default({}),
  })
  .openapi("CreateDialog");

export const searchDialogSchema = z
  .object({ object_id: text(256), object_type: text(128), access_scopes: accessScopesInput.optional() })
  .openapi("SearchDialog");

export const accessScopesInputSchema = z.object({ access_scopes: accessScopesInput }).openapi("AccessScopesInput");

export const dialogSchema = z
  .object({
    id: z.string().uuid(),
    object_id: z.string(),
    object_type: z.string(),
    type: dialogTypeSchema,
    title: z.string().nullable(),
    object_url: z.string().nullable(),
    created_by: z.string().nullable(),
    created_at: z.string(),
    meta: z.record(z.string(), z.unknown()),
  })
  .openapi("Dialog");

export const participantSchema = z
  .object({
    user_id: z.string(),
    display_name: z.string(),
    company: z.string().nullable(),
    email: z.string().nullable(),
    phone: z.string().nullable(),
    role: z.string(),
    joined_at: z.string(),
  })
  .openapi("Participant");

export const dialogDetailSchema = dialogSchema
  .extend({ participants: z.array(participantSchema), access_scopes: z.array(accessScopeSchema) })
  .openapi("DialogDetail");

export const dialogIdParams = z.object({
  id: z
    .string()
    .uuid()
    .openapi({ param: { name: "id", in: "path" } }),
});
export const participantParams = dialogIdParams.extend({
  user_id: z
    .string()
    .min(1)
    .max(256)
    .openapi({ param: { name: "user_id", in: "path" } }),
});

export const dataOf = <T extends z.ZodType>(schema: T) => z.object({ data: schema });

/** A JSON body or response of `schema`. */
export const json = <T extends z.ZodType>(schema: T) => ({ content: { "application/json": { schema } } });

const errorStatuses = {
  400: "Malformed request",
  401: "Missing or invalid token",
  403: "Not allowed",
  404: "No such resource",
  409: "Conflict",
  429: "Over the caller's rate limit (see RateLimit-* and Retry-After)",
} as const;

/** The error responses a route documents, all in the `{"error":{"code","message"}}` envelope. */
export const errorResponses = Object.fromEntries(
  Object.entries(errorStatuses).map(([status, description]) => [status, { description, ...json(errorSchema) }]),
) as { [S in keyof typeof errorStatuses]: { description: string; content: { "application/json": { schema: typeof errorSchema } } } };

/**
 * A stable operationId from the method and path, unique because routes are: `POST /api/v1/dialogs/{id}/read` is
 * `postDialogsByIdRead`.
 */
export const operationIdOf = (method: string, path: string): string =>
  method +
  path
    .split("/")
    .filter((part) => part !== "" && part !== "api" && part !== "v1")
    .map((part) => (part.startsWith("{") ? `By_${part.slice(1, -1)}` : part))
    .flatMap((part) => part.split(/[-_]/))
    .map((word) => `${word[0]?.toUpperCase() ?? ""}${word.slice(1)}`)
    .join("");

/** A route factory for one API: its OpenAPI tag and security scheme; every route names itself in a summary. */
export const routesFor =
  (tag: string, scheme: string) =>
  <const R extends Parameters<typeof createRoute>[0] & { summary: string }>(config: R) =>
    createRoute({ operationId: operationIdOf(config.method, config.path), ...config, tags: [tag], security: [{ [scheme]: [] }] });
