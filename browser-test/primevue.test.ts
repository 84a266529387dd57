import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import type { Browser } from "playwright-core";
import { build, defaultClientConditions } from "vite";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { callApi, prepareStorage, startServer, type TestEnv, type TestServer } from "../sync-server/test/harness.ts";
import { demoDialog, launchChromium, resultsDir } from "./browser.ts";

/**
 * `<MTChatPrime>` in a PrimeVue 4 app with the Aura theme (@primeuix/themes), built with Vite like a host app and
 * served by a plain static server on its own origin: the chat takes the theme's colors and PrimeVue's Button.
 */
const pageDist = path.join(resultsDir, "primevue-page");
const types: Record<string, string> = { ".js": "text/javascript", ".html": "text/html; charset=utf-8", ".css": "text/css" };

let site: Server;
let siteOrigin: string;
let env: TestEnv;
let t: TestServer;
let browser: Browser;

beforeAll(async () => {
  await build({
    root: path.join(import.meta.dirname, "primevue-page"),
    base: "./",
    logLevel: "warn",
    resolve: { conditions: ["mtchat-source", ...defaultClientConditions] },
    define: { __VUE_OPTIONS_API__: "true", __VUE_PROD_DEVTOOLS__: "false", __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: "false" },
    build: { outDir: pageDist, emptyOutDir: true, chunkSizeWarningLimit: 4000 },
  });
  site = createServer((request, response) => {
    const pathname = new URL(request.url ?? "/", "http://host").pathname;
    const file = pathname === "/" ? "index.html" : pathname.slice(1);
    if (file.includes("..")) return void response.writeHead(404).end();
    readFile(path.join(pageDist, file)).then(
      (bytes) => response.writeHead(200, { "content-type": types[path.extname(file)] ?? "application/octet-stream" }).end(bytes),
      () => response.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => site.listen(0, "127.0.0.1", resolve));
  siteOrigin = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
  env = await prepareStorage("external", "browser_primevue");
  t = await startServer({ ...env.env, DEMO: "on", CORS_ALLOWED_ORIGINS: siteOrigin });
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await t?.stop();
  await env?.cleanup();
  site?.close();
});

describe("<MTChatPrime> with PrimeVue's Aura theme", { timeout: 90_000 }, () => {
  test("the chat takes Aura's primary color and borders, and sends with PrimeVue's Button", async () => {
    const token = (await callApi<{ data: { token: string } }>(t.httpUrl, "POST", "/demo/session", { user: "alice" }, null)).body.data.token;
    const context = await browser.newContext({ viewport: { width: 900, height: 700 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(String(error)));
    await page.goto(`${siteOrigin}/?${new URLSearchParams({ server: t.httpUrl, token }).toString()}`);
    const send = page.locator(".mtc-composer .p-button");
    await send.waitFor({ timeout: 20_000 });

    const colors = await page.evaluate(() => {
      /** A color as the browser computes it, so `#10b981` and `rgb(16, 185, 129)` compare equal. */
      const computed = (property: "backgroundColor" | "borderTopColor", value: string) => {
        const probe = document.createElement("div");
        probe.style[property] = value;
        document.body.append(probe);
        const color = getComputedStyle(probe)[property];
        probe.remove();
        return color;
      };
      const root = document.querySelector(".mtc-root") as HTMLElement;
      const button = document.querySelector(".mtc-composer .p-button") as HTMLElement;
      return {
        auraPrimary: getComputedStyle(document.documentElement).getPropertyValue("--p-primary-color").trim(),
        primary: computed("backgroundColor", "var(--p-primary-color)"),
        border: computed("borderTopColor", "var(--p-content-border-color)"),
        button: getComputedStyle(button).backgroundColor,
        buttonLabel: button.textContent,
        rootBorder: getComputedStyle(root).borderTopColor,
        accent: getComputedStyle(root).getPropertyValue("--mtc-accent").trim(),
      };
    });
    // Aura is installed (its primary is not MTChat's default blue), and the chat uses it.
    expect(colors.auraPrimary).toMatch(/^#[0-9a-f]{6}$/);
    expect(colors.primary).not.toBe("rgb(47, 111, 237)");
    expect(colors.button).toBe(colors.primary);
    expect(colors.accent).toBe(colors.auraPrimary);
    expect(colors.rootBorder).toBe(colors.border);
    expect(colors.buttonLabel).toBe("Send");

    const composer = page.getByTestId("composer");
    await composer.click();
    await composer.pressSequentially("Sent with PrimeVue's button");
    await send.click();
    const order = await demoDialog(t.httpUrl, token, "order", "1001");
    const stored = async () =>
      (
        await callApi<{ data: { messages: { content: string }[] } }>(
          t.httpUrl,
          "GET",
          `/api/v1/dialogs/${order}/messages`,
          undefined,
          token,
        )
      ).body.data.messages.map((message) => message.content);
    await expect.poll(stored, { timeout: 20_000 }).toContain("Sent with PrimeVue's button");
    await page.locator(".mtc-message", { hasText: "Sent with PrimeVue's button" }).waitFor();
    await page.screenshot({ path: path.join(resultsDir, "primevue-aura.png") });
    expect(errors).toEqual([]);
    await context.close();
  });
});
