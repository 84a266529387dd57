import type pg from "pg";

/** Where a project's events go. */
export type Endpoint = {
  /** `default` for WEBHOOK_URL, else the id of a row in webhook_endpoints. */
  id: string;
  projectId: string;
  url: string;
  secret: string;
  /** The events it receives; null for all of them. */
  events: readonly string[] | null;
  /** `config`: the operator's WEBHOOK_URL, trusted; `api`: a project's, delivered only through the outbound guard. */
  source: "config" | "api";
  /** The wire format: ours, or MTChat's (see http-delivery.ts). */
  format: WebhookFormat;
};

export const webhookFormats = ["standard", "mtchat"] as const;
export type WebhookFormat = (typeof webhookFormats)[number];

/** The id of the endpoint configured by WEBHOOK_URL (for the default project). */
export const configuredEndpointId = "default";
export const defaultProjectId = "default";

type Queryable = Pick<pg.Pool, "query"> | Pick<pg.PoolClient, "query">;
type EndpointRow = { id: string; project_id: string; url: string; secret: string; events: string[] | null; format: WebhookFormat };

const fromRow = (row: EndpointRow): Endpoint => ({
  id: row.id,
  projectId: row.project_id,
  url: row.url,
  secret: row.secret,
  events: row.events,
  source: "api",
  format: row.format,
});

export const wants = (endpoint: Endpoint, event: string): boolean => endpoint.events === null || endpoint.events.includes(event);

/**
 * The endpoints of each project: WEBHOOK_URL for the default project (read
 * from the configuration at each use, so a restart with a new URL applies to
 * deliveries already queued), plus those set through the Management API.
 */
export class Endpoints {
  constructor(private readonly configured: { url: string; secret: string; format?: WebhookFormat } | null) {}

  configuredFor(projectId: string): Endpoint | null {
    if (!this.configured || projectId !== defaultProjectId) return null;
    return {
      id: configuredEndpointId,
      projectId,
      url: this.configured.url,
      secret: this.configured.secret,
      events: null,
      source: "config",
      format: this.configured.format ?? "standard",
    };
  }

  async forProjects(db: Queryable, projectIds: readonly string[]): Promise<Endpoint[]> {
    const { rows } = await db.query<EndpointRow>(
      "SELECT id, project_id, url, secret, events, format FROM webhook_endpoints WHERE project_id = ANY($1::text[]) ORDER BY created_at, id",
      [projectIds],
    );
    const configured = projectIds.flatMap((projectId) => this.configuredFor(projectId) ?? []);
    return [...configured, ...rows.map(fromRow)];
  }

  async byId(db: Queryable, projectId: string, id: string): Promise<Endpoint | null> {
    if (id === configuredEndpointId) return this.configuredFor(projectId);
    const { rows } = await db.query<EndpointRow>(
      "SELECT id, project_id, url, secret, events, format FROM webhook_endpoints WHERE id = $1::uuid AND project_id = $2",
      [id, projectId],
    );
    return rows[0] ? fromRow(rows[0]) : null;
  }
}
