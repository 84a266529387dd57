/** A user JWT, or a function the host app gives us to fetch one (it is called again when the token expires). */
export type TokenInput = string | (() => string | Promise<string>);

/** The unverified claims the client reads from its own token: who it is, in which project, until when. */
export type TokenClaims = { userId: string; projectId: string; expiresAt: number; name: string | null };

const base64UrlDecode = (part: string): string => {
  const padded = part
    .replace(/-/g, "+")
    .replace(/_/g, "/")
    .padEnd(Math.ceil(part.length / 4) * 4, "=");
  const binary = atob(padded);
  const bytes = Uint8Array.from(binary, (char) => char.charCodeAt(0));
  return new TextDecoder().decode(bytes);
};

/**
 * Reads the claims of a JWT without verifying it: the server verifies; the
 * client only needs to know its own user id (for its state document's name)
 * and when to ask for a fresh token.
 */
export const decodeTokenClaims = (token: string): TokenClaims => {
  const payloadPart = token.split(".")[1];
  if (!payloadPart) throw new Error("the token is not a JWT (header.payload.signature)");
  let payload: Record<string, unknown>;
  try {
    payload = JSON.parse(base64UrlDecode(payloadPart)) as Record<string, unknown>;
  } catch {
    throw new Error("the token's payload is not base64url JSON");
  }
  if (typeof payload.sub !== "string" || payload.sub.length === 0) throw new Error("the token has no sub (user id)");
  if (typeof payload.exp !== "number") throw new Error("the token has no exp; the server refuses tokens without one");
  return {
    userId: payload.sub,
    projectId: typeof payload.prj === "string" ? payload.prj : "default",
    expiresAt: payload.exp * 1000,
    name: typeof payload.name === "string" ? payload.name : null,
  };
};

/**
 * Hands out a current token. A function input is called on first use, again
 * when the cached token is within `refreshMarginMs` of its expiry, and again
 * after the server refused the token ({@link invalidate}); concurrent callers
 * share one call.
 */
export class TokenSource {
  private cached: { token: string; claims: TokenClaims } | null = null;
  /** Kept across {@link invalidate}: who the user is does not change when their token does. */
  private lastClaims: TokenClaims | null = null;
  private inflight: Promise<string> | null = null;

  constructor(
    private readonly input: TokenInput,
    private readonly now: () => number = Date.now,
    private readonly refreshMarginMs = 30_000,
  ) {}

  /** The claims of the last token handed out, or null before the first one. */
  get claims(): TokenClaims | null {
    return this.lastClaims;
  }

  async get(): Promise<string> {
    if (this.cached && (typeof this.input === "string" || this.cached.claims.expiresAt - this.refreshMarginMs > this.now())) {
      return this.cached.token;
    }
    this.inflight ??= this.fetch().finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  /** Forgets the cached token, so the next {@link get} calls the token function again. */
  invalidate(): void {
    if (typeof this.input !== "string") this.cached = null;
  }

  private async fetch(): Promise<string> {
    const token = typeof this.input === "string" ? this.input : await this.input();
    const claims = decodeTokenClaims(token);
    if (this.lastClaims && (claims.userId !== this.lastClaims.userId || claims.projectId !== this.lastClaims.projectId)) {
      throw new Error("the token function returned a token for another user; log out before switching users");
    }
    this.cached = { token, claims };
    this.lastClaims = claims;
    return token;
  }
}
