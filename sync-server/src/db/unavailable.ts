import type pg from "pg";

/** Socket errors of a connection that could not be made or was cut. */
const socketCodes = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN"]);
/** SQLSTATEs of a server that is going away or not taking connections (class 08 is matched by prefix). */
const serverCodes = new Set(["57P01", "57P02", "57P03", "53300"]);
/** What node-postgres says when a connection ends under it or cannot be had. */
const driverMessages = [
  "Connection terminated",
  "timeout exceeded when trying to connect",
  "is not queryable",
  "Cannot use a pool after calling end",
];

/**
 * True when `error` says PostgreSQL could not be reached (refused, cut,
 * shutting down, out of connections), as opposed to a query it refused: the
 * request may succeed as it is once the database is back.
 */
export const isDatabaseUnavailable = (error: unknown, depth = 0): boolean => {
  if (typeof error !== "object" || error === null || depth > 3) return false;
  const { code, message, errors, cause } = error as { code?: unknown; message?: unknown; errors?: unknown; cause?: unknown };
  if (typeof code === "string" && (socketCodes.has(code) || serverCodes.has(code) || code.startsWith("08"))) return true;
  if (typeof message === "string" && driverMessages.some((known) => message.includes(known))) return true;
  // Node reports a refused connection to every address of a host name as an AggregateError.
  if (Array.isArray(errors) && errors.some((inner) => isDatabaseUnavailable(inner, depth + 1))) return true;
  return cause !== undefined && isDatabaseUnavailable(cause, depth + 1);
};

/**
 * A checked-out client whose connection ends emits `error`; with no listener
 * (a client between `pool.connect()` and `release()`), that would end the
 * process. Every client of the pool gets one that ignores it: the query in
 * flight fails with the same error, and `release()` drops the broken client.
 * Errors of idle clients still reach the pool's own `error` event.
 */
export const survivePoolErrors = (pool: pg.Pool): void => {
  pool.on("connect", (client) => {
    client.on("error", () => undefined);
  });
};
