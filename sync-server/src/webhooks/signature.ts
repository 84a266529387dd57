import { createHmac, timingSafeEqual } from "node:crypto";

/** The headers of every delivery. */
export const webhookHeaders = {
  id: "x-webhook-id",
  event: "x-webhook-event",
  timestamp: "x-webhook-timestamp",
  signature: "x-webhook-signature",
} as const;

/** `sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`: the timestamp is signed, so it cannot be replaced. */
export const signPayload = (secret: string, timestamp: number, body: string): string =>
  `sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;

/** MTChat's signature: `sha256=<hex HMAC-SHA256(secret, body)>`, for endpoints in its format. */
export const signBody = (secret: string, body: string): string => `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;

/** How long a receiver should accept a signed timestamp (and so a replayed delivery). */
export const defaultToleranceSecs = 300;

/**
 * What a receiver does with a delivery: the signature must match the raw body
 * and the timestamp, and the timestamp must be recent. Returns why not, or null.
 */
export const verifySignature = (
  secret: string,
  headers: { timestamp: string | undefined; signature: string | undefined },
  body: string,
  nowSecs = Math.floor(Date.now() / 1000),
  toleranceSecs = defaultToleranceSecs,
): string | null => {
  const timestamp = Number(headers.timestamp);
  if (!headers.timestamp || !Number.isInteger(timestamp)) return "missing or malformed timestamp";
  if (Math.abs(nowSecs - timestamp) > toleranceSecs) return "timestamp outside the tolerance";
  const expected = Buffer.from(signPayload(secret, timestamp, body));
  const given = Buffer.from(headers.signature ?? "");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return "signature mismatch";
  return null;
};
