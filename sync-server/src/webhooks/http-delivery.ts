import { blockedReason, type OutboundPost } from "../outbound/outbound-guard.ts";
import type { AttemptResult } from "./retry-policy.ts";
import { signPayload, webhookHeaders } from "./signature.ts";

/** The body every delivery of an event carries, byte for byte the same on each retry. */
export const webhookBody = (event: {
  id: string;
  event: string;
  created_at: Date;
  project_id: string;
  data: Record<string, unknown>;
}): string =>
  JSON.stringify({
    id: event.id,
    event: event.event,
    created_at: event.created_at.toISOString(),
    project_id: event.project_id,
    data: event.data,
  });

/** Why a request failed, down to the socket error (ECONNREFUSED …). */
const describe = (error: unknown): string => {
  if (!(error instanceof Error)) return String(error);
  if (error.name === "TimeoutError") return "timed out";
  const cause = error.cause as { code?: string; message?: string } | undefined;
  return cause ? `${error.message}: ${cause.code ?? cause.message ?? String(cause)}` : error.message;
};

export type Attempt = AttemptResult & { detail: string };

/**
 * One POST of a signed event. The timestamp is the moment of this attempt
 * (what receivers check for freshness); the id and body stay the same across
 * attempts. Redirects are not followed: a 3xx is the answer, and a failure.
 * The response body is read (so the connection can be reused) and kept only
 * as a short detail for the logs. `send` is the outbound guard's post for a
 * project's endpoints (a destination it refuses is a final failure), or the
 * dispatcher's own for the operator's WEBHOOK_URL.
 */
export const postEvent = async (
  target: { url: string; secret: string },
  event: { id: string; event: string; body: string },
  timeoutMs: number,
  send: OutboundPost,
): Promise<Attempt> => {
  const timestamp = Math.floor(Date.now() / 1000);
  try {
    const response = await send(target.url, {
      signal: AbortSignal.timeout(timeoutMs),
      headers: {
        "content-type": "application/json",
        "user-agent": "mtchat-webhooks/0.1",
        [webhookHeaders.id]: event.id,
        [webhookHeaders.event]: event.event,
        [webhookHeaders.timestamp]: String(timestamp),
        [webhookHeaders.signature]: signPayload(target.secret, timestamp, event.body),
      },
      body: event.body,
    });
    return {
      status: response.status,
      retryAfter: response.retryAfter,
      detail: `HTTP ${response.status} ${response.text.slice(0, 200)}`.trim(),
    };
  } catch (error) {
    const blocked = blockedReason(error);
    if (blocked) return { error: blocked, final: true, detail: blocked };
    const message = describe(error);
    return { error: message, detail: message };
  }
};
