import type { ChatClient } from "@mtchat/client";
import { onBeforeUnmount, ref, watch } from "vue";

export type TabBadgeOptions = {
  /** `(3) Title` in the tab while there are unread messages. */
  title: () => boolean;
  /** A count drawn over the page's favicon while there are unread messages. */
  favicon: () => boolean;
  client: () => ChatClient | null;
};

/** The text of a badge: the count, or 99+. */
export const badgeText = (count: number): string => (count > 99 ? "99+" : String(count));

/** `(3) Title`, from a title that may already carry our count. */
export const badgedTitle = (count: number, title: string): string => (count > 0 ? `(${badgeText(count)}) ${title}` : title);

/** Draws the count over the page's icon; just the count when the icon cannot be read (cross-origin, missing). */
const drawFavicon = async (iconHref: string | null, count: number): Promise<string> => {
  const size = 64;
  const canvas = document.createElement("canvas");
  canvas.width = size;
  canvas.height = size;
  const context = canvas.getContext("2d");
  if (!context) throw new Error("no 2d canvas");
  if (iconHref) {
    await new Promise<void>((resolve) => {
      const image = new Image();
      image.crossOrigin = "anonymous";
      image.onload = () => {
        context.drawImage(image, 0, 0, size, size);
        resolve();
      };
      image.onerror = () => resolve();
      image.src = iconHref;
    });
  }
  const text = badgeText(count);
  const radius = text.length > 1 ? 24 : 20;
  context.fillStyle = "#d93025";
  context.beginPath();
  context.arc(size - radius, radius, radius, 0, 2 * Math.PI);
  context.fill();
  context.fillStyle = "#ffffff";
  context.font = `bold ${text.length > 2 ? 22 : 30}px sans-serif`;
  context.textAlign = "center";
  context.textBaseline = "middle";
  context.fillText(text, size - radius, radius + 1);
  try {
    return canvas.toDataURL("image/png");
  } catch {
    // A cross-origin icon taints the canvas: draw the count alone.
    return drawFavicon(null, count);
  }
};

/**
 * The unread count in the tab's title and favicon, both off unless the host
 * opts in. The count is the user's unread messages in dialogs they have not
 * muted; the title and icon the page had come back when it drops to 0 and on
 * unmount.
 */
export const useTabBadge = (options: TabBadgeOptions) => {
  const count = ref(0);
  let baseTitle: string | null = null;
  let shownTitle: string | null = null;
  let icon: { link: HTMLLinkElement; href: string | null; added: boolean } | null = null;
  let drawn = 0;
  let asked = 0;
  let timer: ReturnType<typeof setTimeout> | null = null;

  const restoreTitle = () => {
    if (baseTitle !== null && document.title === shownTitle) document.title = baseTitle;
    baseTitle = null;
    shownTitle = null;
  };

  const restoreFavicon = () => {
    drawn += 1;
    if (!icon) return;
    if (icon.added) icon.link.remove();
    else if (icon.href !== null) icon.link.href = icon.href;
    icon = null;
  };

  const apply = () => {
    if (typeof document === "undefined") return;
    const n = count.value;
    if (options.title() && n > 0) {
      // The host may have changed the title since we set it: that is the new base.
      if (baseTitle === null || document.title !== shownTitle) baseTitle = document.title;
      shownTitle = badgedTitle(n, baseTitle);
      document.title = shownTitle;
    } else restoreTitle();
    if (options.favicon() && n > 0) {
      if (!icon) {
        const existing = document.querySelector<HTMLLinkElement>('link[rel~="icon"]');
        const link = existing ?? Object.assign(document.createElement("link"), { rel: "icon" });
        if (!existing) document.head.append(link);
        icon = { link, href: existing ? existing.getAttribute("href") : null, added: !existing };
      }
      const target = icon;
      const generation = ++drawn;
      void drawFavicon(target.href !== null ? new URL(target.href, document.baseURI).href : null, n).then((url) => {
        if (generation === drawn) target.link.href = url;
      });
    } else restoreFavicon();
  };

  /** Reads the count again (debounced): call it whenever the server says a dialog changed. */
  const refresh = () => {
    if (!options.title() && !options.favicon()) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(async () => {
      timer = null;
      const client = options.client();
      if (!client) return;
      const mine = ++asked;
      try {
        const page = await client.rest.listDialogs({ type: "participating", limit: 100 });
        if (mine !== asked) return;
        count.value = page.items
          .filter((dialog) => dialog.notifications_enabled !== false)
          .reduce((sum, dialog) => sum + (dialog.unread_count ?? 0), 0);
      } catch {
        // Offline: the count stays until the next push.
      }
    }, 150);
  };

  watch([count, options.title, options.favicon], apply);
  watch([options.title, options.favicon], refresh);

  onBeforeUnmount(() => {
    if (timer) clearTimeout(timer);
    asked += 1;
    if (typeof document === "undefined") return;
    restoreTitle();
    restoreFavicon();
  });

  return { count, refresh };
};
