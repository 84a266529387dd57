import type { RestClient } from "./rest.ts";

/** Bytes of a base64url string (the VAPID key), as PushManager.subscribe() takes them. */
const base64urlBytes = (text: string): Uint8Array<ArrayBuffer> => {
  const base64 = text
    .replace(/-/g, "+")
    .replace(/_/g, "/")
    .padEnd(Math.ceil(text.length / 4) * 4, "=");
  const binary = atob(base64);
  const bytes = new Uint8Array(new ArrayBuffer(binary.length));
  for (let index = 0; index < binary.length; index += 1) bytes[index] = binary.charCodeAt(index);
  return bytes;
};

const sameKey = (key: ArrayBuffer | null | undefined, wanted: Uint8Array): boolean => {
  if (!key) return false;
  const have = new Uint8Array(key);
  return have.length === wanted.length && have.every((byte, index) => byte === wanted[index]);
};

/**
 * Subscribes this browser to web push for the signed-in user: the tab may be
 * closed, and a message that waits for them (offline, unread, not muted)
 * still shows a notification, through the service worker `registration`
 * (which must run `@mtchat/client/sw`, see the README). Call it from a user's
 * click: the browser asks for notification permission then. A subscription
 * made with another server key is replaced.
 */
export const enablePush = async (chat: { rest: RestClient }, registration: ServiceWorkerRegistration): Promise<PushSubscription> => {
  const { public_key: publicKey } = await chat.rest.call<{ public_key: string }>("GET", "/api/v1/push/vapid-public-key");
  const key = base64urlBytes(publicKey);
  let subscription = await registration.pushManager.getSubscription();
  if (subscription && !sameKey(subscription.options.applicationServerKey, key)) {
    await subscription.unsubscribe();
    subscription = null;
  }
  subscription ??= await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
  await chat.rest.call("POST", "/api/v1/push/subscriptions", subscription.toJSON());
  return subscription;
};

/** Stops web push for this browser: the server forgets the subscription, then the browser drops it. */
export const disablePush = async (chat: { rest: RestClient }, registration: ServiceWorkerRegistration): Promise<void> => {
  const subscription = await registration.pushManager.getSubscription();
  if (!subscription) return;
  await chat.rest
    .call("DELETE", `/api/v1/push/subscriptions?endpoint=${encodeURIComponent(subscription.endpoint)}`)
    .catch((error: { code?: string }) => {
      // Already gone on the server (a 410 from the push service, say): still drop it here.
      if (error.code !== "not_found") throw error;
    });
  await subscription.unsubscribe();
};
