import { ConfigError, parseConfig, renderHelp } from "./config/parse-config.ts";
import { createChatServer } from "./server.ts";
import { createLogger } from "./sync/logger.ts";

if (process.argv.includes("--help")) {
  process.stdout.write(`${renderHelp()}\n`);
  process.exit(0);
}

let config: ReturnType<typeof parseConfig>;
try {
  config = parseConfig(process.env);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
}

const logger = createLogger(config.logLevel);
const server = await createChatServer(config, logger);
await server.start();
logger.info("started", { roles: config.roles });

let stopping = false;
const shutdown = (signal: string) => {
  if (stopping) return;
  stopping = true;
  logger.info("stopping", { signal });
  server.stop().then(
    () => process.exit(0),
    (error: unknown) => {
      logger.error("stop_failed", { error: String(error) });
      process.exit(1);
    },
  );
};
process.on("SIGINT", () => shutdown("SIGINT"));
process.on("SIGTERM", () => shutdown("SIGTERM"));
