import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import dbus from "dbus-next";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { callApi, type TestServer } from "../sync-server/test/harness.ts";
import { type BrowserSuite, chromiumArgs, chromiumPath, demoDialog, startBrowserSuite } from "./browser.ts";

/**
 * Notifications the user sees, in Chromium: system notifications for messages
 * from others in dialogs that are not on screen, the `message` event hosts build
 * alerts on, the in-context permission prompt, and the unread count in the tab's
 * title. Chromium's own Notification is wrapped (and delegated to), so the test
 * sees what the page asked the browser to show. Last, what a click on a notification
 * the SDK's push worker showed does, clicked through a desktop notification daemon.
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

/**
 * Delivers a push about the tender from Bob to the page's service worker (at `scope`), as Chromium's push service
 * would deliver what the server sends (see the web push test).
 */
const pushToWorker = async (context: BrowserContext, page: Page, scope: string, message: { preview: string; message_id: string }) => {
  const cdp = await context.newCDPSession(page);
  const registration = new Promise<string>((resolve) =>
    cdp.on("ServiceWorker.workerRegistrationUpdated", ({ registrations }) => {
      const found = registrations.find((entry) => entry.scopeURL === scope && !entry.isDeleted);
      if (found) resolve(found.registrationId);
    }),
  );
  await cdp.send("ServiceWorker.enable");
  const payload = { type: "message", dialog_id: dialogs.tender, title: tenderTitle, sender_name: "Bob Chen", unread_count: 1, ...message };
  await cdp.send("ServiceWorker.deliverPushMessage", {
    origin: t.httpUrl,
    registrationId: await registration,
    data: JSON.stringify(payload),
  });
  await cdp.detach();
};

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
    await pushToWorker(context, page, scope, { preview: "Reefers confirmed", message_id: "00000000-0000-4000-8000-000000000001" });
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

/**
 * A stand-in for the desktop's notification daemon (the org.freedesktop.Notifications service a
 * Linux desktop runs, which we cannot run here), on a private D-Bus session bus. Chromium shows
 * its notifications through it, and a click is what the daemon reports on a real desktop:
 * `ActionInvoked(id, "default")`. That makes Chromium's click trusted, the only kind that may focus
 * or open a window from a service worker (a script-made NotificationEvent may not).
 */
class NotificationDaemon extends dbus.interface.Interface {
  shown: { id: number; summary: string; body: string }[] = [];
  closed: number[] = [];
  constructor() {
    super("org.freedesktop.Notifications");
  }
  GetCapabilities() {
    return ["actions", "body"];
  }
  GetServerInformation() {
    return ["stand-in", "mtchat-tests", "1.0", "1.2"];
  }
  Notify(_app: string, _replaces: number, _icon: string, summary: string, body: string) {
    const id = this.shown.length + 1;
    this.shown.push({ id, summary, body });
    return id;
  }
  CloseNotification(id: number) {
    this.closed.push(id);
  }
  ActionInvoked(id: number, action: string) {
    return [id, action];
  }
  NotificationClosed(id: number, reason: number) {
    return [id, reason];
  }
}
NotificationDaemon.configureMembers({
  methods: {
    GetCapabilities: { outSignature: "as" },
    GetServerInformation: { outSignature: "ssss" },
    Notify: { inSignature: "susssasa{sv}i", outSignature: "u" },
    CloseNotification: { inSignature: "u" },
  },
  signals: { ActionInvoked: { signature: "us" }, NotificationClosed: { signature: "uu" } },
});

describe("clicking a notification the push worker showed", { timeout: 60_000 }, () => {
  let folder: string;
  let daemonBus: ChildProcess;
  let bus: dbus.MessageBus;
  let daemon: NotificationDaemon;
  let context: BrowserContext;

  beforeAll(async () => {
    folder = await mkdtemp(path.join(tmpdir(), "mtchat-dbus-"));
    const address = `unix:path=${path.join(folder, "bus")}`;
    daemonBus = spawn("dbus-daemon", ["--session", "--nofork", `--address=${address}`, "--print-address"], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    await new Promise<void>((resolve, reject) => {
      daemonBus.once("error", reject);
      daemonBus.stdout?.once("data", () => resolve());
    });
    bus = dbus.sessionBus({ busAddress: address });
    daemon = new NotificationDaemon();
    bus.export("/org/freedesktop/Notifications", daemon);
    await bus.requestName("org.freedesktop.Notifications", 0);
    // Chromium looks for the daemon when it starts. The profile's own context, not one made over CDP:
    // Chromium finds a clicked notification's profile by name, and drops the click of one it cannot find.
    context = await chromium.launchPersistentContext(path.join(folder, "profile"), {
      executablePath: chromiumPath,
      headless: true,
      args: chromiumArgs,
      env: { ...process.env, DBUS_SESSION_BUS_ADDRESS: address } as Record<string, string>,
      viewport: { width: 1100, height: 720 },
    });
    await context.grantPermissions(["notifications"], { origin: t.httpUrl });
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    bus?.disconnect();
    daemonBus?.kill();
    if (folder) await rm(folder, { recursive: true, force: true });
  });

  /** Delivers a push about the tender to the demo's worker as Chromium's push service would; answers the daemon's id for it. */
  const pushTender = async (page: Page, preview: string): Promise<number> => {
    await pushToWorker(context, page, `${t.httpUrl}/demo/`, { preview, message_id: "00000000-0000-4000-8000-000000000002" });
    await expect.poll(() => daemon.shown.find((note) => note.body.includes(preview)), { timeout: 15_000 }).toBeTruthy();
    return daemon.shown.find((note) => note.body.includes(preview))?.id as number;
  };

  /** The notifications the worker still has up for the tender, as its page sees them. */
  const stillShown = (page: Page) =>
    page.evaluate(
      async (tag) => (await (await navigator.serviceWorker.ready).getNotifications({ tag })).length,
      `mtchat:${dialogs.tender}`,
    );

  test("with no chat window open, a click opens one on the notification's dialog and closes the notification", async () => {
    const page = await context.newPage();
    await page.goto(`${t.httpUrl}/demo/?user=alice`);
    await page.getByTestId("dialog-list").waitFor();
    await page.evaluate(async () => (await navigator.serviceWorker.ready).active?.state);
    // Elsewhere on the host's site: no window on the chat page any more.
    await page.goto(`${t.httpUrl}/health`);
    const id = await pushTender(page, "Reefers confirmed for the 12th");
    expect(daemon.shown.find((note) => note.id === id)?.summary).toBe(tenderTitle);

    const opened = context.waitForEvent("page", { timeout: 15_000 });
    daemon.ActionInvoked(id, "default");
    const chat = await opened;
    await chat.waitForURL(`${t.httpUrl}/demo/?dialog=${dialogs.tender}`);
    await chat.locator(`[data-dialog-id="${dialogs.tender}"][aria-current=true]`).waitFor({ timeout: 15_000 });
    await chat.getByTestId("composer").waitFor();
    expect(page.url()).toBe(`${t.httpUrl}/health`);
    await expect.poll(() => stillShown(chat)).toBe(0);
    expect(daemon.closed).toContain(id);
    await chat.close();
    await page.close();
  });

  test("with the chat open on another dialog, a click brings that window to the notification's dialog, opening no other", async () => {
    const page = await context.newPage();
    await page.goto(`${t.httpUrl}/demo/?user=alice&dialog=${dialogs.order}`);
    await page.locator(`[data-dialog-id="${dialogs.order}"][aria-current=true]`).waitFor({ timeout: 15_000 });
    const id = await pushTender(page, "Reefers confirmed, second thoughts");
    const pagesBefore = context.pages().length;

    daemon.ActionInvoked(id, "default");
    await page.waitForURL(`${t.httpUrl}/demo/?dialog=${dialogs.tender}`, { timeout: 15_000 });
    await page.locator(`[data-dialog-id="${dialogs.tender}"][aria-current=true]`).waitFor({ timeout: 15_000 });
    await expect.poll(() => stillShown(page)).toBe(0);
    expect(daemon.closed).toContain(id);
    expect(context.pages().length).toBe(pagesBefore);
    await page.close();
  });
  test("a window opened on the notification's dialog, where the user has since gone to another, is brought back to it", async () => {
    const dialogUrl = `${t.httpUrl}/demo/?dialog=${dialogs.tender}`;
    const page = await context.newPage();
    await page.goto(dialogUrl);
    await page.locator(`[data-dialog-id="${dialogs.tender}"][aria-current=true]`).waitFor({ timeout: 15_000 });
    // The demo keeps its address as it was loaded while the user moves between dialogs.
    await page.click(`[data-dialog-id="${dialogs.order}"]`);
    await page.locator(`[data-dialog-id="${dialogs.order}"][aria-current=true]`).waitFor();
    expect(page.url()).toBe(dialogUrl);
    const id = await pushTender(page, "Reefers confirmed, third time");
    const pagesBefore = context.pages().length;

    daemon.ActionInvoked(id, "default");
    await page.locator(`[data-dialog-id="${dialogs.tender}"][aria-current=true]`).waitFor({ timeout: 15_000 });
    await expect.poll(() => stillShown(page)).toBe(0);
    expect(daemon.closed).toContain(id);
    expect(context.pages().length).toBe(pagesBefore);
    await page.close();
  });
});
