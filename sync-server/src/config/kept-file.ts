import { randomBytes } from "node:crypto";
import { link, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";

/**
 * What `file` holds, written first from `create()` when it does not exist yet
 * (a secret generated on first use and kept in DATA_DIR). Written whole to a
 * temporary file and then linked into place, which fails if the file exists,
 * so replicas sharing the directory agree on the first one and never read a
 * half-written file.
 */
export const readOrCreate = async (file: string, create: () => string): Promise<string> => {
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  await mkdir(path.dirname(file), { recursive: true });
  const temporary = `${file}.${randomBytes(8).toString("hex")}.tmp`;
  await writeFile(temporary, create(), { mode: 0o600 });
  try {
    await link(temporary, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  } finally {
    await rm(temporary, { force: true });
  }
  return readFile(file, "utf8");
};
