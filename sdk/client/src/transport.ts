import { type CloseInfo, HttpSyncSocket, type SocketEventName, SocketEvents } from "./http-socket.ts";

/** How documents reach the server: one WebSocket, or, where a proxy refuses it, HTTP requests. */
export type TransportKind = "websocket" | "http";

export type TransportOptions = {
  /** `auto` (default) tries WebSocket and falls back to HTTP; the others use only the one named. */
  mode?: "auto" | TransportKind;
  /** A WebSocket that has not opened after this long counts as refused. Default 5 s. */
  openTimeoutMs?: number;
  /** While on HTTP, how often a WebSocket is tried again. Default 60 s. */
  retryWebSocketMs?: number;
};

type SocketLike = {
  readyState: number;
  binaryType: string;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(name: SocketEventName, listener: (event: unknown) => void): void;
};
type SocketClass = new (url: string) => SocketLike;

const names: SocketEventName[] = ["open", "message", "close", "error"];
/** The close code with which an HTTP connection ends when a WebSocket works again, so the provider reconnects over it. */
export const switchingToWebSocket = 4000;

/**
 * A WebSocket class for `HocuspocusProviderWebsocket` that picks the
 * transport for each connection. It tries a WebSocket; when the upgrade is
 * refused or never opens, it carries that same connection over HTTP
 * (`HttpSyncSocket`), and later connections go straight to HTTP. While on
 * HTTP it tries a WebSocket now and then, and once one opens it ends the HTTP
 * connection: the provider reconnects, over the WebSocket, and syncs.
 */
export const transportSocket = (
  WebSocketClass: unknown,
  options: TransportOptions,
  onTransport: (kind: TransportKind) => void,
): SocketClass => {
  const Ws = WebSocketClass as SocketClass | undefined;
  const mode = options.mode ?? "auto";
  const openTimeoutMs = options.openTimeoutMs ?? 5_000;
  const retryWebSocketMs = options.retryWebSocketMs ?? 60_000;
  // What the next connection tries first, and what the client was last told it uses.
  let current: TransportKind = mode === "http" || !Ws ? "http" : "websocket";
  let reported: TransportKind | null = null;
  const report = (kind: TransportKind) => {
    if (kind === reported) return;
    reported = kind;
    onTransport(kind);
  };

  return class TransportSocket extends SocketEvents {
    static readonly CONNECTING = 0;
    static readonly OPEN = 1;
    static readonly CLOSING = 2;
    static readonly CLOSED = 3;
    binaryType = "arraybuffer";
    private inner: SocketLike | null = null;
    private retryTimer: ReturnType<typeof setInterval> | null = null;
    private closedEarly = false;

    constructor(private readonly url: string) {
      super();
      if (current === "http" || !Ws) this.overHttp(false);
      else this.tryWebSocket(Ws);
    }

    get readyState(): number {
      return this.closedEarly ? 3 : (this.inner?.readyState ?? 0);
    }

    send(data: Uint8Array): void {
      this.inner?.send(data);
    }

    close(code?: number, reason?: string): void {
      if (this.retryTimer) clearInterval(this.retryTimer);
      if (this.inner) this.inner.close(code, reason);
      else if (!this.closedEarly) {
        this.closedEarly = true;
        setTimeout(() => this.dispatch("close", { code: code ?? 1000, reason: reason ?? "", wasClean: true }), 0);
      }
    }

    private adopt(socket: SocketLike): void {
      this.inner = socket;
      for (const name of names) socket.addEventListener(name, (event) => this.inner === socket && this.dispatch(name, event));
    }

    private tryWebSocket(Class: SocketClass): void {
      const ws = new Class(this.url);
      ws.binaryType = "arraybuffer";
      if (mode === "websocket") {
        this.adopt(ws);
        ws.addEventListener("open", () => report("websocket"));
        return;
      }
      let settled = false;
      const refused = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        try {
          ws.close();
        } catch {}
        if (!this.closedEarly) this.overHttp(true);
      };
      const timer = setTimeout(refused, openTimeoutMs);
      ws.addEventListener("error", refused);
      ws.addEventListener("close", refused);
      ws.addEventListener("open", () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (this.closedEarly) {
          ws.close();
          return;
        }
        current = "websocket";
        report("websocket");
        this.adopt(ws);
        this.dispatch("open", { type: "open" });
      });
    }

    /** This connection over HTTP; `fallback` when a WebSocket was just refused (only a working HTTP proves it was the proxy). */
    private overHttp(fallback: boolean): void {
      const http = new HttpSyncSocket(this.url);
      this.adopt(http);
      http.addEventListener("open", () => {
        if (fallback) current = "http";
        report("http");
        if (Ws && mode === "auto") this.retryTimer = setInterval(() => this.probe(Ws, http), retryWebSocketMs);
      });
      http.addEventListener("close", () => {
        if (this.retryTimer) clearInterval(this.retryTimer);
      });
    }

    /** Tries a WebSocket beside the HTTP connection; if it opens, the next connection is a WebSocket. */
    private probe(Class: SocketClass, http: HttpSyncSocket): void {
      const ws = new Class(this.url);
      const done = () => clearTimeout(timer);
      const timer = setTimeout(() => {
        try {
          ws.close();
        } catch {}
      }, openTimeoutMs);
      ws.addEventListener("error", done);
      ws.addEventListener("close", done);
      ws.addEventListener("open", () => {
        done();
        ws.close(1000, "probe");
        current = "websocket";
        http.close(switchingToWebSocket, "a WebSocket works again");
      });
    }
  } as unknown as SocketClass;
};

export type { CloseInfo };
