import { blockedReason, type OutboundPost } from "../outbound/outbound-guard.ts";
import type { WebhookFormat } from "./endpoints.ts";
import type { AttemptResult } from "./retry-policy.ts";
import { signBody, signPayload, webhookHeaders } from "./signature.ts";

type StoredEvent = { id: string; event: string; created_at: Date; project_id: string; data: Record<string, unknown> };
type Fields = Record<string, unknown>;

/** A message as MTChat's payloads carry it: `reply_to`, `created_at`, and `message_type` user or system. */
const mtchatMessage = (message: Fields | undefined) =>
  message && {
    id: message.id,
    // MTChat's system messages have no sender.
    sender_id: message.message_type === "system" ? null : message.sender_id,
    content: message.content,
    reply_to: message.reply_to_id ?? null,
    created_at: message.sent_at,
    message_type: message.message_type === "system" ? "system" : "user",
  };

/**
 * The payload of MTChat's body for one of our events (`../shared/mtchat-contract.md` §4): the dialog's
 * `dialog_id, object_id, object_type`, then what MTChat puts beside them; our other fields stay (a receiver
 * written for MTChat ignores them). Events MTChat does not have keep our data as they are.
 */
export const mtchatPayload = (event: StoredEvent): Fields => {
  const { data } = event;
  const participant = data.participant as Fields | undefined;
  switch (event.event) {
    case "message.new":
    case "message.edited":
    case "message.deleted":
      return { ...data, message: mtchatMessage(data.message as Fields | undefined) };
    case "participant.joined":
      return { ...data, user_id: participant?.user_id, joined_as: "participant", joined_at: participant?.joined_at };
    case "participant.left":
      return { ...data, user_id: participant?.user_id, left_at: event.created_at.toISOString() };
    case "notification.pending":
      return { ...data, message: mtchatMessage(data.latest_message as Fields | undefined) };
    default:
      return data;
  }
};

/** The body every delivery of an event carries, byte for byte the same on each retry, in the endpoint's format. */
export const webhookBody = (event: StoredEvent, format: WebhookFormat = "standard"): string =>
  format === "mtchat"
    ? JSON.stringify({
        id: event.id,
        // MTChat's body names the type in snake_case (message_new); its X-Webhook-Event header keeps the dots.
        type: event.event.replace(/\./g, "_"),
        timestamp: event.created_at.toISOString(),
        payload: mtchatPayload(event),
      })
    : JSON.stringify({
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
  target: { url: string; secret: string; format?: WebhookFormat },
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
        // MTChat signs the body alone (no replay protection); ours signs the timestamp with it.
        [webhookHeaders.signature]:
          target.format === "mtchat" ? signBody(target.secret, event.body) : signPayload(target.secret, timestamp, event.body),
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
