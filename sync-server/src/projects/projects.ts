import type pg from "pg";
import { transaction } from "../db/transaction.ts";
import { ApiError } from "../http/errors.ts";
import type { ApiKeyRow, ApiKeys } from "./api-keys.ts";

export type ProjectRow = { id: string; name: string; created_at: string };

const toRow = (row: { id: string; name: string; created_at: Date }): ProjectRow => ({ ...row, created_at: row.created_at.toISOString() });

/** Projects: created by the platform admin (ADMIN_API_TOKEN), each with a first admin key to manage itself. */
export class Projects {
  constructor(
    private readonly pool: pg.Pool,
    private readonly apiKeys: ApiKeys,
  ) {}

  /** The project and its first admin-scoped key, in one transaction so no project is left without a way in. */
  async create(input: { id: string; name: string }): Promise<{ project: ProjectRow; api_key: ApiKeyRow & { key: string } }> {
    return transaction(this.pool, async ({ client }) => {
      const { rows } = await client.query<{ id: string; name: string; created_at: Date }>(
        "INSERT INTO projects (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING RETURNING id, name, created_at",
        [input.id, input.name],
      );
      const project = rows[0];
      if (!project) throw new ApiError("conflict", `project ${input.id} already exists; pick another id`);
      const apiKey = await this.apiKeys.create(input.id, { name: "initial admin key", scopes: ["admin"] }, client);
      return { project: toRow(project), api_key: apiKey };
    });
  }

  async list(): Promise<ProjectRow[]> {
    const { rows } = await this.pool.query<{ id: string; name: string; created_at: Date }>(
      "SELECT id, name, created_at FROM projects ORDER BY created_at, id",
    );
    return rows.map(toRow);
  }
}
