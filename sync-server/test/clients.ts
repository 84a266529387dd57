import { HocuspocusProvider, HocuspocusProviderWebsocket } from "@hocuspocus/provider";
import * as decoding from "lib0/decoding";
import * as encoding from "lib0/encoding";
import WebSocket from "ws";
import * as Y from "yjs";
// The SDK's own fix, from its source: the SDK's index needs the DOM, which the server's tests do not have.
import { quietWebSocket } from "../../sdk/client/src/quiet-socket.ts";
import { until } from "./wait.ts";

/** A real SDK-style client: one shared socket, one provider per document. */
export const openSocket = (wsUrl: string) =>
  new HocuspocusProviderWebsocket({ url: wsUrl, WebSocketPolyfill: quietWebSocket(WebSocket), delay: 50, maxDelay: 500, minDelay: 10 });

export const openDoc = async (
  socket: HocuspocusProviderWebsocket,
  name: string,
  token: string | (() => Promise<string>),
  doc = new Y.Doc(),
) => {
  const provider = new HocuspocusProvider({ websocketProvider: socket, name, document: doc, token });
  provider.attach();
  await until(
    () => provider.synced,
    (notify) => {
      provider.on("synced", notify);
      return () => provider.off("synced", notify);
    },
    { what: `sync of ${name}` },
  );
  return provider;
};

/** Resolves once every local change of the provider has been acknowledged by the server. */
export const acknowledged = (provider: HocuspocusProvider) =>
  until(
    () => provider.unsyncedChanges === 0,
    (notify) => {
      provider.on("unsyncedChanges", notify);
      return () => provider.off("unsyncedChanges", notify);
    },
    { what: "acknowledgement" },
  );

/** Waits for a document to satisfy `check`, re-checking on each update. */
export const docUntil = <T>(doc: Y.Doc, check: () => T | undefined | false, what?: string) =>
  until(
    check,
    (notify) => {
      doc.on("update", notify);
      return () => doc.off("update", notify);
    },
    what ? { what } : {},
  );

const messageType = { sync: 0, awareness: 1, auth: 2, close: 7, syncStatus: 8 } as const;
const syncType = { step1: 0, step2: 1, update: 2 } as const;

/** An awareness frame for `docName`: one entry per [client id, clock, state], as providers send them. */
export const awarenessMessage = (docName: string, states: Iterable<readonly [number, number, unknown]>): Uint8Array => {
  const update = encoding.createEncoder();
  const entries = [...states];
  encoding.writeVarUint(update, entries.length);
  for (const [clientId, clock, state] of entries) {
    encoding.writeVarUint(update, clientId);
    encoding.writeVarUint(update, clock);
    encoding.writeVarString(update, JSON.stringify(state));
  }
  const encoder = encoding.createEncoder();
  encoding.writeVarString(encoder, docName);
  encoding.writeVarUint(encoder, messageType.awareness);
  encoding.writeVarUint8Array(encoder, encoding.toUint8Array(update));
  return encoding.toUint8Array(encoder);
};

export type RawEvent =
  | { type: "authenticated" }
  | { type: "denied"; reason: string }
  | { type: "closed"; reason: string }
  | { type: "status"; ok: boolean }
  /** The server's state arrived (its sync step 2) and is in `doc`. */
  | { type: "synced" }
  | { type: "socket-closed"; code: number };

/**
 * A hostile client that speaks the Hocuspocus wire protocol by hand: it sends
 * whatever bytes it is given, with no provider logic in the way.
 */
export class RawClient {
  readonly doc = new Y.Doc();
  readonly events: RawEvent[] = [];
  private readonly listeners = new Set<() => void>();
  private constructor(
    private readonly socket: WebSocket,
    readonly name: string,
  ) {
    socket.on("message", (data: Buffer) => this.receive(new Uint8Array(data)));
    socket.on("close", (code) => this.push({ type: "socket-closed", code }));
  }

  static async connect(wsUrl: string, name: string, token: string, clientId?: number): Promise<RawClient> {
    const socket = new WebSocket(wsUrl);
    await new Promise((resolve, reject) => {
      socket.once("open", resolve);
      socket.once("error", reject);
    });
    const client = new RawClient(socket, name);
    if (clientId !== undefined) client.doc.clientID = clientId;
    client.send((encoder) => {
      encoding.writeVarUint(encoder, messageType.auth);
      encoding.writeVarUint(encoder, 0);
      encoding.writeVarString(encoder, token);
      encoding.writeVarString(encoder, "raw-1.0");
    });
    return client;
  }

  /** Authenticates and pulls the server's state into `doc`. */
  async handshake(): Promise<void> {
    await this.waitFor((event) => event.type === "authenticated" || event.type === "denied");
    this.send((encoder) => {
      encoding.writeVarUint(encoder, messageType.sync);
      encoding.writeVarUint(encoder, syncType.step1);
      encoding.writeVarUint8Array(encoder, Y.encodeStateVector(this.doc));
    });
    // The server's own step 1 (a "status" here) may come before its answer to ours: wait for the state itself.
    await this.waitFor((event) => event.type === "synced" || event.type === "closed" || event.type === "socket-closed");
  }

  sendUpdate(update: Uint8Array, kind: "update" | "step2" = "update"): void {
    this.send((encoder) => {
      encoding.writeVarUint(encoder, messageType.sync);
      encoding.writeVarUint(encoder, kind === "update" ? syncType.update : syncType.step2);
      encoding.writeVarUint8Array(encoder, update);
    });
  }

  /** Presence for [client id, clock, state] entries, none of which need be this client's own. */
  sendAwareness(states: Iterable<readonly [number, number, unknown]>): void {
    this.sendRaw(awarenessMessage(this.name, states));
  }

  sendRaw(bytes: Uint8Array): void {
    this.socket.send(bytes);
  }

  waitFor(match: (event: RawEvent) => boolean, timeoutMs = 5000): Promise<RawEvent> {
    return until(
      () => this.events.find(match),
      (notify) => {
        this.listeners.add(notify);
        return () => this.listeners.delete(notify);
      },
      { timeoutMs, what: `raw client event on ${this.name}` },
    );
  }

  close(): void {
    this.socket.close();
  }

  private send(write: (encoder: encoding.Encoder) => void): void {
    const encoder = encoding.createEncoder();
    encoding.writeVarString(encoder, this.name);
    write(encoder);
    this.socket.send(encoding.toUint8Array(encoder));
  }

  private push(event: RawEvent): void {
    this.events.push(event);
    for (const listener of this.listeners) listener();
  }

  private receive(data: Uint8Array): void {
    const decoder = decoding.createDecoder(data);
    decoding.readVarString(decoder);
    const type = decoding.readVarUint(decoder);
    if (type === messageType.auth) {
      const authType = decoding.readVarUint(decoder);
      if (authType === 2) this.push({ type: "authenticated" });
      else if (authType === 1) this.push({ type: "denied", reason: decoding.readVarString(decoder) });
    } else if (type === messageType.close) {
      this.push({ type: "closed", reason: decoding.readVarString(decoder) });
    } else if (type === messageType.syncStatus) {
      this.push({ type: "status", ok: decoding.readVarInt(decoder) === 1 });
    } else if (type === messageType.sync || type === 4) {
      const sync = decoding.readVarUint(decoder);
      if (sync === syncType.step2 || sync === syncType.update) Y.applyUpdate(this.doc, decoding.readVarUint8Array(decoder), "server");
      if (sync === syncType.step2) this.push({ type: "synced" });
      if (sync === syncType.step1) this.push({ type: "status", ok: true });
    }
  }
}

/** Attaches a provider that the server should refuse, and resolves with the refusal reason. */
export const deniedReason = async (socket: HocuspocusProviderWebsocket, name: string, token: string): Promise<string> => {
  const provider = new HocuspocusProvider({ websocketProvider: socket, name, document: new Y.Doc(), token });
  let reason: string | undefined;
  const onFailed = ({ reason: why }: { reason: string }) => {
    reason = why;
  };
  provider.on("authenticationFailed", onFailed);
  provider.attach();
  try {
    return await until(
      () => reason,
      (notify) => {
        provider.on("authenticationFailed", notify);
        provider.on("synced", notify);
        return () => {
          provider.off("authenticationFailed", notify);
          provider.off("synced", notify);
        };
      },
      { what: `refusal of ${name}` },
    );
  } finally {
    provider.off("authenticationFailed", onFailed);
    provider.destroy();
  }
};
