import type pg from "pg";
import { publishAccessChange } from "../cluster/cluster.ts";
import { ApiError } from "../http/errors.ts";
import { maxCorsOrigins, normalizeOrigin, parseOrigins } from "./origin.ts";

const refreshMs = 5_000;

/**
 * Which browser origins may call the service for each project: CORS on the HTTP API and the Origin check of
 * WebSocket upgrades. The default project's list is CORS_ALLOWED_ORIGINS plus what the Management API set;
 * other projects have only theirs. Lists are read from `projects.cors_origins` and kept for a few seconds;
 * a change is announced to every node (the project's access change), which drops the copy at once.
 * A page on the service's own origin (its Host, or PUBLIC_URL) is always allowed.
 */
export class CorsOrigins {
  private byProject = new Map<string, Set<string>>();
  private any = new Set<string>();
  private loadedAt = 0;
  private loading: Promise<void> | null = null;

  constructor(
    private readonly pool: pg.Pool,
    configured: string[],
    publicUrl: string | undefined,
    private readonly now: () => number = Date.now,
  ) {
    this.configured = configured.map((entry) => normalizeOrigin(entry) ?? entry);
    this.ownOrigin = publicUrl ? new URL(publicUrl).origin : null;
  }

  /** PUBLIC_URL's origin: pages served from there are the service's own. */
  private readonly ownOrigin: string | null;

  private readonly configured: string[];

  /** Whether a request with this `Origin` and `Host` comes from the service's own pages. */
  sameOrigin(origin: string, host: string | undefined): boolean {
    if (this.ownOrigin === origin) return true;
    if (!host) return false;
    try {
      return new URL(origin).host === host.toLowerCase();
    } catch {
      return false;
    }
  }

  /** For preflights and upgrades, which carry no credentials yet: whether any project allows the origin. */
  async anyAllows(origin: string): Promise<boolean> {
    await this.fresh();
    return this.any.has("*") || this.any.has(origin);
  }

  /** Whether pages on `origin` may call the service with a credential of `projectId`. */
  async allows(projectId: string, origin: string): Promise<boolean> {
    await this.fresh();
    const list = this.byProject.get(projectId);
    return list !== undefined && (list.has("*") || list.has(origin));
  }

  /** The project's own list, as the Management API shows it (the default project's configured entries aside). */
  async list(projectId: string): Promise<string[]> {
    const { rows } = await this.pool.query<{ cors_origins: string[] }>("SELECT cors_origins FROM projects WHERE id = $1", [projectId]);
    if (!rows[0]) throw new ApiError("not_found", `project ${projectId} does not exist`);
    return rows[0].cors_origins;
  }

  async replace(projectId: string, entries: string[]): Promise<string[]> {
    if (entries.length > maxCorsOrigins) throw new ApiError("bad_request", `at most ${maxCorsOrigins} origins per project`);
    const origins = parseOrigins(entries);
    const { rowCount } = await this.pool.query("UPDATE projects SET cors_origins = $2 WHERE id = $1", [projectId, origins]);
    if (rowCount === 0) throw new ApiError("not_found", `project ${projectId} does not exist`);
    this.invalidate();
    // Every node drops its copy (cluster.ts hands project changes to `invalidate`).
    await publishAccessChange(this.pool, { project: projectId });
    return origins;
  }

  /** Forgets the copy; the next question reads the lists again. */
  invalidate(): void {
    this.loadedAt = 0;
  }

  private async fresh(): Promise<void> {
    if (this.now() - this.loadedAt < refreshMs) return;
    this.loading ??= this.load().finally(() => {
      this.loading = null;
    });
    await this.loading;
  }

  private async load(): Promise<void> {
    try {
      const { rows } = await this.pool.query<{ id: string; cors_origins: string[] }>(
        "SELECT id, cors_origins FROM projects WHERE cardinality(cors_origins) > 0 OR id = 'default'",
      );
      const byProject = new Map<string, Set<string>>();
      for (const row of rows) byProject.set(row.id, new Set(row.cors_origins));
      byProject.set("default", new Set([...this.configured, ...(byProject.get("default") ?? [])]));
      this.byProject = byProject;
      this.any = new Set([...byProject.values()].flatMap((list) => [...list]));
      this.loadedAt = this.now();
    } catch {
      // The database is away: keep answering from the last lists (the configured ones at least) and try again soon.
      if (this.loadedAt === 0 && this.byProject.size === 0) {
        this.byProject = new Map([["default", new Set(this.configured)]]);
        this.any = new Set(this.configured);
      }
      this.loadedAt = this.now() - refreshMs + 1_000;
    }
  }
}
