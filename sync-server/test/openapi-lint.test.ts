import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { expect, test } from "vitest";
import { useServer } from "./harness.ts";

const fixture = useServer("external", "openapi_lint");
const redocly = path.resolve(import.meta.dirname, "../../node_modules/.bin/redocly");

type Operation = { operationId?: string; summary?: string; security?: unknown[]; responses: Record<string, unknown> };

test("the OpenAPI document names every operation, documents 429 and its server, and passes redocly's recommended rules", async () => {
  const response = await fetch(`${fixture.t.httpUrl}/api/v1/openapi.json`);
  const raw = await response.text();
  const doc = JSON.parse(raw) as { servers: { url: string }[]; paths: Record<string, Record<string, Operation>> };
  expect(doc.servers).toEqual([expect.objectContaining({ url: fixture.t.httpUrl })]);
  const operations = Object.entries(doc.paths).flatMap(([route, ops]) =>
    Object.entries(ops).map(([method, op]) => ({ route, method, op })),
  );
  expect(operations.length).toBeGreaterThan(50);
  const ids = operations.map(({ op }) => op.operationId);
  expect(new Set(ids).size).toBe(operations.length);
  for (const { route, method, op } of operations) {
    expect(op.summary, `${method} ${route}`).toEqual(expect.any(String));
    expect(op.operationId, `${method} ${route}`).toMatch(/^[a-z][A-Za-z]+$/);
    // The signed file links carry their credential in the query; everything else is rate limited.
    if (op.security?.length !== 0) expect(op.responses, `${method} ${route}`).toHaveProperty("429");
  }

  const dir = await mkdtemp(path.join(tmpdir(), "openapi-"));
  try {
    const file = path.join(dir, "openapi.json");
    await writeFile(file, raw);
    // Offline: no telemetry, no update check.
    const result = await promisify(execFile)(redocly, ["lint", file, "--format=json"], {
      env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true", NO_COLOR: "1" },
      maxBuffer: 16 * 1024 * 1024,
    }).catch((error: { stdout?: string; stderr?: string; code?: number }) => ({
      stdout: error.stdout ?? "",
      stderr: error.stderr ?? "",
      failed: error.code,
    }));
    const report = JSON.parse(result.stdout) as {
      totals: { errors: number; warnings: number };
      problems: { ruleId: string; severity: string; message: string }[];
    };
    expect(report.problems.filter((problem) => problem.severity === "error")).toEqual([]);
    expect(report.totals.errors).toBe(0);
    // The one warning is MTChat's own pair of routes, kept as MTChat has them.
    expect(report.problems.map((problem) => problem.ruleId)).toEqual(["no-ambiguous-paths"]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
