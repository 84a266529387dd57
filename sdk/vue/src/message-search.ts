// The sidebar's message search: debounced full-text hits and the dialog and sender each one names.
import type { ChatClient, DialogSummary, SearchHit } from "@mtchat/client";
import { onBeforeUnmount, reactive, ref } from "vue";
import { dialogTitle } from "./dialog-summary.ts";

/** Where a search hit is and who wrote it, fetched once per dialog. */
export type HitDialog = { title: string; names: Map<string, string> };

/** Where the message search reads from: the client, the search box, and the dialogs already listed. */
export type MessageSearchOptions = {
  client: () => ChatClient | null;
  query: () => string;
  items: () => DialogSummary[];
};

/** The sidebar's message search: hits for the search box's text, each with the dialog and sender it names. Call in setup. */
export const useMessageSearch = (options: MessageSearchOptions) => {
  const hits = ref<SearchHit[]>([]);
  /** What a search hit needs to say where it is and who wrote it, fetched once per dialog. */
  const hitDialogs = reactive(new Map<string, HitDialog>());
  let searchTimer: ReturnType<typeof setTimeout> | null = null;

  /** Searches a moment after the typing stops. */
  const search = () => {
    if (searchTimer) clearTimeout(searchTimer);
    searchTimer = setTimeout(async () => {
      const q = options.query().trim();
      const client = options.client();
      if (!client || q.length < 2) {
        hits.value = [];
        return;
      }
      try {
        hits.value = (await client.rest.search(q)).results;
      } catch {
        hits.value = [];
      }
      for (const id of new Set(hits.value.map((hit) => hit.dialog_id))) void describeHitDialog(id);
    }, 250);
  };

  const describeHitDialog = async (dialogId: string) => {
    const current = options.client();
    if (!current || hitDialogs.has(dialogId)) return;
    const known = options.items().find((item) => item.id === dialogId);
    hitDialogs.set(dialogId, { title: known ? dialogTitle(known) : "", names: new Map() });
    const [dialog, people] = await Promise.all([
      known ? Promise.resolve(known) : current.rest.getDialog(dialogId).catch(() => null),
      current.rest.participants(dialogId).catch(() => []),
    ]);
    hitDialogs.set(dialogId, {
      title: dialog ? dialogTitle(dialog) : "",
      names: new Map(people.map((person) => [person.user_id, person.display_name])),
    });
  };

  onBeforeUnmount(() => {
    if (searchTimer) clearTimeout(searchTimer);
  });

  return { hits, hitDialogs, search };
};

/** The message search's hits and what they name. */
export type MessageSearch = ReturnType<typeof useMessageSearch>;
