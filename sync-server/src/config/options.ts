import { defaultMaxMessageChars } from "@mtchat/protocol";
import { z } from "zod";
import { allowEntryProblem } from "../outbound/address-policy.ts";
import { normalizeOrigin } from "../projects/origin.ts";

/**
 * The one options table of the service process. Each row: environment
 * variable, schema, default and a one-line description. `.env.example` and
 * `--help` are generated from it (and a test keeps `.env.example` in step).
 */
export type Option<T> = {
  env: string;
  schema: z.ZodType<T>;
  default: T | undefined;
  description: string;
  secret?: boolean;
  /** Other names read when `env` is unset (MTChat's, for hosts moving over unchanged). */
  aliases?: string[];
};

const option = <T>(
  env: string,
  schema: z.ZodType<T>,
  defaultValue: T | undefined,
  description: string,
  secret = false,
  aliases: string[] = [],
): Option<T> => ({ env, schema, default: defaultValue, description, secret, aliases });

const port = z.coerce.number().int().min(0).max(65_535);
const positiveInt = z.coerce.number().int().positive();
const nonNegativeInt = z.coerce.number().int().min(0);
const url = z.string().url();
const csv = z.string().transform((value) =>
  value
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part.length > 0),
);
const bool = z.enum(["true", "false"], { message: "must be true or false" }).transform((value) => value === "true");

/** What users may upload by default: images, PDF, plain text, office documents, zip, common audio and video. */
const defaultUploadMimeTypes = [
  "image/png",
  "image/jpeg",
  "image/gif",
  "image/webp",
  "image/avif",
  "image/heic",
  "image/heif",
  "image/bmp",
  "image/tiff",
  "application/pdf",
  "text/plain",
  "text/csv",
  "application/rtf",
  "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  "application/vnd.openxmlformats-officedocument.presentationml.presentation",
  "application/vnd.oasis.opendocument.text",
  "application/vnd.oasis.opendocument.spreadsheet",
  "application/vnd.oasis.opendocument.presentation",
  "application/zip",
  "audio/mpeg",
  "audio/mp4",
  "audio/x-m4a",
  "audio/aac",
  "audio/ogg",
  "audio/wav",
  "audio/flac",
  "video/mp4",
  "video/webm",
  "video/quicktime",
  "video/ogg",
  "video/x-m4v",
  "video/3gpp",
];

export const options = {
  port: option(
    "PORT",
    port,
    8080,
    "TCP port for the HTTP API and the WebSocket endpoint; without the sync role, for health and metrics only (0 picks a free port).",
  ),
  host: option("HOST", z.string().min(1), "127.0.0.1", "Address to listen on; the default keeps the service on loopback."),
  databaseUrl: option(
    "DATABASE_URL",
    url.optional(),
    undefined,
    "External PostgreSQL (15 or newer). Unset: an embedded PostgreSQL keeps its data under DATA_DIR.",
  ),
  dataDir: option("DATA_DIR", z.string().min(1), "./data", "Where the embedded PostgreSQL and local files live."),
  adminApiToken: option(
    "ADMIN_API_TOKEN",
    z.string().min(16, "must be at least 16 characters").optional(),
    undefined,
    "Bearer token of the Management API for the default project. Unset: the Management API refuses every call.",
    true,
  ),
  jwtSecret: option(
    "JWT_SECRET",
    z.string().min(32, "must be at least 32 characters (256 bits for HS256)").optional(),
    undefined,
    "HS256 secret that verifies user tokens signed by the host backend.",
    true,
  ),
  jwtPublicKey: option(
    "JWT_PUBLIC_KEY",
    z.string().includes("BEGIN PUBLIC KEY", { message: "must be a PEM (SPKI) public key" }).optional(),
    undefined,
    "PEM (SPKI) public key that verifies asymmetric user tokens (RS256, PS256, ES256, EdDSA).",
  ),
  jwtJwksUrl: option("JWT_JWKS_URL", url.optional(), undefined, "JWKS URL whose keys verify asymmetric user tokens."),
  jwtIssuer: option("JWT_ISSUER", z.string().min(1).optional(), undefined, "When set, user tokens must carry this `iss`."),
  jwtAudience: option("JWT_AUDIENCE", z.string().min(1).optional(), undefined, "When set, user tokens must carry this `aud`."),
  redisUrl: option(
    "REDIS_URL",
    url.optional(),
    undefined,
    "Redis for fan-out between replicas. Unset: a single node, nothing leaves the process.",
  ),
  roles: option(
    "ROLES",
    csv.pipe(z.array(z.enum(["sync", "projections", "webhooks"])).min(1)),
    ["sync", "projections", "webhooks"],
    "Which parts this process runs, comma-separated: sync (HTTP API + WebSocket), projections (the worker) and webhooks (the dispatcher). Every process serves /health, /health/ready and /metrics on PORT.",
  ),
  archiveAfterSecs: option(
    "ARCHIVE_AFTER_SECS",
    nonNegativeInt,
    30 * 24 * 3600,
    "A dialog with no new message for this many seconds is archived for its participants (a new message unarchives it); 0 turns auto-archive off.",
  ),
  segmentSize: option("SEGMENT_SIZE", positiveInt, 500, "Messages per segment document before the head moves to a new segment."),
  snapshotEvery: option(
    "SNAPSHOT_EVERY",
    positiveInt,
    200,
    "Log rows after which a document's state is snapshotted and the log compacted.",
  ),
  maxUpdateBytes: option("MAX_UPDATE_BYTES", positiveInt, 4 * 1024 * 1024, "Largest WebSocket message accepted from a client."),
  maxPreauthSocketBytes: option(
    "MAX_PREAUTH_SOCKET_BYTES",
    positiveInt,
    1024 * 1024,
    "Bytes one WebSocket may send before it authenticates a document, and then have queued for documents still authenticating; past it the socket is closed with 4413.",
  ),
  maxPreauthBytes: option(
    "MAX_PREAUTH_BYTES",
    positiveInt,
    64 * 1024 * 1024,
    "Bytes all WebSockets together may hold before authentication (as counted for MAX_PREAUTH_SOCKET_BYTES); past it the sockets holding most are closed with 4429.",
  ),
  preauthTimeoutMs: option(
    "PREAUTH_TIMEOUT_MS",
    positiveInt,
    10_000,
    "How long a WebSocket may stay open before it authenticates a document; then it is closed with 4401.",
  ),
  maxHttpSessions: option(
    "MAX_HTTP_SESSIONS",
    positiveInt,
    20_000,
    "Sessions of the HTTP transport (clients behind proxies that refuse WebSocket) one process holds at most; past it new ones get 503 and retry.",
  ),
  maxMessageChars: option(
    "MAX_MESSAGE_CHARS",
    positiveInt.max(1_000_000),
    defaultMaxMessageChars,
    "Longest message (and draft), in characters of text, with as many elements and mark boundaries; REST and the WebSocket enforce the same limit.",
  ),
  maxJsonBodyBytes: option(
    "MAX_JSON_BODY_BYTES",
    positiveInt,
    1024 * 1024,
    "Largest request body the HTTP API reads (file uploads aside, see MAX_UPLOAD_BYTES); larger ones get 413 before they are read. Must carry a MAX_MESSAGE_CHARS message.",
  ),
  projectionPollMs: option(
    "PROJECTION_POLL_MS",
    positiveInt,
    2000,
    "How often the projection worker looks for missed work besides its notifications.",
  ),
  rateLimitUser: option(
    "RATE_LIMIT_USER",
    nonNegativeInt,
    600,
    "Chat API requests each user (user token) may make per RATE_LIMIT_WINDOW_S; 0 turns the limit off.",
  ),
  rateLimitKey: option(
    "RATE_LIMIT_KEY",
    nonNegativeInt,
    6000,
    "Management API requests each API key (or ADMIN_API_TOKEN) may make per RATE_LIMIT_WINDOW_S; 0 turns the limit off.",
  ),
  rateLimitWindowS: option("RATE_LIMIT_WINDOW_S", positiveInt, 60, "Length in seconds of the rate-limit window."),
  publicUrl: option(
    "PUBLIC_URL",
    url.optional(),
    undefined,
    "Base URL clients reach this service at (e.g. https://chat.example.com); signed file links start with it. Unset: each request's Host.",
  ),
  maxUploadBytes: option(
    "MAX_UPLOAD_BYTES",
    positiveInt,
    100 * 1024 * 1024,
    "Largest file a user may upload: refused at presign by its declared size, and again on the bytes actually stored.",
  ),
  uploadMimeTypes: option(
    "UPLOAD_MIME_TYPES",
    csv.pipe(z.array(z.string().regex(/^[a-z0-9.+-]+\/[a-z0-9.+-]+$/, "must be MIME types like image/png")).min(1)),
    defaultUploadMimeTypes,
    "File types users may upload, comma-separated, checked against the file's real bytes (text types, which have no signature, by name).",
  ),
  fileUrlTtlSeconds: option("FILE_URL_TTL_SECONDS", positiveInt.max(604_800), 900, "How long signed upload and download links stay valid."),
  fileUrlSecret: option(
    "FILE_URL_SECRET",
    z.string().min(32, "must be at least 32 characters").optional(),
    undefined,
    "HMAC secret of the file links this server signs (local storage). Unset: generated once and kept in DATA_DIR/file-url-secret.",
    true,
  ),
  vapidPublicKey: option(
    "VAPID_PUBLIC_KEY",
    z
      .string()
      .regex(/^[A-Za-z0-9_-]{87}$/, "must be a P-256 public key, 65 bytes in base64url (npx web-push generate-vapid-keys)")
      .optional(),
    undefined,
    "Web push: the VAPID public key browsers subscribe with. Unset (with VAPID_PRIVATE_KEY): a pair is generated once and kept in DATA_DIR/vapid-keys.json.",
  ),
  vapidPrivateKey: option(
    "VAPID_PRIVATE_KEY",
    z
      .string()
      .regex(/^[A-Za-z0-9_-]{43}$/, "must be a P-256 private key, 32 bytes in base64url (npx web-push generate-vapid-keys)")
      .optional(),
    undefined,
    "Web push: the VAPID private key pushes are signed with; set with VAPID_PUBLIC_KEY.",
    true,
  ),
  vapidSubject: option(
    "VAPID_SUBJECT",
    z
      .string()
      .regex(/^(mailto:|https:\/\/)\S+$/, "must be a mailto: or https: URL")
      .optional(),
    undefined,
    "Web push: who push services contact about this server's pushes (mailto: or https:). Unset: PUBLIC_URL when it is https, else mailto:push@localhost.",
  ),
  s3Bucket: option(
    "S3_BUCKET",
    z.string().min(1).optional(),
    undefined,
    "S3 bucket for files. Set: files go to S3 or an S3-compatible store; unset: to DATA_DIR/files on local disk.",
  ),
  s3Endpoint: option("S3_ENDPOINT", url.optional(), undefined, "Endpoint of an S3-compatible store (MinIO, R2, …). Unset: AWS S3."),
  s3Region: option("S3_REGION", z.string().min(1), "us-east-1", "Region of the S3 bucket."),
  s3AccessKeyId: option(
    "S3_ACCESS_KEY_ID",
    z.string().min(1).optional(),
    undefined,
    "S3 access key id (S3_ACCESS_KEY is read too). Unset (with S3_SECRET_ACCESS_KEY): the AWS SDK's default credential chain.",
    false,
    ["S3_ACCESS_KEY"],
  ),
  s3SecretAccessKey: option(
    "S3_SECRET_ACCESS_KEY",
    z.string().min(1).optional(),
    undefined,
    "S3 secret access key (S3_SECRET_KEY is read too).",
    true,
    ["S3_SECRET_KEY"],
  ),
  s3ForcePathStyle: option(
    "S3_FORCE_PATH_STYLE",
    bool,
    false,
    "Address objects as endpoint/bucket/key instead of bucket.endpoint/key (MinIO and most S3-compatible stores need true).",
  ),
  corsAllowedOrigins: option(
    "CORS_ALLOWED_ORIGINS",
    csv.pipe(
      z.array(
        z.string().refine((entry) => normalizeOrigin(entry) !== null, {
          message: "each entry must be an origin, scheme://host[:port] (http or https, no path), or *",
        }),
      ),
    ),
    [],
    "Origins (comma-separated) whose pages may call the default project's API and open its WebSocket, e.g. https://shop.example.com; * allows any. Other projects set theirs with PUT /api/v1/management/cors-origins. Unset: only the service's own pages.",
  ),
  outboundAllowPrivate: option(
    "OUTBOUND_ALLOW_PRIVATE",
    csv
      .pipe(
        z.array(
          z.string().superRefine((entry, ctx) => {
            const problem = allowEntryProblem(entry);
            if (problem) ctx.addIssue({ code: "custom", message: problem });
          }),
        ),
      )
      .optional(),
    undefined,
    "Internal destinations (host names, IPs, CIDR ranges; comma-separated) that webhook endpoints and JWKS URLs set through the Management API may reach. Unset: only public addresses; WEBHOOK_URL and JWT_JWKS_URL are trusted as they are.",
  ),
  webhookUrl: option(
    "WEBHOOK_URL",
    z
      .string()
      .url()
      .refine((value) => /^https?:\/\//.test(value), "must be an http or https URL")
      .optional(),
    undefined,
    "Endpoint that receives every webhook event of the default project. Unset: only endpoints set through the Management API.",
  ),
  webhookSecret: option(
    "WEBHOOK_SECRET",
    z.string().min(16, "must be at least 16 characters").optional(),
    undefined,
    "HMAC-SHA256 key that signs deliveries to WEBHOOK_URL (required with it).",
    true,
  ),
  webhookFormat: option(
    "WEBHOOK_FORMAT",
    z.enum(["standard", "mtchat"]),
    "standard",
    "Body and signature of deliveries to WEBHOOK_URL: standard, or mtchat ({id, type, timestamp, payload} signed sha256=HMAC(secret, body)) for a receiver written for MTChat.",
  ),
  webhookMaxAttempts: option(
    "WEBHOOK_MAX_ATTEMPTS",
    positiveInt,
    12,
    "Delivery attempts per event before it goes to the dead-letter list.",
  ),
  webhookRetryBaseMs: option(
    "WEBHOOK_RETRY_BASE_MS",
    positiveInt,
    2000,
    "Longest wait before the first retry; it doubles with each attempt, and each wait is drawn at random from its upper half.",
  ),
  webhookRetryMaxMs: option(
    "WEBHOOK_RETRY_MAX_MS",
    positiveInt,
    3_600_000,
    "Cap on that doubling (a Retry-After from the receiver may ask for longer, up to an hour).",
  ),
  webhookTimeoutMs: option("WEBHOOK_TIMEOUT_MS", positiveInt, 10_000, "How long one delivery may take before it counts as failed."),
  webhookConcurrency: option(
    "WEBHOOK_CONCURRENCY",
    positiveInt,
    64,
    "Chains (endpoint + dialog) this process delivers to at once; each has one delivery in flight at a time.",
  ),
  webhookPollMs: option(
    "WEBHOOK_POLL_MS",
    z.coerce.number().int().min(500),
    1000,
    "How often the dispatcher looks for due deliveries besides its own wake-ups (retries scheduled by other processes).",
  ),
  notificationDelaySecs: option(
    "NOTIFICATION_DELAY_SECS",
    z.coerce.number().positive(),
    30,
    "notification.pending waits this long after a recipient's latest unread message, so a burst becomes one event.",
  ),
  logLevel: option("LOG_LEVEL", z.enum(["debug", "info", "warn", "error"]), "info", "Least severe log level written to stdout."),
  nodeEnv: option("NODE_ENV", z.string().min(1), "development", "production turns development helpers (the /demo page) off."),
  demo: option(
    "DEMO",
    z.enum(["auto", "on", "off"]),
    "auto",
    "The /demo page, which signs tokens for demo users. auto: on when no user-token key (JWT_SECRET, JWT_PUBLIC_KEY, JWT_JWKS_URL) is configured, with a secret made at start; on: also with JWT_SECRET; never when NODE_ENV=production.",
  ),
} as const;

type Options = typeof options;
export type Config = { [K in keyof Options]: Options[K] extends Option<infer T> ? T : never };
