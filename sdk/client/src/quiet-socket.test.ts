import { createServer } from "node:net";
import { HocuspocusProviderWebsocket } from "@hocuspocus/provider";
import { expect, test } from "vitest";
import WebSocket from "ws";
import { quietWebSocket } from "./quiet-socket.ts";

test("destroying a provider whose Node socket is still opening raises nothing unhandled", async () => {
  // A TCP server that never answers the upgrade keeps the socket in CONNECTING. With plain `ws`, the
  // destroy below raises "WebSocket was closed before the connection was established" uncaught, which
  // fails this run.
  const server = createServer(() => undefined);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  const unhandled: unknown[] = [];
  const record = (error: unknown) => unhandled.push(error);
  process.on("uncaughtException", record);
  try {
    const socket = new HocuspocusProviderWebsocket({ url: `ws://127.0.0.1:${port}`, WebSocketPolyfill: quietWebSocket(WebSocket) });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(socket.status).toBe("connecting");
    socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(unhandled).toEqual([]);
  } finally {
    process.off("uncaughtException", record);
    server.close();
  }
});
