import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { rename, rm } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build, defaultClientConditions } from "vite";

const here = path.dirname(fileURLToPath(import.meta.url));
const sdk = path.resolve(here, "..");
/** Where `npm run widget:build` writes the loader (gitignored), which the service serves at /widget/v1/loader.js. */
export const widgetFile = path.join(here, "dist/loader.js");

/** The sources the loader is built from: a loader older than any of them is stale. */
const sourceDirs = ["widget/src", "vue/src", "client/src", "protocol/src"].map((dir) => path.join(sdk, dir));

const newestSource = (dir: string): number =>
  readdirSync(dir, { withFileTypes: true }).reduce((newest, entry) => {
    const file = path.join(dir, entry.name);
    return Math.max(newest, entry.isDirectory() ? newestSource(file) : statSync(file).mtimeMs);
  }, 0);

/** Whether the built loader is missing or older than its sources (or this build script). */
export const widgetIsStale = (): boolean => {
  let built: number;
  try {
    built = statSync(widgetFile).mtimeMs;
  } catch {
    return true;
  }
  return Math.max(statSync(fileURLToPath(import.meta.url)).mtimeMs, ...sourceDirs.map(newestSource)) > built;
};

/**
 * Builds the loader: one classic script (an IIFE) with Vue, @mtchat/client and @mtchat/vue (Tiptap included) in it,
 * bundled from the SDK's source. It is written next to its final name and renamed over it, so a server reading it
 * meanwhile (or another test file building it too) never sees half a file.
 */
export const buildWidget = async (outFile = widgetFile): Promise<string> => {
  const staging = path.join(path.dirname(outFile), `.staging-${randomBytes(6).toString("hex")}`);
  try {
    await build({
      configFile: false,
      logLevel: "warn",
      resolve: { conditions: ["mtchat-source", ...defaultClientConditions] },
      define: {
        "process.env.NODE_ENV": JSON.stringify("production"),
        __VUE_OPTIONS_API__: "false",
        __VUE_PROD_DEVTOOLS__: "false",
        __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: "false",
      },
      build: {
        outDir: staging,
        emptyOutDir: true,
        minify: true,
        chunkSizeWarningLimit: 4000,
        lib: { entry: path.join(here, "src/loader.ts"), formats: ["iife"], name: "MTChatWidgetLoader", fileName: () => "loader.js" },
        rolldownOptions: { output: { codeSplitting: false } },
      },
    });
    await rename(path.join(staging, "loader.js"), outFile);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return outFile;
};

/** Gzipped bytes of the built loader: what a page pays for the whole widget, Vue included. */
export const widgetGzipped = (file = widgetFile): number => gzipSync(readFileSync(file), { level: 9 }).length;

// `tsx sdk/widget/build.ts [--if-stale]`: `npm start` passes --if-stale, so a fresh clone builds it once.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (!process.argv.includes("--if-stale") || widgetIsStale()) {
    await buildWidget();
    console.log(`widget: ${path.relative(process.cwd(), widgetFile)}, ${(widgetGzipped() / 1024).toFixed(1)} KiB gzipped`);
  }
}
