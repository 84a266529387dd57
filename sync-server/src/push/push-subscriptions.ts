import { isIP } from "node:net";
import type pg from "pg";
import { type AllowList, addressProblem, normalizeHost, parseAllowList } from "../outbound/address-policy.ts";
import type { OutboundGuard } from "../outbound/outbound-guard.ts";

/** A browser's push subscription, as `PushSubscription.toJSON()` gives it. */
export type PushSubscriptionInput = { endpoint: string; keys: { p256dh: string; auth: string } };

export type StoredSubscription = { id: string; project_id: string; user_id: string; endpoint: string; p256dh: string; auth: string };

/**
 * The push subscriptions of each project's users. An endpoint is where a
 * browser vendor's push service takes pushes for one browser; the server
 * calls it, so it is checked like a webhook URL: https, and never an internal
 * address unless the operator allowed it (OUTBOUND_ALLOW_PRIVATE, which also
 * lets tests use a plain-http stand-in on loopback).
 */
export class PushSubscriptions {
  private readonly allow: AllowList;

  constructor(
    private readonly pool: pg.Pool,
    private readonly outbound: Pick<OutboundGuard, "check">,
    allowPrivate: readonly string[] = [],
  ) {
    this.allow = parseAllowList(allowPrivate);
  }

  /** Why this endpoint cannot be used, as a message that says the fix; null when it can. */
  async endpointProblem(endpoint: string): Promise<string | null> {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      return "endpoint must be an absolute https URL (the push service's, from PushSubscription.endpoint)";
    }
    if (url.protocol !== "https:" && !(url.protocol === "http:" && this.allowedPlain(normalizeHost(url.hostname)))) {
      return "endpoint must be an https URL (push services are reached over TLS)";
    }
    return this.outbound.check("endpoint", endpoint);
  }

  /** Plain http only to an internal host the operator allowed by name or range (a stand-in push service on loopback, say). */
  private allowedPlain(host: string): boolean {
    if (this.allow.hosts.has(host)) return true;
    return isIP(host) !== 0 && addressProblem(host) !== null && addressProblem(host, this.allow) === null;
  }

  /** Stores (or takes over) a subscription for the user; the same browser subscribing again replaces its row. */
  async add(
    projectId: string,
    userId: string,
    input: PushSubscriptionInput,
    userAgent: string | null,
  ): Promise<{ id: string; created_at: string }> {
    const { rows } = await this.pool.query<{ id: string; created_at: Date }>(
      `INSERT INTO push_subscriptions (project_id, user_id, endpoint, p256dh, auth, user_agent) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (endpoint) DO UPDATE SET project_id = EXCLUDED.project_id, user_id = EXCLUDED.user_id,
         p256dh = EXCLUDED.p256dh, auth = EXCLUDED.auth, user_agent = EXCLUDED.user_agent, created_at = now()
       RETURNING id, created_at`,
      [projectId, userId, input.endpoint, input.keys.p256dh, input.keys.auth, userAgent?.slice(0, 512) ?? null],
    );
    const row = rows[0] as { id: string; created_at: Date };
    return { id: row.id, created_at: row.created_at.toISOString() };
  }

  /** Removes the user's subscription with this endpoint; false when they have none. */
  async remove(projectId: string, userId: string, endpoint: string): Promise<boolean> {
    const { rowCount } = await this.pool.query("DELETE FROM push_subscriptions WHERE project_id = $1 AND user_id = $2 AND endpoint = $3", [
      projectId,
      userId,
      endpoint,
    ]);
    return (rowCount ?? 0) > 0;
  }
}
