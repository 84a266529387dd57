/**
 * Every Yjs document the service serves has a name that says what it is:
 * - `dialog/<id>`: the dialog's small meta document (server-owned metadata,
 *   participants, read cursors);
 * - `dialog/<id>/seg/<n>`: message segment n (0-based) of the dialog.
 */
export type DocName = { kind: "meta"; dialogId: string } | { kind: "segment"; dialogId: string; segment: number };

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const isUuid = (value: string): boolean => uuidPattern.test(value);

export const metaDocName = (dialogId: string): string => `dialog/${dialogId}`;

export const segmentDocName = (dialogId: string, segment: number): string => `dialog/${dialogId}/seg/${segment}`;

export const formatDocName = (name: DocName): string =>
  name.kind === "meta" ? metaDocName(name.dialogId) : segmentDocName(name.dialogId, name.segment);

/** The largest segment index a name may carry; far beyond any real dialog, it stops absurd names early. */
const maxSegment = 1_000_000;

export const parseDocName = (raw: string): DocName | null => {
  const parts = raw.split("/");
  if (parts[0] !== "dialog" || parts[1] === undefined || !isUuid(parts[1])) return null;
  const dialogId = parts[1];
  if (parts.length === 2) return { kind: "meta", dialogId };
  if (parts.length !== 4 || parts[2] !== "seg" || parts[3] === undefined || !/^(0|[1-9]\d{0,6})$/.test(parts[3])) return null;
  const segment = Number(parts[3]);
  return segment <= maxSegment ? { kind: "segment", dialogId, segment } : null;
};
