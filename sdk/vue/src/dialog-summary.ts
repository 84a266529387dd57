// Dialog summaries as the list shows them: the tabs, a dialog's name, the stand-in used offline.
import type { DialogSummary } from "@mtchat/client";

/** The dialog list's tabs: the user's own chats, the ones they may join, and the archived ones. */
export type Tab = "mine" | "available" | "archived";

/** A dialog's name: its title, else the host object it belongs to. */
export const dialogTitle = (dialog: DialogSummary) => dialog.title ?? `${dialog.object_type} ${dialog.object_id}`;

/** Offline, the REST API cannot describe a dialog; its documents, in IndexedDB, still open. */
export const offlineSummary = (id: string): DialogSummary => ({
  id,
  type: "object",
  object_id: "",
  object_type: "",
  title: null,
  object_url: null,
  created_at: "",
  participants_count: 0,
  i_am_participant: true,
  can_join: false,
});
