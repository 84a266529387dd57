import { type Config, type Option, options } from "./options.ts";

export class ConfigError extends Error {
  override name = "ConfigError";
}

/**
 * Parses the environment once, at start-up. Every bad or missing value is
 * reported together, each line naming its variable.
 */
export const parseConfig = (env: Record<string, string | undefined>): Config => {
  const problems: string[] = [];
  const result: Record<string, unknown> = {};
  for (const [key, opt] of Object.entries(options) as [string, Option<unknown>][]) {
    const raw = [opt.env, ...(opt.aliases ?? [])].map((name) => env[name]).find((value) => value !== undefined && value !== "");
    const input = raw === undefined || raw === "" ? undefined : raw;
    if (input === undefined && opt.default !== undefined) {
      result[key] = opt.default;
      continue;
    }
    const parsed = opt.schema.safeParse(input);
    if (parsed.success) result[key] = parsed.data;
    else problems.push(`${opt.env}: ${parsed.error.issues.map((issue) => issue.message).join("; ")} (${opt.description})`);
  }
  const config = result as Config;
  if (config.jwtJwksUrl && config.jwtPublicKey) problems.push("JWT_PUBLIC_KEY and JWT_JWKS_URL: set one, not both");
  if (Boolean(config.s3AccessKeyId) !== Boolean(config.s3SecretAccessKey)) {
    problems.push("S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY: set both or neither");
  }
  if (Boolean(config.vapidPublicKey) !== Boolean(config.vapidPrivateKey))
    problems.push("VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY: set both or neither");
  if (!config.s3Bucket && (config.s3Endpoint || config.s3AccessKeyId)) problems.push("S3_BUCKET: required when other S3_* options are set");
  if (config.maxPreauthSocketBytes > config.maxPreauthBytes) problems.push("MAX_PREAUTH_SOCKET_BYTES: must not exceed MAX_PREAUTH_BYTES");
  if (config.webhookUrl && !config.webhookSecret) problems.push("WEBHOOK_SECRET: required with WEBHOOK_URL, to sign deliveries");
  // A message's content in JSON: at worst six bytes a character (\u0001), plus the rest of the body.
  const largestMessage = 6 * config.maxMessageChars + 4096;
  if (config.maxJsonBodyBytes < largestMessage) {
    problems.push(
      `MAX_JSON_BODY_BYTES: must be at least ${largestMessage} to carry a message of MAX_MESSAGE_CHARS (${config.maxMessageChars})`,
    );
  }
  if (problems.length > 0) throw new ConfigError(`Invalid configuration:\n  ${problems.join("\n  ")}`);
  return config;
};

/** A default of nothing: no value, or an empty list. */
const unsetDefault = (opt: Option<unknown>) => opt.default === undefined || (Array.isArray(opt.default) && opt.default.length === 0);

/** `.env.example`, generated from the table. */
export const renderEnvExample = (): string =>
  [
    "# Generated from sync-server/src/config/options.ts: edit the table, then run `npm run env:example`.",
    ...Object.values(options).flatMap((opt: Option<unknown>) => [
      `# ${opt.description}`,
      `${unsetDefault(opt) ? "# " : ""}${opt.env}=${opt.default === undefined ? "" : Array.isArray(opt.default) ? opt.default.join(",") : String(opt.default)}`,
    ]),
    "",
  ].join("\n");

/** `--help`, generated from the table. */
export const renderHelp = (): string =>
  [
    "Usage: npm start   (configuration comes from environment variables)",
    "",
    ...Object.values(options).map((opt: Option<unknown>) => {
      const shown = unsetDefault(opt) ? "unset" : Array.isArray(opt.default) ? opt.default.join(",") : String(opt.default);
      return `  ${opt.env.padEnd(20)} ${opt.description} [default: ${shown}]`;
    }),
  ].join("\n");

/** The README's configuration table, generated from the options table. */
export const renderConfigTable = (): string =>
  [
    "| Variable | Default | Description |",
    "| --- | --- | --- |",
    ...Object.values(options).map((opt: Option<unknown>) => {
      const shown = unsetDefault(opt) ? "unset" : `\`${Array.isArray(opt.default) ? opt.default.join(",") : String(opt.default)}\``;
      return `| \`${opt.env}\` | ${shown} | ${opt.description} |`;
    }),
  ].join("\n");
