import { MTChat } from "@mtchat/vue";
import { createApp, h, ref } from "vue";

/**
 * The development demo: `?user=alice|bob|carol|dave`, `mode=full|inline`,
 * `theme=light|dark`, `locale=en|ru|zh|es|pt-BR|de`, `object=order:1001`, `dialog=<id>`, `notifications=on`,
 * `titleBadge=on`, `faviconBadge=on`, and `server=<origin>` for a copy of
 * the page served elsewhere, as a host's site would (the service must allow that origin: CORS_ALLOWED_ORIGINS).
 * Tokens come from the service's /demo/session route (development only).
 */
const params = new URLSearchParams(location.search);
const server = /^https?:\/\/[^/]+$/.test(params.get("server") ?? "") ? (params.get("server") as string) : location.origin;
const user = params.get("user") ?? "alice";
const mode = params.get("mode") === "inline" ? "inline" : "full";
const theme = params.get("theme") === "dark" ? "dark" : "light";
const localeParam = params.get("locale") ?? "en";
// "de" is not shipped: the demo adds it as a host would, a partial table over English (see the README).
const locale = ["en", "ru", "zh", "es", "pt-BR", "de"].includes(localeParam) ? localeParam : "en";
const hostMessages = {
  de: { "tabs.mine": "Meine Chats", "tabs.available": "Verfügbar", "tabs.archived": "Archiv", "composer.send": "Senden" },
};
const [objectType, objectId] = (params.get("object") ?? "order:1001").split(":");
document.body.dataset.theme = theme;

const token = async (): Promise<string> => {
  const response = await fetch(`${server}/demo/session`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user }),
  });
  const body = (await response.json()) as { data?: { token: string }; error?: { message: string } };
  // The envelope's message says the fix (an unknown user names the known ones).
  if (!body.data) throw new Error(body.error?.message ?? `the demo session answered HTTP ${response.status}`);
  return body.data.token;
};

const link = (changes: Record<string, string>, text: string): HTMLAnchorElement => {
  const next = new URLSearchParams(params);
  for (const [key, value] of Object.entries(changes)) next.set(key, value);
  const anchor = document.createElement("a");
  anchor.href = `?${next.toString()}`;
  anchor.textContent = text;
  return anchor;
};
const strong = (text: string) => {
  const element = document.createElement("strong");
  element.textContent = text;
  return element;
};
/** The nodes with `separator` between them. */
const joined = (nodes: Node[], separator: string): (Node | string)[] =>
  nodes.flatMap((node, index) => (index === 0 ? [node] : [separator, node]));
// Built as elements, never as HTML: `user` comes from the address bar, and anyone can send a link to the demo.
document.getElementById("bar")?.replaceChildren(
  strong("MTChat demo"),
  " signed in as ",
  strong(user),
  ": ",
  ...joined(
    ["alice", "bob", "carol", "dave"].map((name) => link({ user: name }, name)),
    " · ",
  ),
  " | ",
  link({ mode: mode === "full" ? "inline" : "full" }, mode === "full" ? "inline mode" : "full mode"),
  " ",
  link({ theme: theme === "dark" ? "light" : "dark" }, theme === "dark" ? "light" : "dark"),
  " ",
  ...joined(
    ["en", "ru", "zh", "es", "pt-BR", "de"].map((name) => link({ locale: name }, name)),
    " ",
  ),
);

const chatRef = ref<{ client: unknown } | null>(null);
const chat = () =>
  h(MTChat, {
    ref: chatRef,
    config: { url: server, token },
    mode,
    theme,
    locale,
    messages: hostMessages,
    objectType: objectType ?? null,
    objectId: objectId ?? null,
    dialogId: params.get("dialog"),
    notifications: params.get("notifications") === "on",
    titleBadge: params.get("titleBadge") === "on",
    faviconBadge: params.get("faviconBadge") === "on",
    onError: (error: unknown) => console.warn("mtchat error", error),
    // What a host builds its own alerts on; the browser tests listen for it.
    onMessage: (message: unknown) => window.dispatchEvent(new CustomEvent("mtchat:message", { detail: message })),
  });

const app = createApp({
  render: () =>
    mode === "inline"
      ? h("div", { class: "host-page" }, [
          h("div", { class: "host-card" }, [
            h("h2", `${objectType} ${objectId}`),
            h("p", "The host app's own page for this object; the chat sits beside it."),
          ]),
          chat(),
        ])
      : chat(),
});
app.mount("#app");

// What a curious user reaches from the console (the browser tests forge edits through it).
(window as unknown as { mtchatDemo: unknown }).mtchatDemo = {
  user,
  get client() {
    return chatRef.value?.client;
  },
  /** Takes the chat off the page, as a host's route change would (the browser tests check what it leaves behind). */
  unmount: () => app.unmount(),
};

if ("serviceWorker" in navigator) void navigator.serviceWorker.register("/demo/sw.js", { scope: "/demo/" });
