import { stat } from "node:fs/promises";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { callApi, type TestServer } from "../sync-server/test/harness.ts";
import { eventually } from "../sync-server/test/wait.ts";
import { type BrowserSuite, demoDialog, openDemo, resultsDir, startBrowserSuite } from "./browser.ts";

/**
 * The SDK in a real browser: Debian's Chromium driving the demo page that the
 * real service serves, against PostgreSQL, with one browser context per
 * device. Scenarios follow issue 4.
 */
let suite: BrowserSuite;
let t: TestServer;
let browser: Browser;
let tokens: BrowserSuite["tokens"];
const dialogs = { order: "", tender: "" };

beforeAll(async () => {
  suite = await startBrowserSuite("browser");
  ({ t, browser, tokens } = suite);
  dialogs.order = await demoDialog(t.httpUrl, tokens.alice, "order", "1001");
  dialogs.tender = await demoDialog(t.httpUrl, tokens.alice, "tender", "77");
}, 120_000);

afterAll(() => suite?.close());

const messageTexts = (page: Page, contains: string) =>
  page
    .locator(".mtc-message .mtc-body")
    .evaluateAll((nodes, needle) => nodes.map((node) => node.textContent ?? "").filter((text) => text.includes(needle)), contains);

const history = async (dialogId: string) =>
  (
    await callApi<{ data: { messages: { id: string; content: string; deleted: boolean }[] } }>(
      t.httpUrl,
      "GET",
      `/api/v1/dialogs/${dialogId}/messages`,
      undefined,
      tokens.alice,
    )
  ).body.data.messages;

describe("MTChat in Chromium", { timeout: 60_000 }, () => {
  let alice: Awaited<ReturnType<typeof openDemo>>;
  let bob: Awaited<ReturnType<typeof openDemo>>;

  test("sending: rich text with a mention arrives live with an unread badge, and the sender sees it seen", async () => {
    alice = await openDemo(browser, t.httpUrl, { user: "alice" });
    bob = await openDemo(browser, t.httpUrl, { user: "bob" });
    await alice.page.click(`[data-dialog-id="${dialogs.order}"]`);
    const composer = alice.page.getByTestId("composer");
    await composer.click();
    await composer.pressSequentially("Hello ");
    await composer.pressSequentially("@Bo");
    await alice.page.locator(".mtc-suggest li", { hasText: "Bob Chen" }).waitFor();
    await composer.press("Enter");
    await composer.pressSequentially(" please count the ");
    await composer.press("Control+b");
    await composer.pressSequentially("pallets");
    await composer.press("Control+b");
    await composer.press("Enter");
    await alice.page.locator(".mtc-message[data-own=true]", { hasText: "please count" }).waitFor();

    const badge = bob.page.locator(`[data-dialog-id="${dialogs.order}"] [data-testid=unread]`);
    await badge.waitFor({ timeout: 15_000 });
    expect(Number(await badge.textContent())).toBeGreaterThanOrEqual(1);

    await bob.page.click(`[data-dialog-id="${dialogs.order}"]`);
    const received = bob.page.locator(".mtc-message", { hasText: "please count" });
    await received.waitFor();
    expect(await received.locator(".mtc-mention").textContent()).toBe("@Bob Chen");
    expect(await received.locator("strong").textContent()).toBe("pallets");
    await alice.page.getByText("Seen by Bob Chen").waitFor({ timeout: 15_000 });
    await badge.waitFor({ state: "detached", timeout: 15_000 });
  });

  test("offline: three messages survive a reload as pending and arrive once each, in order", async () => {
    await bob.page.goto(`${t.httpUrl}/demo/?user=bob&dialog=${dialogs.order}`);
    await bob.page.getByTestId("composer").waitFor();
    // The demo's service worker must control the page before the network goes.
    await bob.page.evaluate(async () => {
      await navigator.serviceWorker.ready;
      if (!navigator.serviceWorker.controller)
        await new Promise((resolve) => navigator.serviceWorker.addEventListener("controllerchange", resolve));
    });
    await bob.context.setOffline(true);
    await bob.page.getByTestId("connection").filter({ hasText: "Offline" }).waitFor();
    const composer = bob.page.getByTestId("composer");
    for (const word of ["one", "two", "three"]) {
      await composer.click();
      await composer.pressSequentially(`offline ${word}`);
      await composer.press("Enter");
      await bob.page.locator(".mtc-message[data-pending=true]", { hasText: `offline ${word}` }).waitFor();
    }

    await bob.page.reload();
    await bob.page.locator(".mtc-message", { hasText: "offline three" }).waitFor();
    expect(await bob.page.locator(".mtc-message[data-pending=true]", { hasText: "offline" }).count()).toBe(3);
    expect(await messageTexts(alice.page, "offline")).toEqual([]);

    await bob.context.setOffline(false);
    await bob.page.locator(".mtc-message[data-pending=true]").first().waitFor({ state: "detached", timeout: 20_000 });
    await alice.page.locator(".mtc-message", { hasText: "offline three" }).waitFor({ timeout: 15_000 });
    expect(await messageTexts(alice.page, "offline")).toEqual(["offline one", "offline two", "offline three"]);
    // The projection follows the documents: wait for it to hold all three, then check their order.
    const stored = await eventually(async () => {
      const found = (await history(dialogs.order)).filter((message) => message.content.startsWith("offline"));
      return found.length === 3 ? found : undefined;
    });
    expect(stored.map((message) => message.content)).toEqual(["offline one", "offline two", "offline three"]);
  });

  test("drafts: a draft typed on one device appears on another device of the same user", async () => {
    const composer = bob.page.getByTestId("composer");
    await composer.click();
    await composer.pressSequentially("draft across devices");
    const other = await openDemo(browser, t.httpUrl, { user: "bob", dialog: dialogs.order });
    await other.page.getByTestId("composer").filter({ hasText: "draft across devices" }).waitFor({ timeout: 15_000 });
    await other.context.close();
  });

  test("editing: edits and deletes are seen by the other user; a forged edit from the console is refused", async () => {
    await alice.page.click(`[data-dialog-id="${dialogs.tender}"]`);
    await bob.page.goto(`${t.httpUrl}/demo/?user=bob&dialog=${dialogs.tender}`);
    const composer = alice.page.getByTestId("composer");
    for (const text of ["Rate is 1200 EUR", "Keep this one"]) {
      await composer.click();
      await composer.pressSequentially(text);
      await composer.press("Enter");
      await bob.page.locator(".mtc-message", { hasText: text }).waitFor();
    }

    const first = alice.page.locator(".mtc-message", { hasText: "Rate is 1200 EUR" });
    await first.hover();
    await first.getByRole("button", { name: "Edit" }).click();
    const editor = alice.page.getByTestId("composer");
    await editor.filter({ hasText: "Rate is 1200 EUR" }).waitFor();
    await editor.press("End");
    await editor.press("Backspace");
    await editor.press("Backspace");
    await editor.press("Backspace");
    await editor.pressSequentially("USD");
    await editor.press("Enter");
    await bob.page.locator(".mtc-message", { hasText: "Rate is 1200 USD" }).getByText("edited").waitFor();

    const edited = alice.page.locator(".mtc-message", { hasText: "Rate is 1200 USD" });
    await edited.hover();
    await edited.getByRole("button", { name: "Delete" }).click();
    await bob.page.locator(".mtc-message", { hasText: "Message deleted" }).waitFor();

    const target = await eventually(async () => (await history(dialogs.tender)).find((message) => message.content === "Keep this one"));
    expect(target).toBeDefined();
    await bob.page.evaluate(
      async ({ dialogId, messageId }) => {
        type Session = { entry(id: string): { get(key: string): { length: number; delete(at: number, n: number): void } } | null };
        const demo = (window as unknown as { mtchatDemo: { client: { openDialog(id: string): Promise<Session> } } }).mtchatDemo;
        const forged = await demo.client.openDialog(dialogId);
        const body = forged.entry(messageId)?.get("body");
        body?.delete(0, body.length);
      },
      { dialogId: dialogs.tender, messageId: target?.id ?? "" },
    );
    await bob.page.getByTestId("problem").filter({ hasText: "only your own messages" }).waitFor();
    expect(await alice.page.locator(".mtc-message", { hasText: "Keep this one" }).count()).toBe(1);
    expect((await history(dialogs.tender)).find((message) => message.id === target?.id)?.content).toBe("Keep this one");

    // Bob's copy holds the refused edit; what he writes now cannot go out. Reloading from the
    // server drops the forgery and puts his unsent text back into the composer.
    expect(await messageTexts(bob.page, "Keep this one")).toEqual([]);
    const bobComposer = bob.page.getByTestId("composer");
    await bobComposer.click();
    await bobComposer.pressSequentially("Written while refused");
    await bobComposer.press("Enter");
    await bob.page.locator(".mtc-message[data-pending=true]", { hasText: "Written while refused" }).waitFor();
    await bob.page.getByRole("button", { name: "Reload from the server" }).click();
    await bob.page.locator(".mtc-message", { hasText: "Keep this one" }).waitFor();
    await expect.poll(() => bob.page.getByTestId("problem").count()).toBe(0);
    await expect.poll(() => bobComposer.textContent()).toContain("Written while refused");
    await bobComposer.click();
    await bobComposer.press("Enter");
    await alice.page.locator(".mtc-message", { hasText: "Written while refused" }).waitFor();
    await bob.page.locator(".mtc-message[data-pending=false]", { hasText: "Written while refused" }).waitFor();
    expect(await messageTexts(alice.page, "Written while refused")).toHaveLength(1);
  });

  test("attachments: an image uploads, shows a preview and opens in the viewer", async () => {
    await alice.page.click(`[data-dialog-id="${dialogs.order}"]`);
    await bob.page.goto(`${t.httpUrl}/demo/?user=bob&dialog=${dialogs.order}`);
    const png = await sharp({ create: { width: 640, height: 400, channels: 3, background: { r: 40, g: 120, b: 220 } } })
      .png()
      .toBuffer();
    await alice.page.getByTestId("file-input").setInputFiles({ name: "pallets.png", mimeType: "image/png", buffer: png });
    await alice.page.getByTestId("staged").filter({ hasText: "pallets.png" }).waitFor();
    await alice.page.getByTestId("composer").click();
    await alice.page.getByTestId("composer").press("Enter");

    const thumbnail = bob.page.getByTestId("thumbnail").last();
    await thumbnail.waitFor({ timeout: 15_000 });
    await bob.page.waitForFunction(
      (img) => (img as HTMLImageElement).complete && (img as HTMLImageElement).naturalWidth > 0,
      await thumbnail.elementHandle(),
    );
    await thumbnail.click();
    const viewer = bob.page.getByTestId("viewer-image");
    await viewer.waitFor();
    await bob.page.waitForFunction((img) => (img as HTMLImageElement).naturalWidth === 640, await viewer.elementHandle());
    await bob.page.keyboard.press("Escape");
    await viewer.waitFor({ state: "detached" });
  });

  test("search: a hit opens its dialog and jumps to the message", async () => {
    await alice.page.click(`[data-dialog-id="${dialogs.tender}"]`);
    await alice.page.getByRole("searchbox").fill("pallets");
    const hit = alice.page.getByTestId("search-results").locator("button").first();
    await hit.waitFor({ timeout: 15_000 });
    await hit.click();
    const jumped = alice.page.locator(".mtc-message[data-highlight=true]", { hasText: "please count" });
    await jumped.waitFor();
    expect(await jumped.isVisible()).toBe(true);
    expect(alice.errors).toEqual([]);
    expect(bob.errors).toEqual([]);
  });

  test("inline mode: a potential participant sees the object's dialog, joins, then reads and writes", async () => {
    const dave = await openDemo(browser, t.httpUrl, { user: "dave", mode: "inline", object: "tender:77" });
    // Before joining: the dialog and the prompt, none of its messages (MTChat shows potential participants no more).
    const join = dave.page.getByRole("button", { name: "Join this chat" });
    await join.waitFor();
    expect(await dave.page.locator(".mtc-main").getAttribute("aria-label")).toContain("Tender #77");
    await dave.page.waitForTimeout(500);
    expect(await dave.page.locator(".mtc-message").count()).toBe(0);
    await join.click();
    await dave.page.locator(".mtc-message", { hasText: "Keep this one" }).waitFor();
    const composer = dave.page.getByTestId("composer");
    await composer.click();
    await composer.pressSequentially("Dave here, count me in");
    await composer.press("Enter");
    await alice.page.getByRole("searchbox").fill("");
    await alice.page.click(`[data-dialog-id="${dialogs.tender}"]`);
    await alice.page.locator(".mtc-system", { hasText: "Dave Novak joined the chat" }).waitFor();
    await alice.page.locator(".mtc-message", { hasText: "Dave here, count me in" }).waitFor();
    expect(dave.errors).toEqual([]);
    await dave.context.close();
  });

  test("formatting: line breaks, marks, lists and quotes typed in the composer arrive as written", async () => {
    // The order dialog: in the tender one Bob's device still holds the edit the server refused.
    await alice.page.click(`[data-dialog-id="${dialogs.order}"]`);
    await bob.page.goto(`${t.httpUrl}/demo/?user=bob&dialog=${dialogs.order}`);
    const keyboard = alice.page.keyboard;
    const tool = (name: string) => alice.page.getByRole("toolbar").getByRole("button", { name, exact: true });
    const received = (text: string) => bob.page.locator(".mtc-message", { hasText: text }).locator(".mtc-body");

    // Shift+Enter breaks the line, Enter sends; marks by key, by button and by Markdown.
    await alice.page.getByTestId("composer").click();
    await keyboard.type("Agenda");
    await keyboard.press("Shift+Enter");
    await keyboard.type("we ");
    await keyboard.press("Control+i");
    await keyboard.type("must");
    await keyboard.press("Control+i");
    await keyboard.type(" ");
    await tool("Strikethrough").click();
    await keyboard.type("not");
    await tool("Strikethrough").click();
    await keyboard.type(" run `npm ci` twice");
    await keyboard.press("Enter");
    const marks = received("Agenda");
    await marks.waitFor();
    expect(await marks.locator("p").count()).toBe(1);
    expect(await marks.locator("p br").count()).toBe(1);
    expect(await marks.locator("em").allTextContents()).toEqual(["must"]);
    expect(await marks.locator("s").allTextContents()).toEqual(["not"]);
    expect(await marks.locator("code").allTextContents()).toEqual(["npm ci"]);

    // A list by button, a numbered one and a quote by Markdown; Enter sends from inside them too.
    for (const [start, text, selector] of [
      ["", "apples", "ul > li"],
      ["1. ", "first", "ol > li"],
      ["> ", "quoted line", "blockquote"],
    ] as const) {
      if (!start) await tool("Bulleted list").click();
      await keyboard.type(`${start}${text}`);
      await keyboard.press("Enter");
      const body = received(text);
      await body.waitFor();
      expect(await body.locator(selector).allTextContents()).toEqual([text]);
    }
    expect(alice.errors).toEqual([]);
  });

  test("looks: full and inline, light and dark, in en, ru and zh", async () => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(String(error)));
    const tabLabel = { en: "My chats", ru: "Мои чаты", zh: "我的聊天" };
    for (const mode of ["full", "inline"] as const) {
      for (const theme of ["light", "dark"] as const) {
        for (const locale of ["en", "ru", "zh"] as const) {
          const query = new URLSearchParams({ user: "alice", mode, theme, locale, dialog: dialogs.order });
          await page.goto(`${t.httpUrl}/demo/?${query.toString()}`);
          await page.locator(".mtc-message", { hasText: "please count" }).waitFor();
          if (mode === "full") await page.getByRole("tab", { name: tabLabel[locale] }).waitFor();
          expect(await page.locator(".mtc-root").getAttribute("data-theme")).toBe(theme);
          const file = path.join(resultsDir, `mtchat-${mode}-${theme}-${locale}.png`);
          await page.screenshot({ path: file });
          expect((await stat(file)).size).toBeGreaterThan(10_000);
        }
      }
    }
    expect(errors).toEqual([]);
    await context.close();
  });
});
