import type {
  afterLoadDocumentPayload,
  beforeHandleAwarenessPayload,
  beforeSyncPayload,
  connectedPayload,
  Extension,
  Hocuspocus,
  Document as HocuspocusDocument,
  onAuthenticatePayload,
  onDisconnectPayload,
  onLoadDocumentPayload,
  onStoreDocumentPayload,
  onTokenSyncPayload,
} from "@hocuspocus/server";
import { type Accepted, type Decision, inspectUpdate, systemUserId, type Writer } from "@mtchat/authz";
import { type Projector, quarantineKinds } from "@mtchat/projections";
import {
  type AttachmentRef,
  type DocName,
  formatDocName,
  messagesOf,
  metaDocName,
  metaKeys,
  metaOf,
  parseDocName,
  userDocId,
} from "@mtchat/protocol";
import { Mutex } from "async-mutex";
import type pg from "pg";
import * as Y from "yjs";
import type { User, VerifyToken } from "../auth/verify-token.ts";
import type { Presence } from "../cluster/presence.ts";
import type { CorsOrigins } from "../projects/cors-origins.ts";
import { admitAwareness } from "./awareness-policy.ts";
import { buildWrite, type WriteHow } from "./build-write.ts";
import type { DialogAccess } from "./dialog-access.ts";
import type { DocLog } from "./doc-log.ts";
import type { Logger } from "./logger.ts";
import { Refusal } from "./refusal.ts";

/** What a message's attachment references are checked with: the file service's `finalize`. */
export type AttachmentChecker = {
  finalize(
    projectId: string,
    dialogId: string,
    userId: string,
    ids: readonly string[],
  ): Promise<Decision<{ attachments: AttachmentRef[] }>>;
};

/** What each client connection carries after authentication; the token is kept to verify it again when keys are revoked. */
export type ConnectionContext = { user: User; doc: DocName; token: string };

/** A loaded document: the log seq its copy holds (every row up to it is applied), and its write lock. */
type DocState = { name: DocName; seq: number; snapshotSeq: number; mutex: Mutex };

/** Where rows read from the log are applied from: Hocuspocus relays nothing of them to other nodes (they read the log too). */
const logOrigin = { source: "redis", mtchat: "log" } as const;

export type ChatSyncOptions = {
  segmentSize: number;
  snapshotEvery: number;
  maxUpdateBytes: number;
  /** Longest message or draft body (MAX_MESSAGE_CHARS). */
  maxMessageChars: number;
  now?: () => number;
};

/**
 * Turns a client's sync payload, which Hocuspocus applies after `beforeSync`,
 * into an empty update. `payload` is a view into the very message buffer
 * Hocuspocus reads the update from (lib0's `readVarUint8Array` returns a
 * subarray), so two zero bytes there read as "no structs, no deletions" and
 * the rest of the bytes are never looked at. The server applies the canonical
 * update itself; the client's own bytes are never applied.
 */
const neuter = (payload: Uint8Array): void => {
  if (payload.length >= 2) payload.fill(0, 0, 2);
};

/** Marks the transactions in which this extension applies a client's canonical update. */
export const canonicalOrigin = "mtchat-canonical";

const syncStep1 = 0;

/**
 * The sync server's policy, as a Hocuspocus extension. Every incoming update
 * is decoded and authorized against the server's document before anything is
 * applied; an accepted one is appended to the durable log and applied under
 * the document's lock, so the acknowledgement Hocuspocus sends afterwards
 * always follows the write to PostgreSQL.
 */
/** Why a potential participant's segment connection is refused; the SDK opens segments once the user has joined. */
export const potentialReadsNoMessages = "join the dialog to read its messages";

export class ChatSync implements Extension {
  readonly extensionName = "mtchat";
  hocuspocus: Hocuspocus | null = null;
  private readonly docs = new Map<string, DocState>();
  /** Documents being loaded: a notification that arrives meanwhile is kept for when they are. */
  private readonly loading = new Set<string>();
  /** The newest seq the log's notifications named, per loaded (or loading) document. */
  private readonly heads = new Map<string, number>();
  /** Documents catching up from the log: "again" or "force" when another catch-up was asked for meanwhile. */
  private readonly catchingUp = new Map<string, "running" | "again" | "force">();
  private readonly awarenessClaims = new WeakMap<HocuspocusDocument, Map<number, string>>();
  private readonly advancing = new Set<string>();
  /** `dialogId:clientId` → user, for client ids already bound durably: their bindings need no write. */
  private readonly bound = new Map<string, string>();
  private readonly restClientIds = new Map<string, number>();
  private readonly now: () => number;

  constructor(
    private readonly deps: {
      pool: pg.Pool;
      verifyToken: VerifyToken;
      access: DialogAccess;
      log: DocLog;
      projector: Projector;
      logger: Logger;
      /** Checks uploads that messages reference; without it, messages with attachments are refused. */
      files?: AttachmentChecker;
      /** Who is online across the cluster; the connections of this node are counted in it. */
      presence: Presence;
      /** Which browser origins a project's pages may connect from; without it, any. */
      origins?: Pick<CorsOrigins, "allows" | "sameOrigin">;
      /** Told of every user who authenticates a document (the end-user directory fills itself from tokens). */
      onUser?: (user: User) => void;
    },
    private readonly options: ChatSyncOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  async onAuthenticate({ token, documentName, requestHeaders }: onAuthenticatePayload): Promise<ConnectionContext> {
    const doc = parseDocName(documentName);
    if (!doc) throw new Refusal("not_found", `"${documentName}" is not a dialog or user document`);
    const verified = await this.deps.verifyToken(token);
    if (!verified.ok) throw new Refusal(verified.kind, verified.reason);
    this.deps.onUser?.(verified.user);
    // The upgrade passed an origin some project allows; the token's own project must allow it too.
    const origin = requestHeaders.get("origin");
    const origins = this.deps.origins;
    if (origin && origins && !origins.sameOrigin(origin, requestHeaders.get("host") ?? undefined)) {
      if (!(await origins.allows(verified.user.projectId, origin)))
        throw new Refusal("forbidden", `pages on ${origin} may not connect with this project's tokens (CORS origins)`);
    }
    if (doc.kind === "user") {
      if (!(await this.accessTo(doc, verified.user))) throw new Refusal("forbidden", "a user's state document is theirs alone");
      await this.ensureUserDoc(doc.projectId, doc.userId);
      return { user: verified.user, doc, token };
    }
    const granted = await this.deps.access.accessOf(doc.dialogId, verified.user);
    if (!granted) throw new Refusal("forbidden", "you are not a participant of this dialog and your scopes do not match it");
    // Potential participants (a scope match, not joined) see the dialog's metadata and participants, not its messages.
    if (doc.kind === "segment" && granted.access === "potential") throw new Refusal("forbidden", potentialReadsNoMessages);
    if (doc.kind === "segment" && doc.segment > granted.facts.headSegment) {
      // Another node may have moved the head since this one cached it: look once more.
      this.deps.access.invalidate(doc.dialogId);
      const fresh = await this.deps.access.accessOf(doc.dialogId, verified.user);
      if (!fresh || doc.segment > fresh.facts.headSegment) throw new Refusal("not_found", `segment ${doc.segment} does not exist yet`);
    }
    return { user: verified.user, doc, token };
  }

  async onTokenSync({ token, context }: onTokenSyncPayload<ConnectionContext>): Promise<void> {
    const verified = await this.deps.verifyToken(token);
    if (!verified.ok) throw new Refusal(verified.kind, verified.reason);
    if (verified.user.userId !== context.user.userId || verified.user.projectId !== context.user.projectId)
      throw new Refusal("forbidden", "a refreshed token must be for the same user");
    if (!(await this.accessTo(context.doc, verified.user))) throw new Refusal("forbidden", "you no longer have access to this dialog");
    // The connection holds this very object, so the new expiry applies to its next write.
    context.user = verified.user;
    context.token = token;
  }

  /**
   * What the user may do with a document: dialogs by participation and scopes,
   * a user's state document by its owner alone. Null: not even read.
   */
  private async accessTo(doc: DocName, user: User): Promise<{ access: Writer["access"]; headSegment: number } | null> {
    if (doc.kind === "user") {
      return doc.projectId === user.projectId && doc.userId === user.userId ? { access: "member", headSegment: 0 } : null;
    }
    const granted = await this.deps.access.accessOf(doc.dialogId, user);
    if (!granted || (doc.kind === "segment" && granted.access === "potential")) return null;
    return { access: granted.access, headSegment: granted.facts.headSegment };
  }

  /** Registers a user's state document on first use, so the log and projection can hold it. */
  async ensureUserDoc(projectId: string, userId: string): Promise<void> {
    await this.deps.pool.query(
      "INSERT INTO dialog_registry (id, project_id, owner_user_id) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
      [userDocId(projectId, userId), projectId, userId],
    );
  }

  async connected({ context, documentName }: connectedPayload<ConnectionContext>): Promise<void> {
    this.deps.logger.debug("connected", { user: context.user.userId, doc: documentName });
    if (context.doc.kind !== "user") this.deps.presence.add(context.doc.dialogId, context.user.userId);
  }

  async onDisconnect({ context }: onDisconnectPayload<ConnectionContext>): Promise<void> {
    // A connection refused before it authenticated has no context.
    if (context?.doc && context.doc.kind !== "user") this.deps.presence.remove(context.doc.dialogId, context.user.userId);
  }

  async onLoadDocument({ document, documentName }: onLoadDocumentPayload): Promise<void> {
    const name = parseDocName(documentName);
    if (!name) throw new Refusal("not_found", `"${documentName}" is not a dialog document`);
    this.loading.add(documentName);
    try {
      const { updates, seq, tail } = await this.deps.log.load(documentName);
      for (const update of updates) Y.applyUpdate(document, update);
      this.docs.set(documentName, { name, seq, snapshotSeq: seq - tail, mutex: new Mutex() });
    } finally {
      this.loading.delete(documentName);
    }
  }

  /** Rows another node appended while this one was loading the document are applied now. */
  async afterLoadDocument({ documentName }: afterLoadDocumentPayload): Promise<void> {
    const state = this.docs.get(documentName);
    if (state && (this.heads.get(documentName) ?? 0) > state.seq) this.scheduleCatchUp(documentName);
  }

  async afterUnloadDocument({ documentName }: { documentName: string }): Promise<void> {
    this.docs.delete(documentName);
    this.heads.delete(documentName);
  }

  /**
   * The log of `docName` reached `seq` (its notification, from any node). A
   * copy loaded here that lacks rows catches up from the log, whether or not
   * Redis relayed them: that is how a node that missed a relay converges.
   */
  onLogged(docName: string, seq: number): void {
    if (!this.docs.has(docName) && !this.loading.has(docName)) return;
    this.sawHead(docName, seq);
    const state = this.docs.get(docName);
    if (state && seq > state.seq) this.scheduleCatchUp(docName);
  }

  /** The log of `docName` reaches at least `seq`. */
  private sawHead(docName: string, seq: number): void {
    if (seq > (this.heads.get(docName) ?? 0)) this.heads.set(docName, seq);
  }

  /** After the log's notifications were missed (the listener reconnected): every loaded document looks at the log. */
  catchUpAll(): void {
    for (const docName of this.docs.keys()) this.scheduleCatchUp(docName, true);
  }

  /**
   * One catch-up at a time per document; notifications during it ask for one
   * more. A catch-up reads the log only when a notification told of a row the
   * copy lacks: most notifications are of this node's own appends, which the
   * copy has by the time the catch-up holds the document's lock. `force` reads
   * the log whatever the notifications said (they may have been missed).
   */
  private scheduleCatchUp(docName: string, force = false): void {
    const queued = this.catchingUp.get(docName);
    if (queued !== undefined) {
      this.catchingUp.set(docName, queued === "force" || force ? "force" : "again");
      return;
    }
    this.catchingUp.set(docName, "running");
    const run = async () => {
      const state = this.docs.get(docName);
      const document = this.hocuspocus?.documents.get(docName);
      if (!state || !document) return;
      await state.mutex.runExclusive(async () => {
        if (force || (this.heads.get(docName) ?? 0) > state.seq) await this.catchUp(state, document);
      });
    };
    void run()
      .catch((error: unknown) => this.deps.logger.warn("catch_up_failed", { doc: docName, error: String(error) }))
      .finally(() => {
        const again = this.catchingUp.get(docName);
        this.catchingUp.delete(docName);
        if (again !== "running") this.scheduleCatchUp(docName, again === "force");
      });
  }

  /**
   * Applies the log rows the live copy lacks (under the document's lock), so
   * it is judged, appended to and served as the log says. Returns whether any
   * row was applied.
   */
  private async catchUp(state: DocState, document: HocuspocusDocument): Promise<boolean> {
    const read = await this.deps.log.readAfter(formatDocName(state.name), state.seq);
    if (read.seq <= state.seq) return false;
    // Reloading from the log quarantines a row that fails here: the loader knows each row's seq.
    for (const update of read.updates) await this.applyLogged(state, document, update, logOrigin, null);
    state.seq = read.seq;
    return true;
  }

  async beforeSync({ type, payload, document, documentName, context, connection }: beforeSyncPayload<ConnectionContext>): Promise<void> {
    if (type === syncStep1) return;
    // Whatever happens below, Hocuspocus applies nothing of the client's bytes.
    const update = payload.slice();
    neuter(payload);
    const state = this.docs.get(documentName);
    if (!state) throw new Refusal("unavailable", "the document is not loaded; reconnect");
    const { user } = context;
    if (user.expiresAt * 1000 <= this.now()) throw new Refusal("unauthorized", "your token has expired; send a fresh one");
    if (update.length > this.options.maxUpdateBytes) throw new Refusal("payload_too_large", "the update is too large; send it in parts");
    const granted = await this.accessTo(state.name, user);
    if (!granted) throw new Refusal("forbidden", "you no longer have access to this dialog");
    const writer: Writer = { userId: user.userId, access: granted.access };

    // Under the document's lock, the next update is judged against a document that includes this one. The copy
    // may lack rows another node appended a moment ago (they are being caught up on): the judgement is sound
    // without them, and an update that needs them is refused as "missing" until the copy has caught up.
    await state.mutex.runExclusive(async () => {
      for (let attempt = 1; ; attempt += 1) {
        const decision = this.inspect(state, document, update, writer);
        if (!decision.ok) {
          // Judged against a copy that may lack another node's rows: catch up once, and judge again.
          if (decision.missing && attempt === 1 && (await this.catchUp(state, document))) continue;
          return await this.refuse(state, writer, decision.kind, decision.reason);
        }
        if (decision.empty) return;
        const files = await this.checkAttachments(state, writer, decision.attachmentRefs);
        if (!files.ok) return await this.refuse(state, writer, files.kind, files.reason);
        const { dialogId } = state.name;
        const unbound = decision.newClientIds.filter((clientId) => this.bound.get(`${dialogId}:${clientId}`) !== user.userId);
        const result = await this.deps.log.append({
          docName: documentName,
          dialogId,
          update: decision.update,
          userId: user.userId,
          clientIds: unbound,
          newMessageIds: decision.newMessageIds,
        });
        if (!result.ok) return await this.refuse(state, writer, result.kind, result.reason);
        this.rememberBindings(dialogId, unbound, user.userId);
        // Logged first, applied second: the broadcast and Hocuspocus's acknowledgement follow the write.
        await this.appended(state, document, result.seq, decision.update, { source: "connection", connection, mtchat: canonicalOrigin });
        if (decision.newMessageIds.length > 0) this.maybeAdvanceHead(state, document, granted.headSegment);
        return;
      }
    });
  }

  /**
   * Applies an update just logged at `seq`. When another node appended before
   * it (the database gave a later seq than the next one), the copy catches up
   * on those rows from the log afterwards: the update was judged sound against
   * the copy as it is (see migration 0012), and Yjs merges in any order.
   */
  private async appended(state: DocState, document: HocuspocusDocument, seq: number, update: Uint8Array, origin: unknown): Promise<void> {
    const next = seq === state.seq + 1;
    await this.applyLogged(state, document, update, origin, seq);
    if (next) state.seq = seq;
    else {
      // The log holds at least this row: the rows before it, which another node appended, are read now.
      const docName = formatDocName(state.name);
      this.sawHead(docName, seq);
      this.scheduleCatchUp(docName);
    }
  }

  /**
   * Applies an update that is already in the log. The inspector admits only
   * updates Yjs integrates whole, so this cannot fail; if it ever does, the
   * document in memory no longer matches what a reload would build, so the
   * logged row is quarantined (kept aside, replaced by an empty update) and
   * the document reloaded from the log without it.
   */
  private async applyLogged(
    state: DocState,
    document: HocuspocusDocument,
    update: Uint8Array,
    origin: unknown,
    /** The row's own seq, to quarantine it; rows read back from the log are the loader's to quarantine. */
    seq: number | null,
  ): Promise<void> {
    let failure: string | null = null;
    try {
      Y.applyUpdate(document, update, origin);
      if (document.store.pendingStructs) failure = `${quarantineKinds.missingStructs}: the update left structs pending`;
      else if (document.store.pendingDs) failure = `${quarantineKinds.missingDeletes}: the update left deletions pending`;
    } catch (error) {
      failure = `${quarantineKinds.liveApplyFailed}: ${String(error)}`;
    }
    if (failure === null) return;
    const docName = formatDocName(state.name);
    this.deps.logger.error("logged_update_failed", { doc: docName, seq, error: failure });
    if (seq !== null) {
      await this.deps.log
        .quarantine(docName, seq, failure)
        .catch((error: unknown) => this.deps.logger.error("quarantine_failed", { doc: docName, seq, error: String(error) }));
    }
    this.reload(document);
  }

  /** Drops a document from memory and sends its clients away to reconnect, so it loads afresh from the log. */
  private reload(document: HocuspocusDocument): void {
    for (const connection of document.getConnections()) {
      connection.close({ code: 4503, reason: "4503 unavailable: the document is reloading; reconnect" });
    }
    void this.mustHocuspocus()
      .unloadDocument(document)
      .catch((error: unknown) => this.deps.logger.error("unload_failed", { doc: document.name, error: String(error) }));
  }

  /** Presence is stamped with the user and bounded (awareness-policy.ts); a client id claimed by one user cannot speak for another. */
  async beforeHandleAwareness({ states, document, context, connection }: beforeHandleAwarenessPayload<ConnectionContext>): Promise<void> {
    if (!context) return;
    let claims = this.awarenessClaims.get(document);
    if (!claims) {
      claims = new Map();
      this.awarenessClaims.set(document, claims);
    }
    const dropped = admitAwareness({
      states,
      user: context.user,
      claims,
      present: document.awareness.getStates(),
      held: connection ? document.getClients(connection) : new Set(),
    });
    if (dropped.size > 0)
      this.deps.logger.debug("awareness_dropped", { user: context.user.userId, doc: document.name, dropped: dropped.size });
  }

  async onStoreDocument({ document, documentName }: onStoreDocumentPayload): Promise<void> {
    const state = this.docs.get(documentName);
    if (!state || state.seq - state.snapshotSeq < this.options.snapshotEvery) return;
    await state.mutex.runExclusive(async () => {
      const seq = state.seq;
      await this.deps.log.snapshot(documentName, state.name.dialogId, Y.encodeStateAsUpdate(document), seq);
      state.snapshotSeq = seq;
    });
  }

  /**
   * Snapshots the document now and drops the log rows the snapshot covers (those projected): what a write deleted is
   * then gone from the database too, not only from the document (Yjs keeps no deleted content in its state).
   */
  async compact(documentName: string): Promise<void> {
    const connection = await this.mustHocuspocus().openDirectConnection(documentName, {});
    try {
      const document = connection.document;
      const state = this.docs.get(documentName);
      if (!document || !state) return;
      await state.mutex.runExclusive(async () => {
        await this.deps.log.snapshot(documentName, state.name.dialogId, Y.encodeStateAsUpdate(document), state.seq);
        state.snapshotSeq = state.seq;
      });
    } finally {
      await connection.disconnect();
    }
  }

  /**
   * Writes as the server: the change is made on a copy, logged, and only then
   * applied to the live document, so nothing a client sees can be missing from
   * the log. Resolves once the change is projected.
   */
  async serverWrite(documentName: string, mutate: (doc: Y.Doc) => void, how: WriteHow = {}): Promise<void> {
    const written = await this.writeAs(documentName, null, mutate, how);
    if (!written.ok) throw new Error(`server write to ${documentName} refused: ${written.reason}`);
  }

  /**
   * Writes on a user's behalf (the REST API for bots, backends and non-JS
   * clients): the update built on the copy goes through the same inspection as
   * one arriving over a WebSocket, so REST callers obey the same rules.
   */
  userWrite(documentName: string, writer: Writer, mutate: (doc: Y.Doc) => void, how: WriteHow = {}): Promise<Decision> {
    return this.writeAs(documentName, writer, mutate, how);
  }

  private async writeAs(documentName: string, writer: Writer | null, mutate: (doc: Y.Doc) => void, how: WriteHow = {}): Promise<Decision> {
    const hocuspocus = this.mustHocuspocus();
    const connection = await hocuspocus.openDirectConnection(documentName, {});
    try {
      const document = connection.document;
      const state = this.docs.get(documentName);
      if (!document || !state) throw new Error(`${documentName} did not load`);
      const userId = writer?.userId ?? systemUserId;
      return await state.mutex.runExclusive(async (): Promise<Decision> => {
        for (let attempt = 1; ; attempt += 1) {
          const clientId = writer ? this.restClientId(state.name.dialogId, writer.userId, document) : this.freshClientId(document);
          const built = buildWrite(document, clientId, mutate, how.onlyNewMessages === true);
          if (!built) return { ok: true };
          // A user's write is logged and applied in its canonical form, like a WebSocket client's.
          let logged = built.update;
          if (writer) {
            const decision = this.inspect(state, document, built.update, writer);
            if (!decision.ok) {
              if (decision.missing && attempt === 1 && (await this.catchUp(state, document))) continue;
              return decision;
            }
            const files = await this.checkAttachments(state, writer, decision.attachmentRefs);
            if (!files.ok) return files;
            logged = decision.update;
          }
          const result = await this.deps.log.append({
            docName: documentName,
            dialogId: state.name.dialogId,
            update: logged,
            userId,
            clientIds: [clientId],
            newMessageIds: built.newMessageIds,
          });
          if (!result.ok) return result;
          // Projected (the projector reads the log) and the access cache refreshed before any
          // client sees the change, so a client acting on it is judged by the same facts. The
          // change is durable already: a projection that fails is retried by the worker and
          // does not fail the write.
          await this.deps.projector
            .catchUp(documentName)
            .catch((error: unknown) => this.deps.logger.error("projection_failed", { doc: documentName, error: String(error) }));
          if (state.name.kind === "meta") this.deps.access.invalidate(state.name.dialogId);
          await this.appended(state, document, result.seq, logged, { source: "mtchat", user: userId });
          if (writer && built.newMessageIds.length > 0) {
            const facts = await this.deps.access.facts(state.name.dialogId);
            if (facts) this.maybeAdvanceHead(state, document, facts.headSegment);
          }
          return { ok: true };
        }
      });
    } finally {
      await connection.disconnect();
    }
  }

  /** Users with a live connection to any of the dialog's documents, on any node. */
  onlineUsers(dialogId: string): Promise<Set<string>> {
    return this.deps.presence.online(dialogId);
  }

  /**
   * Someone changed who may use the dialog (on this node or another): every
   * live connection to its documents here is judged again, and closed if its
   * user lost access (4404 when the dialog is gone).
   */
  async recheckConnections(dialogId: string, removed?: string): Promise<number> {
    this.deps.access.invalidate(dialogId);
    // Someone who lost access for certain goes at once, before anything is read from the database.
    if (removed) this.closeConnections(dialogId, removed, new Refusal("forbidden", "you were removed from this dialog"));
    const facts = await this.deps.access.facts(dialogId);
    const lost = new Map<string, Refusal>();
    const readOnlyMeta = new Set<string>();
    for (const context of this.contextsOf(dialogId)) {
      if (lost.has(context.user.userId)) continue;
      if (!facts) lost.set(context.user.userId, new Refusal("not_found", "this dialog was deleted"));
      else {
        const granted = await this.deps.access.accessOf(dialogId, context.user);
        if (!granted) lost.set(context.user.userId, new Refusal("forbidden", "you no longer have access to this dialog"));
        else if (granted.access === "potential") readOnlyMeta.add(context.user.userId);
      }
    }
    let closed = 0;
    for (const [userId, refusal] of lost) closed += this.closeConnections(dialogId, userId, refusal);
    // Left, but the scopes still match: the messages go, the metadata stays.
    if (readOnlyMeta.size > 0) {
      closed += this.closeConnectionsWhere(
        dialogId,
        (context) => context.doc.kind === "segment" && readOnlyMeta.has(context.user.userId),
        new Refusal("forbidden", potentialReadsNoMessages),
      );
    }
    if (!facts) await this.unloadDialog(dialogId);
    return closed;
  }

  /** Every dialog with a live connection here is judged again (after access notifications may have been missed). */
  async recheckAll(): Promise<void> {
    const dialogs = new Set<string>();
    for (const documentName of this.mustHocuspocus().documents.keys()) {
      const name = parseDocName(documentName);
      if (name && name.kind !== "user") dialogs.add(name.dialogId);
    }
    for (const dialogId of dialogs) await this.recheckConnections(dialogId);
  }

  /** A project's verification keys changed: every live connection of the project verifies its token again. */
  async recheckTokens(projectId: string): Promise<number> {
    let closed = 0;
    for (const document of this.mustHocuspocus().documents.values()) {
      for (const connection of document.getConnections()) {
        const context = connection.context as ConnectionContext | undefined;
        if (!context?.user || context.user.projectId !== projectId) continue;
        const verified = await this.deps.verifyToken(context.token);
        if (verified.ok) continue;
        const refusal = new Refusal(verified.kind, verified.reason);
        connection.close({ code: refusal.code, reason: refusal.reason });
        closed += 1;
      }
    }
    return closed;
  }

  private *contextsOf(dialogId: string): Generator<ConnectionContext> {
    for (const [documentName, document] of this.mustHocuspocus().documents) {
      if (parseDocName(documentName)?.dialogId !== dialogId) continue;
      for (const connection of document.getConnections()) {
        const context = connection.context as ConnectionContext | undefined;
        if (context?.user) yield context;
      }
    }
  }

  /** Closes every live connection of `userId` (or of everyone) to the dialog's documents. */
  closeConnections(dialogId: string, userId: string | null, refusal: Refusal): number {
    return this.closeConnectionsWhere(dialogId, (context) => userId === null || context.user.userId === userId, refusal);
  }

  closeConnectionsWhere(dialogId: string, matches: (context: ConnectionContext) => boolean, refusal: Refusal): number {
    let closed = 0;
    for (const [documentName, document] of this.mustHocuspocus().documents) {
      if (parseDocName(documentName)?.dialogId !== dialogId) continue;
      for (const connection of document.getConnections()) {
        const context = connection.context as ConnectionContext | undefined;
        if (!context?.user || !matches(context)) continue;
        this.deps.logger.info("connection_closed", { user: context.user.userId, doc: documentName, reason: refusal.reason });
        connection.close({ code: refusal.code, reason: refusal.reason });
        closed += 1;
      }
    }
    return closed;
  }

  /** Forgets a dialog's loaded documents, after it was deleted. */
  async unloadDialog(dialogId: string): Promise<void> {
    const hocuspocus = this.mustHocuspocus();
    for (const [documentName, document] of [...hocuspocus.documents]) {
      if (parseDocName(documentName)?.dialogId !== dialogId) continue;
      await hocuspocus.unloadDocument(document);
    }
  }

  /**
   * Every attachment a write references must be the writer's own upload to
   * this dialog, checked (size, real type) and described truthfully: a client
   * cannot relabel an executable as an image or claim another dialog's file.
   */
  private async checkAttachments(state: DocState, writer: Writer, refs: Record<string, unknown>[]): Promise<Decision> {
    if (refs.length === 0) return { ok: true };
    const facts = await this.deps.access.facts(state.name.dialogId);
    if (!this.deps.files || !facts) return { ok: false, kind: "unavailable", reason: "attachments are not available on this server" };
    const { projectId } = facts;
    const ids = refs.map((ref) => ref.id);
    if (!ids.every((id): id is string => typeof id === "string"))
      return { ok: false, kind: "invalid_update", reason: "every attachment needs its id" };
    const checked = await this.deps.files.finalize(projectId, state.name.dialogId, writer.userId, ids);
    if (!checked.ok) return checked;
    const truth = new Map(checked.attachments.map((attachment) => [attachment.id, attachment]));
    for (const ref of refs) {
      const real = truth.get(String(ref.id).toLowerCase());
      if (!real || ref.mime !== real.mime || ref.size !== real.size || ref.name !== real.name) {
        return {
          ok: false,
          kind: "invalid_update",
          reason: `attachment ${String(ref.id)} must be described as uploaded: ${JSON.stringify(real ?? null)}`,
        };
      }
    }
    return { ok: true };
  }

  /** The one authorization path for updates, whether they came over a WebSocket or were built for a REST call. */
  private inspect(state: DocState, document: Y.Doc, update: Uint8Array, writer: Writer): Decision<Accepted> {
    return inspectUpdate(update, {
      doc: document,
      docKind: state.name.kind,
      writer,
      maxMessagesPerSegment: this.options.segmentSize * 2,
      maxMessageChars: this.options.maxMessageChars,
    });
  }

  /** Logs and audits a refusal; the audit row is written before the client hears of it. */
  private async refuse(state: DocState, writer: Writer, kind: Refusal["kind"], reason: string): Promise<never> {
    this.deps.logger.warn("update_refused", { user: writer.userId, access: writer.access, doc: formatDocName(state.name), kind, reason });
    await this.deps.pool
      .query("INSERT INTO audit_log (dialog_id, doc_name, user_id, action, detail) VALUES ($1, $2, $3, 'update_refused', $4)", [
        state.name.dialogId,
        formatDocName(state.name),
        writer.userId,
        JSON.stringify({ kind, reason, access: writer.access }),
      ])
      .catch((error: unknown) => this.deps.logger.error("audit_failed", { error: String(error) }));
    throw new Refusal(kind, reason);
  }

  /** When the head segment fills up, the server moves the head so new messages start a fresh segment. */
  private maybeAdvanceHead(state: DocState, document: Y.Doc, headSegment: number): void {
    if (state.name.kind !== "segment" || state.name.segment !== headSegment) return;
    if (messagesOf(document)._map.size < this.options.segmentSize) return;
    const { dialogId } = state.name;
    const next = headSegment + 1;
    if (this.advancing.has(dialogId)) return;
    this.advancing.add(dialogId);
    this.serverWrite(metaDocName(dialogId), (meta) => {
      const current = Number(metaOf(meta).get(metaKeys.headSegment) ?? 0);
      if (current < next) metaOf(meta).set(metaKeys.headSegment, next);
    })
      .catch((error: unknown) => this.deps.logger.error("advance_head_failed", { dialogId, error: String(error) }))
      .finally(() => this.advancing.delete(dialogId));
  }

  private rememberBindings(dialogId: string, clientIds: readonly number[], userId: string): void {
    // Bindings are never reassigned, so a stale entry cannot be wrong, only missing; the cap bounds memory.
    if (this.bound.size > 100_000) this.bound.clear();
    for (const clientId of clientIds) this.bound.set(`${dialogId}:${clientId}`, userId);
  }

  /** One client id per user and dialog for REST writes in this process, so bindings do not pile up. */
  private restClientId(dialogId: string, userId: string, document: Y.Doc): number {
    const key = `${dialogId}:${userId}`;
    let clientId = this.restClientIds.get(key);
    if (clientId === undefined) {
      clientId = this.freshClientId(document);
      this.restClientIds.set(key, clientId);
    }
    return clientId;
  }

  private freshClientId(document: Y.Doc): number {
    for (;;) {
      const id = Math.floor(Math.random() * 0xffffffff);
      if (!document.store.clients.has(id)) return id;
    }
  }

  private mustHocuspocus(): Hocuspocus {
    if (!this.hocuspocus) throw new Error("ChatSync is not attached to a Hocuspocus instance");
    return this.hocuspocus;
  }
}
