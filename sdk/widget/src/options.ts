import type { TokenInput } from "@mtchat/client";
import { type Locale, locales } from "@mtchat/vue";

/** What the widget shows and how it gets the user's token; the same fields come from `data-` attributes and from the JS API. */
export type WidgetOptions = {
  /** Base URL of the chat service; by default where the loader script itself came from. */
  url: string;
  /** The host's own endpoint returning the user's JWT (text/plain, or JSON `{"token": "…"}`), fetched with the page's cookies. */
  tokenUrl: string | null;
  /** The user's JWT or a function returning one (JS API only), instead of `tokenUrl`. */
  token: TokenInput | null;
  /** `full`: dialog lists beside the open dialog; `inline`: the one dialog of `objectType` + `objectId` (or `dialogId`). */
  mode: "full" | "inline";
  objectType: string | null;
  objectId: string | null;
  /** The dialog to open first. */
  dialogId: string | null;
  theme: "light" | "dark";
  locale: Locale;
  /** Which bottom corner the launcher sits in. */
  position: "right" | "left";
  /** A CSS selector of an element on the page to render the chat into, always open and without the launcher. */
  container: string | null;
  /** Open the panel as soon as the widget is ready. */
  open: boolean;
};

/** The options that may change after the widget started (through `MTChatWidget.set`). */
export const liveOptions = ["mode", "objectType", "objectId", "dialogId", "theme", "locale", "position"] as const;

const oneOf = <T extends string>(value: unknown, allowed: readonly T[], fallback: T): T =>
  typeof value === "string" && (allowed as readonly string[]).includes(value) ? (value as T) : fallback;
const text = (value: unknown): string | null => (typeof value === "string" && value.trim() !== "" ? value.trim() : null);

/** Where the service is, from the loader's own address: `https://chat.example.com/widget/v1/loader.js` → `https://chat.example.com`. */
export const serviceUrlFrom = (scriptSrc: string): string => {
  const url = new URL(scriptSrc);
  const base = url.pathname.replace(/\/widget\/v1\/[^/]*$/, "").replace(/\/$/, "");
  return `${url.origin}${base}`;
};

/**
 * Options from a loose record: the loader script's `dataset` (`data-token-url` → `tokenUrl`) or what a page passed
 * to the JS API. Unknown values fall back to the defaults, so a typo shows the default widget rather than none.
 */
export const parseOptions = (input: Record<string, unknown>, defaults: WidgetOptions): WidgetOptions => {
  const token = input.token;
  /** A string option; `null` clears it (e.g. `set({ dialogId: null })` to show the object's dialog again). */
  const optional = (key: "objectType" | "objectId" | "dialogId" | "container") =>
    input[key] === null ? null : (text(input[key]) ?? defaults[key]);
  return {
    url: text(input.url)?.replace(/\/$/, "") ?? defaults.url,
    tokenUrl: text(input.tokenUrl) ?? defaults.tokenUrl,
    token: typeof token === "string" || typeof token === "function" ? (token as TokenInput) : defaults.token,
    mode: oneOf(input.mode, ["full", "inline"] as const, defaults.mode),
    objectType: optional("objectType"),
    objectId: optional("objectId"),
    dialogId: optional("dialogId"),
    theme: oneOf(input.theme, ["light", "dark"] as const, defaults.theme),
    locale: oneOf(input.locale, Object.keys(locales) as Locale[], defaults.locale),
    position: oneOf(input.position, ["right", "left"] as const, defaults.position),
    container: optional("container"),
    open:
      input.open === true || input.open === "true" || input.open === ""
        ? true
        : input.open === false || input.open === "false"
          ? false
          : defaults.open,
  };
};

export const defaultOptions = (url: string): WidgetOptions => ({
  url,
  tokenUrl: null,
  token: null,
  mode: "full",
  objectType: null,
  objectId: null,
  dialogId: null,
  theme: "light",
  locale: "en",
  position: "right",
  container: null,
  open: false,
});
