import { IndexeddbPersistence } from "y-indexeddb";
import type * as Y from "yjs";

/** Where a document lives in IndexedDB: one database per user and document, so logout can find them all. */
export const databaseName = (projectId: string, userId: string, docName: string): string =>
  `mtchat/${encodeURIComponent(projectId)}/${encodeURIComponent(userId)}/${docName}`;

export const hasIndexedDb = (): boolean => typeof indexedDB !== "undefined";

/** Loads a document from IndexedDB; resolves once the stored state is in `doc` (before any connection). */
export const persist = async (name: string, doc: Y.Doc): Promise<IndexeddbPersistence> => {
  const persistence = new IndexeddbPersistence(name, doc);
  await persistence.whenSynced;
  return persistence;
};

/** Deletes one database; IndexedDB runs it after the connections still open on it close, before any later open. */
export const deleteDatabase = (name: string) =>
  new Promise<void>((resolve) => {
    const request = indexedDB.deleteDatabase(name);
    request.onsuccess = () => resolve();
    request.onerror = () => resolve();
    request.onblocked = () => resolve();
  });

/** Deletes every database of one user (documents this tab never opened included). */
export const clearUserData = async (projectId: string, userId: string): Promise<void> => {
  if (!hasIndexedDb()) return;
  const prefix = databaseName(projectId, userId, "");
  const databases = typeof indexedDB.databases === "function" ? await indexedDB.databases() : [];
  await Promise.all(databases.flatMap((db) => (db.name?.startsWith(prefix) ? [deleteDatabase(db.name)] : [])));
};
