import type * as Y from "yjs";
import { isUuid } from "./doc-names.ts";

/**
 * A user's private state document (`user/<project>/<user>`), version 1.
 *
 * Root `dialogs`: a flat Y.Map keyed `<dialogId>/<field>`. Each field is its
 * own key, so pinning on one device and muting on another, both offline,
 * merge instead of one overwriting the other.
 * - `pinned`: boolean.
 * - `notifications`: boolean; false mutes the dialog's notifications.
 * - `archived`: {@link ArchiveMark}.
 *
 * Roots `draft/<dialogId>`: one Y.XmlFragment per dialog, the composer's
 * unsent text in the y-prosemirror layout, so an editor on any of the user's
 * devices binds to it and a draft started on one continues on another. A root
 * type is found by its name, never created by a write: two devices typing the
 * first draft of one dialog, both offline, write into the same fragment and
 * their text merges (a fragment kept in a map under the dialog's key would
 * lose one of the two, as concurrent map writes keep one value).
 */
export const userStateRoots = { dialogs: "dialogs" } as const;

const draftRootPrefix = "draft/";

export const userStateFields = { pinned: "pinned", notifications: "notifications", archived: "archived" } as const;
export type UserStateField = (typeof userStateFields)[keyof typeof userStateFields];

/**
 * Archiving is relative to the dialog's activity: `through` is the newest
 * message the user had when they archived (or unarchived). A message arriving
 * after it makes the mark stale, so a new message unarchives the dialog
 * without anyone writing, and an offline archive cannot hide a message it
 * never saw.
 */
export type ArchiveMark = { archived: boolean; through: string | null };

export type UserDialogState = { pinned: boolean; notifications: boolean; archived: ArchiveMark | null };

export const userStateOf = (doc: Y.Doc): Y.Map<unknown> => doc.getMap(userStateRoots.dialogs);

export const userStateKey = (dialogId: string, field: UserStateField): string => `${dialogId}/${field}`;

/** Splits a key into dialog and field, or null when it is not one this schema writes. */
export const parseUserStateKey = (key: string): { dialogId: string; field: UserStateField } | null => {
  const [dialogId, field, ...rest] = key.split("/");
  if (rest.length > 0 || dialogId === undefined || !isUuid(dialogId)) return null;
  if (field !== "pinned" && field !== "notifications" && field !== "archived") return null;
  return { dialogId, field };
};

/** Whether `value` is a valid value for `field`; the server refuses anything else. */
export const isUserStateValue = (field: UserStateField, value: unknown): boolean => {
  if (field !== "archived") return typeof value === "boolean";
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const mark = value as Record<string, unknown>;
  return (
    Object.keys(mark).every((key) => key === "archived" || key === "through") &&
    typeof mark.archived === "boolean" &&
    (mark.through === null || (typeof mark.through === "string" && isUuid(mark.through)))
  );
};

export const setUserState = <F extends UserStateField>(
  doc: Y.Doc,
  dialogId: string,
  field: F,
  value: F extends "archived" ? ArchiveMark : boolean,
) => {
  userStateOf(doc).set(userStateKey(dialogId, field), value);
};

/** Every dialog's state in the document, read defensively (defaults for missing or malformed values). */
export const readUserState = (doc: Y.Doc): Map<string, UserDialogState> => {
  const states = new Map<string, UserDialogState>();
  for (const [key, value] of userStateOf(doc).entries()) {
    const parsed = parseUserStateKey(key);
    if (!parsed || !isUserStateValue(parsed.field, value)) continue;
    const state = states.get(parsed.dialogId) ?? { pinned: false, notifications: true, archived: null };
    if (parsed.field === "archived") state.archived = value as ArchiveMark;
    else state[parsed.field] = value as boolean;
    states.set(parsed.dialogId, state);
  }
  return states;
};

/**
 * Whether a user sees a dialog as archived. `lastMessageId` is the dialog's
 * newest message by arrival; `autoArchivedThrough` is the server's
 * auto-archive mark for the dialog. The user's own mark wins when it is current.
 */
export const isArchived = (mark: ArchiveMark | null, lastMessageId: string | null, autoArchivedThrough: string | null): boolean => {
  if (mark && mark.through === lastMessageId) return mark.archived;
  return autoArchivedThrough !== null && autoArchivedThrough === lastMessageId;
};

export const draftRootName = (dialogId: string): string => `${draftRootPrefix}${dialogId}`;

/** The dialog id of a draft root's name, or null when the name is not one. */
export const parseDraftRoot = (root: string): string | null => {
  if (!root.startsWith(draftRootPrefix)) return null;
  const dialogId = root.slice(draftRootPrefix.length);
  return isUuid(dialogId) ? dialogId : null;
};

/** The draft fragment of a dialog (empty when nothing was typed); every device gets the same one. */
export const draftOf = (doc: Y.Doc, dialogId: string): Y.XmlFragment => doc.getXmlFragment(draftRootName(dialogId));
