import { randomBytes } from "node:crypto";
import pg from "pg";

/**
 * Creates a fresh, empty database for one test file on the server at `adminUrl`,
 * and drops it afterwards, so test files never share state.
 */
export const createTestDatabase = async (adminUrl: string, label: string): Promise<{ url: string; drop(): Promise<void> }> => {
  const name = `t_${label
    .replace(/[^a-z0-9]/gi, "_")
    .toLowerCase()
    .slice(0, 30)}_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
};
