/**
 * The server's push to a user's own state document (a Hocuspocus stateless
 * message): dialogs the user takes part in whose projection just changed (a
 * new message, an edit, a read cursor), so lists and unread badges refresh
 * without polling.
 */
export type ActivityMessage = { type: "activity"; dialogs: string[] };

export const formatActivity = (dialogs: string[]): string => JSON.stringify({ type: "activity", dialogs } satisfies ActivityMessage);

/** The dialog ids of an activity push, or null for any other payload. */
export const parseActivity = (payload: string): string[] | null => {
  try {
    const parsed = JSON.parse(payload) as Partial<ActivityMessage> | null;
    if (parsed?.type !== "activity" || !Array.isArray(parsed.dialogs)) return null;
    return parsed.dialogs.filter((id): id is string => typeof id === "string");
  } catch {
    return null;
  }
};
