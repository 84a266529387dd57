import { fileURLToPath } from "node:url";
import { build, defaultClientConditions } from "vite";

const root = fileURLToPath(new URL(".", import.meta.url));

/** Builds the demo page into sdk/demo/dist (gitignored), where the service's /demo route serves it from. */
export const buildDemo = async (): Promise<void> => {
  await build({
    root,
    base: "/demo/",
    logLevel: "warn",
    // The demo bundles the SDK from source (`src/index.ts`), not from the packages' `dist`.
    resolve: { conditions: ["mtchat-source", ...defaultClientConditions] },
    build: { outDir: "dist", emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 2000 },
    define: { __VUE_OPTIONS_API__: "false", __VUE_PROD_DEVTOOLS__: "false", __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: "false" },
  });
};

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await buildDemo();
