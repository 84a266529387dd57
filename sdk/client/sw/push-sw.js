// MTChat's web push service worker. Serve it from the host's own origin (a
// service worker must come from the page's origin), e.g. copy it to
// /mtchat-sw.js, and register it:
//
//   navigator.serviceWorker.register("/mtchat-sw.js?open=" + encodeURIComponent("/chat?dialog={dialog}"))
//
// Query parameters (all optional):
//   open  where a click on a notification goes, `{dialog}` replaced by the dialog id;
//         relative to the worker's scope. Default: `./?dialog={dialog}`.
//   icon  the notification's icon URL.
// A host with a service worker of its own can `importScripts()` this file into it instead.

const settings = new URL(self.location.href).searchParams;
const openTemplate = settings.get("open") || "./?dialog={dialog}";
const icon = settings.get("icon");

/** The page a dialog opens in, as an absolute URL on this origin. */
const dialogUrl = (dialogId) => new URL(openTemplate.replace("{dialog}", encodeURIComponent(dialogId)), self.registration.scope).href;

self.addEventListener("push", (event) => {
  let data = null;
  try {
    data = event.data ? event.data.json() : null;
  } catch {
    data = null;
  }
  // Not one of ours (another part of the host's worker may handle it).
  if (data?.type !== "message" || typeof data.dialog_id !== "string") return;
  const body = data.preview ? `${data.sender_name}: ${data.preview}` : data.sender_name;
  event.waitUntil(
    self.registration.showNotification(data.title || "New message", {
      body,
      // The same tag as the page's own notifications: one per dialog, a newer one replaces it.
      tag: `mtchat:${data.dialog_id}`,
      renotify: true,
      ...(icon ? { icon } : {}),
      data: { dialogId: data.dialog_id, messageId: data.message_id, url: dialogUrl(data.dialog_id) },
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  const data = event.notification.data;
  if (!data || typeof data.dialogId !== "string" || !String(event.notification.tag).startsWith("mtchat:")) return;
  event.notification.close();
  event.waitUntil(
    (async () => {
      const url = data.url || dialogUrl(data.dialogId);
      const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      // A tab on the chat page already: bring it forward on the dialog. Even one whose address is the
      // dialog's is navigated there: a chat moves between dialogs without changing the address it loaded at.
      const path = new URL(url).pathname;
      const chat = windows.find((client) => client.url === url) ?? windows.find((client) => new URL(client.url).pathname === path);
      if (chat) {
        const focused = await chat.focus();
        return "navigate" in focused ? focused.navigate(url) : focused;
      }
      return self.clients.openWindow(url);
    })(),
  );
});
