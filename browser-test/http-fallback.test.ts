import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import WebSocket from "ws";
import { callApi } from "../sync-server/test/harness.ts";
import { freePort } from "../sync-server/test/redis-server.ts";
import { eventually } from "../sync-server/test/wait.ts";
import { type BrowserSuite, demoDialog, openDemo, resultsDir, startBrowserSuite } from "./browser.ts";

/**
 * Behind a corporate proxy: HAProxy in front of the service answers every
 * WebSocket upgrade with 403 and passes plain HTTP. The SDK in Chromium falls
 * back to the HTTP transport by itself; users chat both ways, and a message
 * written offline arrives once when the network is back.
 */
let suite: BrowserSuite;
let haproxy: ChildProcess | null = null;
let directory = "";
let proxyUrl = "";
let dialogId = "";

beforeAll(async () => {
  suite = await startBrowserSuite("browser_http_fallback");
  const port = await freePort();
  const config = [
    "defaults",
    "  mode http",
    "  timeout connect 5s",
    "  timeout client 60s",
    "  timeout server 60s",
    "  timeout http-request 10s",
    "frontend corporate",
    `  bind 127.0.0.1:${port}`,
    // What corporate proxies do: no WebSocket gets through.
    "  http-request deny deny_status 403 if { hdr(upgrade) -i websocket }",
    "  default_backend chat",
    "backend chat",
    `  server chat 127.0.0.1:${suite.t.server.port()}`,
    "",
  ].join("\n");
  directory = await mkdtemp(path.join(tmpdir(), "mtchat-corporate-proxy-"));
  await writeFile(path.join(directory, "haproxy.cfg"), config);
  haproxy = spawn("haproxy", ["-db", "-f", path.join(directory, "haproxy.cfg")], { stdio: ["ignore", "ignore", "inherit"] });
  proxyUrl = `http://127.0.0.1:${port}`;
  await eventually(async () => (await fetch(`${proxyUrl}/health`).catch(() => null))?.ok, { what: "HAProxy up" });
  dialogId = await demoDialog(proxyUrl, suite.tokens.alice, "order", "1001");
}, 120_000);

afterAll(async () => {
  haproxy?.kill("SIGTERM");
  await suite?.close();
  if (directory) await rm(directory, { recursive: true, force: true });
});

const online = (page: Page) => page.locator("[data-testid=connection][data-transport=http]", { hasText: "Connected" }).waitFor();

const texts = (page: Page, contains: string) =>
  page
    .locator(".mtc-message .mtc-body")
    .evaluateAll((nodes, needle) => nodes.map((node) => node.textContent ?? "").filter((text) => text.includes(needle)), contains);

const send = async (page: Page, text: string) => {
  const composer = page.getByTestId("composer");
  await composer.click();
  await composer.pressSequentially(text);
  await composer.press("Enter");
};

describe("behind a proxy that refuses WebSocket", { timeout: 90_000 }, () => {
  test("the chat falls back to HTTP: both users chat both ways, and what one writes offline arrives once", async () => {
    // The proxy refuses the upgrade as it should.
    const refused = await new Promise<number>((resolve, reject) => {
      const socket = new WebSocket(`${proxyUrl.replace("http", "ws")}/api/v1/ws`);
      socket.on("unexpected-response", (_request, response) => resolve(response.statusCode ?? 0));
      socket.on("open", () => reject(new Error("the proxy let a WebSocket through")));
      socket.on("error", () => undefined);
    });
    expect(refused).toBe(403);

    const alice = await openDemo(suite.browser, proxyUrl, { user: "alice", dialog: dialogId });
    const bob = await openDemo(suite.browser, proxyUrl, { user: "bob", dialog: dialogId });
    await online(alice.page);
    await online(bob.page);
    // Only the tooltip says so: the user can see why, without a banner in the way.
    expect(await alice.page.getByTestId("connection").getAttribute("title")).toContain("HTTP");

    await send(alice.page, "hello through the proxy");
    await bob.page.locator(".mtc-message", { hasText: "hello through the proxy" }).waitFor({ timeout: 15_000 });
    await alice.page.locator(".mtc-message[data-own=true][data-pending=false]", { hasText: "hello through the proxy" }).waitFor();
    await send(bob.page, "and back through it");
    await alice.page.locator(".mtc-message", { hasText: "and back through it" }).waitFor({ timeout: 15_000 });

    // Bob's network goes; he writes; it comes back.
    await bob.context.setOffline(true);
    await bob.page.getByTestId("connection").filter({ hasText: "Offline" }).waitFor();
    await send(bob.page, "written offline behind the proxy");
    await bob.page.locator(".mtc-message[data-pending=true]", { hasText: "written offline behind the proxy" }).waitFor();
    expect(await texts(alice.page, "written offline")).toEqual([]);
    await bob.context.setOffline(false);
    await alice.page.locator(".mtc-message", { hasText: "written offline behind the proxy" }).waitFor({ timeout: 30_000 });
    await bob.page.locator(".mtc-message[data-pending=true]").first().waitFor({ state: "detached", timeout: 20_000 });
    await online(bob.page);

    expect(await texts(alice.page, "written offline behind the proxy")).toHaveLength(1);
    expect(await texts(bob.page, "written offline behind the proxy")).toHaveLength(1);
    expect(await texts(bob.page, "hello through the proxy")).toHaveLength(1);
    const stored = await eventually(async () => {
      const page = await callApi<{ data: { messages: { content: string }[] } }>(
        suite.t.httpUrl,
        "GET",
        `/api/v1/dialogs/${dialogId}/messages`,
        undefined,
        suite.tokens.alice,
      );
      const found = page.body.data.messages.filter((message) => message.content === "written offline behind the proxy");
      return found.length > 0 ? found : undefined;
    });
    expect(stored).toHaveLength(1);
    await alice.page.screenshot({ path: path.join(resultsDir, "http-fallback.png") });
    expect(alice.errors).toEqual([]);
    expect(bob.errors).toEqual([]);
  });
});
