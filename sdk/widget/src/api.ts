import { ChatClient, Emitter } from "@mtchat/client";
import { createApp, reactive } from "vue";
import { liveOptions, parseOptions, type WidgetOptions } from "./options.ts";
import { tokenFromUrl } from "./token-url.ts";
import { type IncomingMessage, UnreadWatcher } from "./unread.ts";
import { Widget, type WidgetState } from "./widget.ts";
import { widgetCss } from "./widget-styles.ts";

/** The widget's events, for `MTChatWidget.on(event, callback)`. */
export type WidgetEvents = {
  /** The client started and the unread count is known. */
  ready: { unread: number };
  open: undefined;
  close: undefined;
  /** The total unread count across the user's dialogs changed. */
  unread: number;
  /** Someone else wrote in one of the user's dialogs. */
  message: IncomingMessage;
  /** The user sent a message from the widget. */
  sent: { dialogId: string; messageId: string };
  error: unknown;
};

/**
 * `window.MTChatWidget`: the page's handle on the widget. Calls made before the widget is ready are kept and take
 * effect once it is (`openDialog` before `ready` opens that dialog when the chat mounts).
 */
export class WidgetApi {
  private readonly events = new Emitter<WidgetEvents>();
  private state: WidgetState | null = null;
  private client: ChatClient | null = null;
  private watcher: UnreadWatcher | null = null;
  private host: HTMLElement | null = null;
  private pending: Partial<WidgetOptions> = {};
  private wantOpen: boolean | null = null;
  /** Whether `ready` was emitted; `on("ready")` after it calls back at once. */
  ready = false;

  constructor(private options: WidgetOptions) {}

  /** Starts the widget with these options over the ones the script tag gave; a second call only changes options. */
  init(options: Record<string, unknown> = {}): void {
    if (this.client) {
      this.set(options);
      return;
    }
    this.options = parseOptions(options, this.options);
    void this.start();
  }

  /** Changes what the widget shows: mode, objectType, objectId, dialogId, theme, locale, position. */
  set(options: Record<string, unknown>): void {
    const next = parseOptions(options, this.options);
    const changes: Partial<WidgetOptions> = {};
    for (const key of liveOptions) (changes as Record<string, unknown>)[key] = next[key];
    const remount = next.mode !== this.options.mode;
    this.options = { ...this.options, ...changes };
    if (this.state) {
      Object.assign(this.state.options, changes);
      // <MTChat> picks its mode at mount: another mode is another chat.
      if (remount) this.state.generation += 1;
    } else Object.assign(this.pending, changes);
  }

  open(): void {
    if (!this.state) {
      this.wantOpen = true;
      return;
    }
    if (this.state.opened || this.state.embedded) return;
    this.state.opened = true;
    this.state.mounted = true;
    this.events.emit("open", undefined);
  }

  close(): void {
    if (!this.state) {
      this.wantOpen = false;
      return;
    }
    if (!this.state.opened) return;
    this.state.opened = false;
    this.events.emit("close", undefined);
  }

  toggle(): void {
    if (this.state?.opened) this.close();
    else this.open();
  }

  /** Opens the panel on one dialog (in full mode, beside the lists). */
  openDialog(dialogId: string): void {
    this.set({ dialogId });
    if (this.state) this.state.generation += 1;
    this.open();
  }

  /** The total unread count the badge shows. */
  get unread(): number {
    return this.state?.unread ?? 0;
  }

  on<K extends keyof WidgetEvents>(event: K, callback: (payload: WidgetEvents[K]) => void): () => void {
    const off = this.events.on(event, callback);
    if (event === "ready" && this.ready) callback({ unread: this.unread } as WidgetEvents[K]);
    return off;
  }

  off<K extends keyof WidgetEvents>(event: K, callback: (payload: WidgetEvents[K]) => void): void {
    // Emitter's `on` hands back the remover; registering the same function again and removing it finds the same entry.
    this.events.on(event, callback)();
  }

  /** Removes the widget from the page and closes its connection. */
  destroy(): void {
    this.watcher?.stop();
    this.client?.destroy();
    this.host?.remove();
    this.client = null;
    this.state = null;
  }

  private async start(): Promise<void> {
    const options = this.options;
    const token = options.token ?? (options.tokenUrl ? tokenFromUrl(options.tokenUrl) : null);
    if (!token) {
      this.events.emit("error", new Error("MTChatWidget needs data-token-url on its script tag (or init({ tokenUrl }) / init({ token }))"));
      return;
    }
    const target = options.container ? document.querySelector<HTMLElement>(options.container) : document.body;
    if (!target) {
      this.events.emit("error", new Error(`MTChatWidget: no element matches data-container="${options.container}"`));
      return;
    }
    const client = new ChatClient({ url: options.url, token });
    this.client = client;
    this.host = document.createElement("div");
    this.host.setAttribute("data-mtchat-widget", "");
    if (options.container) this.host.style.cssText = "display:block;height:100%";
    target.append(this.host);
    const shadow = this.host.attachShadow({ mode: "open" });
    // The editor's Yjs binding (y-tiptap) asks the editor's root for a Range, which only a Document has; the
    // document's own Range works for nodes in the shadow tree.
    Object.defineProperty(shadow, "createRange", { value: () => document.createRange() });
    const style = document.createElement("style");
    style.textContent = widgetCss;
    const mount = document.createElement("div");
    shadow.append(style, mount);

    const state = reactive<WidgetState>({
      options: { ...options, ...this.pending },
      opened: false,
      mounted: false,
      unread: 0,
      generation: 0,
      embedded: options.container !== null,
    }) as WidgetState;
    this.state = state;
    createApp(Widget, {
      state,
      client,
      onToggle: () => this.toggle(),
      onMessageSent: (sent: { dialogId: string; messageId: string }) => this.events.emit("sent", sent),
      onError: (error: unknown) => this.events.emit("error", error),
    }).mount(mount);
    if (this.wantOpen ?? options.open) this.open();

    try {
      await client.start();
      const watcher = new UnreadWatcher(client);
      this.watcher = watcher;
      watcher.on("unread", (count) => {
        state.unread = count;
        this.events.emit("unread", count);
      });
      watcher.on("message", (message) => this.events.emit("message", message));
      await watcher.start(await client.openUserState());
      state.unread = watcher.total;
    } catch (error) {
      this.events.emit("error", error);
      return;
    }
    this.ready = true;
    this.events.emit("ready", { unread: state.unread });
  }
}
