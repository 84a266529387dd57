import type { connectedPayload, Extension } from "@hocuspocus/server";
import { type ErrorKind, errorKinds, parseCloseReason } from "@mtchat/protocol";
import * as decoding from "lib0/decoding";

/**
 * Hocuspocus queues every frame for a document until that document has
 * authenticated on the socket, `ws` holds an unfinished frame (up to 4 MiB)
 * before anyone sees it, and Hocuspocus decodes awareness frames in full
 * before any hook runs. This guard sees each socket's bytes and frames first
 * (server.ts wires it in) and bounds what that costs: bytes held before
 * authentication, per socket and across all sockets, how long a socket may
 * stay unauthenticated, and the size of an awareness frame.
 *
 * Socket-level closes carry the error kind in the close code and a reason
 * that is not a per-document refusal (`"rate_limited: …"`, without the code in
 * front), so the SDK reconnects with backoff instead of giving up on its
 * documents. For the same reason a per-document refusal of kind `unavailable`
 * (the database is away, a document is reloading) is not sent as one: the
 * socket is closed with 4503 instead, and the client comes back and sends again.
 */
export type SocketGuardOptions = {
  /** Bytes all sockets together may have queued before authentication; past it the largest holders are closed. */
  maxPreauthBytes: number;
  /** Bytes one socket may send before its first document authenticates, and then have queued for documents still waiting. */
  maxPreauthSocketBytes: number;
  /** How long a socket may stay open without authenticating any document. */
  preauthTimeoutMs: number;
  /** Largest awareness frame (address, type and update) accepted, checked before Hocuspocus decodes it. */
  maxAwarenessFrameBytes: number;
};

/** Closes the socket now with a close code and reason, releasing what Hocuspocus holds for it. */
export type CloseSocket = (code: number, reason: string) => void;

// Hocuspocus's frame layout: the document's address (its name, or name\0session), then the message type.
const messageType = { awareness: 1, auth: 2, close: 7 } as const;
const authPermissionDenied = 1;

type Peeked = { address: string; documentName: string; type: number; decoder: decoding.Decoder };

const peek = (data: Uint8Array): Peeked | null => {
  try {
    const decoder = decoding.createDecoder(data);
    const address = decoding.readVarString(decoder);
    const type = decoding.readVarUint(decoder);
    const separator = address.indexOf("\0");
    return { address, documentName: separator === -1 ? address : address.slice(0, separator), type, decoder };
  } catch {
    return null;
  }
};

/** The message type of an outgoing frame, skipping the address without decoding it (every frame sent passes here). */
const peekType = (data: Uint8Array): { type: number; decoder: decoding.Decoder } | null => {
  try {
    const decoder = decoding.createDecoder(data);
    const addressLength = decoding.readVarUint(decoder);
    decoder.pos += addressLength;
    return { type: decoding.readVarUint(decoder), decoder };
  } catch {
    return null;
  }
};

/** A WebSocket close reason holds at most 123 bytes of UTF-8; `ws` throws on a longer one. */
const clipReason = (reason: string): string => {
  if (Buffer.byteLength(reason) <= 123) return reason;
  let clipped = reason.slice(0, 120);
  while (Buffer.byteLength(`${clipped}…`) > 123) clipped = clipped.slice(0, -1);
  return `${clipped}…`;
};

const mib = (bytes: number) => `${Math.round((bytes / (1024 * 1024)) * 10) / 10} MiB`;

/** One per server: the total budget, and the Hocuspocus hook that tells each socket which documents authenticated. */
export class SocketGuards implements Extension {
  readonly extensionName = "mtchat-socket-guard";
  /** Runs before other extensions' `connected` hooks, so none of them failing can keep a document's bytes counted. */
  readonly priority = 1000;
  private total = 0;
  /** Sockets holding bytes now; the candidates for eviction when the total is reached. */
  private readonly holding = new Set<SocketGuard>();
  private readonly byRequest = new WeakMap<Request, SocketGuard>();

  constructor(readonly options: SocketGuardOptions) {}

  /** Bytes queued before authentication across all sockets. */
  get preauthBytes(): number {
    return this.total;
  }

  /** A guard for a new socket; `request` is the one handed to Hocuspocus, by which its hooks name the socket. */
  open(request: Request, close: CloseSocket): SocketGuard {
    const guard = new SocketGuard(this, close);
    this.byRequest.set(request, guard);
    return guard;
  }

  /** Hocuspocus has authenticated a document on a socket and handed its queued frames to the new connection. */
  async connected({ request, connection }: connectedPayload): Promise<void> {
    // Hocuspocus keys the connection by the address the client used: the name, or name\0session.
    const address = connection.sessionId === null ? connection.document.name : `${connection.document.name}\0${connection.sessionId}`;
    this.byRequest.get(request)?.established(address, (listener) => connection.onClose(listener));
  }

  /** Makes room for `bytes` more from `guard`, closing the sockets holding most; false if `guard` itself was closed. */
  reserve(guard: SocketGuard, bytes: number): boolean {
    while (this.total + bytes > this.options.maxPreauthBytes) {
      let largest = guard;
      let largestBytes = guard.held + bytes;
      for (const other of this.holding) {
        if (other.held > largestBytes) {
          largest = other;
          largestBytes = other.held;
        }
      }
      largest.close("rate_limited", `over ${mib(this.options.maxPreauthBytes)} unauthenticated data on this server; retry later`);
      if (largest === guard) return false;
    }
    this.total += bytes;
    this.holding.add(guard);
    return true;
  }

  /** `guard` holds `delta` bytes more (or fewer); called after its own count changed. */
  adjust(guard: SocketGuard, delta: number): void {
    this.total += delta;
    if (guard.held === 0) this.holding.delete(guard);
    else this.holding.add(guard);
  }
}

/**
 * One per socket. Until the socket authenticates its first document, every
 * byte read from it counts (`ws` holds an unfinished frame, up to its 4 MiB
 * limit, before any handler sees it); after that, the frames of its documents
 * that are still waiting for authentication.
 */
export class SocketGuard {
  /** Bytes of frames held now, before authentication, for each document address. */
  private readonly pending = new Map<string, number>();
  private pendingBytes = 0;
  /** Bytes read from the socket, counted until its first document authenticates. */
  private readBytes = 0;
  /** Addresses with an authenticated connection: their frames go straight to it. */
  private readonly open = new Set<string>();
  private authenticated = false;
  private closed = false;
  private readonly deadline: NodeJS.Timeout;

  constructor(
    private readonly owner: SocketGuards,
    private readonly closeSocket: CloseSocket,
  ) {
    const { preauthTimeoutMs } = owner.options;
    this.deadline = setTimeout(
      () => this.close("unauthorized", `authenticate within ${preauthTimeoutMs / 1000} s of connecting`),
      preauthTimeoutMs,
    );
    this.deadline.unref();
  }

  /** What this socket holds against the caps. */
  get held(): number {
    return this.authenticated ? this.pendingBytes : this.readBytes;
  }

  /** Bytes arrived on the socket (before `ws` parses them). */
  received(bytes: number): void {
    if (this.authenticated || this.closed) return;
    if (this.readBytes + bytes > this.owner.options.maxPreauthSocketBytes) {
      this.close("payload_too_large", `over ${mib(this.owner.options.maxPreauthSocketBytes)} sent before authentication`);
      return;
    }
    if (this.owner.reserve(this, bytes)) this.readBytes += bytes;
  }

  /**
   * Checks an incoming frame: the frame to hand to Hocuspocus, or null when
   * the socket has been closed for it. A frame Hocuspocus will queue that is a
   * view into a larger buffer (`ws` hands out slices of the socket's reads)
   * comes back as a copy, so the queue holds its own bytes and not a whole read
   * buffer that a small frame would otherwise keep alive.
   */
  admit(data: Uint8Array): Uint8Array | null {
    if (this.closed) return null;
    const frame = peek(data);
    // Hocuspocus refuses what it cannot read, and closes the socket.
    if (!frame) return data;
    const { maxAwarenessFrameBytes, maxPreauthSocketBytes } = this.owner.options;
    if (frame.type === messageType.awareness && data.byteLength > maxAwarenessFrameBytes) {
      this.close("payload_too_large", `awareness messages are limited to ${maxAwarenessFrameBytes} bytes`);
      return null;
    }
    // The same lookup as Hocuspocus's: the address, else the plain document name.
    if (this.open.has(frame.address) || this.open.has(frame.documentName)) return data;
    const bytes = data.byteLength;
    if (this.authenticated) {
      if (this.pendingBytes + bytes > maxPreauthSocketBytes) {
        this.close("payload_too_large", `over ${mib(maxPreauthSocketBytes)} sent for documents not yet authenticated`);
        return null;
      }
      if (!this.owner.reserve(this, bytes)) return null;
    }
    this.pendingBytes += bytes;
    this.pending.set(frame.address, (this.pending.get(frame.address) ?? 0) + bytes);
    return data.byteOffset === 0 && data.buffer.byteLength === bytes ? data : new Uint8Array(data);
  }

  /**
   * Sees each outgoing frame before it is sent; false when it must not be sent.
   * A refused authentication means Hocuspocus has dropped that document's
   * queue. A document closed, or its authentication refused, as `unavailable`
   * closes the socket instead: the SDK gives up on a document refused on its
   * own, but reconnects a socket and sends what is unacknowledged again.
   */
  sent(data: unknown): boolean {
    if (this.closed || !(data instanceof Uint8Array)) return true;
    const frame = peekType(data);
    if (!frame || (frame.type !== messageType.close && frame.type !== messageType.auth)) return true;
    try {
      if (frame.type === messageType.auth && decoding.readVarUint(frame.decoder) !== authPermissionDenied) return true;
      const refusal = parseCloseReason(decoding.readVarString(frame.decoder));
      if (refusal?.kind === "unavailable") {
        // After Hocuspocus has finished closing the document, not in the middle of it.
        queueMicrotask(() => this.close("unavailable", refusal.message));
        return false;
      }
      if (frame.type === messageType.auth) {
        const peeked = peek(data);
        if (peeked) this.release(peeked.address);
      }
    } catch {
      // Not a frame of that kind after all.
    }
    return true;
  }

  /** The document at `address` authenticated; its queued frames are now the connection's. */
  established(address: string, onClose: (listener: () => void) => void): void {
    if (this.closed) return;
    this.open.add(address);
    this.release(address);
    if (!this.authenticated) {
      clearTimeout(this.deadline);
      // From now on only frames still waiting for their documents count, not every byte read.
      const before = this.readBytes;
      this.authenticated = true;
      this.readBytes = 0;
      this.owner.adjust(this, this.pendingBytes - before);
    }
    // Once closed (a refused update, a removed participant), Hocuspocus queues that address's frames again.
    onClose(() => this.open.delete(address));
  }

  /** The socket closed: nothing it sent is held any more. */
  dispose(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.deadline);
    const held = this.held;
    this.pending.clear();
    this.pendingBytes = 0;
    this.readBytes = 0;
    this.owner.adjust(this, -held);
  }

  close(kind: ErrorKind, message: string): void {
    if (this.closed) return;
    this.dispose();
    this.closeSocket(errorKinds[kind].ws, clipReason(`${kind}: ${message}`));
  }

  private release(address: string): void {
    const bytes = this.pending.get(address);
    if (bytes === undefined) return;
    this.pending.delete(address);
    this.pendingBytes -= bytes;
    // Before the first authentication the bytes read count, and they stay counted.
    if (this.authenticated) this.owner.adjust(this, -bytes);
  }
}
