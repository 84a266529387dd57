import { mkdir } from "node:fs/promises";
import path from "node:path";
import type { Browser, BrowserContext, Locator, Page } from "playwright-core";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { callApi, type TestServer } from "../sync-server/test/harness.ts";
import { eventually } from "../sync-server/test/wait.ts";
import { type BrowserSuite, openDemo, resultsDir, startBrowserSuite } from "./browser.ts";

/**
 * What a user notices at a glance, in Chromium: the phone layout (title, a
 * menu for the header's actions, touch-sized targets), loading, error and
 * offline states, the header's actions and their state, the chat list's
 * details, grouped messages, quotes and attachments, search results, presence,
 * sizing and locales. `MTCHAT_SCREENSHOTS=1` (`npm run screenshots`) also
 * writes the README's gallery into docs/screenshots.
 */
let suite: BrowserSuite;
let t: TestServer;
let browser: Browser;
let tokens: BrowserSuite["tokens"];
const gallery = process.env.MTCHAT_SCREENSHOTS === "1" ? path.resolve(import.meta.dirname, "../docs/screenshots") : null;
const desktop = { width: 1100, height: 720 };
const phone = { width: 375, height: 740 };
const people = [
  { user_id: "alice", display_name: "Alice Martin" },
  { user_id: "bob", display_name: "Bob Chen" },
];
const dialogs = { main: "", system: "", leave: "" };
const ids = { first: "" };

const createDialog = async (objectId: string, title: string, extra: Record<string, unknown> = {}): Promise<string> => {
  const { status, body } = await t.api<{ data: { id: string } }>("POST", "/api/v1/management/dialogs", {
    object_type: "order",
    object_id: objectId,
    title,
    participants: people,
    ...extra,
  });
  expect(status).toBe(201);
  return body.data.id;
};

const sendAs = async (user: "alice" | "bob", dialogId: string, content: string, replyTo?: string): Promise<string> => {
  const { status, body } = await callApi<{ data: { id: string } }>(
    t.httpUrl,
    "POST",
    `/api/v1/dialogs/${dialogId}/messages`,
    { content, ...(replyTo ? { reply_to_id: replyTo } : {}) },
    tokens[user],
  );
  expect(status).toBe(201);
  return body.data.id;
};

beforeAll(async () => {
  suite = await startBrowserSuite("browser_polish");
  ({ t, browser, tokens } = suite);
  if (gallery) await mkdir(gallery, { recursive: true });
  dialogs.main = await createDialog("5001", "Order 5001 · Reefer to Rotterdam");
  ids.first = await sendAs("bob", dialogs.main, "The pallets are at dock 4");
  await sendAs("bob", dialogs.main, "Loading starts at 9, the driver is on his way");
  await sendAs("alice", dialogs.main, "Thanks, I will tell the warehouse", ids.first);
  dialogs.system = await createDialog("5002", "Order 5002 · Paperwork");
  // Adding a participant leaves a system message, with no text of its own, as the dialog's last.
  const added = await t.api("POST", `/api/v1/management/dialogs/${dialogs.system}/participants`, {
    user_id: "carol",
    display_name: "Carol Diaz",
  });
  expect(added.status).toBe(201);
  dialogs.leave = await createDialog("5003", "Order 5003 · Cancelled");
}, 120_000);

afterAll(() => suite?.close());

/** A screenshot under test-results (and the gallery when asked), as a palette PNG small enough to commit. */
const shoot = async (page: Page, name: string): Promise<void> => {
  const png = await sharp(await page.screenshot())
    .png({ palette: true, quality: 90, compressionLevel: 9 })
    .toBuffer();
  await sharp(png).toFile(path.join(resultsDir, `polish-${name}.png`));
  if (gallery) await sharp(png).toFile(path.join(gallery, `${name}.png`));
};

const open = async (query: Record<string, string>, viewport = desktop, context?: BrowserContext) => {
  const ctx = context ?? (await browser.newContext({ viewport }));
  return openDemo(browser, t.httpUrl, query, ctx);
};

/** Every visible button's on-screen size, named, for the touch-target check. */
const tooSmall = async (page: Page, within: string) =>
  page.locator(`${within} button:visible`).evaluateAll((buttons) =>
    buttons.flatMap((button) => {
      const box = button.getBoundingClientRect();
      // Thumbnails are image-sized; anything else under 40 px is too small for a finger.
      if (button.classList.contains("mtc-thumb") || (box.width >= 40 && box.height >= 40)) return [];
      return [`${button.getAttribute("aria-label") ?? button.textContent?.trim()}: ${Math.round(box.width)}x${Math.round(box.height)}`];
    }),
  );

const box = async (locator: Locator) => {
  const found = await locator.boundingBox();
  if (!found) throw new Error("not visible");
  return found;
};

describe("MTChat polish in Chromium", { timeout: 90_000 }, () => {
  test("chat list: a skeleton while it loads, then times, initials and system messages as text", async () => {
    const context = await browser.newContext({ viewport: desktop });
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    await context.route(/\/api\/v1\/dialogs\?/, async (route) => {
      await gate;
      await route.continue();
    });
    const { page, errors } = await open({ user: "alice" }, desktop, context);
    await page.getByTestId("list-loading").waitFor();
    expect(await page.getByText("No chats here yet").count()).toBe(0);
    await shoot(page, "loading");
    release();
    const item = page.locator(`[data-dialog-id="${dialogs.main}"]`);
    await item.waitFor();
    expect(await page.getByTestId("list-loading").count()).toBe(0);
    expect(await item.locator(".mtc-avatar").textContent()).toBe("OR");
    expect(await item.getByTestId("item-time").textContent()).toMatch(/^\d{2}:\d{2}$/);
    expect(await item.locator(".mtc-item-last").textContent()).toBe("You: Thanks, I will tell the warehouse");
    const system = page.locator(`[data-dialog-id="${dialogs.system}"] .mtc-item-last`);
    expect(await system.textContent()).toBe("Chat updated");
    expect(await system.getAttribute("data-system")).toBe("true");
    expect(errors).toEqual([]);
    await context.close();
  });

  test("errors: an unknown user, a dialog that does not exist and an unreachable server each say so", async () => {
    const unknown = await open({ user: "mallory" });
    await unknown.page.getByTestId("problem").filter({ hasText: "user must be one of alice, bob" }).waitFor();
    expect(await unknown.page.getByText("No chats here yet").count()).toBe(0);
    await unknown.context.close();

    const missing = await open({ user: "alice", dialog: "00000000-0000-4000-8000-000000000000" }, phone);
    await missing.page.getByTestId("problem").filter({ hasText: "This chat does not exist or you have no access to it." }).waitFor();
    expect(await missing.page.getByTestId("problem").isVisible()).toBe(true);
    await missing.context.close();

    // Port 9 (discard) on loopback: nothing listens, the connection is refused.
    const unreachable = await open({ user: "alice", server: "http://127.0.0.1:9" });
    const problem = unreachable.page.getByTestId("problem").filter({ hasText: "The chat server cannot be reached" });
    await problem.waitFor();
    await shoot(unreachable.page, "error-unreachable");
    // Nothing started, so nothing retries on its own: the banner offers to, and says so again when it fails again.
    await problem.getByRole("button", { name: "Try again" }).click();
    await problem.getByRole("button", { name: "Try again" }).waitFor();
    await unreachable.context.close();
  });

  test("offline: a reload without network shows this device's dialog list, and its dialogs open", async () => {
    const { page, context } = await open({ user: "alice" });
    await page.locator(`[data-dialog-id="${dialogs.main}"]`).click();
    await page.locator(".mtc-message", { hasText: "Thanks, I will tell" }).waitFor();
    await page.evaluate(async () => {
      await navigator.serviceWorker.ready;
      if (!navigator.serviceWorker.controller)
        await new Promise((resolve) => navigator.serviceWorker.addEventListener("controllerchange", resolve));
    });
    await context.setOffline(true);
    await page.goto(`${t.httpUrl}/demo/?user=alice`);
    const item = page.locator(`[data-dialog-id="${dialogs.main}"]`);
    await item.waitFor();
    expect(await item.locator(".mtc-item-name").textContent()).toBe("Order 5001 · Reefer to Rotterdam");
    expect(await page.locator(`[data-dialog-id="${dialogs.system}"]`).count()).toBe(1);
    await item.click();
    await page.locator(`[data-message-id="${ids.first}"]`).filter({ hasText: "The pallets are at dock 4" }).waitFor();
    await page.getByTestId("connection").filter({ hasText: "Offline" }).waitFor();
    await context.close();
  });

  test("phone: the title shows, the header's actions are in a menu, and every control is finger-sized", async () => {
    const { page, context, errors } = await open({ user: "alice" }, phone);
    const item = page.locator(`[data-dialog-id="${dialogs.main}"]`);
    await item.waitFor();
    expect(await tooSmall(page, ".mtc-sidebar")).toEqual([]);
    await item.click();
    const title = page.getByTestId("dialog-title");
    await title.waitFor();
    expect(await title.textContent()).toBe("Order 5001 · Reefer to Rotterdam");
    const titleBox = await box(title);
    expect(titleBox.width).toBeGreaterThan(150);
    expect(titleBox.x + titleBox.width).toBeLessThanOrEqual(phone.width);
    // No inline Pin/Archive/Leave buttons: they are behind "More actions".
    expect(await page.getByRole("button", { name: "Leave chat" }).count()).toBe(0);
    await page.locator(".mtc-message", { hasText: "Loading starts" }).waitFor();
    expect(await tooSmall(page, ".mtc-main")).toEqual([]);
    const more = page.getByRole("button", { name: "More actions" });
    await more.click();
    const menu = page.getByRole("menu", { name: "More actions" });
    expect(await menu.getByRole("menuitem").allTextContents()).toEqual(["Pin", "Archive", "Mute", "Leave chat"]);
    expect(await tooSmall(page, ".mtc-header-menu")).toEqual([]);
    const menuBox = await box(menu);
    expect(menuBox.x).toBeGreaterThanOrEqual(0);
    expect(menuBox.x + menuBox.width).toBeLessThanOrEqual(phone.width);
    await shoot(page, "mobile-menu-light");

    // Pin turns into Unpin, and the list shows the pin.
    await menu.getByRole("menuitem", { name: "Pin" }).click();
    await more.click();
    await menu.getByRole("menuitem", { name: "Unpin" }).waitFor();
    // Mute is the user's own per-dialog setting: the header says so and the menu offers Unmute.
    await menu.getByRole("menuitem", { name: "Mute" }).click();
    await page.getByTestId("dialog-sub").filter({ hasText: "Muted" }).waitFor();
    await more.click();
    await menu.getByRole("menuitem", { name: "Unmute" }).waitFor();
    await page.keyboard.press("Escape");
    await menu.waitFor({ state: "detached" });
    await page.getByRole("button", { name: "Back to chats" }).click();
    await item.getByLabel("Pinned").waitFor({ timeout: 15_000 });
    expect(await item.getByLabel("Muted").count()).toBe(1);
    const state = await eventually(async () => {
      const { body } = await callApi<{ data: { items: { id: string; is_pinned: boolean; notifications_enabled: boolean }[] } }>(
        t.httpUrl,
        "GET",
        "/api/v1/dialogs",
        undefined,
        tokens.alice,
      );
      const found = body.data.items.find((item) => item.id === dialogs.main);
      return found?.is_pinned && found.notifications_enabled === false ? found : undefined;
    });
    expect(state.is_pinned).toBe(true);
    expect(errors).toEqual([]);
    await context.close();
  });

  test("phone: a tap on a message shows its actions, and Reply from there starts a reply to it", async () => {
    const context = await browser.newContext({ viewport: phone, hasTouch: true, isMobile: true });
    const { page, errors } = await open({ user: "alice", dialog: dialogs.main }, phone, context);
    const first = page.locator(`[data-message-id="${ids.first}"]`);
    await first.waitFor();
    const actions = first.locator(".mtc-actions");
    expect(await actions.evaluate((element) => getComputedStyle(element).opacity)).toBe("0");
    await first.locator(".mtc-bubble").tap();
    await expect.poll(() => actions.evaluate((element) => getComputedStyle(element).opacity)).toBe("1");
    const reply = actions.getByRole("button", { name: "Reply" });
    const target = await box(reply);
    expect(target.height).toBeGreaterThanOrEqual(40);
    // On the screen, not cut off by the pane's edge.
    expect(target.x).toBeGreaterThanOrEqual(0);
    expect(target.x + target.width).toBeLessThanOrEqual(phone.width);
    await reply.tap();
    await page.getByRole("button", { name: "Cancel reply" }).waitFor();
    expect(await page.locator(".mtc-composer .mtc-context").textContent()).toContain("Bob Chen");
    expect(errors).toEqual([]);
    await context.close();
  });

  test("a small panel with the list beside the dialog: the title keeps its room, the actions go in the menu", async () => {
    // Wide enough for the list and the dialog side by side (the script-tag widget's full panel is this size).
    const panel = { width: 780, height: 640 };
    const { page, context, errors } = await open({ user: "alice", dialog: dialogs.main }, panel);
    const title = page.getByTestId("dialog-title");
    await title.waitFor();
    expect(await page.locator(".mtc-sidebar").isVisible()).toBe(true);
    expect((await box(title)).width).toBeGreaterThan(200);
    expect(await page.getByRole("button", { name: "Leave chat" }).count()).toBe(0);
    await page.getByRole("button", { name: "More actions" }).click();
    await page.getByRole("menuitem", { name: "Leave chat" }).waitFor();
    expect(errors).toEqual([]);
    await context.close();
  });

  test("leave chat asks first: Cancel keeps the dialog, Leave leaves it", async () => {
    const { page, context } = await open({ user: "alice", dialog: dialogs.leave });
    await page.getByTestId("dialog-title").filter({ hasText: "Order 5003" }).waitFor();
    await page.getByRole("button", { name: "Leave chat" }).click();
    const confirm = page.getByRole("alertdialog", { name: "Leave chat" });
    await confirm.getByText("Leave this chat?").waitFor();
    await confirm.getByRole("button", { name: "Cancel" }).click();
    await confirm.waitFor({ state: "detached" });
    expect(await page.getByTestId("dialog-title").textContent()).toContain("Order 5003");
    expect(await page.locator(`[data-dialog-id="${dialogs.leave}"]`).count()).toBe(1);
    await page.getByRole("button", { name: "Leave chat" }).click();
    await confirm.getByRole("button", { name: "Leave", exact: true }).click();
    await page.locator(`[data-dialog-id="${dialogs.leave}"]`).waitFor({ state: "detached", timeout: 15_000 });
    expect(await page.getByTestId("dialog-title").count()).toBe(0);
    await context.close();
  });

  test("messages: actions beside their message, a set-apart quote, runs grouped, attachments removable and viewable", async () => {
    const { page, context, errors } = await open({ user: "alice", dialog: dialogs.main });
    const first = page.locator(`[data-message-id="${ids.first}"]`);
    await first.waitFor();
    const second = page.locator(".mtc-message", { hasText: "Loading starts at 9" });
    // Bob's two messages are one run: his name once, above the first.
    expect(await first.locator(".mtc-author").count()).toBe(1);
    expect(await second.getAttribute("data-grouped")).toBe("true");
    expect(await second.locator(".mtc-author").count()).toBe(0);
    // One time for the run, under its last message.
    expect(await first.locator("time").count()).toBe(0);
    expect(await second.locator("time").count()).toBe(1);
    const reply = page.locator(".mtc-message[data-own=true]", { hasText: "Thanks, I will tell" });
    expect(await reply.locator(".mtc-quote-author").textContent()).toBe("Bob Chen");
    expect(await reply.locator(".mtc-quote-text").textContent()).toBe("The pallets are at dock 4");
    const quoteStyle = await reply.locator(".mtc-quote").evaluate((quote) => getComputedStyle(quote).backgroundColor);
    expect(quoteStyle).not.toBe("rgba(0, 0, 0, 0)");

    // The actions sit on the message's own edge: on the top of Bob's bubble at its left, of Alice's at its right.
    for (const [message, edge] of [
      [first, "left"],
      [reply, "right"],
    ] as const) {
      await message.locator(".mtc-bubble").hover();
      const actions = message.locator(".mtc-actions");
      await expect.poll(() => actions.evaluate((element) => getComputedStyle(element).opacity)).toBe("1");
      const bubble = await box(message.locator(".mtc-bubble"));
      const bar = await box(actions);
      if (edge === "left") expect(Math.abs(bar.x - bubble.x)).toBeLessThan(12);
      else expect(Math.abs(bar.x + bar.width - (bubble.x + bubble.width))).toBeLessThan(12);
      expect(Math.abs(bar.y + bar.height - bubble.y)).toBeLessThan(12);
    }
    await shoot(page, "actions-hover");

    // A staged attachment can be taken off before sending.
    const png = await sharp({ create: { width: 480, height: 300, channels: 3, background: { r: 30, g: 140, b: 90 } } })
      .png()
      .toBuffer();
    await page.getByTestId("file-input").setInputFiles({ name: "dock-4.png", mimeType: "image/png", buffer: png });
    const staged = page.getByTestId("staged");
    await staged.filter({ hasText: "dock-4.png" }).waitFor({ timeout: 20_000 });
    await staged.getByRole("button", { name: "Remove dock-4.png" }).click();
    await staged.waitFor({ state: "detached" });
    await page.getByTestId("composer").click();
    await page.getByTestId("composer").pressSequentially("Nothing attached");
    await page.getByTestId("composer").press("Enter");
    const plain = page.locator(".mtc-message[data-pending=false]", { hasText: "Nothing attached" });
    await plain.waitFor({ timeout: 15_000 });
    expect(await plain.locator(".mtc-attachments").count()).toBe(0);

    await page.getByTestId("file-input").setInputFiles({ name: "dock-4.png", mimeType: "image/png", buffer: png });
    await staged.filter({ hasText: "dock-4.png" }).waitFor({ timeout: 20_000 });
    await page.getByTestId("composer").click();
    await page.getByTestId("composer").press("Enter");
    const thumbnail = page.getByTestId("thumbnail").last();
    await thumbnail.waitFor({ timeout: 20_000 });
    await page.waitForFunction((img) => (img as HTMLImageElement).naturalWidth > 0, await thumbnail.elementHandle());
    await thumbnail.click();
    const viewer = page.getByRole("dialog", { name: "Image viewer" });
    expect(await viewer.getByTestId("viewer-name").textContent()).toMatch(/^dock-4\.png · /);
    const download = viewer.getByRole("link", { name: "Download" });
    expect(await download.getAttribute("download")).toBe("dock-4.png");
    expect(await download.getAttribute("href")).toMatch(/^https?:\/\//);
    await page.waitForFunction(
      () => (document.querySelector("[data-testid=viewer-image]") as HTMLImageElement | null)?.naturalWidth === 480,
    );
    await shoot(page, "viewer");
    await page.keyboard.press("Escape");
    await viewer.waitFor({ state: "detached" });
    expect(errors).toEqual([]);
    await context.close();
  });

  test("search: each hit names its dialog and sender; a search with no match says so", async () => {
    const { page, context } = await open({ user: "alice" });
    await page.locator(`[data-dialog-id="${dialogs.main}"]`).waitFor();
    await page.getByRole("searchbox").fill("pallets");
    const hit = page.getByTestId("search-results").locator("button").first();
    await hit.waitFor({ timeout: 15_000 });
    await hit.getByTestId("hit-dialog").filter({ hasText: "Order 5001 · Reefer to Rotterdam" }).waitFor();
    await hit.getByTestId("hit-sender").filter({ hasText: "Bob Chen" }).waitFor();
    expect(await hit.locator("mark").first().textContent()).toMatch(/pallets/i);
    await page.getByRole("searchbox").fill("zqxjkv");
    await page.getByTestId("search-empty").filter({ hasText: "Nothing found for “zqxjkv”" }).waitFor();
    expect(await page.getByTestId("search-results").count()).toBe(0);
    expect(await page.getByText("No chats here yet").count()).toBe(0);
    await context.close();
  });

  test("presence: the header shows who else is online, and typing stops when the draft is erased", async () => {
    const alice = await open({ user: "alice", dialog: dialogs.main });
    const sub = alice.page.getByTestId("dialog-sub");
    await sub.waitFor();
    // Alone, Alice's own connection is "Connected", and nobody else is online.
    await alice.page.getByTestId("connection").filter({ hasText: "Connected" }).waitFor({ timeout: 15_000 });
    expect(await sub.textContent()).not.toContain("online");
    const bob = await open({ user: "bob", dialog: dialogs.main });
    await sub.filter({ hasText: "Bob Chen online" }).waitFor({ timeout: 15_000 });
    expect(await sub.textContent()).not.toContain("Alice");

    const composer = bob.page.getByTestId("composer");
    await composer.click();
    await composer.pressSequentially("On my w");
    const typing = alice.page.getByTestId("typing");
    await typing.filter({ hasText: "Bob Chen is typing…" }).waitFor({ timeout: 15_000 });
    for (let i = 0; i < 7; i += 1) await composer.press("Backspace");
    // Erased, not paused: the indicator goes without the 3 s pause that ends typing otherwise.
    await expect.poll(() => typing.textContent(), { timeout: 2_500 }).toBe("");
    await alice.context.close();
    await bob.context.close();
  });

  test("sizing: in a container with no height the chat keeps a usable minimum height", async () => {
    const { page, context } = await open({ user: "alice", dialog: dialogs.main });
    await page.locator(".mtc-message", { hasText: "Loading starts" }).waitFor();
    // The host gives no height: the page's own layout, not the demo's full-height flex column.
    await page.addStyleTag({
      content: "body{display:block!important;height:auto!important}#app{height:auto!important;flex:none!important}",
    });
    await expect.poll(async () => (await box(page.locator(".mtc-root"))).height).toBeGreaterThanOrEqual(420);
    expect((await box(page.getByTestId("messages"))).height).toBeGreaterThan(150);
    expect(await page.getByTestId("composer").isVisible()).toBe(true);
    await context.close();
  });

  test("locales: es and pt-BR ship, and a host adds its own (the demo's partial de)", async () => {
    const context = await browser.newContext({ viewport: desktop });
    const page = await context.newPage();
    for (const [locale, tab, send] of [
      ["es", "Mis chats", "Enviar"],
      ["pt-BR", "Minhas conversas", "Enviar"],
      ["de", "Meine Chats", "Senden"],
    ] as const) {
      await page.goto(`${t.httpUrl}/demo/?user=alice&locale=${locale}&dialog=${dialogs.main}`);
      await page.getByRole("tab", { name: tab }).waitFor();
      await page.getByRole("button", { name: send, exact: true }).waitFor();
      expect(await page.locator(".mtc-root").getAttribute("lang")).toBe(locale);
    }
    // What the host's table leaves out falls back to English.
    await page.getByRole("searchbox", { name: "Search chats" }).waitFor();
    await context.close();
  });

  test("gallery: list, dialog, search and the phone menu, light and dark", async () => {
    for (const theme of ["light", "dark"] as const) {
      for (const [size, viewport] of [
        ["desktop", desktop],
        ["mobile", phone],
      ] as const) {
        const { page, context, errors } = await open({ user: "alice", theme }, viewport);
        // The chat as a host's page would show it: without the demo's own bar of links.
        await page.addStyleTag({ content: "#bar{display:none!important}#app{padding:8px!important}" });
        await page.locator(`[data-dialog-id="${dialogs.main}"]`).waitFor();
        // The pointer rests outside the chat, so no message shows its hover actions.
        const rest = () => page.mouse.move(2, viewport.height - 2);
        await shoot(page, `${size}-list-${theme}`);
        await page.locator(`[data-dialog-id="${dialogs.main}"]`).click();
        await rest();
        await page.getByTestId("thumbnail").last().waitFor({ timeout: 15_000 });
        await page.waitForFunction(() =>
          [...document.querySelectorAll<HTMLImageElement>("[data-testid=thumbnail]")].every((img) => img.complete && img.naturalWidth > 0),
        );
        await shoot(page, `${size}-dialog-${theme}`);
        if (size === "mobile") {
          await page.getByRole("button", { name: "More actions" }).click();
          await page.getByRole("menu").waitFor();
          await rest();
          await shoot(page, `mobile-menu-${theme}`);
          await page.getByRole("button", { name: "More actions" }).click();
          await page.getByRole("button", { name: "Back to chats" }).click();
        }
        await page.getByRole("searchbox").fill("pallets");
        await page.getByTestId("hit-sender").first().filter({ hasText: "Bob Chen" }).waitFor({ timeout: 15_000 });
        await rest();
        await shoot(page, `${size}-search-${theme}`);
        expect(errors).toEqual([]);
        await context.close();
      }
    }
  });
});
