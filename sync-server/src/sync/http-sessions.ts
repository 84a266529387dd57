import { randomBytes } from "node:crypto";
import { decodeFrames, encodeFrames, errorKinds, httpPollHoldMs } from "@mtchat/protocol";
import type { AttachedConnection, Transport } from "./attach-connection.ts";

/**
 * What a session call answers, whichever node holds the session: frames
 * (a poll), nothing (frames taken), or a refusal. The routes turn it into
 * HTTP; the cluster relay carries it between nodes as it is.
 */
export type SessionAnswer =
  | { kind: "frames"; frames: Uint8Array }
  | { kind: "accepted"; next: number }
  | { kind: "closed"; code: number; reason: string }
  | { kind: "refused"; status: 400 | 409; message: string }
  /** Not answerable here and now (the relay is away, this node is stopping); the client sends it again. */
  | { kind: "unavailable"; message: string };

export type HttpSessionOptions = {
  /** How long a poll is held when there is nothing to deliver. */
  holdMs?: number;
  /** A session nobody polls or posts to for this long is closed: its client is gone. */
  idleMs?: number;
  /** Bytes of frames the client has not collected yet; past it the session is closed (4429). */
  maxOutboxBytes?: number;
  /** Bytes a poll's answer carries at most (it always carries one frame when there is one). */
  maxPollBytes?: number;
  /** Sessions this node holds at most; a flood of unauthenticated ones cannot grow memory past it. */
  maxSessions?: number;
};

const open = 1;
const closedState = 3;

/**
 * One client on the HTTP transport. Server frames are numbered from 0 and
 * kept until a poll asks for a later number, so a poll whose answer was lost
 * is answered again with the same frames; client frames are numbered by the
 * client, and a resent batch is applied only from the first frame not yet
 * applied. Each frame therefore reaches Hocuspocus, and the client, once.
 */
class HttpSession implements Transport {
  private readonly outbox: Uint8Array[] = [];
  /** Number of the first frame in the outbox. */
  private outBase = 0;
  private outBytes = 0;
  /** Number of the next client frame to apply. */
  private inNext = 0;
  private waiter: (() => void) | null = null;
  /** Requests on this session still being answered; it is not idle while there are any. */
  active = 0;
  lastSeen = Date.now();
  closedWith: { code: number; reason: string } | null = null;
  closedAt = 0;
  link: AttachedConnection | null = null;

  constructor(
    readonly id: string,
    private readonly options: Required<HttpSessionOptions>,
  ) {}

  get readyState(): number {
    return this.closedWith ? closedState : open;
  }

  send(data: Uint8Array): void {
    if (this.closedWith) return;
    this.outbox.push(data);
    this.outBytes += data.byteLength;
    if (this.outBytes > this.options.maxOutboxBytes) {
      this.close(errorKinds.rate_limited.ws, "rate_limited: the client does not collect what it is sent");
      return;
    }
    this.wake();
  }

  close(code: number, reason: string): void {
    if (this.closedWith) return;
    this.closedWith = { code, reason };
    this.closedAt = Date.now();
    this.wake();
    // Outside Hocuspocus's own call stack, which may be closing the connection right now.
    queueMicrotask(() => this.link?.closed(code, reason));
  }

  abort(): void {
    this.outbox.length = 0;
    this.outBytes = 0;
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.();
  }

  /** Frames from number `from` on, acknowledging everything before it; waits up to the hold time for some. */
  async poll(from: number, signal?: AbortSignal): Promise<SessionAnswer> {
    const end = this.outBase + this.outbox.length;
    if (!Number.isSafeInteger(from) || from < this.outBase || from > end) {
      return { kind: "refused", status: 400, message: `from must be between ${this.outBase} and ${end} in this session` };
    }
    const acknowledged = this.outbox.splice(0, from - this.outBase);
    for (const frame of acknowledged) this.outBytes -= frame.byteLength;
    this.outBase = from;
    if (this.outbox.length === 0 && !this.closedWith) {
      // A newer poll takes over: the older one answers now, with nothing.
      this.wake();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, this.options.holdMs);
        function done() {
          clearTimeout(timer);
          signal?.removeEventListener("abort", done);
          resolve();
        }
        this.waiter = done;
        signal?.addEventListener("abort", done);
      });
    }
    if (this.outbox.length === 0 && this.closedWith) return { kind: "closed", ...this.closedWith };
    const frames: Uint8Array[] = [];
    let bytes = 0;
    for (const frame of this.outbox) {
      if (frames.length > 0 && bytes + frame.byteLength > this.options.maxPollBytes) break;
      frames.push(frame);
      bytes += frame.byteLength;
    }
    return { kind: "frames", frames: encodeFrames(frames) };
  }

  /** Client frames numbered from `seq`; those already applied are skipped. */
  post(seq: number, frames: Uint8Array[], bodyBytes: number): SessionAnswer {
    if (this.closedWith) return { kind: "closed", ...this.closedWith };
    if (!Number.isSafeInteger(seq) || seq < 0) return { kind: "refused", status: 400, message: "seq must be a whole number" };
    if (seq > this.inNext) {
      return { kind: "refused", status: 409, message: `frames from ${this.inNext} on were never received; send them again from there` };
    }
    const fresh = frames.slice(this.inNext - seq);
    if (fresh.length > 0) this.link?.received(bodyBytes);
    for (const frame of fresh) {
      if (this.closedWith) break;
      this.inNext += 1;
      this.link?.frame(frame);
    }
    return { kind: "accepted", next: this.inNext };
  }
}

/** The HTTP transport's sessions on this node. */
export class HttpSessions {
  private readonly sessions = new Map<string, HttpSession>();
  private readonly options: Required<HttpSessionOptions>;
  private readonly reaper: NodeJS.Timeout;
  private stopped = false;

  constructor(
    /** Names this node in session ids, so another node knows where to relay a call. */
    readonly nodeId: string,
    private readonly attach: (request: Request, transport: Transport) => AttachedConnection,
    options: HttpSessionOptions = {},
  ) {
    this.options = {
      holdMs: options.holdMs ?? httpPollHoldMs,
      idleMs: options.idleMs ?? 45_000,
      maxOutboxBytes: options.maxOutboxBytes ?? 32 * 1024 * 1024,
      maxPollBytes: options.maxPollBytes ?? 1024 * 1024,
      maxSessions: options.maxSessions ?? 20_000,
    };
    this.reaper = setInterval(() => this.reap(), Math.min(5_000, this.options.idleMs / 2));
    this.reaper.unref();
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Whether this node takes a new session: not once it is stopping, nor while it holds its maximum. */
  get accepting(): boolean {
    return !this.stopped && this.sessions.size < this.options.maxSessions;
  }

  /** A new session for a client whose request (headers, Origin) stands for the socket's upgrade request. */
  create(request: Request): string {
    if (!this.accepting) throw new Error("this node takes no new sessions now");
    const id = `${this.nodeId}.${randomBytes(18).toString("base64url")}`;
    const session = new HttpSession(id, this.options);
    this.sessions.set(id, session);
    session.link = this.attach(request, session);
    return id;
  }

  /** The node a session id names. */
  static nodeOf(id: string): string {
    return id.slice(0, Math.max(0, id.indexOf(".")));
  }

  has(id: string): boolean {
    return this.sessions.has(id);
  }

  async poll(id: string, from: number, signal?: AbortSignal): Promise<SessionAnswer> {
    return this.use(id, (session) => session.poll(from, signal));
  }

  async post(id: string, seq: number, frames: Uint8Array[], bodyBytes: number): Promise<SessionAnswer> {
    return this.use(id, async (session) => session.post(seq, frames, bodyBytes));
  }

  /** The client is done with the session. */
  end(id: string): SessionAnswer {
    const session = this.sessions.get(id);
    if (!session) return gone;
    session.close(1000, "closed by the client");
    this.sessions.delete(id);
    return { kind: "closed", code: 1000, reason: "closed by the client" };
  }

  private async use(id: string, call: (session: HttpSession) => Promise<SessionAnswer>): Promise<SessionAnswer> {
    const session = this.sessions.get(id);
    if (!session) return gone;
    session.active += 1;
    try {
      return await call(session);
    } finally {
      session.active -= 1;
      session.lastSeen = Date.now();
    }
  }

  private reap(): void {
    const now = Date.now();
    for (const [id, session] of this.sessions) {
      // A closed session is kept a little, so the client's next poll learns the close code.
      if (session.closedWith && now - session.closedAt > this.options.idleMs) this.sessions.delete(id);
      else if (session.active === 0 && now - session.lastSeen > this.options.idleMs) {
        session.close(1006, "the client stopped polling");
      }
    }
  }

  /** Closes every session (the server is stopping). */
  closeAll(code: number, reason: string): void {
    for (const session of this.sessions.values()) session.close(code, reason);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.reaper);
    this.closeAll(1001, "server shutting down");
    this.sessions.clear();
  }
}

const gone: SessionAnswer = { kind: "closed", code: 4404, reason: "no such session on this server: open a new one" };

/** A session call as the relay carries it. */
export type SessionCall = { op: "poll"; from: number } | { op: "post"; seq: number; body: Uint8Array } | { op: "end" };

/** Runs a call on this node's session. */
export const runLocally = async (sessions: HttpSessions, id: string, call: SessionCall, signal?: AbortSignal): Promise<SessionAnswer> => {
  if (call.op === "poll") return sessions.poll(id, call.from, signal);
  if (call.op === "end") return sessions.end(id);
  const frames = decodeFrames(call.body);
  if (!frames) return { kind: "refused", status: 400, message: "the body is not a sequence of length-prefixed frames" };
  return sessions.post(id, call.seq, frames, call.body.byteLength);
};
