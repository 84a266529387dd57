import { randomBytes, randomUUID } from "node:crypto";
import { webhooksChannel } from "@mtchat/projections";
import { isUuid } from "@mtchat/protocol";
import type pg from "pg";
import { z } from "zod";
import { cursorCodec, cursorInstant, cursorUuid } from "../http/cursor.ts";
import { ApiError } from "../http/errors.ts";
import type { OutboundGuard } from "../outbound/outbound-guard.ts";
import { deliveriesPayload } from "./chains.ts";
import { configuredEndpointId, type Endpoints, type WebhookFormat } from "./endpoints.ts";
import { transaction } from "./job-queue.ts";

export type EndpointInput = {
  url: string;
  secret?: string | undefined;
  events?: string[] | null | undefined;
  format?: WebhookFormat | undefined;
};

export type EndpointOut = {
  id: string;
  url: string;
  events: string[] | null;
  source: "config" | "api";
  format: WebhookFormat;
  created_at: string | null;
};

export type DeadLetterOut = {
  id: string;
  event_id: string;
  event: string;
  dialog_id: string | null;
  endpoint_id: string;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  dead_at: string;
  /** The body that was (and on replay will again be) delivered. */
  payload: { id: string; event: string; created_at: string; project_id: string; data: Record<string, unknown> };
};

/** Where the previous page ended: the last dead letter's time (to the microsecond) and id. */
const cursors = cursorCodec(z.strictObject({ at: cursorInstant, id: cursorUuid }));

/**
 * The Management API's webhook operations: endpoints per project, and the
 * dead-letter list with replay. A replay puts the delivery back at the head
 * of its chain (it is older than anything still pending) with its attempts
 * reset; the dispatcher hears of it through NOTIFY and sends it with the same
 * event id and body.
 */
export class WebhookAdmin {
  constructor(
    private readonly pool: pg.Pool,
    private readonly endpoints: Endpoints,
    private readonly outbound: Pick<OutboundGuard, "check">,
  ) {}

  async listEndpoints(projectId: string): Promise<EndpointOut[]> {
    const { rows } = await this.pool.query<{ id: string; url: string; events: string[] | null; format: WebhookFormat; created_at: Date }>(
      "SELECT id, url, events, format, created_at FROM webhook_endpoints WHERE project_id = $1 ORDER BY created_at, id",
      [projectId],
    );
    const configured = this.endpoints.configuredFor(projectId);
    return [
      ...(configured
        ? [{ id: configured.id, url: configured.url, events: null, source: "config" as const, format: configured.format, created_at: null }]
        : []),
      ...rows.map((row) => ({
        id: row.id,
        url: row.url,
        events: row.events,
        source: "api" as const,
        format: row.format,
        created_at: row.created_at.toISOString(),
      })),
    ];
  }

  /**
   * Adds an endpoint; the secret (generated when not given) is returned this once. An internal
   * destination is refused here, to say so at once; deliveries check again at every connection.
   */
  async createEndpoint(projectId: string, input: EndpointInput): Promise<EndpointOut & { secret: string }> {
    const problem = await this.outbound.check("url", input.url);
    if (problem) throw new ApiError("bad_request", problem);
    const id = randomUUID();
    const secret = input.secret ?? `whsec_${randomBytes(24).toString("base64url")}`;
    const events = input.events && input.events.length > 0 ? [...new Set(input.events)] : null;
    const format = input.format ?? "standard";
    const { rows } = await this.pool.query<{ created_at: Date }>(
      "INSERT INTO webhook_endpoints (id, project_id, url, secret, events, format) VALUES ($1, $2, $3, $4, $5, $6) RETURNING created_at",
      [id, projectId, input.url, secret, events, format],
    );
    return { id, url: input.url, events, source: "api", format, created_at: (rows[0]?.created_at ?? new Date()).toISOString(), secret };
  }

  /** Removes an endpoint with its deliveries: what was still pending for it is dropped. */
  async deleteEndpoint(projectId: string, id: string): Promise<void> {
    if (id === configuredEndpointId)
      throw new ApiError("conflict", "this endpoint is set by WEBHOOK_URL; change the configuration instead");
    if (!isUuid(id)) throw new ApiError("not_found", `webhook endpoint ${id} does not exist`);
    await transaction(this.pool, async ({ client }) => {
      const { rowCount } = await client.query("DELETE FROM webhook_endpoints WHERE id = $1::uuid AND project_id = $2", [id, projectId]);
      if (rowCount === 0) throw new ApiError("not_found", `webhook endpoint ${id} does not exist`);
      await client.query("DELETE FROM webhook_deliveries WHERE endpoint_id = $1", [id]);
    });
  }

  async listDeadLetters(projectId: string, limit: number, cursor: string | undefined) {
    const after = cursor ? cursors.decode(cursor) : null;
    const { rows } = await this.pool.query(
      // The cursor keeps dead_at to the microsecond: cut to a JavaScript Date's millisecond, it would skip the dead
      // letters that died in the same millisecond as a page's last one.
      `SELECT l.id, l.attempts, l.last_status, l.last_error, l.dead_at, d.endpoint_id,
              to_char(l.dead_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS dead_at_exact,
              o.id AS event_id, o.event, o.dialog_id, o.project_id, o.created_at, o.data
       FROM webhook_dead_letters l JOIN webhook_deliveries d ON d.id = l.delivery_id JOIN webhook_outbox o ON o.seq = d.event_seq
       WHERE l.project_id = $1 AND ($2::timestamptz IS NULL OR (l.dead_at, l.id) < ($2, $3::uuid))
       ORDER BY l.dead_at DESC, l.id DESC LIMIT $4`,
      [projectId, after?.at ?? null, after?.id ?? null, limit + 1],
    );
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      dead_letters: page.map(
        (row): DeadLetterOut => ({
          id: row.id,
          event_id: row.event_id,
          event: row.event,
          dialog_id: row.dialog_id,
          endpoint_id: row.endpoint_id,
          attempts: row.attempts,
          last_status: row.last_status,
          last_error: row.last_error,
          dead_at: new Date(row.dead_at).toISOString(),
          payload: {
            id: row.event_id,
            event: row.event,
            created_at: new Date(row.created_at).toISOString(),
            project_id: row.project_id,
            data: row.data,
          },
        }),
      ),
      next_cursor: rows.length > limit && last ? cursors.encode({ at: last.dead_at_exact, id: last.id }) : null,
    };
  }

  async replay(projectId: string, id: string): Promise<{ id: string; event_id: string }> {
    return transaction(this.pool, async (tx) => {
      const { rows } = await tx.client.query<{ delivery_id: string; event_id: string }>(
        `SELECT l.delivery_id, o.id AS event_id
         FROM webhook_dead_letters l JOIN webhook_deliveries d ON d.id = l.delivery_id JOIN webhook_outbox o ON o.seq = d.event_seq
         WHERE l.id = $1 AND l.project_id = $2 FOR UPDATE OF l`,
        [id, projectId],
      );
      const dead = rows[0];
      if (!dead) throw new ApiError("not_found", `dead letter ${id} does not exist (or was replayed already)`);
      await tx.client.query(
        `UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = now(), claimed_by = NULL, last_status = NULL, last_error = NULL
         WHERE id = $1`,
        [dead.delivery_id],
      );
      await tx.client.query("DELETE FROM webhook_dead_letters WHERE id = $1", [id]);
      await tx.client.query("SELECT pg_notify($1, $2)", [webhooksChannel, deliveriesPayload]);
      return { id, event_id: dead.event_id };
    });
  }
}
