import { HocuspocusProviderWebsocket } from "@hocuspocus/provider";
import { parseDocName, userDocName } from "@mtchat/protocol";
import * as Y from "yjs";
import { DialogSession } from "./dialog-session.ts";
import { Emitter } from "./emitter.ts";
import { type IncomingMessage, MessageWatch } from "./message-watch.ts";
import { clearUserData, databaseName, deleteDatabase, hasIndexedDb, persist } from "./persistence.ts";
import { quietWebSocket } from "./quiet-socket.ts";
import { type Backoff, defaultBackoff } from "./reattach.ts";
import { RestClient } from "./rest.ts";
import { SyncedDoc } from "./synced-doc.ts";
import { decodeTokenClaims, type TokenClaims, type TokenInput, TokenSource } from "./token.ts";
import { type TransportKind, type TransportOptions, transportSocket } from "./transport.ts";
import { UserState } from "./user-state.ts";

export type ChatClientConfig = {
  /** Base URL of the chat service, e.g. `https://chat.example.com` (no trailing slash). */
  url: string;
  /** The user's JWT, or an async function returning one; it is called again on expiry and on reconnect. */
  token: TokenInput;
  /** Keep documents in IndexedDB so the chat opens and works offline. Default: true where IndexedDB exists. */
  persistence?: boolean;
  /** A WebSocket implementation where there is no global one (Node: the `ws` package). */
  WebSocket?: unknown;
  /** Reconnect backoff of the socket, and of a document the server closed: first delay, cap, growth factor (jittered). */
  reconnect?: { minDelayMs?: number; maxDelayMs?: number; factor?: number };
  /**
   * WebSocket, or HTTP requests where a proxy refuses WebSocket upgrades. By default (`auto`) the client falls back
   * to HTTP by itself and returns to WebSocket when one opens again.
   */
  transport?: TransportOptions;
};

const identityKey = "mtchat/last-user";

/** Who last used the chat on this device: a user and project id, never the token. */
const rememberIdentity = ({ userId, projectId }: Pick<TokenClaims, "userId" | "projectId">) => {
  if (typeof localStorage !== "undefined") localStorage.setItem(identityKey, JSON.stringify({ userId, projectId }));
};

const lastIdentity = (): Pick<TokenClaims, "userId" | "projectId"> | null => {
  if (typeof localStorage === "undefined") return null;
  try {
    const parsed = JSON.parse(localStorage.getItem(identityKey) ?? "null") as { userId?: unknown; projectId?: unknown } | null;
    return typeof parsed?.userId === "string" && typeof parsed.projectId === "string"
      ? { userId: parsed.userId, projectId: parsed.projectId }
      : null;
  } catch {
    return null;
  }
};

/** `connecting` until the socket is open, `connected` while it is, `disconnected` while it waits to reconnect. */
export type ConnectionStatus = "connecting" | "connected" | "disconnected";

export type ChatClientEvents = {
  status: ConnectionStatus;
  /** The connection moved to another transport (HTTP behind a proxy that refuses WebSocket, or back). */
  transport: TransportKind;
  /** A document was refused by the server; `docName` says which. */
  refused: { docName: string; code: number; kind: string; message: string };
  /** A new message from someone else in one of the user's dialogs, once each (never history nor a replay). Watched from the first listener on. */
  message: IncomingMessage;
};

/**
 * The framework-agnostic client. Every document the user has open (dialog
 * metas, segments, the user's own state) is multiplexed over one WebSocket;
 * each is loaded from IndexedDB before it connects.
 */
export class ChatClient extends Emitter<ChatClientEvents> {
  readonly rest: RestClient;
  readonly tokens: TokenSource;
  status: ConnectionStatus = "connecting";
  /** The transport of the current (or last) connection. */
  transport: TransportKind = "websocket";
  private socket: HocuspocusProviderWebsocket | null = null;
  private readonly docs = new Map<string, Promise<SyncedDoc>>();
  private readonly dialogs = new Map<string, Promise<DialogSession>>();
  private userState: Promise<UserState> | null = null;
  private refreshTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly persistence: boolean;
  private readonly backoff: Backoff;
  private watch: MessageWatch | null = null;

  constructor(readonly config: ChatClientConfig) {
    super();
    this.tokens = new TokenSource(config.token);
    this.rest = new RestClient(config.url.replace(/\/$/, ""), this.tokens);
    this.persistence = config.persistence ?? hasIndexedDb();
    const reconnect = config.reconnect ?? {};
    this.backoff = {
      minDelayMs: reconnect.minDelayMs ?? defaultBackoff.minDelayMs,
      maxDelayMs: reconnect.maxDelayMs ?? defaultBackoff.maxDelayMs,
      factor: reconnect.factor ?? defaultBackoff.factor,
    };
  }

  /** The user this client acts for, from the token (available after {@link start}). */
  get me(): Pick<TokenClaims, "userId" | "projectId"> {
    const claims = this.tokens.claims ?? this.offlineIdentity;
    if (!claims) throw new Error("call start() first: the user is read from the token");
    return claims;
  }

  private offlineIdentity: Pick<TokenClaims, "userId" | "projectId"> | null = null;

  /**
   * Reads the token (its user names the user's documents) and opens the
   * socket. Offline, when the token cannot be fetched, the client starts as
   * the user it last started as on this device (stored without the token),
   * so local documents open; the token is fetched again when the socket connects.
   */
  async start(): Promise<void> {
    try {
      const claims = decodeTokenClaims(await this.tokens.get());
      rememberIdentity(claims);
    } catch (error) {
      this.offlineIdentity = this.persistence ? lastIdentity() : null;
      if (!this.offlineIdentity) throw error;
    }
    if (this.socket) return;
    const wsUrl = `${this.config.url.replace(/^http/, "ws").replace(/\/$/, "")}/api/v1/ws`;
    const backoff = this.backoff;
    this.socket = new HocuspocusProviderWebsocket({
      url: wsUrl,
      WebSocketPolyfill: transportSocket(
        this.config.WebSocket ? quietWebSocket(this.config.WebSocket) : globalThis.WebSocket,
        this.config.transport ?? {},
        (kind) => {
          this.transport = kind;
          this.emit("transport", kind);
        },
      ),
      delay: backoff.minDelayMs,
      minDelay: backoff.minDelayMs,
      maxDelay: backoff.maxDelayMs,
      factor: backoff.factor,
      jitter: true,
      maxAttempts: 0,
      // Waiting for a dead connection's timeout would delay reconnecting after a network change.
      messageReconnectTimeout: 30_000,
    });
    this.socket.on("status", ({ status }: { status: string }) =>
      this.setStatus(status === "connected" ? "connected" : status === "connecting" ? "connecting" : "disconnected"),
    );
    this.socket.on("disconnect", () => {
      // The next connection asks the token function again: the host may have revoked or rotated it meanwhile.
      this.tokens.invalidate();
      this.setStatus("disconnected");
    });
    if (typeof window !== "undefined") {
      // The browser knows about the network before any timeout or backoff timer does.
      window.addEventListener("online", this.onOnline);
      window.addEventListener("offline", this.onOffline);
    }
    this.scheduleRefresh();
    this.watch?.start();
  }

  override on<K extends keyof ChatClientEvents>(event: K, listener: (payload: ChatClientEvents[K]) => void): () => void {
    // Watching costs a list and a read per push: only when someone listens.
    if (event === "message" && !this.watch) {
      this.watch = new MessageWatch(this, (message) => this.emit("message", message));
      if (this.socket) this.watch.start();
    }
    return super.on(event, listener);
  }

  private readonly onOnline = () => {
    const socket = this.socket;
    if (socket && this.status !== "connected") void socket.connect();
  };

  /** A socket the OS says has no network cannot deliver; close it so changes wait, pending, for the next one. */
  private readonly onOffline = () => {
    this.socket?.disconnect();
    this.setStatus("disconnected");
  };

  private setStatus(status: ConnectionStatus): void {
    if (status === this.status) return;
    this.status = status;
    this.emit("status", status);
  }

  /** Refreshes the token shortly before it expires and hands it to every live document. */
  private scheduleRefresh(): void {
    if (typeof this.config.token === "string") return;
    const claims = this.tokens.claims;
    if (!claims) return;
    const delay = Math.max(5_000, claims.expiresAt - Date.now() - 60_000);
    this.refreshTimer = setTimeout(() => {
      this.tokens.invalidate();
      void this.tokens
        .get()
        .then(async () => {
          for (const pending of this.docs.values()) await (await pending).refreshToken();
        })
        .catch(() => undefined)
        .finally(() => this.scheduleRefresh());
    }, delay);
  }

  /** Opens (or shares) one document: IndexedDB first, then the socket. Pair with {@link releaseDoc}. */
  openDoc(name: string): Promise<SyncedDoc> {
    let pending = this.docs.get(name);
    if (!pending) {
      pending = this.createDoc(name);
      this.docs.set(name, pending);
    }
    return pending.then((synced) => {
      synced.refCount += 1;
      return synced;
    });
  }

  releaseDoc(synced: SyncedDoc): void {
    synced.refCount -= 1;
    if (synced.refCount > 0) return;
    this.docs.delete(synced.name);
    synced.destroy();
  }

  private async createDoc(name: string): Promise<SyncedDoc> {
    const socket = this.socket;
    if (!socket) throw new Error("call start() before opening documents");
    const { userId, projectId } = this.me;
    const doc = new Y.Doc();
    const dbName = databaseName(projectId, userId, name);
    const persistence = this.persistence ? await persist(dbName, doc) : null;
    const synced = SyncedDoc.create(
      name,
      socket,
      () => this.tokens.get(),
      () => this.tokens.invalidate(),
      {
        persistence,
        doc,
        pendingKey: this.persistence ? `${dbName}#pending` : null,
      },
      parseDocName(name)?.kind === "meta",
      this.backoff,
    );
    synced.on("refused", (reason) => this.emit("refused", { docName: name, ...reason }));
    synced.connect();
    return synced;
  }

  /** A dialog: its meta document, its head segment, and older segments on demand. */
  openDialog(dialogId: string): Promise<DialogSession> {
    let session = this.dialogs.get(dialogId);
    if (!session) {
      session = DialogSession.open(this, dialogId);
      this.dialogs.set(dialogId, session);
      session.catch(() => this.dialogs.delete(dialogId));
    }
    return session;
  }

  closeDialog(dialogId: string): void {
    const session = this.dialogs.get(dialogId);
    if (!session) return;
    this.dialogs.delete(dialogId);
    void session.then((open) => open.close());
  }

  /** The user's own state document: pins, archive, notifications and drafts. */
  openUserState(): Promise<UserState> {
    this.userState ??= this.openDoc(userDocName(this.me.projectId, this.me.userId)).then((doc) => new UserState(doc));
    return this.userState;
  }

  /**
   * Deletes this device's copy of some documents (IndexedDB and pending marks),
   * so the next open loads the server's. Close them first.
   */
  async forgetLocal(docNames: string[]): Promise<void> {
    if (!this.persistence) return;
    const { userId, projectId } = this.me;
    await Promise.all(
      docNames.map((docName) => {
        const dbName = databaseName(projectId, userId, docName);
        if (typeof localStorage !== "undefined") localStorage.removeItem(`${dbName}#pending`);
        return deleteDatabase(dbName);
      }),
    );
  }

  /** Closes everything and deletes this user's local data (IndexedDB and pending marks). */
  async logout(): Promise<void> {
    const { userId, projectId } = this.me;
    this.destroy();
    if (typeof localStorage !== "undefined") {
      localStorage.removeItem(identityKey);
      const prefix = databaseName(projectId, userId, "");
      for (const key of Object.keys(localStorage)) if (key.startsWith(prefix)) localStorage.removeItem(key);
    }
    await clearUserData(projectId, userId);
  }

  /** Closes the socket and every document, keeping local data. */
  destroy(): void {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.watch?.stop();
    this.watch = null;
    if (typeof window !== "undefined") {
      window.removeEventListener("online", this.onOnline);
      window.removeEventListener("offline", this.onOffline);
    }
    for (const session of this.dialogs.values()) void session.then((open) => open.close()).catch(() => undefined);
    this.dialogs.clear();
    for (const pending of this.docs.values()) void pending.then((synced) => synced.destroy()).catch(() => undefined);
    this.docs.clear();
    this.userState = null;
    this.socket?.destroy();
    this.socket = null;
    this.clear();
  }
}
