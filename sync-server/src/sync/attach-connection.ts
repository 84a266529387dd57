import type { Hocuspocus } from "@hocuspocus/server";
import type { Logger } from "./logger.ts";
import type { SocketGuards } from "./socket-guard.ts";

/** What a transport (a WebSocket, an HTTP session) offers the connection it carries. */
export type Transport = {
  send(data: Uint8Array): void;
  close(code: number, reason: string): void;
  readonly readyState: number;
  /** After a close the guard ordered: stop reading from the client and free what is buffered for it. */
  abort(): void;
};

/** What the transport feeds the connection. */
export type AttachedConnection = {
  /** Raw bytes arrived, counted before they are parsed into frames. */
  received(bytes: number): void;
  /** One binary frame from the client. */
  frame(data: Uint8Array): void;
  /** The client is gone (idempotent). */
  closed(code: number, reason: string): void;
};

/**
 * One client of Hocuspocus, whatever carries its frames: every frame passes
 * the socket guard on its way in and out, so the WebSocket and the HTTP
 * transport have the same limits, authentication and authorization.
 */
export const attachConnection = (
  deps: { hocuspocus: Hocuspocus; guards: SocketGuards; logger: Logger },
  request: Request,
  transport: Transport,
): AttachedConnection => {
  let ended = false;
  const end = (code: number, reason: string) => {
    if (ended) return;
    ended = true;
    guard.dispose();
    connection.handleClose({ code, reason });
  };
  const guard = deps.guards.open(request, (code, reason) => {
    deps.logger.warn("socket_closed", { code, reason });
    transport.close(code, reason);
    transport.abort();
    end(code, reason);
  });
  // Hocuspocus sends through the guard, which learns from it when an authentication was refused.
  const connection = deps.hocuspocus.handleConnection(
    {
      send: (data) => {
        // Hocuspocus sends only binary frames.
        if (guard.sent(data)) transport.send(data as Uint8Array);
      },
      close: (code, reason) => transport.close(code ?? 1000, reason ?? ""),
      get readyState() {
        return transport.readyState;
      },
    },
    request,
  );
  return {
    received: (bytes) => guard.received(bytes),
    frame: (data) => {
      const admitted = guard.admit(data);
      if (admitted) connection.handleMessage(admitted);
    },
    closed: end,
  };
};
