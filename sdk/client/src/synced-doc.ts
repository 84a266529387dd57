import { HocuspocusProvider, type HocuspocusProviderWebsocket, WebSocketStatus } from "@hocuspocus/provider";
import { type CloseReason, parseCloseReason } from "@mtchat/protocol";
import type { IndexeddbPersistence } from "y-indexeddb";
import * as Y from "yjs";
import { Emitter } from "./emitter.ts";
import { type Backoff, backoffDelay, defaultBackoff, isRefusal } from "./reattach.ts";

/**
 * - `local`: loaded from IndexedDB, not yet synced with the server (or closed by it for a while, and coming back);
 * - `synced`: in step with the server (local changes may still be unacknowledged: see `pending`);
 * - `refused`: the server closed the document with a refusal; it stays readable and keeps local changes.
 */
export type DocState = "local" | "synced" | "refused";

export type SyncedDocEvents = {
  /** Anything a view shows changed: state, pending, refusal. */
  change: undefined;
  refused: CloseReason;
  /** A stateless message the server pushed on this document. */
  stateless: string;
};

type PendingStore = { load(): string[]; save(ids: string[]): void };

const memoryStore = (): PendingStore => {
  let ids: string[] = [];
  return { load: () => ids, save: (next) => (ids = next) };
};

/** Pending ids survive a reload through localStorage, next to the document in IndexedDB. */
export const pendingStore = (key: string): PendingStore => {
  if (typeof localStorage === "undefined") return memoryStore();
  return {
    load: () => {
      try {
        const parsed: unknown = JSON.parse(localStorage.getItem(key) ?? "[]");
        return Array.isArray(parsed) ? parsed.filter((id): id is string => typeof id === "string") : [];
      } catch {
        return [];
      }
    },
    save: (ids) => (ids.length > 0 ? localStorage.setItem(key, JSON.stringify(ids)) : localStorage.removeItem(key)),
  };
};

/**
 * One Yjs document: loaded from IndexedDB first, then attached to the shared
 * socket, so the state vector it sends already holds what was written offline.
 * Items written locally (messages, by id) are "pending" until the server has
 * acknowledged every local change: the provider counts unacknowledged updates,
 * and the server acknowledges only after it authorized and logged them.
 *
 * Closed by the server without a refusal (it could not load or log the
 * document, it reset it, it sheds load), the document attaches again by itself
 * after a backoff, and the sync handshake resends whatever the server lacks.
 * When the whole socket closes, the socket reconnects and every document still
 * attached to it syncs again on its own.
 */
export class SyncedDoc extends Emitter<SyncedDocEvents> {
  readonly doc: Y.Doc;
  state: DocState = "local";
  refusal: CloseReason | null = null;
  provider: HocuspocusProvider | null = null;
  private readonly pending: Set<string>;
  refCount = 0;
  private lastTokenRetry = 0;
  /** Transient closes since the server last acknowledged every local change: the backoff's exponent. */
  private reattachAttempts = 0;
  private reattachTimer: ReturnType<typeof setTimeout> | null = null;
  private stopWaitingForSocket: (() => void) | null = null;
  private destroyed = false;

  constructor(
    readonly name: string,
    private readonly socket: HocuspocusProviderWebsocket,
    private readonly token: () => Promise<string>,
    private readonly onTokenRefused: () => void,
    readonly persistence: IndexeddbPersistence | null,
    private readonly pendingIds: PendingStore,
    doc: Y.Doc,
    private readonly presence: boolean,
    private readonly backoff: Backoff = defaultBackoff,
  ) {
    super();
    this.doc = doc;
    this.pending = new Set(pendingIds.load());
  }

  static create(
    name: string,
    socket: HocuspocusProviderWebsocket,
    token: () => Promise<string>,
    onTokenRefused: () => void,
    persistence: { persistence: IndexeddbPersistence | null; doc: Y.Doc; pendingKey: string | null },
    presence: boolean,
    backoff: Backoff = defaultBackoff,
  ): SyncedDoc {
    const store = persistence.pendingKey ? pendingStore(persistence.pendingKey) : memoryStore();
    return new SyncedDoc(name, socket, token, onTokenRefused, persistence.persistence, store, persistence.doc, presence, backoff);
  }

  /** Attaches to the socket; the server's answer arrives through events. */
  connect(): void {
    if (this.provider) return;
    const provider = new HocuspocusProvider({
      websocketProvider: this.socket,
      name: this.name,
      document: this.doc,
      token: this.token,
      // Presence lives on the dialog's meta document only; segments and the user's state need none.
      ...(this.presence ? {} : { awareness: null }),
    });
    this.provider = provider;
    if (this.presence) {
      // An awareness update sent before authentication completes is dropped, so announce once admitted.
      provider.on("authenticated", () => provider.setAwarenessField("online", Date.now()));
    }
    provider.on("synced", () => {
      // An acknowledgement already on its way when the server refused must not undo the refusal.
      if (this.state === "refused") return;
      this.state = "synced";
      this.settle();
      this.emit("change", undefined);
    });
    provider.on("unsyncedChanges", () => this.settle());
    provider.on("stateless", ({ payload }: { payload: string }) => this.emit("stateless", payload));
    provider.on("close", ({ event }: { event: { reason: string } }) => this.closed(event.reason));
    provider.on("authenticationFailed", ({ reason }: { reason: string }) => this.closed(reason));
    provider.attach();
  }

  /** Resolves once the document has synced with the server (or was refused). */
  whenSynced(): Promise<void> {
    if (this.state !== "local") return Promise.resolve();
    return new Promise((resolve) => {
      const off = this.on("change", () => {
        if (this.state === "local") return;
        off();
        resolve();
      });
    });
  }

  /** Whether the server has not yet acknowledged this item (a message id) written here. */
  isPending(id: string): boolean {
    return this.pending.has(id);
  }

  get hasPending(): boolean {
    return this.pending.size > 0;
  }

  /** Marks an item written locally as pending until the server acknowledges every local change. */
  markPending(id: string): void {
    this.pending.add(id);
    this.pendingIds.save([...this.pending]);
    this.emit("change", undefined);
  }

  private settle(): void {
    const provider = this.provider;
    if (!provider || this.state !== "synced" || provider.unsyncedChanges > 0 || !provider.isAuthenticated) return;
    // Only now does the next transient close start the backoff over: a change the server keeps closing the
    // document on (say, 4503 while it cannot log it) is acknowledged never, so its retries slow down to the cap.
    this.reattachAttempts = 0;
    if (this.pending.size === 0) return;
    this.pending.clear();
    this.pendingIds.save([]);
    this.emit("change", undefined);
  }

  private closed(reason: string): void {
    if (this.destroyed) return;
    const refusal = parseCloseReason(reason);
    if (!isRefusal(refusal)) {
      if (this.state === "synced") this.state = "local";
      // The socket itself closed (offline, a server restart): it reconnects with its own backoff, and every document
      // still attached to it authenticates and syncs again when it opens. This document alone was closed, on a live
      // socket: nothing else would bring it back, so attach it again after a backoff of its own. (The socket marks
      // itself disconnected before it passes its close on to the documents.)
      if (this.socket.status === WebSocketStatus.Connected) this.reattachLater();
      this.emit("change", undefined);
      return;
    }
    if (refusal.kind === "unauthorized" && Date.now() - this.lastTokenRetry > 10_000) {
      // Most likely an expired token: fetch a fresh one and attach again (once; a token the
      // host keeps signing wrong is a refusal like any other).
      this.lastTokenRetry = Date.now();
      this.onTokenRefused();
      this.leaveClosed();
      this.attachAgain();
      return;
    }
    // A refusal: stop syncing this document but keep it, with every unsent change, readable.
    this.state = "refused";
    this.refusal = refusal;
    this.leaveClosed();
    this.emit("refused", refusal);
    this.emit("change", undefined);
  }

  /**
   * Detaches now and attaches again after the backoff. Changes made meanwhile stay in the document (the provider
   * sends nothing while detached) and go out in the handshake: the server answers the state vector with what this
   * document lacks and asks for what it lacks itself, unsent changes included, so each arrives once.
   */
  private reattachLater(): void {
    this.leaveClosed();
    if (this.reattachTimer) clearTimeout(this.reattachTimer);
    const delay = backoffDelay(this.backoff, this.reattachAttempts);
    this.reattachAttempts += 1;
    this.reattachTimer = setTimeout(() => {
      this.reattachTimer = null;
      this.attachAgain();
    }, delay);
  }

  /** Attaches the (detached) provider, now if the socket is open or opening, else when it opens. */
  private attachAgain(): void {
    const provider = this.provider;
    if (!provider || this.destroyed || this.state === "refused") return;
    if (this.socket.status !== WebSocketStatus.Disconnected) {
      provider.attach();
      return;
    }
    // Attaching to a closed socket would restart its reconnect loop from the shortest delay; join it when it opens
    // instead (its own `open` handler has run by then, so the attach authenticates at once).
    if (this.stopWaitingForSocket) return;
    const onOpen = () => {
      this.stopWaitingForSocket?.();
      this.attachAgain();
    };
    this.socket.on("open", onOpen);
    this.stopWaitingForSocket = () => {
      this.socket.off("open", onOpen);
      this.stopWaitingForSocket = null;
    };
  }

  /**
   * Detaches from a document the server has already closed. `detach()` would
   * tell the server to close it, and the server, finding no such document on
   * the socket, keeps that message for the next one of the same name and
   * applies it to it: the next attach (a retry, a reload from the server) would
   * be closed as soon as it opened. Leaving the socket's map first makes
   * `detach()` send nothing.
   */
  private leaveClosed(): void {
    const provider = this.provider;
    if (!provider) return;
    const attached = this.socket.configuration.providerMap;
    if (attached.get(provider.effectiveName) === provider) attached.delete(provider.effectiveName);
    provider.detach();
  }

  /** Sends a fresh token on the live connection (the server checks it names the same user). */
  async refreshToken(): Promise<void> {
    if (this.provider && this.state !== "refused") await this.provider.sendToken();
  }

  /** Tries again after a refusal, for instance once the user has been added back. */
  retry(): void {
    if (this.state !== "refused" || !this.provider) return;
    this.state = "local";
    this.refusal = null;
    this.provider.attach();
    this.emit("change", undefined);
  }

  destroy(): void {
    this.destroyed = true;
    if (this.reattachTimer) clearTimeout(this.reattachTimer);
    this.reattachTimer = null;
    this.stopWaitingForSocket?.();
    this.provider?.destroy();
    this.provider = null;
    void this.persistence?.destroy();
    this.doc.destroy();
    this.clear();
  }
}

export const newDoc = (): Y.Doc => new Y.Doc();
