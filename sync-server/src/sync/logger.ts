export type LogLevel = "debug" | "info" | "warn" | "error";
export type Logger = Record<LogLevel, (event: string, fields?: Record<string, unknown>) => void>;

const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** One JSON line per event, so refusals and failures can be searched by field. */
export const createLogger = (level: LogLevel, write: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): Logger => {
  const at =
    (lineLevel: LogLevel) =>
    (event: string, fields: Record<string, unknown> = {}) => {
      if (order[lineLevel] < order[level]) return;
      write(JSON.stringify({ time: new Date().toISOString(), level: lineLevel, event, ...fields }));
    };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
};
