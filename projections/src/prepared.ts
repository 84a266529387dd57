import type pg from "pg";

/**
 * A hot statement, which node-pg prepares once per connection under `name`:
 * PostgreSQL then parses it once, and after a few runs settles on a generic
 * plan and stops planning it. Planning the write path's CTEs cost more than
 * running them (0.4–1.3 ms against 0.3–0.9 ms for the webhook outcome). The
 * text must never vary under one name; statements built per call stay
 * unnamed. (Behind PgBouncer in transaction mode this needs PgBouncer 1.21+
 * with `max_prepared_statements` set.)
 */
export const prepared =
  (name: string, text: string) =>
  (values: unknown[]): pg.QueryConfig => ({ name, text, values });
