import { defaultServerConditions } from "vite";
import { defineConfig } from "vitest/config";

// Tests import `@mtchat/*` from source (`src/index.ts`); the published packages point at `dist` (see sdk/README.md).
// They run in Node, which is the SSR environment to Vite.
const sourceCondition = "mtchat-source";

export default defineConfig({
  ssr: { resolve: { conditions: [sourceCondition, ...defaultServerConditions] } },
  test: {
    include: ["**/src/**/*.test.ts", "**/test/**/*.test.ts", "browser-test/**/*.test.ts"],
    exclude: ["**/node_modules/**"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
