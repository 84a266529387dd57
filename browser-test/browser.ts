import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { buildDemo } from "../sdk/demo/build.ts";
import { callApi, prepareStorage, startServer, type TestServer } from "../sync-server/test/harness.ts";

export const chromiumPath = "/usr/bin/chromium";

/** What Chromium runs with: headless, with nothing that talks to the network on its own. */
export const chromiumArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Debian's Chromium, headless, with nothing that talks to the network on its own. */
export const launchChromium = (): Promise<Browser> => {
  if (!existsSync(chromiumPath)) throw new Error(`${chromiumPath} is missing: install it with apt-get install -y chromium (.ci/run does)`);
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: chromiumArgs,
  });
};

/** A fresh context (its own IndexedDB, like another device) with a page on the demo as `user`. */
export const openDemo = async (
  browser: Browser,
  baseUrl: string,
  query: Record<string, string>,
  context?: BrowserContext,
): Promise<{ context: BrowserContext; page: Page; errors: string[] }> => {
  const ctx = context ?? (await browser.newContext({ viewport: { width: 1100, height: 720 } }));
  const page = await ctx.newPage();
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  await page.goto(`${baseUrl}/demo/?${new URLSearchParams(query).toString()}`);
  return { context: ctx, page, errors };
};

/** The id of the demo's dialog about a business object (`order` `1001`, `tender` `77`), as `token`'s user finds it. */
export const demoDialog = async (baseUrl: string, token: string, type: string, id: string): Promise<string> =>
  (await callApi<{ data: { id: string } }>(baseUrl, "GET", `/api/v1/dialogs/by-object/${type}/${id}`, undefined, token)).body.data.id;

/** Where screenshots and other artifacts of the browser tests go (kept by CI). */
export const resultsDir = path.resolve(import.meta.dirname, "../test-results");

export type BrowserSuite = { t: TestServer; browser: Browser; tokens: Record<"alice" | "bob", string>; close(): Promise<void> };

/**
 * What every browser test file starts with: the demo built, a server of its own
 * (demo on) on a database of its own, Chromium, and demo tokens for Alice and Bob.
 */
export const startBrowserSuite = async (database: string, serverEnv: Record<string, string> = {}): Promise<BrowserSuite> => {
  await buildDemo();
  const env = await prepareStorage("external", database);
  const t = await startServer({ ...env.env, DEMO: "on", ...serverEnv });
  const browser = await launchChromium();
  const token = async (user: string) =>
    (await callApi<{ data: { token: string } }>(t.httpUrl, "POST", "/demo/session", { user }, null)).body.data.token;
  const tokens = { alice: await token("alice"), bob: await token("bob") };
  await mkdir(resultsDir, { recursive: true });
  return {
    t,
    browser,
    tokens,
    close: async () => {
      await browser.close();
      await t.stop();
      await env.cleanup();
    },
  };
};
