import { writeFile } from "node:fs/promises";
import { renderEnvExample } from "./parse-config.ts";

await writeFile(new URL("../../../.env.example", import.meta.url), renderEnvExample());
