import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import path from "node:path";
import { type Decision, deny } from "@mtchat/authz";
import { readOrCreate } from "../config/kept-file.ts";

/**
 * What a link grants: one method on one key until `expires` (Unix seconds),
 * plus the parameters the server honours when serving it. All of them are
 * signed, so none can be changed without breaking the signature.
 */
export type LinkGrant = {
  method: "GET" | "PUT";
  key: string;
  expires: number;
  /** PUT: the most bytes accepted. */
  max?: number | undefined;
  /** GET: the Content-Type served. */
  type?: string | undefined;
  /** GET: the file name offered to the browser. */
  name?: string | undefined;
};

/** The query parameters a grant travels in (besides the key, which is the path). */
const grantParams = ["expires", "max", "type", "name"] as const;

/** A JSON array has no delimiter a value could smuggle in, unlike joining with newlines. */
const canonical = (grant: LinkGrant): string =>
  JSON.stringify([grant.method, grant.key, grant.expires, grant.max ?? null, grant.type ?? null, grant.name ?? null]);

/** HMAC-SHA256 signed links for the files this server serves itself. */
export class UrlSigner {
  constructor(
    private readonly secret: () => Promise<string>,
    private readonly now: () => number = Date.now,
  ) {}

  private async signature(grant: LinkGrant): Promise<Buffer> {
    return createHmac("sha256", await this.secret())
      .update(canonical(grant))
      .digest();
  }

  /** The query string (without `?`) carrying the grant and its signature. */
  async sign(grant: LinkGrant): Promise<string> {
    const query = new URLSearchParams();
    for (const param of grantParams) {
      const value = grant[param];
      if (value !== undefined) query.set(param, String(value));
    }
    query.set("sig", (await this.signature(grant)).toString("base64url"));
    return query.toString();
  }

  /** The grant in `query` for `method` on `key`, if its signature is ours and it has not expired. */
  async verify(method: LinkGrant["method"], key: string, query: URLSearchParams): Promise<Decision<{ grant: LinkGrant }>> {
    const sig = query.get("sig");
    const expires = Number(query.get("expires"));
    if (!sig || !Number.isSafeInteger(expires)) return deny("forbidden", "this link is not signed; ask for a new one");
    const number = (value: string | null) => (value === null ? undefined : Number(value));
    const grant: LinkGrant = {
      method,
      key,
      expires,
      max: number(query.get("max")),
      type: query.get("type") ?? undefined,
      name: query.get("name") ?? undefined,
    };
    const expected = await this.signature(grant);
    const given = Buffer.from(sig, "base64url");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return deny("forbidden", "this link's signature does not match (it was changed or made for another file); ask for a new one");
    }
    if (this.now() > expires * 1000) {
      return deny("forbidden", `this link expired at ${new Date(expires * 1000).toISOString()}; ask for a new one`);
    }
    return { ok: true, grant };
  }
}

/**
 * The configured secret, or one generated on first use and kept in the data
 * directory, so links survive a restart (replicas sharing it agree on the
 * first one: see readOrCreate).
 */
export const persistentSecret = (configured: string | undefined, dataDir: string): (() => Promise<string>) => {
  if (configured) return () => Promise.resolve(configured);
  let loaded: Promise<string> | null = null;
  const file = path.resolve(dataDir, "file-url-secret");
  const load = async (): Promise<string> => (await readOrCreate(file, () => randomBytes(32).toString("base64url"))).trim();
  return () => {
    loaded ??= load().catch((error: unknown) => {
      loaded = null;
      throw error;
    });
    return loaded;
  };
};
