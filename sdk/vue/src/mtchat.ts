import {
  appendJson,
  ChatClient,
  type ChatClientConfig,
  type ChatMessage,
  type ConnectionStatus,
  type DialogSession,
  type DialogSummary,
  isBlank,
  type SearchHit,
  safeHref,
  type UserState,
} from "@mtchat/client";
import { bodyToJson } from "@mtchat/protocol";
import { computed, defineComponent, h, onBeforeUnmount, onMounted, type PropType, ref, shallowRef, type VNode, watch } from "vue";
import { Composer } from "./composer.ts";
import { type Locale, translator } from "./i18n.ts";
import { MessageList } from "./message-list.ts";
import { usePrimaryButton } from "./parts.ts";
import { injectStyles } from "./styles.ts";

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
    locale: { type: String as PropType<Locale>, default: "en" },
  },
  emits: ["connected", "disconnected", "error", "message-sent", "dialog-selected", "dialog-joined", "dialog-left", "object-navigate"],
  setup(props, { emit, expose }) {
    const t = computed(() => translator(props.locale));
    const client = shallowRef<ChatClient | null>(null);
    const userState = shallowRef<UserState | null>(null);
    const status = ref<ConnectionStatus>("connecting");
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
    const list = ref<{ jumpTo(id: string): Promise<boolean> } | null>(null);
    const rootEl = ref<HTMLElement | null>(null);
    const primaryButton = usePrimaryButton();
    let poll: ReturnType<typeof setInterval> | null = null;
    let searchTimer: ReturnType<typeof setTimeout> | null = null;
    const offs: (() => void)[] = [];

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
        if (asked === listAsked) items.value = page.items;
      } catch {
        // Offline: keep the last list; the next poll tries again.
      }
    };

    const searchMessages = () => {
      if (searchTimer) clearTimeout(searchTimer);
      searchTimer = setTimeout(async () => {
        const q = query.value.trim();
        if (!client.value || q.length < 2) {
          hits.value = [];
          return;
        }
        try {
          hits.value = (await client.value.rest.search(q)).results;
        } catch {
          hits.value = [];
        }
      }, 250);
    };

    const closeSession = () => {
      if (session.value && client.value) client.value.closeDialog(session.value.dialogId);
      session.value = null;
      replyTo.value = null;
      editing.value = null;
    };

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

    onMounted(async () => {
      // Into the shadow root when the host renders the chat in one (the script-tag widget), else into the document.
      injectStyles(rootEl.value?.getRootNode() ?? null);
      const current = props.client ?? new ChatClient(props.config);
      client.value = current;
      status.value = current.status;
      const offStatus = current.on("status", (next) => {
        status.value = next;
        emit(next === "connected" ? "connected" : "disconnected");
        if (next === "connected") void refreshList();
      });
      offs.push(offStatus);
      try {
        await current.start();
        userState.value = await current.openUserState();
        offs.push(userState.value.on("change", () => void refreshList()));
        // The server pushes when a dialog of the user's changed: badges and order refresh at once.
        offs.push(userState.value.on("activity", () => void refreshList()));
      } catch (error) {
        fail(error);
        return;
      }
      if (props.mode === "inline") await openInline();
      else {
        await refreshList();
        if (props.dialogId) {
          const id = props.dialogId;
          const found =
            items.value.find((item) => item.id === id) ??
            (await current.rest.getDialog(id).catch((error: { code?: string }) => (error.code === "network" ? offlineSummary(id) : null)));
          if (found) await open(found);
        }
        // Pushes cover the user's own dialogs; the slow poll catches dialogs that entered or left their scope.
        poll = setInterval(() => void refreshList(), 30_000);
      }
    });

    onBeforeUnmount(() => {
      if (poll) clearInterval(poll);
      if (searchTimer) clearTimeout(searchTimer);
      for (const off of offs) off();
      if (props.client) closeSession();
      else client.value?.destroy();
    });

    watch(tab, () => void refreshList());
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
        hits.value.length > 0
          ? h("section", { "aria-label": t.value("search.messages") }, [
              h("div", { class: "mtc-day" }, t.value("search.messages")),
              h(
                "ul",
                { class: "mtc-results", "data-testid": "search-results" },
                hits.value.map((hit) =>
                  h("li", [
                    h(
                      "button",
                      {
                        type: "button",
                        class: "mtc-item",
                        onClick: async () => {
                          const dialog =
                            items.value.find((item) => item.id === hit.dialog_id) ?? (await client.value?.rest.getDialog(hit.dialog_id));
                          if (dialog) await open(dialog, hit.message_id);
                        },
                      },
                      // The server escapes the content and adds only <mark>: safe to render as HTML.
                      [h("span", { class: "mtc-item-last", innerHTML: hit.highlight })],
                    ),
                  ]),
                ),
              ),
            ])
          : null,
        items.value.length === 0
          ? h("div", { class: "mtc-empty" }, t.value("list.empty"))
          : h(
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
                      h("div", { class: "mtc-item-main" }, [
                        h("div", { class: "mtc-item-title" }, item.title ?? `${item.object_type} ${item.object_id}`),
                        h(
                          "div",
                          { class: "mtc-item-last" },
                          item.last_message ? item.last_message.content || "📎" : t.value("list.noMessages"),
                        ),
                      ]),
                      item.is_pinned ? h("span", { class: "mtc-pin", "aria-label": t.value("list.pinned") }, "📌") : null,
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
                    ],
                  ),
                ]),
              ),
            ),
      ]);
    };

    const renderDialog = (): VNode => {
      const current = session.value;
      const dialog = selected.value;
      const tt = t.value;
      if (!current || !dialog || !client.value || !userState.value) {
        return h("main", { class: "mtc-main" }, [
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
            h("div", { class: "mtc-header-sub" }, [
              tt("dialog.participants", { count: participants.size || dialog.participants_count }),
              online.size > 0 ? ` · ${online.size} ${tt("online")}` : "",
            ]),
          ]),
          h("span", { class: "mtc-status", role: "status", "data-testid": "connection" }, [
            h("span", { class: "mtc-dot", "data-online": String(status.value === "connected") }),
            tt(`status.${status.value}`),
          ]),
          props.mode === "full" && me
            ? h(
                "button",
                { type: "button", onClick: () => void flag(dialog.is_pinned ? "unpin" : "pin") },
                dialog.is_pinned ? tt("dialog.unpin") : tt("dialog.pin"),
              )
            : null,
          props.mode === "full" && me
            ? h(
                "button",
                { type: "button", onClick: () => void flag(tab.value === "archived" ? "unarchive" : "archive") },
                tab.value === "archived" ? tt("dialog.unarchive") : tt("dialog.archive"),
              )
            : null,
          me ? h("button", { type: "button", onClick: () => void leave() }, tt("dialog.leave")) : null,
        ]),
        status.value === "disconnected" ? h("div", { class: "mtc-banner", role: "status" }, tt("status.disconnected")) : null,
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
        },
        props.mode === "full" ? [renderSidebar(), renderDialog()] : [renderDialog()],
      );
  },
});
