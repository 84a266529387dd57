/**
 * What the connected user may do in a dialog, decided at connect time from the
 * verified token and the dialog's participants and access scopes.
 * - `member`, `admin`: direct participants; admins may also delete others' messages.
 * - `readonly`: a direct participant who writes no content (only their own read cursor).
 * - `subscriber`: a channel participant who is not an admin: reacts and moves
 *   their read cursor, but posts nothing.
 * - `potential`: a scope match who has not joined; reads, writes nothing.
 */
export const writerAccess = {
  member: "member",
  admin: "admin",
  readonly: "readonly",
  subscriber: "subscriber",
  potential: "potential",
} as const;
export type WriterAccess = (typeof writerAccess)[keyof typeof writerAccess];

export type Writer = { userId: string; access: WriterAccess };

/** The principal the server itself writes as (system messages, dialog metadata). Never a token subject. */
export const systemUserId = "$system";
