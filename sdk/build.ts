import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "vite";

/**
 * Builds the SDK packages to ESM with type declarations (`sdk/<pkg>/dist`),
 * and measures what an app pays for them: one bundle of `@mtchat/vue` with
 * everything but Vue itself, split into the client core, the Vue layer and
 * Tiptap, each gzipped.
 */
const sdk = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(sdk, "..");
const isBare = (id: string) => !id.startsWith(".") && !path.isAbsolute(id) && !id.startsWith("\0");

const define = { __VUE_OPTIONS_API__: "false", __VUE_PROD_DEVTOOLS__: "false", __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: "false" };

/** ESM library builds: dependencies stay imports, for the app's bundler to share and dedupe. */
export const buildLibraries = async (): Promise<void> => {
  for (const pkg of ["client", "vue"]) {
    await build({
      configFile: false,
      logLevel: "warn",
      define,
      build: {
        outDir: path.join(sdk, pkg, "dist"),
        emptyOutDir: true,
        sourcemap: true,
        lib: { entry: path.join(sdk, pkg, "src/index.ts"), formats: ["es"], fileName: () => "index.js" },
        rolldownOptions: { external: isBare },
      },
    });
  }
  // Declarations for both packages, next to the bundles.
  execFileSync(process.execPath, [path.join(root, "node_modules/typescript/bin/tsc"), "-p", path.join(sdk, "tsconfig.build.json")], {
    stdio: "inherit",
  });
};

export type SdkSizes = { core: number; vue: number; tiptap: number };

const gzipped = (dir: string, prefix: string) =>
  readdirSync(dir)
    .filter((file) => file.startsWith(prefix) && file.endsWith(".js"))
    .reduce((sum, file) => sum + gzipSync(readFileSync(path.join(dir, file)), { level: 9 }).length, 0);

/** Gzipped bytes of the three parts in a production bundle of `<MTChat>` (Vue itself excluded: the host has it). */
export const measureSizes = async (outDir = path.join(root, "test-results/sdk-size")): Promise<SdkSizes> => {
  await build({
    configFile: false,
    logLevel: "warn",
    define,
    build: {
      outDir,
      emptyOutDir: true,
      minify: true,
      chunkSizeWarningLimit: 2000,
      lib: { entry: path.join(sdk, "vue/src/index.ts"), formats: ["es"], fileName: () => "vue.js" },
      rolldownOptions: {
        external: ["vue"],
        preserveEntrySignatures: "allow-extension",
        output: {
          codeSplitting: {
            // Each module is counted in its own part: Tiptap's binding imports Yjs, which stays in the core.
            includeDependenciesRecursively: false,
            groups: [
              { name: "tiptap", test: /node_modules[\\/](@tiptap|prosemirror-|orderedmap|rope-sequence|w3c-keyname|linkifyjs)/ },
              {
                name: "core",
                test: /(sdk[\\/](client|protocol)[\\/]|node_modules[\\/](yjs|lib0|@hocuspocus|y-indexeddb|y-protocols|uuid|@lifeomic)[\\/])/,
              },
            ],
          },
        },
      },
    },
  });
  statSync(outDir);
  return { core: gzipped(outDir, "core"), vue: gzipped(outDir, "vue"), tiptap: gzipped(outDir, "tiptap") };
};

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await buildLibraries();
  const sizes = await measureSizes();
  console.log(
    Object.entries(sizes)
      .map(([part, bytes]) => `${part}: ${(bytes / 1024).toFixed(1)} KiB gzipped`)
      .join("\n"),
  );
}
