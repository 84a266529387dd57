import type { Server } from "node:http";

/** Something that can be cut off at once: `ws`'s sockets, whose close handshake would otherwise wait 30 s. */
export type Terminable = { terminate(): void };

/**
 * Stops the server accepting and resolves once every connection is gone. Node's `close()` ends only the keep-alive
 * connections idle at that moment: a client that polls again at once (the HTTP transport does) reuses its connection
 * and `close()` never calls back. So every response from now on says `Connection: close`, idle connections are ended
 * as they go idle, and what is still open after `graceMs` (a request that never finishes, an upgraded socket whose
 * peer does not answer the close) is destroyed.
 */
export const drain = (server: Server, graceMs: number, upgraded: () => Iterable<Terminable> = () => []) =>
  new Promise<void>((resolve) => {
    server.prependListener("request", (_request, response) => {
      response.shouldKeepAlive = false;
    });
    const idle = setInterval(() => server.closeIdleConnections(), 50);
    const deadline = setTimeout(() => {
      server.closeAllConnections();
      for (const socket of upgraded()) socket.terminate();
    }, graceMs);
    server.close(() => {
      clearInterval(idle);
      clearTimeout(deadline);
      resolve();
    });
  });
