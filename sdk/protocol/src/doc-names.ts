import { v5 as uuidv5 } from "uuid";

/**
 * Every Yjs document the service serves has a name that says what it is:
 * - `dialog/<id>`: the dialog's small meta document (server-owned metadata,
 *   participants, read cursors);
 * - `dialog/<id>/seg/<n>`: message segment n (0-based) of the dialog;
 * - `user/<project>/<user>` (both URI-encoded): one user's private state
 *   (archive, pin, notifications per dialog), readable and writable by that user only.
 *
 * `dialogId` is the document's entry in the server's registry: the dialog's id,
 * or for a user document a UUID derived from project and user ({@link userDocId}).
 */
export type DocName =
  | { kind: "meta"; dialogId: string }
  | { kind: "segment"; dialogId: string; segment: number }
  | { kind: "user"; dialogId: string; projectId: string; userId: string };

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const isUuid = (value: string): boolean => uuidPattern.test(value);

export const metaDocName = (dialogId: string): string => `dialog/${dialogId}`;

export const segmentDocName = (dialogId: string, segment: number): string => `dialog/${dialogId}/seg/${segment}`;

export const userDocName = (projectId: string, userId: string): string =>
  `user/${encodeURIComponent(projectId)}/${encodeURIComponent(userId)}`;

/** Fixed namespace for {@link userDocId}; changing it would orphan every user document. */
const userDocNamespace = "6f1c2a9e-3b7d-4e52-9a41-7c0d5e8b2f16";

/** The registry id of a user's state document: stable, and distinct for every (project, user). */
export const userDocId = (projectId: string, userId: string): string => uuidv5(JSON.stringify([projectId, userId]), userDocNamespace);

export const formatDocName = (name: DocName): string => {
  if (name.kind === "meta") return metaDocName(name.dialogId);
  if (name.kind === "segment") return segmentDocName(name.dialogId, name.segment);
  return userDocName(name.projectId, name.userId);
};

const decodePart = (part: string | undefined): string | null => {
  if (part === undefined || part.length === 0 || part.length > 600) return null;
  try {
    const decoded = decodeURIComponent(part);
    return encodeURIComponent(decoded) === part ? decoded : null;
  } catch {
    return null;
  }
};

/** The largest segment index a name may carry; far beyond any real dialog, it stops absurd names early. */
const maxSegment = 1_000_000;

export const parseDocName = (raw: string): DocName | null => {
  const parts = raw.split("/");
  if (parts[0] === "user") {
    const projectId = decodePart(parts[1]);
    const userId = decodePart(parts[2]);
    if (parts.length !== 3 || projectId === null || userId === null) return null;
    return { kind: "user", dialogId: userDocId(projectId, userId), projectId, userId };
  }
  if (parts[0] !== "dialog" || parts[1] === undefined || !isUuid(parts[1])) return null;
  const dialogId = parts[1];
  if (parts.length === 2) return { kind: "meta", dialogId };
  if (parts.length !== 4 || parts[2] !== "seg" || parts[3] === undefined || !/^(0|[1-9]\d{0,6})$/.test(parts[3])) return null;
  const segment = Number(parts[3]);
  return segment <= maxSegment ? { kind: "segment", dialogId, segment } : null;
};
