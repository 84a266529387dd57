import { WidgetApi } from "./api.ts";
import { defaultOptions, parseOptions, serviceUrlFrom } from "./options.ts";

/**
 * The script-tag widget: `<script src="https://chat.example.com/widget/v1/loader.js" data-token-url="/chat-token" async>`.
 * It reads its options from its own `data-` attributes, replays what the page queued on `window.MTChatWidget`
 * before it loaded (`["open"]`, `["on", "unread", fn]`, or a function called with the API), and puts the API there.
 */
type Queued = unknown[] | ((api: WidgetApi) => void);
declare global {
  interface Window {
    MTChatWidget?: WidgetApi | Queued[];
  }
}

const script = document.currentScript as HTMLScriptElement | null;
const src = script?.src || `${location.origin}/widget/v1/loader.js`;
const fromTag = parseOptions({ ...(script?.dataset ?? {}) }, defaultOptions(serviceUrlFrom(src)));

if (!(window.MTChatWidget instanceof WidgetApi)) {
  const queued = Array.isArray(window.MTChatWidget) ? window.MTChatWidget : [];
  const api = new WidgetApi(fromTag);
  window.MTChatWidget = api;
  const call = (item: Queued) => {
    if (typeof item === "function") return item(api);
    const [method, ...args] = item;
    const fn = typeof method === "string" ? (api as unknown as Record<string, unknown>)[method] : undefined;
    if (typeof fn === "function") (fn as (...rest: unknown[]) => unknown).apply(api, args);
  };
  // `init` and `set` first: the other calls (and auto-start) see the page's options.
  for (const item of queued)
    if (Array.isArray(item) && (item[0] === "set" || item[0] === "init")) api.set((item[1] ?? {}) as Record<string, unknown>);
  const startsItself = script?.dataset.autoInit !== "false";
  const initCall = queued.find((item) => Array.isArray(item) && item[0] === "init") as unknown[] | undefined;
  for (const item of queued) if (!(Array.isArray(item) && (item[0] === "set" || item[0] === "init"))) call(item);
  if (initCall) api.init((initCall[1] ?? {}) as Record<string, unknown>);
  else if (startsItself && (fromTag.tokenUrl || fromTag.token)) api.init();
}
