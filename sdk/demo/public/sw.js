// The demo's offline shell: the page and its assets are cached, so the chat
// reloads without a network and opens its documents from IndexedDB.
// Web push notifications come from the SDK's worker (@mtchat/client/sw), which the build copies here.
importScripts("/demo/push-sw.js");
const cacheName = "mtchat-demo-v1";

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(cacheName);
      const page = await fetch("/demo/");
      const html = await page.clone().text();
      await cache.put("/demo/", page);
      const assets = [...html.matchAll(/(?:src|href)="(\/demo\/assets\/[^"]+)"/g)].map((match) => match[1]);
      await cache.addAll(assets);
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== location.origin || !url.pathname.startsWith("/demo/")) return;
  event.respondWith(
    (async () => {
      const cache = await caches.open(cacheName);
      try {
        const response = await fetch(event.request);
        if (response.ok) await cache.put(url.pathname === "/demo/" ? "/demo/" : event.request, response.clone());
        return response;
      } catch (error) {
        const cached = await cache.match(url.pathname === "/demo/" ? "/demo/" : event.request);
        if (cached) return cached;
        throw error;
      }
    })(),
  );
});
