import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { type Decision, deny } from "@mtchat/authz";
import type pg from "pg";
import { ApiError } from "../http/errors.ts";

export const apiKeyScopes = ["read", "write", "admin"] as const;
export type ApiKeyScope = (typeof apiKeyScopes)[number];

/** An API key as listed: everything but the secret, which exists only in the creation response. */
export type ApiKeyRow = {
  id: string;
  name: string;
  prefix: string;
  scopes: ApiKeyScope[];
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
};

/** What an authenticated API key may do. */
export type KeyGrant = { id: string; projectId: string; scopes: ApiKeyScope[] };

type Queryable = Pick<pg.Pool, "query">;

/** `mtk_live_<8 chars of id>_<43 chars of base64url secret>`: the id finds the row, the whole key is hashed. */
const keyPattern = /^mtk_live_([a-z0-9]{8})_([A-Za-z0-9_-]{43})$/;
const idAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789";

export const looksLikeApiKey = (token: string) => token.startsWith("mtk_");

const hashKey = (key: string) => createHash("sha256").update(key).digest();

const newId = () => Array.from(randomBytes(8), (byte) => idAlphabet[byte % idAlphabet.length]).join("");

const iso = (value: Date | null) => (value ? value.toISOString() : null);

const toRow = (row: Record<string, unknown>): ApiKeyRow => ({
  id: row.id as string,
  name: row.name as string,
  prefix: row.prefix as string,
  scopes: row.scopes as ApiKeyScope[],
  created_at: (row.created_at as Date).toISOString(),
  expires_at: iso(row.expires_at as Date | null),
  revoked_at: iso(row.revoked_at as Date | null),
  last_used_at: iso(row.last_used_at as Date | null),
});

const columns = "id, name, prefix, scopes, created_at, expires_at, revoked_at, last_used_at";

/** How often a key's `last_used_at` is written at most: a write per request would cost more than the request. */
const touchEveryMs = 60_000;

/**
 * A project's API keys for the Management API. The database keeps the
 * SHA-256 of each key, never the key: a key is shown once, when created.
 */
export class ApiKeys {
  private readonly touched = new Map<string, number>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly now: () => number = Date.now,
  ) {}

  async create(
    projectId: string,
    input: { name: string; scopes: ApiKeyScope[]; expires_at?: string | null | undefined },
    db: Queryable = this.pool,
  ): Promise<ApiKeyRow & { key: string }> {
    // In UTC: PostgreSQL refuses some offsets ISO 8601 allows (past ±15:59).
    const expiresAt = input.expires_at ? new Date(input.expires_at).toISOString() : null;
    if (expiresAt && Date.parse(expiresAt) <= this.now()) throw new ApiError("bad_request", "expires_at must be in the future");
    const scopes = [...new Set(input.scopes)];
    for (;;) {
      const id = newId();
      const key = `mtk_live_${id}_${randomBytes(32).toString("base64url")}`;
      const { rows } = await db.query(
        `INSERT INTO api_keys (id, project_id, name, prefix, key_hash, scopes, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING RETURNING ${columns}`,
        [id, projectId, input.name, `mtk_live_${id}`, hashKey(key), scopes, expiresAt],
      );
      // 36^8 ids: a collision is rare enough that retrying is the whole answer.
      if (rows[0]) return { ...toRow(rows[0]), key };
    }
  }

  async list(projectId: string): Promise<ApiKeyRow[]> {
    const { rows } = await this.pool.query(`SELECT ${columns} FROM api_keys WHERE project_id = $1 ORDER BY created_at, id`, [projectId]);
    return rows.map(toRow);
  }

  /** Revokes at once, on every replica: keys are not cached. Revoking twice keeps the first time. */
  async revoke(projectId: string, id: string): Promise<ApiKeyRow> {
    const { rows } = await this.pool.query(
      `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 AND project_id = $2 RETURNING ${columns}`,
      [id, projectId],
    );
    if (!rows[0]) throw new ApiError("not_found", `API key ${id} does not exist in this project`);
    return toRow(rows[0]);
  }

  /** Checks a presented key: its hash in constant time, then revocation and expiry. */
  async authenticate(key: string): Promise<Decision<{ grant: KeyGrant }>> {
    const match = keyPattern.exec(key);
    if (!match?.[1]) return deny("unauthorized", "the API key is malformed; keys look like mtk_live_<id>_<secret>");
    const id = match[1];
    const { rows } = await this.pool.query<{
      project_id: string;
      key_hash: Buffer;
      scopes: ApiKeyScope[];
      expires_at: Date | null;
      revoked_at: Date | null;
    }>("SELECT project_id, key_hash, scopes, expires_at, revoked_at FROM api_keys WHERE id = $1", [id]);
    const row = rows[0];
    // Hashing first and comparing digests keeps the comparison constant-time and the key's state hidden from guessers.
    const presented = hashKey(key);
    if (!row || !timingSafeEqual(presented, row.key_hash)) return deny("unauthorized", "the API key is not valid");
    if (row.revoked_at) return deny("unauthorized", `the API key ${id} was revoked at ${row.revoked_at.toISOString()}; use another key`);
    if (row.expires_at && row.expires_at.getTime() <= this.now())
      return deny("unauthorized", `the API key ${id} expired at ${row.expires_at.toISOString()}; create a new one`);
    this.touch(id);
    return { ok: true, grant: { id, projectId: row.project_id, scopes: row.scopes } };
  }

  private touch(id: string): void {
    const at = this.now();
    if (at - (this.touched.get(id) ?? 0) < touchEveryMs) return;
    if (this.touched.size > 10_000) this.touched.clear();
    this.touched.set(id, at);
    // Bookkeeping only: a failure must not fail the request.
    this.pool.query("UPDATE api_keys SET last_used_at = now() WHERE id = $1", [id]).catch(() => this.touched.delete(id));
  }
}
