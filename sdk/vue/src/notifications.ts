import type { IncomingMessage } from "@mtchat/client";
import { h, ref, type VNode } from "vue";
import type { Translate } from "./i18n.ts";

/** The browser's answer to "may this page notify?", or `unsupported` where there is no Notification API. */
export type NotifyPermission = NotificationPermission | "unsupported";

const permissionNow = (): NotifyPermission => (typeof Notification === "undefined" ? "unsupported" : Notification.permission);

/** Where "Not now" is remembered, so the prompt does not come back on every page. */
const laterKey = "mtchat/notify-later";

const saidLater = (): boolean => {
  try {
    return typeof localStorage !== "undefined" && localStorage.getItem(laterKey) === "1";
  } catch {
    return false;
  }
};

export type BrowserNotificationOptions = {
  /** The host opted in (`<MTChat notifications>`). */
  enabled: () => boolean;
  /** The dialog on screen, whose messages need no alert while the tab is visible. */
  openDialogId: () => string | null;
  /** Opens a dialog when its notification is clicked. */
  open: (dialogId: string) => void;
  t: () => Translate;
};

/**
 * System notifications for new messages: shown when the message's dialog is
 * not the one on screen or the tab is hidden, never for a muted dialog. The
 * browser is asked for permission only from the prompt the chat shows, when
 * the user clicks it: asking on load is what browsers penalize and users refuse.
 */
export const useBrowserNotifications = (options: BrowserNotificationOptions) => {
  const permission = ref<NotifyPermission>(permissionNow());
  const later = ref(saidLater());

  const request = async () => {
    if (typeof Notification === "undefined") return;
    permission.value = await Notification.requestPermission();
  };

  const dismiss = () => {
    later.value = true;
    try {
      localStorage.setItem(laterKey, "1");
    } catch {
      // Storage may be off; the prompt then stays away for this page only.
    }
  };

  const notify = (message: IncomingMessage): Notification | null => {
    if (!options.enabled() || message.muted) return null;
    // The user may have changed it in the browser's settings meanwhile.
    permission.value = permissionNow();
    if (permission.value !== "granted") return null;
    if (document.visibilityState === "visible" && options.openDialogId() === message.dialogId) return null;
    const notification = new Notification(message.dialogTitle, {
      body: options.t()("notify.body", { name: message.senderName, preview: message.preview }),
      // One notification per dialog: a burst replaces, instead of stacking up.
      tag: `mtchat:${message.dialogId}`,
      data: { dialogId: message.dialogId, messageId: message.messageId },
    });
    notification.onclick = () => {
      window.focus();
      options.open(message.dialogId);
      notification.close();
    };
    return notification;
  };

  /** The in-context prompt: shown while the host opted in and the browser has not been asked yet. */
  const renderPrompt = (): VNode | null => {
    if (!options.enabled() || permission.value !== "default" || later.value) return null;
    const t = options.t();
    return h("div", { class: "mtc-banner", "data-testid": "notify-ask" }, [
      h("span", t("notify.ask")),
      h("button", { type: "button", class: "mtc-primary", onClick: () => void request() }, t("notify.enable")),
      h("button", { type: "button", onClick: dismiss }, t("notify.later")),
    ]);
  };

  return { permission, notify, renderPrompt };
};
