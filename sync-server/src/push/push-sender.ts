import type pg from "pg";
import webpush from "web-push";
import { blockedReason, type OutboundPost } from "../outbound/outbound-guard.ts";
import type { Logger } from "../sync/logger.ts";
import type { StoredSubscription } from "./push-subscriptions.ts";
import type { VapidKeys } from "./vapid-keys.ts";

/** What a push tells the service worker: enough to show the notification and open the dialog, nothing more. */
export type PushPayload = {
  type: "message";
  dialog_id: string;
  title: string;
  sender_name: string;
  preview: string;
  unread_count: number;
  message_id: string;
};

/** Data of a push job: one subscription, one payload. */
export type PushJob = { subscription_id: string; payload: PushPayload };

/** A push that failed in a way asking again may fix (the push service busy or away); the job queue retries it. */
export class PushRetryError extends Error {
  override name = "PushRetryError";
}

/** How long a push service keeps a push for a browser that is offline (seconds): a chat message is stale after a day. */
const ttlSeconds = 24 * 60 * 60;

/**
 * Sends web pushes (RFC 8030), encrypted to the browser's keys (RFC 8291,
 * aes128gcm) and signed with the server's VAPID key (RFC 8292), through the
 * outbound guard: the endpoint came from a browser, so it gets the same
 * checks as a project's webhook URL. A 404 or 410 means the browser dropped
 * the subscription, which is then deleted; 429, 5xx and network failures are
 * thrown for the queue to retry; anything else is logged and dropped.
 */
export class PushSender {
  constructor(
    private readonly deps: {
      pool: pg.Pool;
      keys: () => Promise<VapidKeys>;
      post: OutboundPost;
      logger: Logger;
      timeoutMs: number;
    },
  ) {}

  async send(job: PushJob): Promise<"sent" | "gone" | "dropped"> {
    const { rows } = await this.deps.pool.query<StoredSubscription>(
      "SELECT id, project_id, user_id, endpoint, p256dh, auth FROM push_subscriptions WHERE id = $1",
      [job.subscription_id],
    );
    const subscription = rows[0];
    // Unsubscribed or erased meanwhile: nothing to do.
    if (!subscription) return "dropped";
    const keys = await this.deps.keys();
    const request = webpush.generateRequestDetails(
      { endpoint: subscription.endpoint, keys: { p256dh: subscription.p256dh, auth: subscription.auth } },
      JSON.stringify(job.payload),
      {
        vapidDetails: { subject: keys.subject, publicKey: keys.publicKey, privateKey: keys.privateKey },
        TTL: ttlSeconds,
        urgency: "high",
        contentEncoding: "aes128gcm",
        // One notification per dialog waits in the push service: a newer push replaces the older.
        topic: job.payload.dialog_id.replaceAll("-", ""),
      },
    );
    const headers = Object.fromEntries(Object.entries(request.headers).map(([name, value]) => [name, String(value)]));
    let status: number;
    try {
      const answer = await this.deps.post(request.endpoint, {
        headers,
        body: request.body ?? "",
        signal: AbortSignal.timeout(this.deps.timeoutMs),
      });
      status = answer.status;
    } catch (error) {
      const blocked = blockedReason(error);
      if (blocked) {
        this.deps.logger.warn("push_blocked", { subscription: subscription.id, error: blocked });
        return "dropped";
      }
      throw new PushRetryError(`the push service could not be reached: ${String(error)}`);
    }
    if (status >= 200 && status < 300) return "sent";
    if (status === 404 || status === 410) {
      await this.deps.pool.query("DELETE FROM push_subscriptions WHERE id = $1", [subscription.id]);
      this.deps.logger.info("push_subscription_gone", { subscription: subscription.id, status });
      return "gone";
    }
    if (status === 429 || status >= 500) throw new PushRetryError(`the push service answered ${status}`);
    this.deps.logger.warn("push_refused", { subscription: subscription.id, status });
    return "dropped";
  }
}
