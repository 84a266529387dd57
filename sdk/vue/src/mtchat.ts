import {
  appendJson,
  ChatClient,
  type ChatClientConfig,
  type ChatMessage,
  type ConnectionStatus,
  type DialogSession,
  type DialogSummary,
  databaseName,
  isBlank,
  type SearchHit,
  safeHref,
  type TransportKind,
  type UserState,
} from "@mtchat/client";
import { bodyToJson } from "@mtchat/protocol";
import {
  computed,
  defineComponent,
  getCurrentInstance,
  h,
  onBeforeUnmount,
  onMounted,
  type PropType,
  reactive,
  ref,
  shallowRef,
  type VNode,
  watch,
} from "vue";
import { Composer } from "./composer.ts";
import { type LocaleMessages, localeTag, translator } from "./i18n.ts";
import { icon, icons } from "./icons.ts";
import { MessageList } from "./message-list.ts";
import { useBrowserNotifications } from "./notifications.ts";
import { usePrimaryButton } from "./parts.ts";
import { injectStyles } from "./styles.ts";
import { useTabBadge } from "./tab-badge.ts";

type Tab = "mine" | "available" | "archived";

/**
 * `<MTChat>`: the drop-in chat. Full mode has the dialog lists (My chats /
 * Available / Archived, search, unread badges, pinned first) beside the open
 * dialog; inline mode shows the dialog of one host object (`object-type` +
 * `object-id`, or `dialog-id`), with a join prompt for potential participants.
 */
export const MTChat = defineComponent({
  name: "MTChat",
  props: {
    /** Where the service is and how to get the user's token: see `ChatClientConfig`. */
    config: { type: Object as PropType<ChatClientConfig>, required: true },
    /** A client the host already made (from the same config) to share, e.g. with an unread badge; the host destroys it. */
    client: { type: Object as PropType<ChatClient | null>, default: null },
    mode: { type: String as PropType<"full" | "inline">, default: "full" },
    objectType: { type: String as PropType<string | null>, default: null },
    objectId: { type: String as PropType<string | null>, default: null },
    dialogId: { type: String as PropType<string | null>, default: null },
    theme: { type: String as PropType<"light" | "dark">, default: "light" },
    /** A shipped locale (en, ru, zh, es, pt-BR) or the tag of one the host adds through `messages`. */
    locale: { type: String, default: "en" },
    /** The host's message tables by locale tag, partial (overrides) or complete (a new language): see the README. */
    messages: { type: Object as PropType<LocaleMessages>, default: () => ({}) },
    /** System notifications for new messages while their dialog is not on screen; permission is asked from a prompt in the chat. */
    notifications: { type: Boolean, default: false },
    /** `(3) Title` in the browser tab while there are unread messages. */
    titleBadge: { type: Boolean, default: false },
    /** The unread count drawn over the page's favicon. */
    faviconBadge: { type: Boolean, default: false },
  },
  emits: [
    "connected",
    "disconnected",
    "error",
    "message-sent",
    "dialog-selected",
    "dialog-joined",
    "dialog-left",
    "object-navigate",
    "message",
  ],
  setup(props, { emit, expose }) {
    const t = computed(() => translator(props.locale, props.messages));
    const client = shallowRef<ChatClient | null>(null);
    const userState = shallowRef<UserState | null>(null);
    const status = ref<ConnectionStatus>("connecting");
    /** Said only as the status's tooltip: it matters to someone wondering why the chat is slower on this network. */
    const transport = ref<TransportKind>("websocket");
    const tab = ref<Tab>("mine");
    const query = ref("");
    const items = ref<DialogSummary[]>([]);
    const hits = ref<SearchHit[]>([]);
    const selected = ref<DialogSummary | null>(null);
    const session = shallowRef<DialogSession | null>(null);
    const version = ref(0);
    const replyTo = ref<{ id: string; name: string } | null>(null);
    const editing = ref<string | null>(null);
    const problem = ref<string | null>(null);
    const noDialog = ref(false);
    /** False until the first list answer (or a cached list) arrives: a skeleton, not "no chats", shows meanwhile. */
    const listLoaded = ref(false);
    const listProblem = ref<string | null>(null);
    /** The query the message search last answered, so "nothing found" shows only for a finished search. */
    const searchedFor = ref("");
    const menuOpen = ref(false);
    const confirmLeave = ref(false);
    /** What a search hit needs to say where it is and who wrote it, fetched once per dialog. */
    const hitDialogs = reactive(new Map<string, { title: string; names: Map<string, string> }>());
    const list = ref<{ jumpTo(id: string): Promise<boolean> } | null>(null);
    const rootEl = ref<HTMLElement | null>(null);
    const primaryButton = usePrimaryButton();
    let poll: ReturnType<typeof setInterval> | null = null;
    let searchTimer: ReturnType<typeof setTimeout> | null = null;
    const offs: (() => void)[] = [];
    const alerts = useBrowserNotifications({
      enabled: () => props.notifications,
      openDialogId: () => session.value?.dialogId ?? null,
      open: (id) => void openById(id),
      t: () => t.value,
    });
    const badge = useTabBadge({ title: () => props.titleBadge, favicon: () => props.faviconBadge, client: () => client.value });
    // Watching for messages costs a read per push: only for a host that listens, or for notifications.
    const hostListens = !!getCurrentInstance()?.vnode.props?.onMessage;

    expose({
      /** The component's client, for hosts that also use the core API. */
      get client() {
        return client.value;
      },
    });

    /** Offline, the REST API cannot describe a dialog; its documents, in IndexedDB, still open. */
    const offlineSummary = (id: string): DialogSummary => ({
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

    const fail = (error: unknown) => {
      problem.value = error instanceof Error ? error.message : String(error);
      emit("error", error);
    };

    let listAsked = 0;
    const refreshList = async () => {
      badge.refresh();
      const current = client.value;
      if (!current || props.mode !== "full") return;
      // Pushes, typing in the search and tab changes overlap: only the newest answer counts.
      const asked = ++listAsked;
      try {
        const page = await current.rest.listDialogs({
          type: tab.value === "available" ? "available" : "participating",
          archived: tab.value === "archived",
          ...(query.value.trim() ? { search: query.value.trim() } : {}),
        });
        if (asked !== listAsked) return;
        items.value = page.items;
        listLoaded.value = true;
        listProblem.value = null;
        // The open dialog's pin and archive marks follow the list.
        const fresh = page.items.find((item) => item.id === selected.value?.id);
        if (fresh) selected.value = fresh;
        if (!query.value.trim()) writeCachedList(page.items);
      } catch (error) {
        // Offline: keep the last list (or this device's copy of it); the next poll tries again.
        if (asked !== listAsked || listLoaded.value) return;
        const cached = readCachedList();
        if (cached) {
          items.value = cached;
          listLoaded.value = true;
        } else listProblem.value = problemText(error);
      }
    };

    /**
     * The dialog list comes from the REST API; a copy of each tab's last answer stays on the device
     * (localStorage, under the user's prefix, so `logout()` removes it) for a page loaded offline.
     */
    const cacheKey = () => {
      try {
        const { projectId, userId } = client.value?.me ?? { projectId: "", userId: "" };
        return userId ? `${databaseName(projectId, userId, "dialog-list")}#${tab.value}` : null;
      } catch {
        return null;
      }
    };
    const readCachedList = (): DialogSummary[] | null => {
      const key = cacheKey();
      if (!key || typeof localStorage === "undefined") return null;
      try {
        const parsed = JSON.parse(localStorage.getItem(key) ?? "null") as unknown;
        return Array.isArray(parsed) ? (parsed as DialogSummary[]) : null;
      } catch {
        return null;
      }
    };
    const writeCachedList = (list: DialogSummary[]) => {
      const key = cacheKey();
      if (key && typeof localStorage !== "undefined") localStorage.setItem(key, JSON.stringify(list));
    };

    /** What went wrong, in words that say the fix: an unreachable server is not the user's mistake. */
    const problemText = (error: unknown): string => {
      const message = error instanceof Error ? error.message : String(error);
      if ((error as { code?: string }).code === "network" || (error instanceof TypeError && /fetch|network/i.test(message)))
        return t.value("error.network");
      return t.value("error.start", { message });
    };

    const searchMessages = () => {
      if (searchTimer) clearTimeout(searchTimer);
      searchTimer = setTimeout(async () => {
        const q = query.value.trim();
        if (!client.value || q.length < 2) {
          hits.value = [];
          searchedFor.value = "";
          return;
        }
        try {
          hits.value = (await client.value.rest.search(q)).results;
        } catch {
          hits.value = [];
        }
        searchedFor.value = q;
        for (const id of new Set(hits.value.map((hit) => hit.dialog_id))) void describeHitDialog(id);
      }, 250);
    };

    const describeHitDialog = async (dialogId: string) => {
      const current = client.value;
      if (!current || hitDialogs.has(dialogId)) return;
      const known = items.value.find((item) => item.id === dialogId);
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

    const closeSession = () => {
      if (session.value && client.value) client.value.closeDialog(session.value.dialogId);
      session.value = null;
      replyTo.value = null;
      editing.value = null;
      menuOpen.value = false;
      confirmLeave.value = false;
    };

    const dialogTitle = (dialog: DialogSummary) => dialog.title ?? `${dialog.object_type} ${dialog.object_id}`;

    const open = async (dialog: DialogSummary, jumpTo?: string) => {
      const current = client.value;
      if (!current) return;
      problem.value = null;
      if (session.value?.dialogId !== dialog.id) {
        closeSession();
        selected.value = dialog;
        const opened = await current.openDialog(dialog.id);
        session.value = opened;
        offs.push(opened.on("change", () => (version.value += 1)));
        offs.push(opened.on("refused", (refusal) => (problem.value = refusalText(refusal.kind, refusal.message))));
        if (opened.refusal) problem.value = refusalText(opened.refusal.kind, opened.refusal.message);
        emit("dialog-selected", dialog);
      }
      if (jumpTo) {
        // The list renders on the next tick; wait for it before scrolling.
        await new Promise((resolve) => setTimeout(resolve, 0));
        await list.value?.jumpTo(jumpTo);
      }
    };

    /** Opens a dialog known only by its id (a clicked notification). */
    const openById = async (id: string) => {
      const current = client.value;
      if (!current || props.mode !== "full") return;
      const dialog = items.value.find((item) => item.id === id) ?? (await current.rest.getDialog(id).catch(() => null));
      if (dialog) await open(dialog);
    };

    /** Drops this device's refused changes and reopens the dialog from the server; unsent text goes to the draft. */
    const discardRefused = async () => {
      const current = session.value;
      const dialog = selected.value;
      const state = userState.value;
      if (!current || !dialog || !state) return;
      const unsent = await current.discardRefused();
      session.value = null;
      problem.value = null;
      const draft = state.draft(dialog.id);
      // An editor leaves an empty paragraph behind: the text should start the composer, not follow a blank line.
      if (unsent.length > 0 && isBlank(bodyToJson(draft))) draft.delete(0, draft.length);
      for (const body of unsent) appendJson(draft, body);
      await open(dialog);
    };

    const refusalText = (kind: string, message: string) =>
      kind === "not_found" || kind === "unauthorized"
        ? t.value(`error.${kind}` as "error.not_found")
        : t.value("error.refused", { message });

    const openInline = async () => {
      const current = client.value;
      if (!current) return;
      try {
        let dialog: DialogSummary | undefined;
        if (props.dialogId)
          dialog = await current.rest.getDialog(props.dialogId).catch((error: { code?: string }) => {
            if (error.code === "network") return offlineSummary(props.dialogId as string);
            throw error;
          });
        else if (props.objectType && props.objectId) dialog = (await current.rest.dialogsByObject(props.objectType, props.objectId))[0];
        noDialog.value = !dialog;
        if (dialog) await open(dialog);
      } catch (error) {
        if ((error as { code?: string }).code === "not_found") noDialog.value = true;
        else fail(error);
      }
    };

    /** Set when the client could not start (no token, no server): the banner offers to start it again. */
    const startFailed = ref(false);
    const restart = () => {
      for (const off of offs.splice(0)) off();
      // A client the host shares stays the host's; only one of our own is replaced.
      if (!props.client) client.value?.destroy();
      problem.value = null;
      startFailed.value = false;
      listLoaded.value = false;
      void boot();
    };

    onMounted(() => {
      // Into the shadow root when the host renders the chat in one (the script-tag widget), else into the document.
      injectStyles(rootEl.value?.getRootNode() ?? null);
      void boot();
    });

    const boot = async () => {
      const current = props.client ?? new ChatClient(props.config);
      client.value = current;
      status.value = current.status;
      transport.value = current.transport;
      offs.push(
        current.on("transport", (next) => {
          transport.value = next;
        }),
      );
      const offStatus = current.on("status", (next) => {
        status.value = next;
        emit(next === "connected" ? "connected" : "disconnected");
        if (next === "connected") void refreshList();
      });
      offs.push(offStatus);
      try {
        await current.start();
        userState.value = await current.openUserState();
        offs.push(
          userState.value.on("change", () => {
            // Mutes live only in the state document: the header reads them from there.
            version.value += 1;
            void refreshList();
          }),
        );
        // The server pushes when a dialog of the user's changed: badges and order refresh at once.
        offs.push(userState.value.on("activity", () => void refreshList()));
        if (props.mode === "inline") badge.refresh();
        if (hostListens || props.notifications)
          offs.push(
            current.on("message", (message) => {
              emit("message", message);
              alerts.notify(message);
            }),
          );
      } catch (error) {
        problem.value = problemText(error);
        startFailed.value = true;
        emit("error", error);
        return;
      }
      if (props.mode === "inline") await openInline();
      else {
        const cached = readCachedList();
        if (cached) {
          items.value = cached;
          listLoaded.value = true;
        }
        await refreshList();
        if (props.dialogId) {
          const id = props.dialogId;
          const found =
            items.value.find((item) => item.id === id) ??
            (await current.rest.getDialog(id).catch((error: { code?: string }) => (error.code === "network" ? offlineSummary(id) : null)));
          if (found) await open(found);
          else problem.value = t.value("error.dialogMissing");
        }
        // Pushes cover the user's own dialogs; the slow poll catches dialogs that entered or left their scope.
        poll ??= setInterval(() => void refreshList(), 30_000);
      }
    };

    const problemBanner = (text: string) =>
      h("div", { class: "mtc-banner mtc-error", role: "alert", "data-testid": "problem" }, [
        h("span", text),
        startFailed.value ? h("button", { type: "button", onClick: restart }, t.value("error.retry")) : null,
      ]);

    onBeforeUnmount(() => {
      if (poll) clearInterval(poll);
      if (searchTimer) clearTimeout(searchTimer);
      for (const off of offs) off();
      if (props.client) closeSession();
      else client.value?.destroy();
    });

    watch(tab, () => {
      // This tab's copy on the device shows at once; a skeleton when there is none.
      const cached = readCachedList();
      items.value = cached ?? [];
      listLoaded.value = cached !== null;
      void refreshList();
    });
    watch(
      () => [props.objectId, props.objectType, props.dialogId],
      () => {
        if (props.mode === "inline") {
          closeSession();
          void openInline();
        }
      },
    );

    const join = async () => {
      const current = client.value;
      const dialog = selected.value;
      if (!current || !dialog) return;
      try {
        await current.rest.join(dialog.id);
        selected.value = { ...dialog, i_am_participant: true, can_join: false };
        emit("dialog-joined", dialog);
        void refreshList();
      } catch (error) {
        fail(error);
      }
    };

    const leave = async () => {
      const current = client.value;
      const dialog = selected.value;
      if (!current || !dialog) return;
      confirmLeave.value = false;
      try {
        await current.rest.leave(dialog.id);
        closeSession();
        selected.value = null;
        emit("dialog-left", dialog);
        void refreshList();
      } catch (error) {
        fail(error);
      }
    };

    const flag = async (action: "pin" | "unpin" | "archive" | "unarchive") => {
      const dialog = selected.value;
      if (!client.value || !dialog) return;
      try {
        await client.value.rest.setFlag(dialog.id, action);
        if (selected.value?.id === dialog.id)
          selected.value =
            action === "pin" || action === "unpin"
              ? { ...selected.value, is_pinned: action === "pin" }
              : { ...selected.value, is_archived: action === "archive" };
        void refreshList();
      } catch (error) {
        fail(error);
      }
    };

    const renderSidebar = (): VNode => {
      const tabs: Tab[] = ["mine", "available", "archived"];
      return h("nav", { class: "mtc-sidebar", "aria-label": t.value("tabs.mine") }, [
        h(
          "div",
          { class: "mtc-tabs", role: "tablist" },
          tabs.map((name) =>
            h(
              "button",
              {
                type: "button",
                role: "tab",
                class: "mtc-tab",
                "aria-selected": String(tab.value === name),
                onClick: () => (tab.value = name),
              },
              t.value(`tabs.${name}`),
            ),
          ),
        ),
        alerts.renderPrompt(),
        h("input", {
          class: "mtc-search",
          type: "search",
          value: query.value,
          placeholder: t.value("list.search"),
          "aria-label": t.value("list.search"),
          onInput: (event: Event) => {
            query.value = (event.target as HTMLInputElement).value;
            void refreshList();
            searchMessages();
          },
        }),
        !session.value && problem.value ? problemBanner(problem.value) : null,
        hits.value.length > 0
          ? h("section", { "aria-label": t.value("search.messages") }, [
              h("div", { class: "mtc-day" }, t.value("search.messages")),
              h(
                "ul",
                { class: "mtc-results", "data-testid": "search-results" },
                hits.value.map((hit) => {
                  const where = hitDialogs.get(hit.dialog_id);
                  return h("li", [
                    h(
                      "button",
                      {
                        type: "button",
                        class: "mtc-item mtc-hit",
                        onClick: async () => {
                          const dialog =
                            items.value.find((item) => item.id === hit.dialog_id) ?? (await client.value?.rest.getDialog(hit.dialog_id));
                          if (dialog) await open(dialog, hit.message_id);
                        },
                      },
                      [
                        h(
                          "span",
                          { class: "mtc-avatar", "aria-hidden": "true", style: { "--mtc-avatar-hue": String(hue(hit.dialog_id)) } },
                          initials(where?.title ?? ""),
                        ),
                        h("div", { class: "mtc-item-main" }, [
                          h("div", { class: "mtc-item-title" }, [
                            h("span", { class: "mtc-hit-dialog", "data-testid": "hit-dialog" }, where?.title || "…"),
                            h("span", { class: "mtc-time" }, shortTime(hit.sent_at)),
                          ]),
                          h("div", { class: "mtc-item-last" }, [
                            h(
                              "span",
                              { class: "mtc-hit-sender", "data-testid": "hit-sender" },
                              `${where?.names.get(hit.sender_id) ?? hit.sender_id}: `,
                            ),
                            // The server escapes the content and adds only <mark>: safe to render as HTML.
                            h("span", { innerHTML: hit.highlight }),
                          ]),
                        ]),
                      ],
                    ),
                  ]);
                }),
              ),
            ])
          : null,
        // Searching, the message hits come first; the chats whose names match follow under their tab's name.
        query.value.trim() && hits.value.length > 0 && items.value.length > 0
          ? h("div", { class: "mtc-day" }, t.value(`tabs.${tab.value}`))
          : null,
        renderList(),
      ]);
    };

    /** "14:05" today, "3 Dec" before, in the user's locale. */
    const shortTime = (iso: string | undefined) => {
      if (!iso) return "";
      const at = new Date(iso);
      if (Number.isNaN(at.getTime())) return "";
      const tag = localeTag(props.locale);
      return at.toDateString() === new Date().toDateString()
        ? at.toLocaleTimeString(tag, { hour: "2-digit", minute: "2-digit" })
        : at.toLocaleDateString(tag, { day: "numeric", month: "short" });
    };

    const initials = (text: string) =>
      text
        .split(/[\s#·:/-]+/)
        .filter((word) => /^\p{L}/u.test(word))
        .slice(0, 2)
        .map((word) => word.slice(0, 1).toUpperCase())
        .join("") || text.slice(0, 1).toUpperCase();

    /** A stable hue per dialog, so an avatar is recognisable at a glance. */
    const hue = (id: string) => [...id].reduce((sum, char) => (sum * 31 + char.charCodeAt(0)) % 360, 7);

    const preview = (item: DialogSummary): string => {
      const last = item.last_message;
      if (!last) return t.value("list.noMessages");
      const text = last.message_type === "system" ? last.content || t.value("system.unknown") : last.content || t.value("list.attachment");
      const me = (() => {
        try {
          return client.value?.me.userId;
        } catch {
          return undefined;
        }
      })();
      return last.message_type !== "system" && last.sender_id === me ? t.value("list.you", { text }) : text;
    };

    const renderList = (): VNode => {
      const q = query.value.trim();
      // The chat did not start: the banner above says why, and there is no list to wait for.
      if (items.value.length === 0 && !listLoaded.value && problem.value && !client.value?.tokens.claims) return h("div");
      if (items.value.length === 0 && !listLoaded.value)
        return listProblem.value
          ? h("div", { class: "mtc-empty mtc-error", role: "alert", "data-testid": "list-problem" }, listProblem.value)
          : h(
              "ul",
              { class: "mtc-list mtc-skeleton", "aria-busy": "true", "aria-label": t.value("list.loading"), "data-testid": "list-loading" },
              [0, 1, 2, 3, 4].map((index) =>
                h("li", { key: index, class: "mtc-item" }, [
                  h("span", { class: "mtc-avatar" }),
                  h("div", { class: "mtc-item-main" }, [h("div", { class: "mtc-bone" }), h("div", { class: "mtc-bone mtc-bone-short" })]),
                ]),
              ),
            );
      if (items.value.length === 0) {
        if (!q) return h("div", { class: "mtc-empty", "data-testid": "list-empty" }, t.value("list.empty"));
        // Matching messages are shown above; "nothing" only when the message search found none either.
        return hits.value.length > 0
          ? h("div")
          : h("div", { class: "mtc-empty", role: "status", "data-testid": "search-empty" }, t.value("search.noResultsFor", { query: q }));
      }
      const muted = userState.value?.states() ?? new Map<string, { notifications: boolean }>();
      void version.value;
      return h(
        "ul",
        { class: "mtc-list", "data-testid": "dialog-list" },
        items.value.map((item) =>
          // Keyed, so a list that reorders on a push keeps focus on the same dialog.
          h("li", { key: item.id }, [
            h(
              "button",
              {
                type: "button",
                class: "mtc-item",
                "aria-current": String(selected.value?.id === item.id),
                "data-dialog-id": item.id,
                onClick: () => void open(item),
              },
              [
                h(
                  "span",
                  { class: "mtc-avatar", "aria-hidden": "true", style: { "--mtc-avatar-hue": String(hue(item.id)) } },
                  initials(dialogTitle(item)),
                ),
                h("div", { class: "mtc-item-main" }, [
                  h("div", { class: "mtc-item-title" }, [
                    h("span", { class: "mtc-item-name" }, dialogTitle(item)),
                    h(
                      "span",
                      { class: "mtc-time", "data-testid": "item-time" },
                      shortTime(item.last_message?.sent_at ?? item.last_activity_at),
                    ),
                  ]),
                  h("div", { class: "mtc-item-row" }, [
                    h(
                      "div",
                      { class: "mtc-item-last", "data-system": String(item.last_message?.message_type === "system") },
                      item.last_message && item.last_message.message_type !== "system" && !item.last_message.content
                        ? [icon(icons.clip, 12), " ", preview(item)]
                        : preview(item),
                    ),
                    (muted.get(item.id)?.notifications ?? item.notifications_enabled) === false
                      ? h(
                          "span",
                          { class: "mtc-pin", role: "img", "aria-label": t.value("dialog.muted"), title: t.value("dialog.muted") },
                          [icon(icons.muted)],
                        )
                      : null,
                    item.is_pinned
                      ? h("span", { class: "mtc-pin", role: "img", "aria-label": t.value("list.pinned"), title: t.value("list.pinned") }, [
                          icon(icons.pin),
                        ])
                      : null,
                    item.unread_count
                      ? h(
                          "span",
                          {
                            class: "mtc-badge",
                            "aria-label": t.value("list.unread", { count: item.unread_count }),
                            "data-testid": "unread",
                          },
                          String(item.unread_count),
                        )
                      : null,
                  ]),
                ]),
              ],
            ),
          ]),
        ),
      );
    };

    const renderDialog = (): VNode => {
      const current = session.value;
      const dialog = selected.value;
      const tt = t.value;
      if (!current || !dialog || !client.value || !userState.value) {
        return h("main", { class: "mtc-main" }, [
          // In full mode the sidebar says what went wrong; inline, there is only this pane to say it.
          props.mode === "inline" && problem.value ? problemBanner(problem.value) : null,
          h("div", { class: "mtc-empty" }, noDialog.value ? tt("dialog.none") : tt("dialog.select")),
        ]);
      }
      void version.value;
      const participants = current.participants();
      const names = new Map([...participants].map(([id, entry]) => [id, entry.displayName]));
      const presence = current.presence();
      const online = new Set(presence.map((user) => user.userId));
      const typing = presence.filter((user) => user.typing).map((user) => names.get(user.userId) ?? user.name ?? user.userId);
      const me = participants.get(current.me);
      const canWrite = !!me && me.role !== "readonly" && dialog.i_am_participant !== false;
      const potential = !me && dialog.can_join;
      const people = [...participants].filter(([id]) => id !== current.me).map(([id, entry]) => ({ id, label: entry.displayName }));
      // The host sets the object's address; only a web address becomes a link (never javascript: or data:).
      const objectUrl = safeHref(current.objectUrl);
      const othersOnline = [...online].filter((id) => id !== current.me).map((id) => names.get(id) ?? id);
      const state = userState.value;
      const notificationsOn = state.states().get(dialog.id)?.notifications ?? dialog.notifications_enabled ?? true;
      // The header's actions: buttons on a wide pane, a "⋯" menu on a narrow one (styles.ts decides).
      const actions: { label: string; run: () => void }[] = [];
      if (props.mode === "full" && me) {
        actions.push({
          label: dialog.is_pinned ? tt("dialog.unpin") : tt("dialog.pin"),
          run: () => void flag(dialog.is_pinned ? "unpin" : "pin"),
        });
        actions.push({
          label: tab.value === "archived" ? tt("dialog.unarchive") : tt("dialog.archive"),
          run: () => void flag(tab.value === "archived" ? "unarchive" : "archive"),
        });
      }
      if (me) {
        // Local-first like a pin: the user's state document, applied offline too.
        actions.push({
          label: notificationsOn ? tt("dialog.mute") : tt("dialog.unmute"),
          run: () => state.setNotifications(dialog.id, !notificationsOn),
        });
        actions.push({ label: tt("dialog.leave"), run: () => (confirmLeave.value = true) });
      }
      return h("main", { class: "mtc-main", "aria-label": dialog.title ?? dialog.object_id }, [
        h("header", { class: "mtc-header" }, [
          props.mode === "full"
            ? h(
                "button",
                {
                  type: "button",
                  class: "mtc-back",
                  "aria-label": tt("dialog.back"),
                  onClick: () => {
                    closeSession();
                    selected.value = null;
                  },
                },
                "←",
              )
            : null,
          h("div", { class: "mtc-header-title" }, [
            h(
              "div",
              { class: "mtc-header-name", "data-testid": "dialog-title" },
              objectUrl
                ? h(
                    "a",
                    {
                      href: objectUrl,
                      onClick: (event: MouseEvent) => {
                        event.preventDefault();
                        emit("object-navigate", { objectType: dialog.object_type, objectId: dialog.object_id, url: objectUrl });
                      },
                    },
                    current.title ?? dialog.title ?? dialog.object_id,
                  )
                : (current.title ?? dialog.title ?? dialog.object_id),
            ),
            h("div", { class: "mtc-header-sub", "data-testid": "dialog-sub" }, [
              tt("dialog.participants", { count: participants.size || dialog.participants_count }),
              // Who else is here: the user's own connection is the status dot, not "online".
              othersOnline.length === 1
                ? ` · ${tt("dialog.onlineOne", { name: othersOnline[0] ?? "" })}`
                : othersOnline.length > 1
                  ? ` · ${tt("dialog.onlineMany", { count: othersOnline.length })}`
                  : "",
              notificationsOn ? "" : ` · ${tt("dialog.muted")}`,
            ]),
          ]),
          h(
            "span",
            {
              class: "mtc-status",
              role: "status",
              "data-testid": "connection",
              "data-transport": transport.value,
              title: transport.value === "http" ? tt("status.http") : tt(`status.${status.value}`),
            },
            [
              h("span", { class: "mtc-dot", "data-online": String(status.value === "connected") }),
              h("span", { class: "mtc-status-text" }, tt(`status.${status.value}`)),
            ],
          ),
          actions.length > 0
            ? h(
                "div",
                { class: "mtc-header-actions" },
                actions.map((action) => h("button", { type: "button", onClick: action.run }, action.label)),
              )
            : null,
          actions.length > 0
            ? h("div", { class: "mtc-more-wrap" }, [
                h(
                  "button",
                  {
                    type: "button",
                    class: "mtc-more",
                    "aria-label": tt("dialog.more"),
                    title: tt("dialog.more"),
                    "aria-haspopup": "menu",
                    "aria-expanded": String(menuOpen.value),
                    "data-testid": "header-more",
                    onClick: () => (menuOpen.value = !menuOpen.value),
                  },
                  "⋯",
                ),
                menuOpen.value
                  ? h(
                      "div",
                      { class: "mtc-header-menu", role: "menu", "aria-label": tt("dialog.more") },
                      actions.map((action) =>
                        h(
                          "button",
                          {
                            type: "button",
                            role: "menuitem",
                            onClick: () => {
                              menuOpen.value = false;
                              action.run();
                            },
                          },
                          action.label,
                        ),
                      ),
                    )
                  : null,
              ])
            : null,
        ]),
        confirmLeave.value
          ? h(
              "div",
              { class: "mtc-banner mtc-confirm", role: "alertdialog", "aria-label": tt("dialog.leave"), "data-testid": "leave-confirm" },
              [
                h("span", tt("dialog.leaveConfirm")),
                h("button", { type: "button", class: "mtc-danger", onClick: () => void leave() }, tt("dialog.leaveYes")),
                h("button", { type: "button", onClick: () => (confirmLeave.value = false) }, tt("dialog.cancel")),
              ],
            )
          : null,
        status.value === "disconnected" ? h("div", { class: "mtc-banner", role: "status" }, tt("status.disconnected")) : null,
        props.mode === "inline" ? alerts.renderPrompt() : null,
        problem.value
          ? h("div", { class: "mtc-banner", role: "alert", "data-testid": "problem" }, [
              h("span", problem.value),
              current.refusal
                ? h(
                    "button",
                    {
                      type: "button",
                      onClick: () => {
                        current.retry();
                        problem.value = null;
                      },
                    },
                    tt("error.retry"),
                  )
                : null,
              current.refusal ? h("button", { type: "button", onClick: () => void discardRefused() }, tt("error.discard")) : null,
            ])
          : null,
        h(MessageList, {
          ref: list,
          key: current.dialogId,
          client: client.value,
          session: current,
          t: tt,
          locale: props.locale,
          names,
          online,
          canWrite,
          version: version.value,
          onReply: (message: ChatMessage) => (replyTo.value = { id: message.id, name: names.get(message.author) ?? message.author }),
          onEdit: (id: string) => (editing.value = id),
        }),
        h(
          "div",
          { class: "mtc-typing", "aria-live": "polite", "data-testid": "typing" },
          typing.length === 0
            ? ""
            : typing.length === 1
              ? tt("typing.one", { name: typing[0] ?? "" })
              : tt("typing.many", { names: typing.join(", ") }),
        ),
        potential
          ? h("div", { class: "mtc-join" }, [h("span", tt("dialog.joinPrompt")), primaryButton(tt("dialog.join"), () => void join())])
          : canWrite
            ? h(Composer, {
                key: `${current.dialogId}:${editing.value ?? "draft"}`,
                client: client.value,
                session: current,
                userState: userState.value,
                t: tt,
                people,
                replyTo: replyTo.value,
                editing: editing.value,
                onSent: (id: string) => {
                  replyTo.value = null;
                  emit("message-sent", { dialogId: current.dialogId, messageId: id });
                },
                onCancelReply: () => (replyTo.value = null),
                onDoneEditing: () => (editing.value = null),
                onError: fail,
              })
            : h("div", { class: "mtc-readonly" }, tt("composer.readonly")),
      ]);
    };

    return () =>
      h(
        "div",
        {
          ref: rootEl,
          class: "mtc-root",
          "data-theme": props.theme,
          "data-mode": props.mode,
          "data-open": String(session.value !== null),
          lang: props.locale,
          onKeydown: (event: KeyboardEvent) => {
            if (event.key === "Escape") menuOpen.value = false;
          },
        },
        props.mode === "full" ? [renderSidebar(), renderDialog()] : [renderDialog()],
      );
  },
});
