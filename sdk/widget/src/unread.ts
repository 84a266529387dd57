import { type ChatClient, type DialogSummary, Emitter, type UserState } from "@mtchat/client";

/** A message someone else sent in one of the user's dialogs, as the widget's `message` event hands it out. */
export type IncomingMessage = { dialogId: string; messageId: string; senderId: string; content: string; sentAt: string };

export type UnreadEvents = { unread: number; message: IncomingMessage };

/** At most this many dialogs are counted (100 a page): a badge past that is "many" anyway. */
const maxPages = 10;

/**
 * The total unread count across the user's dialogs, for the launcher's badge. The service pushes `activity` on the
 * user's state document when one of their dialogs changed (a message, a read); the count is then asked again from
 * the dialog list, which carries each dialog's `unread_count` and last message. A last message that is new and not
 * the user's own is a `message` event.
 */
export class UnreadWatcher extends Emitter<UnreadEvents> {
  total = 0;
  private lastSeen = new Map<string, string>();
  private primed = false;
  private asked = 0;
  private readonly offs: (() => void)[] = [];
  private poll: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly client: ChatClient) {
    super();
  }

  start(userState: UserState): Promise<void> {
    const quietly = () => void this.refresh().catch(() => undefined);
    this.offs.push(userState.on("activity", quietly));
    this.offs.push(this.client.on("status", (status) => status === "connected" && quietly()));
    // Pushes cover the user's dialogs; the slow poll catches ones that entered their scope meanwhile.
    this.poll = setInterval(quietly, 60_000);
    return this.refresh();
  }

  async refresh(): Promise<void> {
    const asked = ++this.asked;
    const items: DialogSummary[] = [];
    try {
      let cursor: string | null = null;
      for (let page = 0; page < maxPages; page++) {
        const answer: { items: DialogSummary[]; next_cursor: string | null } = await this.client.rest.listDialogs({
          type: "participating",
          limit: 100,
          ...(cursor ? { cursor } : {}),
        });
        items.push(...answer.items);
        cursor = answer.next_cursor;
        if (!cursor) break;
      }
    } catch (error) {
      // A refused token at the start is the page's to hear of (the widget's `error` event, and no `ready`).
      if (!this.primed && (error as { code?: string }).code !== "network") throw error;
      return; // Offline: the badge keeps its last count; the next push or poll asks again.
    }
    if (asked !== this.asked) return;
    const me = this.client.me.userId;
    for (const item of items) {
      const last = item.last_message;
      if (!last) continue;
      const seen = this.lastSeen.get(item.id);
      this.lastSeen.set(item.id, last.id);
      // The first answer only learns what is there: messages from before the page loaded are not news.
      if (this.primed && seen !== last.id && last.sender_id !== me && last.message_type !== "system")
        this.emit("message", {
          dialogId: item.id,
          messageId: last.id,
          senderId: last.sender_id,
          content: last.content,
          sentAt: last.sent_at,
        });
    }
    this.primed = true;
    const total = items.reduce((sum, item) => sum + (item.is_archived ? 0 : (item.unread_count ?? 0)), 0);
    if (total !== this.total) {
      this.total = total;
      this.emit("unread", total);
    }
  }

  stop(): void {
    if (this.poll) clearInterval(this.poll);
    for (const off of this.offs) off();
    this.clear();
  }
}
