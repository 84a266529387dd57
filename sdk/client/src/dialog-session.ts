import {
  type AttachmentRef,
  type CloseReason,
  deleteMessage,
  type MessageView,
  messagesOf,
  metaDocName,
  metaKeys,
  metaOf,
  type ParticipantEntry,
  participantsOf,
  type RichNode,
  reactionsOf,
  readMessage,
  readsOf,
  segmentDocName,
  setReaction,
} from "@mtchat/protocol";
import { v7 as uuidv7 } from "uuid";
import * as Y from "yjs";
import type { ChatClient } from "./client.ts";
import { Emitter } from "./emitter.ts";
import type { ApiMessage } from "./rest.ts";
import { appendJson, fragmentFromJson, isBlank } from "./rich-body.ts";
import type { SyncedDoc } from "./synced-doc.ts";

/** A message as a view shows it: the document's fields plus where it stands on its way to the server. */
export type ChatMessage = MessageView & {
  /** Written here and not yet acknowledged by the server. */
  pending: boolean;
  /** The segment document holding it. */
  segment: number;
  /**
   * Whether its segment document is loaded, so it follows edits live and can
   * be replied to, edited or reacted to. A message the REST history served
   * ahead of its segment is not live until the segment arrives.
   */
  live: boolean;
};

/** A message of the REST history, in the shape a loaded one has. */
export const messageFromApi = (message: ApiMessage): ChatMessage => ({
  id: message.id,
  author: message.sender_id,
  kind: message.message_type === "system" ? "system" : "text",
  createdAt: Date.parse(message.sent_at),
  text: message.content,
  body: message.body ?? { type: "doc" },
  replyTo: message.reply_to_id,
  attachments: message.attachments,
  editedAt: message.last_edited_at ? Date.parse(message.last_edited_at) : null,
  deleted: message.deleted,
  system: message.system ?? null,
  reactions: message.reactions,
  pending: false,
  segment: message.segment,
  live: false,
});

const byTimeThenId = (a: ChatMessage, b: ChatMessage) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** How many messages one page of the REST history brings when scrolling back. */
const historyPage = 50;

export type Presence = { userId: string; name: string | null; typing: boolean };

export type DialogEvents = {
  /** Messages, participants, read cursors, presence or sync state changed. */
  change: undefined;
  refused: CloseReason;
};

const typingTtlMs = 6_000;

/**
 * One dialog: the meta document, the head segment, and older segments loaded
 * on demand (scrolling back, jumping to a message). Opening costs the same
 * however long the dialog is.
 */
export class DialogSession extends Emitter<DialogEvents> {
  private readonly segments = new Map<number, SyncedDoc>();
  private readonly loading = new Map<number, Promise<SyncedDoc | null>>();
  /** Messages the REST history served whose segment is not loaded yet; shown until it is. */
  private readonly served = new Map<string, ChatMessage>();
  /** What the REST history said about older messages: unknown until it was asked. */
  private servedHasMore: boolean | null = null;
  private readonly unsubscribers: (() => void)[] = [];
  private lowestLoaded = Number.POSITIVE_INFINITY;
  private headSegment = -1;
  private closed = false;
  private notifyQueued = false;
  private typingTimer: ReturnType<typeof setTimeout> | null = null;

  private constructor(
    private readonly client: ChatClient,
    readonly dialogId: string,
    readonly meta: SyncedDoc,
  ) {
    super();
  }

  static async open(client: ChatClient, dialogId: string): Promise<DialogSession> {
    const meta = await client.openDoc(metaDocName(dialogId));
    const session = new DialogSession(client, dialogId, meta);
    await session.init();
    return session;
  }

  private async init(): Promise<void> {
    this.watch(this.meta);
    const onMeta = () => void this.followHead();
    metaOf(this.meta.doc).observe(onMeta);
    this.unsubscribers.push(() => metaOf(this.meta.doc).unobserve(onMeta));
    const onReads = () => this.notify();
    // Joining adds the user to the participants: then the messages can be opened.
    const onParticipants = () => {
      this.notify();
      void this.followHead();
    };
    readsOf(this.meta.doc).observe(onReads);
    participantsOf(this.meta.doc).observe(onParticipants);
    this.unsubscribers.push(() => {
      readsOf(this.meta.doc).unobserve(onReads);
      participantsOf(this.meta.doc).unobserve(onParticipants);
    });
    const awareness = this.meta.provider?.awareness;
    if (awareness) {
      const onAwareness = () => {
        this.notify();
        this.expireTyping();
      };
      awareness.on("change", onAwareness);
      this.unsubscribers.push(() => awareness.off("change", onAwareness));
    }
    await this.followHead();
  }

  /** Opens the head segment named by the meta document (waiting for the first sync when nothing is stored). */
  private async followHead(): Promise<void> {
    const head = metaOf(this.meta.doc).get(metaKeys.headSegment);
    if (typeof head !== "number") {
      if (this.meta.state === "refused") return;
      // Nothing stored yet: the first sync brings the meta document.
      await new Promise<void>((resolve) => {
        const off = this.meta.on("change", () => {
          if (typeof metaOf(this.meta.doc).get(metaKeys.headSegment) === "number" || this.meta.state === "refused") {
            off();
            resolve();
          }
        });
      });
      if (typeof metaOf(this.meta.doc).get(metaKeys.headSegment) !== "number") return;
      return this.followHead();
    }
    // A potential participant (a scope match, not joined) sees the metadata and participants, not the messages:
    // the server refuses their segments, so they are opened once the user has joined.
    if (!this.participating) return;
    if (head <= this.headSegment) return;
    this.headSegment = head;
    await this.loadSegment(head);
  }

  /** Whether the user is one of the dialog's participants (not only a potential one). */
  get participating(): boolean {
    const participants = participantsOf(this.meta.doc);
    return participants.has(this.me);
  }

  private loadSegment(index: number): Promise<SyncedDoc | null> {
    const existing = this.segments.get(index);
    if (existing) return Promise.resolve(existing);
    if (!this.participating) return Promise.resolve(null);
    // Scrolling, jumping and served history may ask for one segment at once: open it once.
    let loading = this.loading.get(index);
    if (!loading) {
      loading = this.openSegment(index).finally(() => this.loading.delete(index));
      this.loading.set(index, loading);
    }
    return loading;
  }

  private async openSegment(index: number): Promise<SyncedDoc | null> {
    if (this.closed) return null;
    const segment = await this.client.openDoc(segmentDocName(this.dialogId, index));
    if (this.closed) {
      this.client.releaseDoc(segment);
      return null;
    }
    this.segments.set(index, segment);
    this.lowestLoaded = Math.min(this.lowestLoaded, index);
    this.watch(segment);
    const onMessages = () => this.notify();
    messagesOf(segment.doc).observeDeep(onMessages);
    this.unsubscribers.push(() => messagesOf(segment.doc).unobserveDeep(onMessages));
    this.notify();
    return segment;
  }

  private watch(doc: SyncedDoc): void {
    this.unsubscribers.push(doc.on("change", () => this.notify()));
    this.unsubscribers.push(doc.on("refused", (reason) => this.emit("refused", reason)));
  }

  /** Coalesces bursts of document events into one `change` per microtask. */
  private notify(): void {
    if (this.notifyQueued) return;
    this.notifyQueued = true;
    queueMicrotask(() => {
      this.notifyQueued = false;
      if (!this.closed) this.emit("change", undefined);
    });
  }

  get me(): string {
    return this.client.me.userId;
  }

  /** Why the server refused this dialog (removed, no access …), or null. Unsent changes are kept either way. */
  get refusal(): CloseReason | null {
    if (this.meta.refusal) return this.meta.refusal;
    for (const segment of this.segments.values()) if (segment.refusal) return segment.refusal;
    return null;
  }

  /** Whether every loaded document has synced with the server at least once since opening. */
  get synced(): boolean {
    return this.meta.state === "synced" && [...this.segments.values()].every((segment) => segment.state === "synced");
  }

  /** Whether older messages exist than those shown. */
  get hasOlder(): boolean {
    if (this.servedHasMore === false) return false;
    return this.servedHasMore === true || (this.lowestLoaded > 0 && Number.isFinite(this.lowestLoaded));
  }

  get title(): string | null {
    const title = metaOf(this.meta.doc).get(metaKeys.title);
    return typeof title === "string" ? title : null;
  }

  get objectUrl(): string | null {
    const url = metaOf(this.meta.doc).get(metaKeys.objectUrl);
    return typeof url === "string" ? url : null;
  }

  participants(): Map<string, ParticipantEntry> {
    return new Map(participantsOf(this.meta.doc).entries());
  }

  /**
   * Every message shown, oldest first (by the sender's clock, then id: UUIDv7s
   * are time-ordered): those of the loaded segments, and those the REST history
   * served ahead of their segment.
   */
  messages(): ChatMessage[] {
    const all: ChatMessage[] = [];
    const seen = new Set<string>();
    for (const [index, segment] of this.segments) {
      for (const [id, entry] of messagesOf(segment.doc).entries()) {
        if (!(entry instanceof Y.Map)) continue;
        seen.add(id);
        all.push({ ...readMessage(id, entry), pending: segment.isPending(id), segment: index, live: true });
      }
    }
    for (const [id, message] of this.served) if (!seen.has(id)) all.push(message);
    return all.sort(byTimeThenId);
  }

  /** The live Y.Map of a loaded message (an editor binds to its body fragment while editing). */
  entry(messageId: string): Y.Map<unknown> | null {
    for (const segment of this.segments.values()) {
      const entry = messagesOf(segment.doc).get(messageId);
      if (entry instanceof Y.Map) return entry;
    }
    return null;
  }

  private segmentOf(messageId: string): SyncedDoc | null {
    for (const segment of this.segments.values()) if (messagesOf(segment.doc).has(messageId)) return segment;
    return null;
  }

  /**
   * Shows older messages; false when there are none. Call it when the user
   * scrolls to the top. Online, one page of the REST history shows at once and
   * the segments holding it load behind it (then those messages go live);
   * offline, the next older segment comes from IndexedDB.
   */
  async loadOlder(): Promise<boolean> {
    if (!this.hasOlder) return false;
    const oldest = this.messages()[0];
    const page = await this.fetchHistory(oldest ? { before: oldest.id, limit: historyPage } : { limit: historyPage });
    if (page) {
      this.servedHasMore = page.has_more_before;
      this.serve(page.messages);
      return true;
    }
    if (!(this.lowestLoaded > 0 && Number.isFinite(this.lowestLoaded))) return false;
    const segment = await this.loadSegment(this.lowestLoaded - 1);
    // Online, wait for the server's copy: IndexedDB may hold only part of an old segment, or nothing.
    if (segment && this.client.status === "connected") await segment.whenSynced();
    return true;
  }

  /**
   * Makes `messageId` shown, wherever it is; false when the dialog has no such
   * message. Online, the REST history says which segment holds it and serves
   * the messages around it at once; offline, older segments load until it turns up.
   */
  async ensureLoaded(messageId: string): Promise<boolean> {
    if (this.entry(messageId) || this.served.has(messageId)) return true;
    const page = await this.fetchHistory({ around: messageId, limit: historyPage });
    if (page?.messages.some((message) => message.id === messageId)) {
      this.serve(page.messages);
      return true;
    }
    while (!this.entry(messageId)) {
      const before = this.lowestLoaded;
      if (!(before > 0 && Number.isFinite(before))) return false;
      const segment = await this.loadSegment(before - 1);
      if (segment && this.client.status === "connected") await segment.whenSynced();
    }
    return true;
  }

  /**
   * The first message after the user's read cursor that someone else wrote,
   * across the whole dialog. When the cursor lies in a segment not loaded, the
   * server knows it (it holds every segment); offline, the shown messages are
   * all there is to go on.
   */
  async findFirstUnread(): Promise<string | null> {
    const local = this.firstUnread();
    const cursor = this.readCursor();
    // With the cursor among the shown messages, everything unread is shown too.
    if ((cursor && this.messages().some((message) => message.id === cursor)) || !this.hasOlder) return local;
    const page = await this.fetchHistory({ limit: 1 });
    return page ? page.first_unread_message_id : local;
  }

  /** A page of the REST history, or null when it cannot answer (offline, or the anchor is not projected yet). */
  private async fetchHistory(query: { before?: string; around?: string; limit: number }) {
    if (this.client.status !== "connected") return null;
    try {
      return await this.client.rest.history(this.dialogId, query);
    } catch {
      return null;
    }
  }

  /** Shows messages the REST history served, and loads the segments they live in (down to the lowest) behind them. */
  private serve(messages: ApiMessage[]): void {
    if (messages.length === 0 || this.closed) return;
    for (const message of messages) if (!this.entry(message.id)) this.served.set(message.id, messageFromApi(message));
    this.notify();
    const lowest = Math.min(...messages.map((message) => message.segment));
    for (let index = lowest; index < this.lowestLoaded && index < this.headSegment; index += 1) {
      void this.loadSegment(index).then((segment) => segment?.whenSynced().then(() => this.dropServed(index)));
    }
  }

  /** A segment synced: its own messages replace what the history served. */
  private dropServed(index: number): void {
    let dropped = false;
    for (const [id, message] of this.served) {
      if (message.segment === index) dropped = this.served.delete(id) || dropped;
    }
    if (dropped) this.notify();
  }

  /**
   * Sends a message into the head segment (offline too: it is pending until
   * the server acknowledges it). `body` is ProseMirror JSON, or plain text.
   */
  send(input: { body: RichNode | string; replyTo?: string | null; attachments?: AttachmentRef[] }): string {
    const head = this.segments.get(this.headSegment);
    if (!head) throw new Error("the dialog has not loaded yet");
    const body: RichNode =
      typeof input.body === "string"
        ? {
            type: "doc",
            content: input.body.split("\n").map((line) => ({ type: "paragraph", content: line ? [{ type: "text", text: line }] : [] })),
          }
        : input.body;
    if (isBlank(body) && (input.attachments ?? []).length === 0) throw new Error("the message is empty");
    const id = uuidv7();
    head.doc.transact(() => {
      const entry = new Y.Map<unknown>();
      messagesOf(head.doc).set(id, entry);
      entry.set("author", this.me);
      entry.set("kind", "text");
      entry.set("createdAt", Date.now());
      if (input.replyTo) entry.set("replyTo", input.replyTo);
      if (input.attachments && input.attachments.length > 0) entry.set("attachments", input.attachments);
      entry.set("body", fragmentFromJson(body));
      entry.set("reactions", new Y.Map<number>());
    });
    head.markPending(id);
    return id;
  }

  /** Stamps an edit (the editor wrote the body fragment itself); the server accepts it on own messages only. */
  markEdited(messageId: string): void {
    const entry = this.entry(messageId);
    const segment = this.segmentOf(messageId);
    if (!entry || !segment) return;
    entry.set("editedAt", Date.now());
    segment.markPending(messageId);
  }

  /** Replaces a message's body with new content (for editors not bound to the fragment). */
  edit(messageId: string, body: RichNode): void {
    const entry = this.entry(messageId);
    const segment = this.segmentOf(messageId);
    const fragment = entry?.get("body");
    if (!entry || !segment || !(fragment instanceof Y.XmlFragment)) throw new Error("no such message loaded");
    segment.doc.transact(() => {
      fragment.delete(0, fragment.length);
      appendJson(fragment, body);
      entry.set("editedAt", Date.now());
    });
    segment.markPending(messageId);
  }

  delete(messageId: string): void {
    const entry = this.entry(messageId);
    const segment = this.segmentOf(messageId);
    if (!entry || !segment) throw new Error("no such message loaded");
    deleteMessage(entry);
    segment.markPending(messageId);
  }

  /** Adds or removes the user's reaction. */
  react(messageId: string, emoji: string, on: boolean): void {
    const entry = this.entry(messageId);
    if (!entry || !reactionsOf(entry)) throw new Error("no such message loaded");
    setReaction(entry, this.me, emoji, on, Date.now());
  }

  /** The user's read cursor: the message they have read up to, or null. */
  readCursor(userId = this.me): string | null {
    const cursor = readsOf(this.meta.doc).get(userId);
    return cursor && typeof cursor.messageId === "string" ? cursor.messageId : null;
  }

  /** Moves the user's read cursor forward to `messageId` (never back); participants only. */
  markRead(messageId: string): void {
    // A potential participant (scope match, not joined) may read but not write, not even a cursor.
    if (!participantsOf(this.meta.doc).has(this.me)) return;
    const messages = this.messages();
    if (!messages.some((message) => message.id === messageId)) return;
    const current = this.readCursor();
    if (current && !this.isAfter(messages, messageId, current)) return;
    readsOf(this.meta.doc).set(this.me, { messageId, readAt: Date.now() });
  }

  /**
   * Whether message `a` comes after message `b`: by position when both are
   * shown, else by id (UUIDv7s order by time), for a cursor in a segment not loaded.
   */
  private isAfter(messages: ChatMessage[], a: string, b: string): boolean {
    const at = messages.findIndex((message) => message.id === a);
    const bt = messages.findIndex((message) => message.id === b);
    return at >= 0 && bt >= 0 ? at > bt : a > b;
  }

  /** The first shown message by someone else after the user's read cursor ({@link findFirstUnread} asks the server). */
  firstUnread(): string | null {
    const messages = this.messages();
    const cursor = this.readCursor();
    const cursorAt = cursor ? messages.findIndex((message) => message.id === cursor) : -1;
    const unread = (message: ChatMessage, index: number) => !cursor || (cursorAt >= 0 ? index > cursorAt : message.id > cursor);
    return (
      messages.find((message, index) => message.author !== this.me && message.kind === "text" && !message.deleted && unread(message, index))
        ?.id ?? null
    );
  }

  /** Other users whose read cursor is at or past `messageId`. */
  seenBy(messageId: string): string[] {
    const messages = this.messages();
    const position = new Map(messages.map((message, index) => [message.id, index]));
    const target = position.get(messageId);
    if (target === undefined) return [];
    const seen: string[] = [];
    for (const [userId, cursor] of readsOf(this.meta.doc).entries()) {
      if (userId === this.me) continue;
      const at = position.get(cursor.messageId);
      if (at !== undefined && at >= target) seen.push(userId);
    }
    return seen;
  }

  /** Everyone connected to this dialog (the server stamps who they are) and whether they are typing. */
  presence(): Presence[] {
    const awareness = this.meta.provider?.awareness;
    if (!awareness) return [];
    const byUser = new Map<string, Presence>();
    const now = Date.now();
    for (const [clientId, state] of awareness.getStates()) {
      if (clientId === this.meta.doc.clientID) continue;
      const user = state.user as { id?: unknown; name?: unknown } | undefined;
      if (typeof user?.id !== "string" || user.id === this.me) continue;
      const typing = typeof state.typing === "number" && now - state.typing < typingTtlMs;
      const previous = byUser.get(user.id);
      byUser.set(user.id, {
        userId: user.id,
        name: typeof user.name === "string" ? user.name : null,
        typing: typing || !!previous?.typing,
      });
    }
    return [...byUser.values()];
  }

  /**
   * A typing mark expires without any awareness change (the typist's tab may
   * be gone): tell views when the next one lapses, so "typing…" goes away.
   */
  private expireTyping(): void {
    if (this.typingTimer) clearTimeout(this.typingTimer);
    this.typingTimer = null;
    const awareness = this.meta.provider?.awareness;
    if (!awareness || this.closed) return;
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    for (const [clientId, state] of awareness.getStates()) {
      if (clientId === this.meta.doc.clientID || typeof state.typing !== "number") continue;
      if (now - state.typing < typingTtlMs) next = Math.min(next, state.typing + typingTtlMs);
    }
    if (Number.isFinite(next)) {
      this.typingTimer = setTimeout(
        () => {
          this.notify();
          this.expireTyping();
        },
        next - now + 50,
      );
    }
  }

  /** Announces that the user is typing (or stopped); the mark expires by itself after a few seconds. */
  setTyping(typing: boolean): void {
    this.meta.provider?.awareness?.setLocalStateField("typing", typing ? Date.now() : null);
  }

  /**
   * After a refusal that retrying cannot cure (the change itself was refused,
   * say an edit of someone else's message from the console), this device's
   * copy holds what the server will never accept. This closes the session and
   * drops the local copy of every refused document, so opening the dialog again
   * loads the server's; it returns the bodies of the user's own messages and
   * edits that never reached the server, for the caller to put back into the
   * composer rather than lose them.
   */
  async discardRefused(): Promise<RichNode[]> {
    const refused = [this.meta, ...this.segments.values()].filter((doc) => doc.state === "refused");
    const unsent: RichNode[] = [];
    for (const doc of refused) {
      if (doc === this.meta) continue;
      for (const [id, entry] of messagesOf(doc.doc).entries()) {
        if (!(entry instanceof Y.Map) || !doc.isPending(id)) continue;
        const message = readMessage(id, entry);
        if (message.author === this.me && message.kind === "text" && !message.deleted && !isBlank(message.body)) unsent.push(message.body);
      }
    }
    const names = refused.map((doc) => doc.name);
    this.client.closeDialog(this.dialogId);
    this.close();
    await this.client.forgetLocal(names);
    return unsent;
  }

  /** Tries again after a refusal (for instance once re-added); unsent changes go out then. */
  retry(): void {
    this.meta.retry();
    for (const segment of this.segments.values()) segment.retry();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.setTyping(false);
    if (this.typingTimer) clearTimeout(this.typingTimer);
    for (const off of this.unsubscribers) off();
    this.client.releaseDoc(this.meta);
    for (const segment of this.segments.values()) this.client.releaseDoc(segment);
    this.segments.clear();
    this.clear();
  }
}
