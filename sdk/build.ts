import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build, defaultClientConditions } from "vite";
import { buildWidget, widgetGzipped } from "./widget/build.ts";

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

/** The SDK packages in dependency order: each one's declarations are built against the previous ones' `dist`. */
export const sdkPackages = ["protocol", "client", "vue", "vue-primevue"] as const;

/**
 * The export condition under which the workspace resolves `@mtchat/*` to
 * `src/index.ts` (see each package.json). Builds of the SDK itself use it too,
 * so that the size is measured from source, not from an older `dist`.
 */
const sourceCondition = "mtchat-source";

/**
 * ESM library builds with declarations, into `sdk/<pkg>/dist`, which is what
 * the packages publish: dependencies stay imports, for the app's bundler to
 * share and dedupe.
 */
export const buildLibraries = async (): Promise<void> => {
  for (const pkg of sdkPackages) {
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
    // Declarations next to the bundle. They resolve sibling packages without the source condition, as an app would.
    execFileSync(process.execPath, [path.join(root, "node_modules/typescript/bin/tsc"), "-p", path.join(sdk, pkg, "tsconfig.build.json")], {
      stdio: "inherit",
    });
  }
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
    resolve: { conditions: [sourceCondition, ...defaultClientConditions] },
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
            // Each module is counted in its own part: Tiptap's binding imports Yjs, which stays in the core;
            // Floating UI comes with @tiptap/suggestion (the mention list) and so counts as Tiptap.
            includeDependenciesRecursively: false,
            groups: [
              {
                name: "tiptap",
                test: /node_modules[\\/](@tiptap|prosemirror-|orderedmap|rope-sequence|w3c-keyname|linkifyjs|@floating-ui)/,
              },
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

// `tsx sdk/build.ts [--no-size]`: `--no-size` is the packages' prepack, which needs only the libraries.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await buildLibraries();
  if (!process.argv.includes("--no-size")) {
    const sizes = await measureSizes();
    console.log(
      Object.entries(sizes)
        .map(([part, bytes]) => `${part}: ${(bytes / 1024).toFixed(1)} KiB gzipped`)
        .join("\n"),
    );
    // The script-tag widget carries all three and Vue: what a page without Vue pays.
    const widget = widgetGzipped(await buildWidget(path.join(root, "test-results/sdk-size/loader.js")));
    console.log(`widget (script tag, Vue included): ${(widget / 1024).toFixed(1)} KiB gzipped`);
  }
}
