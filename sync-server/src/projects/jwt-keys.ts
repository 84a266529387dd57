import { createHash, createPublicKey, type KeyObject } from "node:crypto";
import { createRemoteJWKSet, customFetch, type JWTVerifyGetKey } from "jose";
import type pg from "pg";
import { v7 as uuidv7 } from "uuid";
import type { VerificationKeys } from "../auth/verify-token.ts";
import { publishAccessChange } from "../cluster/cluster.ts";
import { ApiError } from "../http/errors.ts";
import type { OutboundGuard } from "../outbound/outbound-guard.ts";

export const jwtKeyKinds = ["hs256", "public_key", "jwks_url"] as const;
export type JwtKeyKind = (typeof jwtKeyKinds)[number];

export type JwtKeyInput =
  | { kind: "hs256"; secret: string }
  | { kind: "public_key"; public_key: string }
  | { kind: "jwks_url"; jwks_url: string };

/** A key as listed. An HS256 secret is never shown again, only a fingerprint to tell keys apart. */
export type JwtKeyRow = {
  id: string;
  kind: JwtKeyKind;
  created_at: string;
  public_key: string | null;
  jwks_url: string | null;
  secret_fingerprint: string | null;
};

/**
 * Long enough that a flood of tokens costs one query per project per window, short enough that a
 * deleted key stops working on every replica within seconds (at once on the replica that deleted it).
 */
const cacheMs = 5_000;

const fingerprint = (secret: string) => `sha256:${createHash("sha256").update(secret).digest("hex").slice(0, 16)}`;

const toRow = (row: { id: string; kind: JwtKeyKind; value: string; created_at: Date }): JwtKeyRow => ({
  id: row.id,
  kind: row.kind,
  created_at: row.created_at.toISOString(),
  public_key: row.kind === "public_key" ? row.value : null,
  jwks_url: row.kind === "jwks_url" ? row.value : null,
  secret_fingerprint: row.kind === "hs256" ? fingerprint(row.value) : null,
});

const parsePublicKey = (pem: string): KeyObject => {
  try {
    const key = createPublicKey(pem);
    if (key.type !== "public") throw new Error("not a public key");
    return key;
  } catch {
    throw new ApiError("bad_request", "public_key must be a PEM (SPKI) public key: -----BEGIN PUBLIC KEY-----");
  }
};

/**
 * The keys that verify each project's user tokens, kept in `jwt_keys` and
 * served to the token verifier from a short-lived cache. A JWKS URL is a
 * project's choice, so it is checked against internal destinations when added
 * and fetched only through the outbound guard (which also refuses redirects).
 */
export class JwtKeys {
  private readonly cache = new Map<string, { at: number; keys: Promise<VerificationKeys> }>();
  /** One remote key set per URL, kept across cache reloads so jose's own JWKS cache and cooldown survive. */
  private readonly remoteSets = new Map<string, JWTVerifyGetKey>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly outbound: Pick<OutboundGuard, "check" | "fetch">,
    private readonly now: () => number = Date.now,
  ) {}

  async add(projectId: string, input: JwtKeyInput): Promise<JwtKeyRow> {
    let value: string;
    if (input.kind === "hs256") value = input.secret;
    else if (input.kind === "public_key") {
      parsePublicKey(input.public_key);
      value = input.public_key;
    } else {
      const problem = await this.outbound.check("jwks_url", input.jwks_url);
      if (problem) throw new ApiError("bad_request", problem);
      value = input.jwks_url;
    }
    const { rows } = await this.pool.query(
      "INSERT INTO jwt_keys (id, project_id, kind, value) VALUES ($1, $2, $3, $4) RETURNING id, kind, value, created_at",
      [uuidv7(), projectId, input.kind, value],
    );
    this.cache.delete(projectId);
    return toRow(rows[0]);
  }

  async list(projectId: string): Promise<JwtKeyRow[]> {
    const { rows } = await this.pool.query(
      "SELECT id, kind, value, created_at FROM jwt_keys WHERE project_id = $1 ORDER BY created_at, id",
      [projectId],
    );
    return rows.map(toRow);
  }

  async remove(projectId: string, id: string): Promise<void> {
    const { rowCount } = await this.pool.query("DELETE FROM jwt_keys WHERE id = $1 AND project_id = $2", [id, projectId]);
    this.cache.delete(projectId);
    if (!rowCount) throw new ApiError("not_found", `JWT key ${id} does not exist in this project`);
    // Every node forgets the project's keys and verifies its live connections' tokens again.
    await publishAccessChange(this.pool, { project: projectId });
  }

  /** Forgets the cached keys of a project (another node changed them). */
  invalidate(projectId: string): void {
    this.cache.delete(projectId);
  }

  /** The project's verification keys (none for an unknown project, which is cached too). */
  keysFor = (projectId: string): Promise<VerificationKeys> => {
    const at = this.now();
    const cached = this.cache.get(projectId);
    if (cached && at - cached.at < cacheMs) return cached.keys;
    // Random `prj` claims must not grow the cache without bound.
    if (this.cache.size > 10_000) this.cache.clear();
    const keys = this.load(projectId);
    this.cache.set(projectId, { at, keys });
    keys.catch(() => this.cache.delete(projectId));
    return keys;
  };

  private async load(projectId: string): Promise<VerificationKeys> {
    const { rows } = await this.pool.query<{ kind: JwtKeyKind; value: string }>(
      "SELECT kind, value FROM jwt_keys WHERE project_id = $1 ORDER BY created_at, id",
      [projectId],
    );
    const keys: VerificationKeys = { secrets: [], publicKeys: [], jwks: [] };
    for (const { kind, value } of rows) {
      if (kind === "hs256") keys.secrets.push(new TextEncoder().encode(value));
      else if (kind === "public_key") keys.publicKeys.push(createPublicKey(value));
      else keys.jwks.push(this.remoteSet(value));
    }
    return keys;
  }

  private remoteSet(url: string): JWTVerifyGetKey {
    let set = this.remoteSets.get(url);
    if (!set) {
      if (this.remoteSets.size > 1_000) this.remoteSets.clear();
      set = createRemoteJWKSet(new URL(url), { [customFetch]: this.outbound.fetch });
      this.remoteSets.set(url, set);
    }
    return set;
  }
}
