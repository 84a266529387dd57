import { readFile, writeFile } from "node:fs/promises";
import { renderConfigTable, renderEnvExample } from "./parse-config.ts";

// `npm run env:example`: regenerates .env.example and the README's configuration table from the options table.
await writeFile(new URL("../../../.env.example", import.meta.url), renderEnvExample());

const readmeUrl = new URL("../../../README.md", import.meta.url);
const readme = await readFile(readmeUrl, "utf8");
const lines = readme.split("\n");
const start = lines.findIndex((line) => line.startsWith("| Variable | Default | Description |"));
if (start < 0) throw new Error("README.md has no configuration table to replace");
let end = start;
while (end < lines.length && lines[end]?.startsWith("|")) end += 1;
lines.splice(start, end - start, ...renderConfigTable().split("\n"));
await writeFile(readmeUrl, lines.join("\n"));
