import path from "node:path";
import type { Browser, Locator, Page } from "playwright-core";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { callApi, seedSegments, type TestServer } from "../sync-server/test/harness.ts";
import { eventually } from "../sync-server/test/wait.ts";
import { type BrowserSuite, openDemo, resultsDir, startBrowserSuite } from "./browser.ts";

/**
 * How the chat behaves under a user's hands in Chromium: scrolling back
 * through segments, reactions, the typing indicator, keyboard-only use, and
 * hostile message content. Each scenario gets a dialog of its own on a
 * server of its own, with small segments so history spans several of them.
 */
const segmentSize = 20;
let suite: BrowserSuite;
let t: TestServer;
let browser: Browser;
let tokens: BrowserSuite["tokens"];
const people = [
  { user_id: "alice", display_name: "Alice Martin" },
  { user_id: "bob", display_name: "Bob Chen" },
];

beforeAll(async () => {
  suite = await startBrowserSuite("browser_interaction", { SEGMENT_SIZE: String(segmentSize) });
  ({ t, browser, tokens } = suite);
}, 120_000);

afterAll(() => suite?.close());

/** A dialog of Alice and Bob about a fresh order. */
const createDialog = async (objectId: string, extra: Record<string, unknown> = {}): Promise<string> => {
  const { status, body } = await t.api<{ data: { id: string } }>("POST", "/api/v1/management/dialogs", {
    object_type: "order",
    object_id: objectId,
    title: `Order ${objectId}`,
    participants: people,
    ...extra,
  });
  expect(status).toBe(201);
  return body.data.id;
};

const sendAs = async (user: keyof BrowserSuite["tokens"], dialogId: string, content: string): Promise<string> => {
  const { status, body } = await callApi<{ data: { id: string } }>(
    t.httpUrl,
    "POST",
    `/api/v1/dialogs/${dialogId}/messages`,
    { content },
    tokens[user],
  );
  expect(status).toBe(201);
  return body.data.id;
};

const message = (page: Page, id: string) => page.locator(`.mtc-message[data-message-id="${id}"]`);

/** Waits until the focused element matches `selector`, pressing `key` in between; how many presses it took. */
const pressUntilFocused = async (page: Page, key: "Tab" | "Shift+Tab", selector: string, max = 80): Promise<number> => {
  for (let presses = 0; presses <= max; presses += 1) {
    if (await page.evaluate((wanted) => document.activeElement?.matches(wanted) ?? false, selector)) return presses;
    await page.keyboard.press(key);
  }
  throw new Error(`${key} pressed ${max} times without reaching ${selector}`);
};

const focused = (page: Page, selector: string) => page.evaluate((wanted) => document.activeElement?.matches(wanted) ?? false, selector);

type AxNode = { ignored: boolean; role?: { value?: string }; name?: { value?: string }; backendDOMNodeId?: number };
const controlRoles = new Set(["button", "link", "textbox", "searchbox", "menuitem", "tab", "combobox", "checkbox", "option", "listbox"]);

/** Every control Chromium exposes to assistive technology, with the name it computed for it. */
const controls = async (page: Page): Promise<{ role: string; name: string; html: string }[]> => {
  const cdp = await page.context().newCDPSession(page);
  try {
    const { nodes } = (await cdp.send("Accessibility.getFullAXTree")) as { nodes: AxNode[] };
    const found: { role: string; name: string; html: string }[] = [];
    for (const node of nodes) {
      const role = node.role?.value ?? "";
      if (node.ignored || !controlRoles.has(role)) continue;
      const name = String(node.name?.value ?? "").trim();
      let html = "";
      if (!name && node.backendDOMNodeId !== undefined) {
        html = ((await cdp.send("DOM.getOuterHTML", { backendNodeId: node.backendDOMNodeId })) as { outerHTML: string }).outerHTML;
      }
      found.push({ role, name, html: html.slice(0, 200) });
    }
    return found;
  } finally {
    await cdp.detach();
  }
};

/** The on-screen top of `locator` once layout has settled (two frames in a row with the same value). */
const settledTop = (locator: Locator) =>
  locator.evaluate(async (element) => {
    const frame = () => new Promise((resolve) => requestAnimationFrame(resolve));
    let previous = Number.NaN;
    for (;;) {
      await frame();
      await frame();
      const top = element.getBoundingClientRect().top;
      if (top === previous) return top;
      previous = top;
    }
  });

describe("MTChat interactions in Chromium", { timeout: 90_000 }, () => {
  test("infinite scroll: older history loads above while the message under the reader's eyes stays put", async () => {
    const dialogId = await createDialog("scroll-back");
    const segments = 4;
    await seedSegments(t, dialogId, segments, segmentSize);
    // Bob has read everything, so the dialog opens at its end rather than at a first unread.
    const newestId = await eventually(async () => {
      const page = await callApi<{ data: { messages: { id: string; content: string }[] } }>(
        t.httpUrl,
        "GET",
        `/api/v1/dialogs/${dialogId}/messages?limit=1`,
        undefined,
        tokens.bob,
      );
      const last = page.body.data.messages.at(-1);
      return last?.content.startsWith(`history ${segments - 1}/${segmentSize - 1}:`) ? last.id : undefined;
    });
    const read = await callApi(t.httpUrl, "POST", `/api/v1/dialogs/${dialogId}/read`, { message_id: newestId }, tokens.bob);
    expect(read.status).toBe(200);
    await eventually(async () => {
      const page = await callApi<{ data: { first_unread_message_id: string | null } }>(
        t.httpUrl,
        "GET",
        `/api/v1/dialogs/${dialogId}/messages?limit=1`,
        undefined,
        tokens.bob,
      );
      return page.body.data.first_unread_message_id === null ? true : undefined;
    });
    const bob = await openDemo(browser, t.httpUrl, { user: "bob", dialog: dialogId });
    const { page } = bob;
    const byText = (text: string) => page.locator(".mtc-message", { hasText: text });
    await byText(`history ${segments - 1}/${segmentSize - 1}:`).waitFor({ timeout: 20_000 });
    // Only the head segment is loaded at first.
    expect(await byText(`history ${segments - 2}/`).count()).toBe(0);
    const scroller = page.getByTestId("messages");
    const shown = () => page.locator(".mtc-message").count();
    const created = page.locator(".mtc-system", { hasText: "Chat created" });

    // Each scroll to the top brings a page of REST history (and the segments behind it) above the reader.
    // The first page loads with Chromium's scroll anchoring, the next ones without, as in browsers that have none.
    for (let round = 0; (await created.count()) === 0; round += 1) {
      expect(round, "the whole history within a few pages").toBeLessThan(4);
      if (round === 1) await page.addStyleTag({ content: ".mtc-messages { overflow-anchor: none }" });
      // Segments behind the last page may still be arriving: start from a list that has stopped growing.
      let before = await shown();
      for (let quiet = 0; quiet < 20; quiet += 1) {
        await page.waitForTimeout(300);
        const now = await shown();
        if (now === before) break;
        before = now;
      }
      if ((await created.count()) > 0) break;
      // Jump to the top as a fling would, and note which message the reader sees first and where. The list
      // re-renders now and then; one that lands between the jump and its scroll event keeps the list at the
      // bottom, so the jump is tried again until its scroll event sees the top.
      let seen = { id: "", top: Number.NaN, reachedTop: false };
      for (let attempt = 0; attempt < 5 && !seen.reachedTop; attempt += 1) {
        seen = await scroller.evaluate((element) => {
          element.scrollTop = 0;
          const top = element.getBoundingClientRect().top;
          const first = [...element.querySelectorAll<HTMLElement>(".mtc-message")].find(
            (candidate) => candidate.getBoundingClientRect().bottom > top,
          );
          const at = { id: first?.dataset.messageId ?? "", top: first?.getBoundingClientRect().top ?? Number.NaN };
          return new Promise<typeof at & { reachedTop: boolean }>((resolve) => {
            const timer = setTimeout(() => resolve({ ...at, reachedTop: false }), 2_000);
            // Captured at the document, ahead of the list's own handler: that one starts loading, and
            // the render it causes runs (as a microtask) before any later listener of the same event.
            const onScroll = (event: Event) => {
              if (event.target !== element) return;
              document.removeEventListener("scroll", onScroll, true);
              clearTimeout(timer);
              resolve({ ...at, reachedTop: element.scrollTop === 0 });
            };
            document.addEventListener("scroll", onScroll, true);
          });
        });
      }
      expect(seen.reachedTop).toBe(true);
      expect(seen.id).not.toBe("");
      const anchor = message(page, seen.id);
      await expect.poll(shown, { timeout: 20_000 }).toBeGreaterThan(before);
      await page.getByText("Loading earlier messages…").waitFor({ state: "detached", timeout: 20_000 });
      const after = await settledTop(anchor);
      expect(Math.abs(after - seen.top), `moved from ${seen.top} to ${after}`).toBeLessThanOrEqual(4);
      // Older messages are above it, and the reader has not been thrown to them.
      const first = page.locator(".mtc-message").first();
      const above = await first.boundingBox();
      expect(
        (above?.y ?? 0) + (above?.height ?? 0),
        `round ${round}: ${before} → ${await shown()} shown; first "${await first.textContent()}", anchor "${await anchor.textContent()}"`,
      ).toBeLessThanOrEqual(after + 1);
    }
    // The whole history is there now, in order, after the dialog's first (system) message.
    const texts = await page.locator(".mtc-message .mtc-body").evaluateAll((nodes) =>
      nodes.map((node) =>
        /history (\d+)\/(\d+):/
          .exec(node.textContent ?? "")
          ?.slice(1)
          .join("/"),
      ),
    );
    const expected = Array.from({ length: segments }, (_, segment) => segment).flatMap((segment) =>
      Array.from({ length: segmentSize }, (_, index) => `${segment}/${index}`),
    );
    expect(texts).toEqual(expected);
    expect(bob.errors).toEqual([]);
    await bob.context.close();
  });

  test("reactions: one user's reaction shows as a chip the other can join and leave", async () => {
    const dialogId = await createDialog("reactions");
    const messageId = await sendAs("bob", dialogId, "Pickup confirmed for 9:00?");
    const alice = await openDemo(browser, t.httpUrl, { user: "alice", dialog: dialogId });
    const bob = await openDemo(browser, t.httpUrl, { user: "bob", dialog: dialogId });

    const onAlice = message(alice.page, messageId);
    await onAlice.hover({ timeout: 20_000 });
    await onAlice.getByRole("button", { name: "React", exact: true }).click();
    await onAlice.getByRole("menuitem", { name: "React 👍" }).click();
    await onAlice.getByRole("menu").waitFor({ state: "detached" });

    const chipFor = (page: Page) => message(page, messageId).locator(".mtc-reaction", { hasText: "👍" });
    const bobChip = chipFor(bob.page);
    await expect.poll(() => bobChip.textContent(), { timeout: 15_000 }).toBe("👍 1");
    expect(await bobChip.getAttribute("aria-pressed")).toBe("false");
    expect(await chipFor(alice.page).getAttribute("aria-pressed")).toBe("true");

    await bobChip.click();
    await expect.poll(() => bobChip.textContent()).toBe("👍 2");
    expect(await bobChip.getAttribute("aria-pressed")).toBe("true");
    await expect.poll(() => chipFor(alice.page).textContent(), { timeout: 15_000 }).toBe("👍 2");

    await bobChip.click();
    await expect.poll(() => bobChip.textContent()).toBe("👍 1");
    expect(await bobChip.getAttribute("aria-pressed")).toBe("false");
    await expect.poll(() => chipFor(alice.page).textContent(), { timeout: 15_000 }).toBe("👍 1");
    // The server's copy agrees: only Alice's reaction is left.
    type History = { data: { messages: { id: string; reactions: Record<string, string[]> }[] } };
    await expect
      .poll(async () => {
        const { body } = await callApi<History>(t.httpUrl, "GET", `/api/v1/dialogs/${dialogId}/messages`, undefined, tokens.alice);
        return body.data.messages.find((entry) => entry.id === messageId)?.reactions;
      })
      .toEqual({ "👍": ["alice"] });
    expect([...alice.errors, ...bob.errors]).toEqual([]);
    await alice.context.close();
    await bob.context.close();
  });

  test("typing: the other user sees who is typing until they send or stop", async () => {
    const dialogId = await createDialog("typing");
    await sendAs("bob", dialogId, "Is the truck loaded?");
    const alice = await openDemo(browser, t.httpUrl, { user: "alice", dialog: dialogId });
    const bob = await openDemo(browser, t.httpUrl, { user: "bob", dialog: dialogId });
    const indicator = bob.page.getByTestId("typing");
    const composer = alice.page.getByTestId("composer");
    await composer.waitFor({ timeout: 20_000 });
    await bob.page.getByTestId("composer").waitFor({ timeout: 20_000 });
    expect(await indicator.textContent()).toBe("");
    // Everything the indicator shows, however briefly, so a short-lived mark is not missed between two looks.
    await indicator.evaluate((element) => {
      const shown: string[] = [];
      (window as unknown as { typingShown: string[] }).typingShown = shown;
      new MutationObserver(() => shown.push(element.textContent ?? "")).observe(element, {
        childList: true,
        characterData: true,
        subtree: true,
      });
    });
    const shownSince = async (from: number) =>
      (await bob.page.evaluate(() => (window as unknown as { typingShown: string[] }).typingShown)).slice(from);
    const typingMark = "Alice Martin is typing…";
    let from = 0;
    const shows = async () => {
      await expect.poll(() => shownSince(from), { timeout: 15_000 }).toContain(typingMark);
      from = (await shownSince(0)).length;
    };
    const clears = () => expect.poll(() => indicator.textContent(), { timeout: 15_000 }).toBe("");

    await composer.click();
    await composer.pressSequentially("Loading at dock 4");
    await shows();
    await composer.press("Enter");
    await bob.page.locator(".mtc-message", { hasText: "Loading at dock 4" }).waitFor({ timeout: 15_000 });
    await clears();

    // Typing and then stopping without sending: the mark goes after a few seconds.
    await composer.pressSequentially("one more");
    await shows();
    await clears();

    // Typing and then closing the tab: the mark goes too.
    await composer.pressSequentially(" and more");
    await shows();
    await alice.context.close();
    await clears();
    expect([...alice.errors, ...bob.errors]).toEqual([]);
    await bob.context.close();
  });

  test("keyboard only: open a dialog, send, react through the menu and view an image, with names on every control", async () => {
    const dialogId = await createDialog("keyboard");
    await sendAs("bob", dialogId, "The seal number is on the photo");
    const bob = await openDemo(browser, t.httpUrl, { user: "bob", dialog: dialogId });
    const png = await sharp({ create: { width: 320, height: 200, channels: 3, background: { r: 200, g: 80, b: 40 } } })
      .png()
      .toBuffer();
    await bob.page.getByTestId("file-input").setInputFiles({ name: "seal.png", mimeType: "image/png", buffer: png });
    await bob.page.getByTestId("staged").filter({ hasText: "seal.png" }).waitFor({ timeout: 20_000 });
    await bob.page.getByTestId("composer").click();
    await bob.page.getByTestId("composer").press("Enter");
    await bob.page.locator(".mtc-message[data-pending=false]", { has: bob.page.getByTestId("thumbnail") }).waitFor({ timeout: 20_000 });

    const alice = await openDemo(browser, t.httpUrl, { user: "alice" });
    const { page } = alice;
    const item = `[data-dialog-id="${dialogId}"]`;
    await page.locator(item).waitFor({ timeout: 20_000 });

    // From the top of the page to the dialog in the list, and open it.
    await pressUntilFocused(page, "Tab", item);
    await page.keyboard.press("Enter");
    await page.getByTestId("composer").waitFor({ timeout: 20_000 });
    expect(await page.locator(item).getAttribute("aria-current")).toBe("true");

    // On to the composer: type and send with Enter.
    await pressUntilFocused(page, "Tab", "[data-testid=composer]");
    await page.keyboard.type("Typed without a mouse");
    await page.keyboard.press("Enter");
    await page
      .locator(".mtc-message[data-own=true][data-pending=false]", { hasText: "Typed without a mouse" })
      .waitFor({ timeout: 15_000 });
    await bob.page.locator(".mtc-message", { hasText: "Typed without a mouse" }).waitFor({ timeout: 15_000 });

    // Back to the photo message's actions and its reaction menu.
    const photo = page.locator(".mtc-message", { has: page.getByTestId("thumbnail") });
    await photo.waitFor({ timeout: 15_000 });
    const photoId = (await photo.getAttribute("data-message-id")) ?? "";
    const reactButton = `[data-message-id="${photoId}"] .mtc-actions > button[aria-haspopup]`;
    await pressUntilFocused(page, "Shift+Tab", reactButton);
    // The actions, hidden until hovered, show while they hold the focus.
    await expect.poll(() => photo.locator(".mtc-actions").evaluate((actions) => getComputedStyle(actions).opacity)).toBe("1");
    await page.keyboard.press("Enter");
    const menu = photo.getByRole("menu");
    await menu.waitFor();
    // The menu takes the focus, and the arrow keys (and Home/End) move through it.
    await expect.poll(() => focused(page, `[data-message-id="${photoId}"] [role=menuitem]:first-child`)).toBe(true);
    await page.keyboard.press("ArrowRight");
    expect(await focused(page, `[data-message-id="${photoId}"] [role=menuitem]:nth-child(2)`)).toBe(true);
    await page.keyboard.press("End");
    expect(await focused(page, `[data-message-id="${photoId}"] [role=menuitem]:last-child`)).toBe(true);
    await page.keyboard.press("ArrowRight");
    expect(await focused(page, `[data-message-id="${photoId}"] [role=menuitem]:first-child`)).toBe(true);
    await page.keyboard.press("ArrowLeft");
    expect(await focused(page, `[data-message-id="${photoId}"] [role=menuitem]:last-child`)).toBe(true);
    await page.keyboard.press("Home");
    expect(await focused(page, `[data-message-id="${photoId}"] [role=menuitem]:first-child`)).toBe(true);
    const names = await controls(page);
    expect(names.filter((control) => control.role === "menuitem").map((control) => control.name)).toEqual(
      ["👍", "❤️", "😂", "🎉", "😮", "🙏"].map((emoji) => `React ${emoji}`),
    );
    // Escape closes it and puts the focus back on the button that opened it.
    await page.keyboard.press("Escape");
    await menu.waitFor({ state: "detached" });
    await expect.poll(() => focused(page, reactButton)).toBe(true);
    expect(await page.locator(reactButton).getAttribute("aria-expanded")).toBe("false");

    // Pick ❤️ with the keyboard: the reaction lands, and the focus is back on React.
    await page.keyboard.press("Enter");
    await menu.waitFor();
    await expect.poll(() => focused(page, `[data-message-id="${photoId}"] [role=menuitem]:first-child`)).toBe(true);
    await page.keyboard.press("ArrowRight");
    await page.keyboard.press("Enter");
    await menu.waitFor({ state: "detached" });
    await photo.locator(".mtc-reaction", { hasText: "❤️ 1" }).waitFor();
    await expect.poll(() => focused(page, reactButton)).toBe(true);
    await message(bob.page, photoId).locator(".mtc-reaction", { hasText: "❤️ 1" }).waitFor({ timeout: 15_000 });

    // The image opens in the viewer, which holds the focus until Escape gives it back to the thumbnail.
    const thumbButton = `[data-message-id="${photoId}"] button.mtc-thumb`;
    await pressUntilFocused(page, "Shift+Tab", thumbButton);
    await page.keyboard.press("Enter");
    const viewer = page.getByRole("dialog", { name: "Image viewer" });
    await viewer.waitFor();
    await expect.poll(() => focused(page, ".mtc-viewer button")).toBe(true);
    for (const key of ["Tab", "Tab", "Shift+Tab"]) {
      await page.keyboard.press(key);
      expect(await page.evaluate(() => !!document.activeElement?.closest(".mtc-viewer")), `after ${key}`).toBe(true);
    }
    await page.waitForFunction(
      () => (document.querySelector("[data-testid=viewer-image]") as HTMLImageElement | null)?.naturalWidth === 320,
    );
    const withViewer = await controls(page);
    expect(withViewer.some((control) => control.role === "button" && control.name === "Close")).toBe(true);
    expect(withViewer.filter((control) => !control.name)).toEqual([]);
    await page.screenshot({ path: path.join(resultsDir, "mtchat-keyboard-viewer.png") });
    await page.keyboard.press("Escape");
    await viewer.waitFor({ state: "detached" });
    await expect.poll(() => focused(page, thumbButton)).toBe(true);

    // Every control in the open chat has a name a screen reader can say.
    const all = await controls(page);
    expect(all.length).toBeGreaterThan(25);
    expect(all.filter((control) => !control.name)).toEqual([]);
    for (const expected of ["Send", "Attach a file", "Search chats", "Write a message…", "Open image seal.png"])
      expect(all.map((control) => control.name)).toContain(expected);

    // Tab goes through the whole page and comes back to where it started; so does Shift+Tab. Nothing traps it.
    for (const key of ["Tab", "Shift+Tab"] as const) {
      await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
      // Elements are told apart by identity: a number given to each the first time it has the focus.
      await page.evaluate(() => {
        const ids = new WeakMap<Element, number>();
        let next = 0;
        (window as unknown as { focusIds: (element: Element | null) => number | null }).focusIds = (element) => {
          if (!element || element === document.body) return null;
          if (!ids.has(element)) ids.set(element, ++next);
          return ids.get(element) ?? null;
        };
      });
      const seen: { id: number | null; label: string }[] = [];
      let first: number | null = null;
      let closed = false;
      for (let presses = 0; presses < 200 && !closed; presses += 1) {
        await page.keyboard.press(key);
        const at = await page.evaluate(() => {
          const element = document.activeElement;
          const id = (window as unknown as { focusIds: (element: Element | null) => number | null }).focusIds(element);
          return {
            id,
            label:
              element?.getAttribute("data-testid") ??
              element?.getAttribute("aria-label") ??
              element?.textContent?.trim().slice(0, 40) ??
              "",
          };
        });
        if (at.id !== null && at.id === first) closed = true;
        else seen.push(at);
        if (first === null) first = at.id;
      }
      expect(closed, `${key} never came back: ${seen.map((entry) => entry.label).join(" | ")}`).toBe(true);
      const labels = seen.map((entry) => entry.label);
      for (const expected of ["composer", "Send", "Search chats", "React", "Open image seal.png"]) expect(labels).toContain(expected);
    }
    expect([...alice.errors, ...bob.errors]).toEqual([]);
    await alice.context.close();
    await bob.context.close();
  });

  test("hostile content: markup, script and javascript: links in messages and search results stay inert text", async () => {
    const dialogId = await createDialog("hostile", { object_url: "javascript:alert('object')" });
    const markup = `<img src=x onerror="window.pwned=1;alert('img')"> <script>window.pwned=2;alert('script')</script> <b>zebra</b>`;
    const markupId = await sendAs("bob", dialogId, markup);
    const alice = await openDemo(browser, t.httpUrl, { user: "alice", dialog: dialogId });
    const bob = await openDemo(browser, t.httpUrl, { user: "bob", dialog: dialogId });
    const dialogs: string[] = [];
    for (const page of [alice.page, bob.page]) {
      page.on("dialog", (dialog) => {
        dialogs.push(dialog.message());
        void dialog.dismiss();
      });
    }
    await alice.page.getByTestId("composer").waitFor({ timeout: 20_000 });

    // Alice's client writes a body no composer would make: script-like links, unknown nodes with event attributes.
    // The server refuses it (4422, outside the body schema), so it never reaches Bob; Alice's own device still
    // renders its local copy, through the same renderer every body goes through.
    const forgedId = await alice.page.evaluate(async (id) => {
      type Session = { send(input: { body: unknown }): string; refusal: { kind: string } | null };
      const demo = (window as unknown as { mtchatDemo: { client: { openDialog(id: string): Promise<Session> } } }).mtchatDemo;
      const session = await demo.client.openDialog(id);
      const link = (text: string, href: string) => ({ type: "text", text, marks: [{ type: "link", attrs: { href } }] });
      return session.send({
        body: {
          type: "doc",
          content: [
            {
              type: "paragraph",
              content: [
                link("click me", "javascript:alert('link')"),
                { type: "text", text: " " },
                link("or me", " JaVaScRiPt:alert('mixed case')"),
                { type: "text", text: " " },
                link("data", "data:text/html,<script>alert('data')</script>"),
                { type: "text", text: " " },
                link("safe site", "https://example.com/path"),
                { type: "text", text: " " },
                { type: "mention", attrs: { id: "bob", label: "<img src=x onerror=alert('mention')>" } },
              ],
            },
            { type: "image", attrs: { src: "x", onerror: "alert('node')" }, content: [{ type: "text", text: "unknown node" }] },
            { type: "script", content: [{ type: "text", text: "alert('script node')" }] },
          ],
        },
      });
    }, dialogId);

    await expect
      .poll(() =>
        alice.page.evaluate(async (id) => {
          type Session = { refusal: { kind: string } | null };
          const demo = (window as unknown as { mtchatDemo: { client: { openDialog(id: string): Promise<Session> } } }).mtchatDemo;
          return (await demo.client.openDialog(id)).refusal?.kind ?? null;
        }, dialogId),
      )
      .toBe("invalid_update");
    const probeId = await sendAs("bob", dialogId, "after the forged one");
    await message(bob.page, probeId).waitFor({ timeout: 15_000 });
    expect(await message(bob.page, forgedId).count()).toBe(0);

    for (const page of [alice.page, bob.page]) {
      const markupBody = message(page, markupId).locator(".mtc-body");
      await markupBody.waitFor({ timeout: 15_000 });
      expect(await markupBody.textContent()).toBe(markup);
      if (page === alice.page) {
        const forged = message(page, forgedId).locator(".mtc-body");
        await forged.waitFor({ timeout: 15_000 });
        expect(await forged.textContent()).toContain("click me or me data safe site @<img src=x onerror=alert('mention')>");
        expect(await forged.textContent()).toContain("unknown node");
        // Only the https link is a link; the others are their text.
        expect(
          await forged.locator("a").evaluateAll((anchors) => anchors.map((anchor) => [anchor.textContent, anchor.getAttribute("href")])),
        ).toEqual([["safe site", "https://example.com/path"]]);
      }
      const root = page.locator(".mtc-root");
      expect(await root.locator("img, script, iframe, object, embed, b").count()).toBe(0);
      const hrefs = await root.locator("[href]").evaluateAll((nodes) => nodes.map((node) => node.getAttribute("href") ?? ""));
      expect(hrefs.filter((href) => !/^(https?:|mailto:)/i.test(href.trim()))).toEqual([]);
      // The header names the order, but the host's javascript: address is not a link.
      expect(await page.locator(".mtc-header-title").textContent()).toContain("Order hostile");
      expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
    }

    // The search highlight is HTML from the server: the message's markup must arrive as text, the match as <mark>.
    const search = alice.page.getByRole("searchbox");
    await search.fill("zebra");
    const hit = alice.page.getByTestId("search-results").locator("button").first();
    await hit.waitFor({ timeout: 20_000 });
    const results = alice.page.getByTestId("search-results");
    expect(await results.locator("mark").allTextContents()).toEqual(["zebra"]);
    expect(await results.locator("img, script, b").count()).toBe(0);
    // The snippet may start after the <img …>, but what it shows is the message's text, markup included.
    expect(await hit.textContent()).toContain("alert('script')</script> <b>zebra</b>");

    expect(dialogs).toEqual([]);
    expect(await alice.page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
    expect([...alice.errors, ...bob.errors]).toEqual([]);
    await alice.context.close();
    await bob.context.close();
  });

  test("the demo page shows the user name from its address as text", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const dialogs: string[] = [];
    page.on("dialog", (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    const user = `<img src=x onerror="alert('bar')">`;
    await page.goto(`${t.httpUrl}/demo/?${new URLSearchParams({ user }).toString()}`);
    const bar = page.locator("#bar");
    await bar.getByText("signed in as").waitFor();
    expect(await bar.textContent()).toContain(user);
    expect(await bar.locator("img").count()).toBe(0);
    expect(dialogs).toEqual([]);
    await context.close();
  });
});
