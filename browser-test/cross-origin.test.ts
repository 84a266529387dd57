import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { buildDemo } from "../sdk/demo/build.ts";
import { demoDist } from "../sync-server/src/http/demo-routes.ts";
import { callApi, prepareStorage, startServer, type TestEnv, type TestServer } from "../sync-server/test/harness.ts";
import { demoDialog, launchChromium } from "./browser.ts";

/**
 * The SDK on the host's own site: the demo page served by a plain static server on one origin, the service on
 * another, in Chromium. The service allows the host's origin (CORS_ALLOWED_ORIGINS) and no other.
 */
const types: Record<string, string> = { ".js": "text/javascript", ".css": "text/css", ".html": "text/html; charset=utf-8" };

/** The host's web server: the built demo under /demo/, nothing else, and no CORS of its own. */
const hostSite = async (): Promise<{ server: Server; port: number }> => {
  const server = createServer((request, response) => {
    const pathname = new URL(request.url ?? "/", "http://host").pathname;
    const file = pathname === "/demo/" ? "index.html" : pathname.replace(/^\/demo\//, "");
    if (!pathname.startsWith("/demo/") || file.includes("..")) {
      response.writeHead(404).end();
      return;
    }
    readFile(path.join(demoDist, file)).then(
      (bytes) => response.writeHead(200, { "content-type": types[path.extname(file)] ?? "application/octet-stream" }).end(bytes),
      () => response.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as AddressInfo).port };
};

let site: { server: Server; port: number };
let env: TestEnv;
let t: TestServer;
let browser: Browser;
let hostOrigin: string;

beforeAll(async () => {
  await buildDemo();
  site = await hostSite();
  hostOrigin = `http://127.0.0.1:${site.port}`;
  env = await prepareStorage("external", "browser_cors");
  t = await startServer({ ...env.env, DEMO: "on", CORS_ALLOWED_ORIGINS: hostOrigin });
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.stop();
  await env?.cleanup();
  site?.server.close();
});

describe("MTChat on the host's domain", { timeout: 60_000 }, () => {
  test("the page on the host's origin lists dialogs, sends and receives through the service on another origin", async () => {
    expect(new URL(t.httpUrl).origin).not.toBe(hostOrigin);
    const open = async (user: string) => {
      const context = await browser.newContext({ viewport: { width: 1100, height: 720 } });
      const page = await context.newPage();
      const failed: string[] = [];
      page.on("requestfailed", (request) => failed.push(request.url()));
      await page.goto(`${hostOrigin}/demo/?${new URLSearchParams({ user, server: t.httpUrl }).toString()}`);
      return { context, page, failed };
    };
    const alice = await open("alice");
    const bob = await open("bob");
    const token = (await callApi<{ data: { token: string } }>(t.httpUrl, "POST", "/demo/session", { user: "alice" }, null)).body.data.token;
    const order = await demoDialog(t.httpUrl, token, "order", "1001");

    await alice.page.click(`[data-dialog-id="${order}"]`);
    await bob.page.click(`[data-dialog-id="${order}"]`);
    const composer = alice.page.getByTestId("composer");
    await composer.click();
    await composer.pressSequentially("Loading bay 4, from the host's own site");
    await composer.press("Enter");
    await bob.page.locator(".mtc-message", { hasText: "Loading bay 4" }).waitFor({ timeout: 15_000 });
    const reply = bob.page.getByTestId("composer");
    await reply.click();
    await reply.pressSequentially("Confirmed from the other side");
    await reply.press("Enter");
    await alice.page.locator(".mtc-message", { hasText: "Confirmed from the other side" }).waitFor({ timeout: 15_000 });

    // Both went through the REST projection too: the service stored what the cross-origin pages wrote.
    const history = await callApi<{ data: { messages: { content: string }[] } }>(
      t.httpUrl,
      "GET",
      `/api/v1/dialogs/${order}/messages`,
      undefined,
      token,
    );
    expect(JSON.stringify(history.body.data.messages)).toContain("Loading bay 4");
    expect(alice.failed.filter((url) => url.startsWith(t.httpUrl))).toEqual([]);
    await alice.context.close();
    await bob.context.close();
  });

  test("a page on an origin the service does not allow can neither call the API nor open the WebSocket", async () => {
    // Same static site, reached by another name: another origin, which nobody allowed.
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`http://localhost:${site.port}/demo/?user=alice&server=${encodeURIComponent(t.httpUrl)}`);
    const outcome = await page.evaluate(async (service) => {
      const rest = await fetch(`${service}/demo/session`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ user: "alice" }),
      }).then(
        (response) => `status ${response.status}`,
        (error: unknown) => `blocked: ${String(error)}`,
      );
      const socket = await new Promise<string>((resolve) => {
        const ws = new WebSocket(`${service.replace(/^http/, "ws")}/api/v1/ws`);
        ws.onopen = () => resolve("open");
        ws.onerror = () => resolve("refused");
      });
      return { rest, socket };
    }, t.httpUrl);
    expect(outcome.rest).toMatch(/^blocked: TypeError/);
    expect(outcome.socket).toBe("refused");
    await context.close();
  });
});
