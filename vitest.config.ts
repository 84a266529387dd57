import { defineConfig } from "vitest/config";

export default defineConfig({
  // Tests import `@mtchat/*` from source (`src/index.ts`); the published packages point at `dist` (see sdk/README.md).
  // Tests run in Node, Vite's SSR environment; Vitest adds its default conditions and passes all to its workers' Node.
  ssr: { resolve: { conditions: ["mtchat-source"] } },
  test: {
    include: ["**/src/**/*.test.ts", "**/test/**/*.test.ts", "browser-test/**/*.test.ts"],
    exclude: ["**/node_modules/**"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
