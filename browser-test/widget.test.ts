import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { SignJWT } from "jose";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { buildWidget } from "../sdk/widget/build.ts";
import { callApi, prepareStorage, startServer, type TestEnv, type TestServer, tokenFor } from "../sync-server/test/harness.ts";
import { demoDialog, launchChromium, resultsDir } from "./browser.ts";

/**
 * The script-tag widget on a plain HTML page of the host's site (another origin than the service), with no
 * framework and CSS that would wreck any widget living in the page's own DOM. The page's token endpoint is on the
 * host's server and answers only with the host's session cookie, as a real one would.
 */
const hostileCss = `
* { font-size: 40px !important; display: block; line-height: 3 !important; letter-spacing: 4px; font-family: serif !important; }
button { background: red !important; width: 300px; height: 10px; border: 9px solid lime; position: static !important; }
div { padding: 30px !important; margin: 20px; transform: rotate(2deg); }
head, script, style { display: none; }
`;

const page = (service: string, attributes: string) => `<!doctype html>
<html><head><title>Host shop</title><style>${hostileCss}</style>
<script>
  // The page queues calls before the loader arrives, as the README shows.
  window.MTChatWidget = window.MTChatWidget || [];
  window.widgetEvents = [];
  for (const name of ["ready", "open", "close", "unread", "message", "sent", "error"])
    window.MTChatWidget.push(["on", name, (payload) => window.widgetEvents.push({ name, payload: name === "error" ? String(payload) : payload })]);
</script>
</head><body>
<h1>Welcome to the shop</h1><button id="host-button">Host button</button>
<section id="order-chat" style="height: 520px"></section>
<script src="${service}/widget/v1/loader.js" ${attributes} async></script>
</body></html>`;

/** The host's web server: the page, and /chat-token, which asks the service's demo route for the signed-in user's token. */
type TokenFormat = { value: "json" | "text" | "short-lived" | "forged"; asked: number };
const hostSite = async (service: () => string, format: TokenFormat) => {
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://host");
    if (url.pathname === "/shop") {
      response.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(page(service(), url.searchParams.get("attrs") ?? ""));
      return;
    }
    if (url.pathname === "/chat-token") {
      const user = /(?:^|;\s*)shop_session=(\w+)/.exec(request.headers.cookie ?? "")?.[1];
      if (!user) {
        response.writeHead(401).end();
        return;
      }
      format.asked += 1;
      if (format.value === "forged") {
        // Well-formed, but signed with a key the service does not know.
        void new SignJWT({ name: user })
          .setProtectedHeader({ alg: "HS256" })
          .setSubject(user)
          .setExpirationTime("10m")
          .sign(new TextEncoder().encode("not-the-service-secret-but-long-enough!"))
          .then((jwt) => response.writeHead(200, { "content-type": "text/plain" }).end(jwt));
        return;
      }
      if (format.value === "short-lived") {
        // Signed like the demo's (the server's test secret), valid 61 s: the client refreshes a minute before expiry.
        void tokenFor(user, { tenant_uid: "demo", scope_level1: ["logistics"], name: user }, "61s").then((jwt) =>
          response.writeHead(200, { "content-type": "text/plain" }).end(jwt),
        );
        return;
      }
      void callApi<{ data: { token: string } }>(service(), "POST", "/demo/session", { user }, null).then(({ body }) => {
        if (format.value === "json")
          response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token: body.data.token }));
        else response.writeHead(200, { "content-type": "text/plain" }).end(body.data.token);
      });
      return;
    }
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
};

let site: { server: Server; origin: string };
let env: TestEnv;
let t: TestServer;
let browser: Browser;
const tokenFormat: TokenFormat = { value: "json", asked: 0 };
const token = async (user: string) =>
  (await callApi<{ data: { token: string } }>(t.httpUrl, "POST", "/demo/session", { user }, null)).body.data.token;

beforeAll(async () => {
  await buildWidget();
  site = await hostSite(() => t.httpUrl, tokenFormat);
  env = await prepareStorage("external", "browser_widget");
  t = await startServer({ ...env.env, DEMO: "on", CORS_ALLOWED_ORIGINS: site.origin });
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.stop();
  await env?.cleanup();
  site?.server.close();
});

type WidgetEvent = { name: string; payload: unknown };
const events = (p: Page) => p.evaluate(() => (window as unknown as { widgetEvents: WidgetEvent[] }).widgetEvents);
const eventNames = async (p: Page) => (await events(p)).map((event) => event.name);

const openShop = async (user: string, attrs: string): Promise<{ context: BrowserContext; page: Page; errors: string[] }> => {
  const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
  await context.addCookies([{ name: "shop_session", value: user, url: site.origin }]);
  const p = await context.newPage();
  const errors: string[] = [];
  p.on("pageerror", (error) => errors.push(String(error)));
  await p.goto(`${site.origin}/shop?${new URLSearchParams({ attrs }).toString()}`);
  return { context, page: p, errors };
};

describe("the script-tag widget", { timeout: 90_000 }, () => {
  test("the service serves the loader as a cacheable script any origin may load", async () => {
    const response = await fetch(`${t.httpUrl}/widget/v1/loader.js`, {
      headers: { origin: "https://elsewhere.example", "accept-encoding": "gzip" },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(response.headers.get("cache-control")).toMatch(/public, max-age=\d+/);
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
    expect(response.headers.get("content-encoding")).toBe("gzip");
    const script = await response.text();
    expect(script.startsWith("(function(){")).toBe(true);
    const again = await fetch(`${t.httpUrl}/widget/v1/loader.js`, { headers: { "if-none-match": response.headers.get("etag") ?? "" } });
    expect(again.status).toBe(304);
  });

  test("on a hostile plain page: launcher, badge on a new message, panel with the dialog, sending, the JS API", async () => {
    const [alice, bob] = [await token("alice"), await token("bob")];
    const order = await demoDialog(t.httpUrl, alice, "order", "1001");
    const tender = await demoDialog(t.httpUrl, alice, "tender", "77");

    tokenFormat.value = "json";
    const shop = await openShop("alice", 'data-token-url="/chat-token" data-locale="en"');
    const launcher = shop.page.locator(".mtw-launcher");
    await launcher.waitFor();
    await expect.poll(() => eventNames(shop.page), { timeout: 20_000 }).toContain("ready");
    expect(await shop.page.locator(".mtw-badge").count()).toBe(0);

    // Bob writes to Alice: the badge counts it, and the page hears of it.
    const sent = await callApi(t.httpUrl, "POST", `/api/v1/dialogs/${order}/messages`, { content: "Pallets are at gate 3" }, bob);
    expect(sent.status).toBe(201);
    await expect.poll(() => shop.page.locator(".mtw-badge").textContent(), { timeout: 20_000 }).toBe("1");
    const heard = await events(shop.page);
    expect(heard).toContainEqual({ name: "unread", payload: 1 });
    expect(heard.find((event) => event.name === "message")?.payload).toMatchObject({
      dialogId: order,
      senderId: "bob",
      content: "Pallets are at gate 3",
    });

    // The page's CSS is in force on the page, and nowhere inside the widget.
    const hostButton = await shop.page.locator("#host-button").evaluate((element) => getComputedStyle(element).backgroundColor);
    expect(hostButton).toBe("rgb(255, 0, 0)");
    const look = await launcher.evaluate((element) => {
      const style = getComputedStyle(element);
      const rect = element.getBoundingClientRect();
      const badge = getComputedStyle(element.querySelector(".mtw-badge") as Element);
      return {
        background: style.backgroundColor,
        width: rect.width,
        height: rect.height,
        right: innerWidth - rect.right,
        bottom: innerHeight - rect.bottom,
        display: style.display,
        badgeFont: badge.fontSize,
        inShadow: element.getRootNode() instanceof ShadowRoot,
      };
    });
    expect(look).toEqual({
      background: "rgb(47, 111, 237)",
      width: 56,
      height: 56,
      right: 20,
      bottom: 20,
      display: "flex",
      badgeFont: "12px",
      inShadow: true,
    });

    // Opening shows the lists, and the dialog with Bob's message.
    await launcher.click();
    const panel = shop.page.locator(".mtw-panel");
    await panel.waitFor({ state: "visible" });
    await shop.page.locator(`[data-dialog-id="${order}"]`).click();
    await shop.page.locator(".mtc-message", { hasText: "Pallets are at gate 3" }).waitFor({ timeout: 20_000 });
    const chatLook = await shop.page.locator(".mtc-root").evaluate((element) => {
      const style = getComputedStyle(element);
      return { font: style.fontSize, family: style.fontFamily.startsWith("system-ui"), display: style.display };
    });
    expect(chatLook).toEqual({ font: "14px", family: true, display: "flex" });
    // Reading it clears the badge.
    await shop.page.locator(".mtw-badge").waitFor({ state: "detached", timeout: 20_000 });

    // Alice answers from the widget; Bob reads it over REST.
    const composer = shop.page.getByTestId("composer");
    await composer.click();
    await composer.pressSequentially("Thanks, sending the truck");
    await composer.press("Enter");
    const bobReads = async () =>
      (
        await callApi<{ data: { messages: { content: string; sender_id: string }[] } }>(
          t.httpUrl,
          "GET",
          `/api/v1/dialogs/${order}/messages`,
          undefined,
          bob,
        )
      ).body.data.messages.map((message) => `${message.sender_id}: ${message.content}`);
    await expect.poll(bobReads, { timeout: 20_000 }).toContain("alice: Thanks, sending the truck");
    await shop.page.screenshot({ path: path.join(resultsDir, "widget-hostile-page.png") });

    // The JS API: close, then open straight on another dialog.
    await shop.page.evaluate(() => (window as unknown as { MTChatWidget: { close(): void } }).MTChatWidget.close());
    await panel.waitFor({ state: "hidden" });
    await shop.page.evaluate(
      (id) => (window as unknown as { MTChatWidget: { openDialog(id: string): void } }).MTChatWidget.openDialog(id),
      tender,
    );
    await panel.waitFor({ state: "visible" });
    await shop.page.locator(".mtc-header-title", { hasText: "Tender #77" }).waitFor({ timeout: 20_000 });
    // Options change live: another mode and theme, as the attributes would have set them.
    await shop.page.evaluate(() =>
      (window as unknown as { MTChatWidget: { set(options: Record<string, string | null>): void } }).MTChatWidget.set({
        mode: "inline",
        dialogId: null,
        objectType: "order",
        objectId: "1001",
        theme: "dark",
      }),
    );
    await shop.page.locator(".mtc-root[data-mode=inline][data-theme=dark] .mtc-header-title", { hasText: "Order #1001" }).waitFor();
    const names = await eventNames(shop.page);
    expect(names.filter((name) => name === "open")).toHaveLength(2);
    expect(names.filter((name) => name === "close")).toHaveLength(1);
    expect(names).toContain("sent");
    expect(names).not.toContain("error");
    expect(await events(shop.page)).toContainEqual({ name: "unread", payload: 0 });
    expect(shop.errors).toEqual([]);
    await shop.context.close();
  });

  test("inline mode from data- attributes, a plain-text token endpoint, and on() after ready", async () => {
    tokenFormat.value = "text";
    const shop = await openShop(
      "bob",
      'data-token-url="/chat-token" data-mode="inline" data-object-type="order" data-object-id="1001" data-theme="dark" data-open="true"',
    );
    await shop.page.locator(".mtw-panel").waitFor({ state: "visible" });
    await shop.page.locator(".mtc-root[data-mode=inline][data-theme=dark]").waitFor();
    await shop.page.locator(".mtc-message", { hasText: "Thanks, sending the truck" }).waitFor({ timeout: 20_000 });
    const late = await shop.page.evaluate(
      () =>
        new Promise<unknown>((resolve) =>
          (window as unknown as { MTChatWidget: { on(name: string, cb: (payload: unknown) => void): void } }).MTChatWidget.on(
            "ready",
            resolve,
          ),
        ),
    );
    expect(late).toEqual({ unread: expect.any(Number) });
    expect(shop.errors).toEqual([]);
    await shop.context.close();
  });

  test("a token about to expire is fetched again from the endpoint, and the widget keeps receiving", async () => {
    tokenFormat.value = "short-lived";
    tokenFormat.asked = 0;
    const shop = await openShop("carol", 'data-token-url="/chat-token"');
    await expect.poll(() => eventNames(shop.page), { timeout: 20_000 }).toContain("ready");
    const first = tokenFormat.asked;
    expect(first).toBeGreaterThanOrEqual(1);
    await expect.poll(() => tokenFormat.asked, { timeout: 20_000 }).toBeGreaterThan(first);
    // After the refresh, Bob's message still reaches Carol's badge (she is in the order's dialog).
    const order = await demoDialog(t.httpUrl, await token("bob"), "order", "1001");
    await callApi(t.httpUrl, "POST", `/api/v1/dialogs/${order}/messages`, { content: "Carol, the invoice" }, await token("bob"));
    await expect.poll(async () => JSON.stringify(await events(shop.page)), { timeout: 20_000 }).toContain('"name":"message"');
    await shop.page.locator(".mtw-badge").waitFor();
    expect(shop.errors).toEqual([]);
    await shop.context.close();
  });

  test("a token the service refuses is the page's error event, and the widget never says ready", async () => {
    tokenFormat.value = "forged";
    const shop = await openShop("alice", 'data-token-url="/chat-token"');
    await expect.poll(() => eventNames(shop.page), { timeout: 20_000 }).toContain("error");
    expect(await eventNames(shop.page)).not.toContain("ready");
    expect(shop.errors).toEqual([]);
    await shop.context.close();
  });

  test("data-container renders the chat inside the page's element, open and without the launcher", async () => {
    tokenFormat.value = "json";
    const shop = await openShop(
      "alice",
      'data-token-url="/chat-token" data-container="#order-chat" data-mode="inline" data-object-type="order" data-object-id="1001"',
    );
    await shop.page.locator("#order-chat .mtc-root[data-mode=inline]").waitFor({ timeout: 20_000 });
    await shop.page.locator(".mtc-message", { hasText: "Pallets are at gate 3" }).waitFor({ timeout: 20_000 });
    expect(await shop.page.locator(".mtw-launcher").count()).toBe(0);
    const height = await shop.page.locator("#order-chat .mtc-root").evaluate((element) => element.getBoundingClientRect().height);
    expect(height).toBeGreaterThan(400);
    expect(shop.errors).toEqual([]);
    await shop.context.close();
  });
});
