import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { callApi, type TestServer } from "../sync-server/test/harness.ts";
import { type BrowserSuite, demoDialog, startBrowserSuite } from "./browser.ts";

/**
 * Notifications the user sees, in Chromium: system notifications for messages
 * from others in dialogs that are not on screen, the `message` event hosts build
 * alerts on, the in-context permission prompt, and the unread count in the tab's
 * title. Chromium's own Notification is wrapped (and delegated to), so the test
 * sees what the page asked the browser to show.
 */
let suite: BrowserSuite;
let t: TestServer;
let browser: Browser;
let tokens: BrowserSuite["tokens"];
const dialogs = { order: "", tender: "" };
const tenderTitle = "Tender #77 · Reefer capacity, March";

type Shown = { title: string; body: string; tag: string };
type Seen = {
  dialogId: string;
  dialogTitle: string;
  senderId: string;
  senderName: string;
  preview: string;
  messageId: string;
  muted: boolean;
};

/**
 * Records every Notification the page constructs, closes and every permission request, each
 * `window.focus()` (delegated to the real ones), and the demo's `message` events.
 */
const recorder = () => {
  const Real = window.Notification;
  const w = window as unknown as {
    shown: unknown[];
    instances: Notification[];
    dismissed: string[];
    focused: number;
    asked: number;
    seen: unknown[];
  };
  w.shown = [];
  w.instances = [];
  w.dismissed = [];
  w.focused = 0;
  w.asked = 0;
  w.seen = [];
  const focus = window.focus.bind(window);
  window.focus = () => {
    w.focused += 1;
    focus();
  };
  class Recorded extends Real {
    constructor(title: string, options?: NotificationOptions) {
      super(title, options);
      w.shown.push({ title, body: options?.body ?? "", tag: options?.tag ?? "" });
      w.instances.push(this);
    }
    override close() {
      w.dismissed.push(this.tag);
      super.close();
    }
    static override requestPermission(...args: Parameters<typeof Notification.requestPermission>) {
      w.asked += 1;
      return Real.requestPermission(...args);
    }
  }
  window.Notification = Recorded;
  window.addEventListener("mtchat:message", (event) => w.seen.push((event as CustomEvent).detail));
};

const shown = (page: Page) => page.evaluate(() => (window as unknown as { shown: Shown[] }).shown);
const seen = (page: Page) => page.evaluate(() => (window as unknown as { seen: Seen[] }).seen);

const send = async (dialogId: string, content: string, token: string) => {
  const response = await callApi<{ data: { id: string } }>(t.httpUrl, "POST", `/api/v1/dialogs/${dialogId}/messages`, { content }, token);
  expect(response.status).toBe(201);
  return response.body.data.id;
};

/** A page of the demo whose message watch has read its baseline (what it read there is never announced). */
const openWatching = async (context: BrowserContext, query: Record<string, string>) => {
  const page = await context.newPage();
  const baseline = page.waitForResponse((response) => response.url().includes("/api/v1/dialogs?type=participating&archived=true"));
  await page.goto(`${t.httpUrl}/demo/?${new URLSearchParams(query).toString()}`);
  await baseline;
  await page.getByTestId("dialog-list").waitFor();
  return page;
};

beforeAll(async () => {
  suite = await startBrowserSuite("browser_notifications");
  ({ t, browser, tokens } = suite);
  dialogs.order = await demoDialog(t.httpUrl, tokens.alice, "order", "1001");
  dialogs.tender = await demoDialog(t.httpUrl, tokens.alice, "tender", "77");
}, 120_000);

afterAll(() => suite?.close());

describe("notifications in Chromium", { timeout: 60_000 }, () => {
  let alice: Page;

  test("a message from Bob in a dialog Alice does not have open shows a notification, fires `message`, and badges the title", async () => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 720 } });
    await context.grantPermissions(["notifications"], { origin: t.httpUrl });
    await context.addInitScript(recorder);
    alice = await openWatching(context, {
      user: "alice",
      notifications: "on",
      titleBadge: "on",
      faviconBadge: "on",
      dialog: dialogs.order,
    });
    await alice.getByTestId("composer").waitFor();
    expect(await alice.title()).toBe("MTChat demo");

    const id = await send(dialogs.tender, "Can you take 4 reefers on the 12th?", tokens.bob);
    await alice.waitForFunction(() => (window as unknown as { shown: unknown[] }).shown.length > 0, undefined, { timeout: 15_000 });
    expect(await shown(alice)).toEqual([
      { title: tenderTitle, body: "Bob Chen: Can you take 4 reefers on the 12th?", tag: `mtchat:${dialogs.tender}` },
    ]);
    expect(await seen(alice)).toEqual([
      expect.objectContaining({
        dialogId: dialogs.tender,
        dialogTitle: tenderTitle,
        senderId: "bob",
        senderName: "Bob Chen",
        preview: "Can you take 4 reefers on the 12th?",
        messageId: id,
        muted: false,
      }),
    ]);
    await alice.waitForFunction(() => document.title === "(1) MTChat demo", undefined, { timeout: 15_000 });
    // The demo has no icon of its own: the badge is drawn on a canvas into one.
    await alice.waitForFunction(() => document.querySelector<HTMLLinkElement>('link[rel~="icon"]')?.href.startsWith("data:image/png"));
  });

  test("clicking the notification opens its dialog, and the title loses its count once it is read", async () => {
    await alice.evaluate(() => (window as unknown as { instances: Notification[] }).instances[0]?.dispatchEvent(new Event("click")));
    await alice.locator(`[data-dialog-id="${dialogs.tender}"][aria-current=true]`).waitFor();
    await alice.locator(".mtc-message", { hasText: "4 reefers" }).waitFor();
    await alice.waitForFunction(() => document.title === "MTChat demo", undefined, { timeout: 15_000 });
    await alice.waitForFunction(() => document.querySelector('link[rel~="icon"]') === null);
  });

  test("none for Alice's own messages, nor for the dialog on screen", async () => {
    await alice.click(`[data-dialog-id="${dialogs.order}"]`);
    await alice.locator(`[data-dialog-id="${dialogs.order}"][aria-current=true]`).waitFor();
    await send(dialogs.tender, "Alice here: checking the schedule", tokens.alice);
    await send(dialogs.order, "Bob here: pallets counted", tokens.bob);
    await send(dialogs.tender, "Bob here: the 12th works", tokens.bob);
    await alice.waitForFunction(() => (window as unknown as { shown: unknown[] }).shown.length > 1, undefined, { timeout: 15_000 });
    const bodies = (await shown(alice)).map((note) => note.body);
    expect(bodies).toEqual(["Bob Chen: Can you take 4 reefers on the 12th?", "Bob Chen: Bob here: the 12th works"]);
    // The host still hears of the message in the open dialog; only the alert stays quiet.
    await alice.waitForFunction(() => (window as unknown as { seen: Seen[] }).seen.some((m) => m.preview === "Bob here: pallets counted"));
    const previews = (await seen(alice)).map((message) => message.preview);
    expect(previews).toContain("Bob here: pallets counted");
    expect(previews).not.toContain("Alice here: checking the schedule");
  });

  test("none for a muted dialog", async () => {
    const muted = await callApi(t.httpUrl, "POST", `/api/v1/dialogs/${dialogs.tender}/notifications`, { enabled: false }, tokens.alice);
    expect(muted.status).toBe(200);
    // Alice's state document carries the mute to her page.
    await alice.waitForFunction(
      async (tender) => {
        const client = (
          window as unknown as {
            mtchatDemo: { client: { openUserState(): Promise<{ states(): Map<string, { notifications: boolean }> }> } };
          }
        ).mtchatDemo.client;
        return (await client.openUserState()).states().get(tender)?.notifications === false;
      },
      dialogs.tender,
      { timeout: 15_000 },
    );
    const id = await send(dialogs.tender, "Bob here: are you there?", tokens.bob);
    await alice.waitForFunction((messageId) => (window as unknown as { seen: Seen[] }).seen.some((m) => m.messageId === messageId), id, {
      timeout: 15_000,
    });
    expect((await seen(alice)).find((message) => message.messageId === id)?.muted).toBe(true);
    expect((await shown(alice)).map((note) => note.body)).not.toContain("Bob Chen: Bob here: are you there?");
    await callApi(t.httpUrl, "POST", `/api/v1/dialogs/${dialogs.tender}/notifications`, { enabled: true }, tokens.alice);
  });

  test("permission is asked only when the user clicks the prompt in the chat", async () => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 720 } });
    await context.addInitScript(recorder);
    const page = await openWatching(context, { user: "alice", notifications: "on" });
    expect(await page.evaluate(() => Notification.permission)).toBe("default");
    const prompt = page.getByTestId("notify-ask");
    await prompt.waitFor();
    expect(await page.evaluate(() => (window as unknown as { asked: number }).asked)).toBe(0);
    await prompt.getByRole("button", { name: "Turn on notifications" }).click();
    await page.waitForFunction(() => (window as unknown as { asked: number }).asked === 1);

    // Without the prop there is no prompt.
    const quiet = await openWatching(context, { user: "alice" });
    expect(await quiet.getByTestId("notify-ask").count()).toBe(0);
    await context.close();
  });

  test("the SDK's push worker shows a pushed message as a notification linking to its dialog", async () => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 720 } });
    await context.grantPermissions(["notifications"], { origin: t.httpUrl });
    const page = await openWatching(context, { user: "alice" });
    // The demo's worker imports the SDK's (@mtchat/client/sw), as a host's would.
    const scope = await page.evaluate(async () => (await navigator.serviceWorker.ready).scope);
    const cdp = await context.newCDPSession(page);
    const registration = new Promise<string>((resolve) =>
      cdp.on("ServiceWorker.workerRegistrationUpdated", ({ registrations }) => {
        const found = registrations.find((entry) => entry.scopeURL === scope && !entry.isDeleted);
        if (found) resolve(found.registrationId);
      }),
    );
    await cdp.send("ServiceWorker.enable");
    // What the server pushes (see the web push test): delivered by Chromium as its push service would.
    const payload = {
      type: "message",
      dialog_id: dialogs.tender,
      title: tenderTitle,
      sender_name: "Bob Chen",
      preview: "Reefers confirmed",
      unread_count: 1,
      message_id: "00000000-0000-4000-8000-000000000001",
    };
    await cdp.send("ServiceWorker.deliverPushMessage", {
      origin: t.httpUrl,
      registrationId: await registration,
      data: JSON.stringify(payload),
    });
    const shownByWorker = await page.waitForFunction(
      async (tag) => {
        const [note] = await (await navigator.serviceWorker.ready).getNotifications({ tag });
        return note ? { title: note.title, body: note.body, url: (note.data as { url: string }).url } : false;
      },
      `mtchat:${dialogs.tender}`,
      { timeout: 15_000 },
    );
    expect(await shownByWorker.jsonValue()).toEqual({
      title: tenderTitle,
      body: "Bob Chen: Reefers confirmed",
      url: `${t.httpUrl}/demo/?dialog=${dialogs.tender}`,
    });
    await context.close();
  });

  test("in inline mode a click on a notification only focuses the window: the chat stays on its object's dialog", async () => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 720 } });
    await context.grantPermissions(["notifications"], { origin: t.httpUrl });
    await context.addInitScript(recorder);
    const page = await context.newPage();
    const baseline = page.waitForResponse((response) => response.url().includes("/api/v1/dialogs?type=participating&archived=true"));
    await page.goto(`${t.httpUrl}/demo/?user=alice&mode=inline&object=order:1001&notifications=on`);
    await baseline;
    await page.getByTestId("composer").waitFor();
    const orderTitle = await page.getByTestId("dialog-title").innerText();
    expect(orderTitle).not.toBe(tenderTitle);

    await send(dialogs.tender, "Bob here: reefers for the inline page", tokens.bob);
    await page.waitForFunction(
      () => (window as unknown as { shown: Shown[] }).shown.some((note) => note.body === "Bob Chen: Bob here: reefers for the inline page"),
      undefined,
      { timeout: 15_000 },
    );
    await page.evaluate(() => (window as unknown as { instances: Notification[] }).instances.at(-1)?.dispatchEvent(new Event("click")));
    await page.waitForFunction(() => (window as unknown as { dismissed: string[] }).dismissed.length > 0);
    const after = await page.evaluate(() => {
      const w = window as unknown as { dismissed: string[]; focused: number };
      return { dismissed: w.dismissed, focused: w.focused };
    });
    expect(after).toEqual({ dismissed: [`mtchat:${dialogs.tender}`], focused: 1 });
    // Inline, the chat is the object's: it does not switch to the tender, nor does the page go anywhere.
    expect(await page.getByTestId("dialog-title").innerText()).toBe(orderTitle);
    expect(page.url()).toBe(`${t.httpUrl}/demo/?user=alice&mode=inline&object=order:1001&notifications=on`);
    expect(await page.locator(".mtc-message", { hasText: "reefers for the inline page" }).count()).toBe(0);
    await context.close();
  });

  test("unmounting the chat gives the page back its own title and favicon", async () => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 720 } });
    const ownIcon =
      "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Crect width='16' height='16' fill='%23246'/%3E%3C/svg%3E";
    // The host page's own icon, in the page before the chat starts.
    await context.addInitScript((href) => {
      document.addEventListener("readystatechange", () => {
        if (document.readyState !== "interactive") return;
        document.head.append(Object.assign(document.createElement("link"), { rel: "icon", href }));
      });
    }, ownIcon);
    const page = await openWatching(context, { user: "alice", titleBadge: "on", faviconBadge: "on", dialog: dialogs.order });
    await send(dialogs.tender, "Bob here: unread before you leave", tokens.bob);
    await page.waitForFunction(() => /^\(\d+\) MTChat demo$/.test(document.title), undefined, { timeout: 15_000 });
    await page.waitForFunction(() => document.querySelector<HTMLLinkElement>('link[rel~="icon"]')?.href.startsWith("data:image/png"));

    await page.evaluate(() => (window as unknown as { mtchatDemo: { unmount(): void } }).mtchatDemo.unmount());
    await page.getByTestId("dialog-list").waitFor({ state: "detached" });
    expect(await page.title()).toBe("MTChat demo");
    expect(await page.evaluate(() => [...document.querySelectorAll('link[rel~="icon"]')].map((link) => link.getAttribute("href")))).toEqual(
      [ownIcon],
    );
    await context.close();
  });

  test("no count in the title when the title badge is off", async () => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 720 } });
    await context.addInitScript(recorder);
    const page = await openWatching(context, { user: "alice" });
    // Alice's first page has the order open (and reads it at once): the tender stays unread.
    const id = await send(dialogs.tender, "Bob here: one more thing", tokens.bob);
    await page.waitForFunction((messageId) => (window as unknown as { seen: Seen[] }).seen.some((m) => m.messageId === messageId), id, {
      timeout: 15_000,
    });
    await page.locator(`[data-dialog-id="${dialogs.tender}"] [data-testid=unread]`).waitFor({ timeout: 15_000 });
    expect(await page.title()).toBe("MTChat demo");
    await context.close();
  });
});
