import type { CloseReason } from "@mtchat/protocol";

/**
 * Whether a document's close reason is a refusal: a 44xx code (forbidden, not found, a refused change …), which asking
 * again would only repeat until the user or the change is put right. 4429 (rate_limited) passes, like every reason
 * that is not a 44xx one: 4503 (unavailable), 4500, Hocuspocus's own "Reset Connection", a server shutting down, a
 * dropped network. Those are attached again by themselves.
 */
export const isRefusal = (reason: CloseReason | null): reason is CloseReason =>
  reason !== null && reason.code >= 4400 && reason.code < 4500 && reason.kind !== "rate_limited";

/** Reconnect delays: the first, the cap, and the growth factor between attempts. */
export type Backoff = { minDelayMs: number; maxDelayMs: number; factor: number };

export const defaultBackoff: Backoff = { minDelayMs: 500, maxDelayMs: 15_000, factor: 2 };

/**
 * The wait before attempt `attempt` (0 is the first): minDelayMs growing by `factor`, capped at maxDelayMs, and drawn
 * at random from the upper half, so documents (and clients) closed together do not all come back at once.
 */
export const backoffDelay = ({ minDelayMs, maxDelayMs, factor }: Backoff, attempt: number, random: () => number = Math.random): number => {
  const ceiling = Math.min(maxDelayMs, minDelayMs * factor ** attempt);
  return ceiling / 2 + (random() * ceiling) / 2;
};
