import { existsSync } from "node:fs";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";

export const chromiumPath = "/usr/bin/chromium";

/** Debian's Chromium, headless, with nothing that talks to the network on its own. */
export const launchChromium = (): Promise<Browser> => {
  if (!existsSync(chromiumPath)) throw new Error(`${chromiumPath} is missing: install it with apt-get install -y chromium (.ci/run does)`);
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
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
