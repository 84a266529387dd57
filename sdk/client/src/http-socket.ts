import { decodeFrames, encodeFrames, httpSyncPath } from "@mtchat/protocol";

type Listener = (event: unknown) => void;
export type SocketEventName = "open" | "message" | "close" | "error";
export type CloseInfo = { code: number; reason: string; wasClean: boolean };

const connecting = 0;
const open = 1;
const closing = 2;
const closed = 3;

/** A client frame batch stays under this (a single larger frame goes alone, up to the server's MAX_UPDATE_BYTES). */
const maxBatchBytes = 256 * 1024;
/** Delays before resending a failed request; past the last, the connection is given up and the provider reconnects. */
const retryDelaysMs = [250, 500, 1_000, 2_000, 4_000];

/** The listeners, and `on…` handlers, of something shaped like a WebSocket. */
export class SocketEvents {
  onopen: Listener | null = null;
  onmessage: Listener | null = null;
  onclose: Listener | null = null;
  onerror: Listener | null = null;
  private readonly listeners = new Map<SocketEventName, Set<Listener>>();

  addEventListener(name: SocketEventName, listener: Listener): void {
    let set = this.listeners.get(name);
    if (!set) {
      set = new Set();
      this.listeners.set(name, set);
    }
    set.add(listener);
  }

  removeEventListener(name: SocketEventName, listener: Listener): void {
    this.listeners.get(name)?.delete(listener);
  }

  protected dispatch(name: SocketEventName, event: unknown): void {
    const handler = this[`on${name}`];
    handler?.call(this, event);
    for (const listener of [...(this.listeners.get(name) ?? [])]) listener.call(this, event);
  }
}

/** The HTTP transport's address for a WebSocket URL of the service (`ws://host/api/v1/ws`). */
export const httpSyncUrl = (wsUrl: string): string => {
  const url = new URL(wsUrl);
  url.protocol = url.protocol === "wss:" ? "https:" : "http:";
  url.pathname = url.pathname.replace(/\/api\/v1\/ws\/?$/, "") + httpSyncPath;
  url.search = "";
  return url.toString();
};

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });

type Answer = { frames: Uint8Array[] } | { next: number } | { closed: { code: number; reason: string } };

/**
 * A WebSocket look-alike over plain HTTP requests, for networks whose proxies
 * refuse WebSocket upgrades: `HocuspocusProviderWebsocket` takes it as its
 * WebSocket class and carries the same frames through it. A POST opens a
 * session; frames go up in numbered POSTs and come down in long polls. A
 * request that failed is sent again as it was, and the server skips what it
 * already has, so no frame is lost or handled twice; when the server cannot
 * be reached for a while the socket closes like a dropped WebSocket, and the
 * provider reconnects and syncs as it would.
 */
export class HttpSyncSocket extends SocketEvents {
  static readonly CONNECTING = connecting;
  static readonly OPEN = open;
  static readonly CLOSING = closing;
  static readonly CLOSED = closed;

  readyState = connecting;
  binaryType = "arraybuffer";
  private readonly base: string;
  private session: string | null = null;
  /** Client frames not yet acknowledged, the first one numbered `outSeq`. */
  private readonly outbox: Uint8Array[] = [];
  private outSeq = 0;
  private sending = false;
  /** Number of the next server frame. */
  private from = 0;
  private readonly stopped = new AbortController();

  constructor(url: string) {
    super();
    this.base = httpSyncUrl(url);
    void this.openSession();
  }

  send(data: Uint8Array | ArrayBuffer): void {
    if (this.readyState !== open) return;
    this.outbox.push(data instanceof Uint8Array ? data : new Uint8Array(data));
    if (!this.sending) queueMicrotask(() => void this.flush());
  }

  close(code = 1000, reason = ""): void {
    if (this.readyState === closing || this.readyState === closed) return;
    const session = this.session;
    this.readyState = closing;
    if (session) {
      void fetch(`${this.base}/${encodeURIComponent(session)}`, { method: "DELETE", keepalive: true, mode: "cors" }).catch(() => undefined);
    }
    this.finish({ code, reason, wasClean: true });
  }

  private finish(info: CloseInfo): void {
    if (this.readyState === closed) return;
    this.readyState = closed;
    this.stopped.abort();
    // Like a WebSocket, the close event comes after the call that closed it.
    setTimeout(() => this.dispatch("close", info), 0);
  }

  private fail(): void {
    if (this.readyState === closed) return;
    this.dispatch("error", { type: "error" });
    this.finish({ code: 1006, reason: "the chat service cannot be reached over HTTP", wasClean: false });
  }

  private async openSession(): Promise<void> {
    try {
      const response = await fetch(this.base, { method: "POST", mode: "cors", signal: this.stopped.signal });
      if (response.status !== 201) throw new Error(`HTTP ${response.status}`);
      const body = (await response.json()) as { data?: { session?: unknown } };
      if (typeof body.data?.session !== "string") throw new Error("no session in the answer");
      this.session = body.data.session;
    } catch {
      this.fail();
      return;
    }
    if (this.readyState !== connecting) return;
    this.readyState = open;
    this.dispatch("open", { type: "open" });
    void this.pollLoop();
  }

  /** One request, sent again after a failure or a server error; null once it is given up or the socket is closed. */
  private async request(url: string, init: RequestInit): Promise<Answer | null> {
    for (let attempt = 0; ; attempt += 1) {
      if (this.stopped.signal.aborted) return null;
      try {
        const response = await fetch(url, { ...init, mode: "cors", cache: "no-store", signal: this.stopped.signal });
        if (response.ok) {
          if (response.headers.get("content-type")?.startsWith("application/octet-stream")) {
            const frames = decodeFrames(new Uint8Array(await response.arrayBuffer()));
            if (frames) return { frames };
          } else {
            const body = (await response.json()) as { data?: Answer };
            if (body.data) return body.data;
          }
        } else if (response.status < 500 && response.status !== 429) {
          // The server refuses the request as it is (a gap in the numbering, a frame too large): start over.
          this.fail();
          return null;
        }
      } catch {
        // Not reached, or cut off: the same request again.
      }
      const delay = retryDelaysMs[attempt];
      if (delay === undefined) {
        this.fail();
        return null;
      }
      await sleep(delay, this.stopped.signal);
    }
  }

  private answered(answer: Answer | null): answer is Answer {
    if (answer && "closed" in answer) {
      this.finish({ code: answer.closed.code, reason: answer.closed.reason, wasClean: true });
      return false;
    }
    return answer !== null && this.readyState === open;
  }

  private async pollLoop(): Promise<void> {
    const session = encodeURIComponent(this.session ?? "");
    while (this.readyState === open) {
      const answer = await this.request(`${this.base}/${session}?from=${this.from}`, { method: "GET" });
      if (!this.answered(answer) || !("frames" in answer)) continue;
      for (const frame of answer.frames) {
        this.from += 1;
        if (this.readyState !== open) return;
        this.dispatch("message", { type: "message", data: frame.slice().buffer });
      }
    }
  }

  private async flush(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    const session = encodeURIComponent(this.session ?? "");
    try {
      while (this.readyState === open && this.outbox.length > 0) {
        let count = 0;
        let bytes = 0;
        for (const frame of this.outbox) {
          if (count > 0 && bytes + frame.byteLength > maxBatchBytes) break;
          count += 1;
          bytes += frame.byteLength;
        }
        const body = encodeFrames(this.outbox.slice(0, count));
        const answer = await this.request(`${this.base}/${session}?seq=${this.outSeq}`, {
          method: "POST",
          headers: { "Content-Type": "application/octet-stream" },
          body,
        });
        if (!this.answered(answer) || !("next" in answer)) return;
        const taken = Math.min(this.outbox.length, Math.max(0, answer.next - this.outSeq));
        this.outbox.splice(0, taken);
        this.outSeq += taken;
      }
    } finally {
      this.sending = false;
    }
  }
}
