// The device's copy of the dialog list, per tab, for a page loaded offline.
import { type ChatClient, type DialogSummary, databaseName } from "@mtchat/client";
import type { Tab } from "./dialog-summary.ts";

/**
 * The device's copy of each tab's last dialog list answer, for a page loaded offline: in localStorage, under the
 * user's prefix, so `logout()` removes it.
 */
const cacheKey = (client: ChatClient | null, tab: Tab) => {
  try {
    const { projectId, userId } = client?.me ?? { projectId: "", userId: "" };
    return userId ? `${databaseName(projectId, userId, "dialog-list")}#${tab}` : null;
  } catch {
    return null;
  }
};

/** This tab's copy on the device, or null when there is none (or no user yet). */
export const readCachedList = (client: ChatClient | null, tab: Tab): DialogSummary[] | null => {
  const key = cacheKey(client, tab);
  if (!key || typeof localStorage === "undefined") return null;
  try {
    const parsed = JSON.parse(localStorage.getItem(key) ?? "null") as unknown;
    return Array.isArray(parsed) ? (parsed as DialogSummary[]) : null;
  } catch {
    return null;
  }
};

/** Keeps this tab's answer on the device. */
export const writeCachedList = (client: ChatClient | null, tab: Tab, list: DialogSummary[]) => {
  const key = cacheKey(client, tab);
  if (key && typeof localStorage !== "undefined") localStorage.setItem(key, JSON.stringify(list));
};
