import { randomBytes } from "node:crypto";
import { copyFile, mkdir, readdir, rename, rm } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build, defaultClientConditions } from "vite";

const root = fileURLToPath(new URL(".", import.meta.url));
const dist = path.join(root, "dist");

/** Moves every file of `from` to the same place under `to`, one atomic rename each. */
const moveInto = async (from: string, to: string): Promise<void> => {
  await mkdir(to, { recursive: true });
  for (const entry of await readdir(from, { withFileTypes: true })) {
    const source = path.join(from, entry.name);
    if (entry.isDirectory()) await moveInto(source, path.join(to, entry.name));
    else await rename(source, path.join(to, entry.name));
  }
};

/**
 * Builds the demo page into sdk/demo/dist (gitignored), where the service's /demo route serves it from.
 * Several browser test files build it at once while others already serve it: each build goes to a
 * staging folder of its own and then moves in file by file (assets first, the page last), so a
 * server never reads a half-written file nor a page whose assets are missing.
 */
export const buildDemo = async (): Promise<void> => {
  const staging = path.join(dist, `.staging-${randomBytes(6).toString("hex")}`);
  try {
    await build({
      root,
      base: "/demo/",
      logLevel: "warn",
      // The demo bundles the SDK from source (`src/index.ts`), not from the packages' `dist`.
      resolve: { conditions: ["mtchat-source", ...defaultClientConditions] },
      build: { outDir: staging, emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 2000 },
      define: { __VUE_OPTIONS_API__: "false", __VUE_PROD_DEVTOOLS__: "false", __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: "false" },
    });
    // The SDK's web push worker, which the demo's own worker imports (a host serves it from its origin the same way).
    await copyFile(path.join(root, "../client/sw/push-sw.js"), path.join(staging, "push-sw.js"));
    await moveInto(path.join(staging, "assets"), path.join(dist, "assets"));
    await moveInto(staging, dist);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
};

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await buildDemo();
