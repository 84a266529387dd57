import type { ChatClient } from "./client.ts";
import type { ApiMessage, DialogSummary } from "./rest.ts";
import type { UserState } from "./user-state.ts";

/** A new message from someone else in one of the user's dialogs: what an alert needs to say. */
export type IncomingMessage = {
  dialogId: string;
  /** The dialog's title, or its object type and id when it has none. */
  dialogTitle: string;
  senderId: string;
  /** The sender's display name in the dialog, or their id when the server does not know it. */
  senderName: string;
  /** The message's text, shortened to {@link previewLength} characters; attachment names when it has no text. */
  preview: string;
  messageId: string;
  /** When it was sent (ISO 8601, the server's clock). */
  sentAt: string;
  /** The user muted this dialog's notifications (their state document): alerts should stay quiet. */
  muted: boolean;
};

/** How many characters of a message an alert shows. */
export const previewLength = 140;

/** The text an alert shows for a message. */
export const previewOf = (message: Pick<ApiMessage, "content"> & { attachments?: { name: string }[] }): string => {
  const text = message.content.replace(/\s+/g, " ").trim();
  const shown = text || (message.attachments ?? []).map((file) => `📎 ${file.name}`).join(", ");
  return shown.length > previewLength ? `${shown.slice(0, previewLength - 1)}…` : shown;
};

const titleOf = (dialog: DialogSummary): string => dialog.title ?? `${dialog.object_type} ${dialog.object_id}`;

/**
 * Finds the new messages of the user's dialogs. The server pushes which
 * dialogs changed (over the user's state document); the watch then reads only
 * what came after the newest message it knew there. What was already there when
 * it started is the baseline and never announced, so history stays quiet. When
 * the socket comes back after a disconnection, the dialogs whose newest message
 * changed meanwhile are read the same way: what arrived while away is announced,
 * and nothing twice (the documents syncing again announce nothing).
 */
export class MessageWatch {
  /** Per dialog, the newest message known (null: none yet). */
  private readonly newest = new Map<string, string | null>();
  private readonly titles = new Map<string, string>();
  private readonly names = new Map<string, Map<string, string>>();
  private readonly announced = new Set<string>();
  private readonly offs: (() => void)[] = [];
  private state: UserState | null = null;
  private baselined = false;
  private wasDisconnected = false;
  private started = false;
  private stopped = false;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly client: ChatClient,
    private readonly announce: (message: IncomingMessage) => void,
  ) {}

  /** Starts watching (once; the client must have started). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.offs.push(
      this.client.on("status", (status) => {
        if (status === "disconnected") this.wasDisconnected = true;
        else if (status === "connected" && this.wasDisconnected) {
          this.wasDisconnected = false;
          this.enqueue(() => this.catchUp());
        }
      }),
    );
    this.enqueue(async () => {
      const state = await this.client.openUserState();
      if (this.stopped) return;
      this.state = state;
      this.offs.push(state.on("activity", (dialogs) => this.enqueue(() => this.check(dialogs))));
      await this.baseline();
    });
  }

  stop(): void {
    this.stopped = true;
    for (const off of this.offs.splice(0)) off();
  }

  /** One at a time: two pushes for the same dialog must not both announce its message. */
  private enqueue(task: () => Promise<void>): void {
    this.queue = this.queue.then(async () => {
      if (this.stopped) return;
      try {
        await task();
      } catch {
        // Offline or refused: the next push or reconnection tries again.
      }
    });
  }

  private remember(dialog: DialogSummary): void {
    this.newest.set(dialog.id, dialog.last_message?.id ?? null);
    this.titles.set(dialog.id, titleOf(dialog));
  }

  /** What the user's dialogs hold now; nothing in it is announced. */
  private async baseline(): Promise<void> {
    const [active, archived] = await Promise.all([
      this.client.rest.listDialogs({ type: "participating", limit: 100 }),
      this.client.rest.listDialogs({ type: "participating", archived: true, limit: 100 }),
    ]);
    for (const dialog of [...active.items, ...archived.items]) this.remember(dialog);
    this.baselined = true;
  }

  /** After a disconnection: the dialogs whose newest message is not the one known, read as a push would have had them read. */
  private async catchUp(): Promise<void> {
    if (!this.baselined) {
      await this.baseline();
      return;
    }
    const [active, archived] = await Promise.all([
      this.client.rest.listDialogs({ type: "participating", limit: 100 }),
      this.client.rest.listDialogs({ type: "participating", archived: true, limit: 100 }),
    ]);
    const changed = [...active.items, ...archived.items].filter(
      (dialog) => (dialog.last_message?.id ?? null) !== (this.newest.get(dialog.id) ?? null),
    );
    await this.check(changed.map((dialog) => dialog.id));
  }

  private async check(dialogs: string[]): Promise<void> {
    if (!this.baselined) {
      await this.baseline();
      return;
    }
    for (const dialogId of new Set(dialogs)) {
      if (this.stopped) return;
      let fresh: ApiMessage[];
      if (this.newest.has(dialogId)) {
        const after = this.newest.get(dialogId);
        fresh = (await this.client.rest.history(dialogId, after ? { after, limit: 50 } : { limit: 20 })).messages;
      } else {
        // A dialog the user just entered: only its newest message can be news.
        const dialog = await this.client.rest.getDialog(dialogId);
        this.remember(dialog);
        fresh = dialog.last_message ? (await this.client.rest.history(dialogId, { limit: 1 })).messages : [];
      }
      const latest = fresh.at(-1);
      if (latest) this.newest.set(dialogId, latest.id);
      for (const message of fresh) await this.consider(message);
    }
  }

  private async consider(message: ApiMessage): Promise<void> {
    if (this.announced.has(message.id) || message.deleted || message.message_type === "system") return;
    if (message.sender_id === this.client.me.userId) return;
    this.announced.add(message.id);
    const muted = this.state?.states().get(message.dialog_id)?.notifications === false;
    this.announce({
      dialogId: message.dialog_id,
      dialogTitle: this.titles.get(message.dialog_id) ?? message.dialog_id,
      senderId: message.sender_id,
      senderName: await this.senderName(message.dialog_id, message.sender_id),
      preview: previewOf(message),
      messageId: message.id,
      sentAt: message.sent_at,
      muted,
    });
  }

  private async senderName(dialogId: string, userId: string): Promise<string> {
    let names = this.names.get(dialogId);
    if (!names?.has(userId)) {
      // A sender who joined since the last read: ask again.
      names = await this.client.rest
        .participants(dialogId)
        .then((people) => new Map(people.map((person) => [person.user_id, person.display_name])))
        .catch(() => names ?? new Map<string, string>());
      this.names.set(dialogId, names);
    }
    return names.get(userId) ?? userId;
  }
}
