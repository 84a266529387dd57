export { isMigrated, loadMigrations, type Migration, migrate, migrationsDir } from "./migrate.ts";
export { createTestDatabase } from "./test-db.ts";
