/**
 * A connection string whose sessions commit asynchronously. Only for writes
 * the log can rebuild or that may be repeated: the projection (a crash that
 * loses its last commits, in order and never half of one, rolls its
 * checkpoint back with its rows, and the log is projected again with the same
 * event ids) and the dispatcher's bookkeeping (it only repeats deliveries,
 * which it may do anyway). The log itself commits synchronously: an update is
 * acknowledged only once it is durable.
 */
export const asyncCommitUrl = (connectionString: string): string => {
  const url = new URL(connectionString);
  const options = url.searchParams.get("options");
  url.searchParams.set("options", `${options ? `${options} ` : ""}-c synchronous_commit=off`);
  return url.toString();
};
