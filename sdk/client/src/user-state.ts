import { draftOf, parseActivity, readUserState, setUserState, type UserDialogState, userStateOf } from "@mtchat/protocol";
import type * as Y from "yjs";
import { Emitter } from "./emitter.ts";
import type { SyncedDoc } from "./synced-doc.ts";

export type UserStateEvents = {
  /** Pins, mutes or archive marks changed. */
  change: undefined;
  /** The server says these dialogs changed (a message, an edit, a read): lists and unread counts are stale. */
  activity: string[];
};

/** The user's own state document: pins, mutes, archive marks and drafts, readable and writable offline. */
export class UserState extends Emitter<UserStateEvents> {
  constructor(readonly synced: SyncedDoc) {
    super();
    userStateOf(synced.doc).observe(() => this.emit("change", undefined));
    synced.on("stateless", (payload) => {
      const dialogs = parseActivity(payload);
      if (dialogs) this.emit("activity", dialogs);
    });
  }

  get doc(): Y.Doc {
    return this.synced.doc;
  }

  states(): Map<string, UserDialogState> {
    return readUserState(this.doc);
  }

  setPinned(dialogId: string, pinned: boolean): void {
    setUserState(this.doc, dialogId, "pinned", pinned);
  }

  setNotifications(dialogId: string, enabled: boolean): void {
    setUserState(this.doc, dialogId, "notifications", enabled);
  }

  /** The draft fragment of a dialog, for an editor to bind to; the same on every device, offline too. */
  draft(dialogId: string): Y.XmlFragment {
    return draftOf(this.doc, dialogId);
  }

  /** Empties a dialog's draft after sending (the fragment stays, so every device stays bound to it). */
  clearDraft(dialogId: string): void {
    const draft = draftOf(this.doc, dialogId);
    if (draft.length > 0) draft.delete(0, draft.length);
  }
}
