import {
  appendJson,
  ChatClient,
  type ChatClientConfig,
  type ChatMessage,
  type ConnectionStatus,
  type DialogSession,
  type DialogSummary,
  isBlank,
  safeHref,
  type TransportKind,
  type UserState,
} from "@mtchat/client";
import { bodyToJson } from "@mtchat/protocol";
import type { VNode } from "vue";
import { computed, defineComponent, getCurrentInstance, h, onBeforeUnmount, onMounted, type PropType, ref, shallowRef, watch } from "vue";
import { Composer } from "./composer.ts";
import { type HeaderAction, renderDialogHeader, renderLeaveConfirm } from "./dialog-header.ts";
import { offlineSummary, type Tab } from "./dialog-summary.ts";
import { type LocaleMessages, translator } from "./i18n.ts";
import { readCachedList, writeCachedList } from "./list-cache.ts";
import { MessageList } from "./message-list.ts";
import { useMessageSearch } from "./message-search.ts";
import { useBrowserNotifications } from "./notifications.ts";
import { usePrimaryButton } from "./parts.ts";
import { problemText, refusalText } from "./problems.ts";
import { renderSidebar } from "./sidebar.ts";
import { injectStyles } from "./styles.ts";
import { useTabBadge } from "./tab-badge.ts";

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
    const menuOpen = ref(false);
    const confirmLeave = ref(false);
    const list = ref<{ jumpTo(id: string): Promise<boolean> } | null>(null);
    const rootEl = ref<HTMLElement | null>(null);
    const primaryButton = usePrimaryButton();
    let poll: ReturnType<typeof setInterval> | null = null;
    const offs: (() => void)[] = [];
    const search = useMessageSearch({ client: () => client.value, query: () => query.value, items: () => items.value });
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
        if (!query.value.trim()) writeCachedList(client.value, tab.value, page.items);
      } catch (error) {
        // Offline: keep the last list (or this device's copy of it); the next poll tries again.
        if (asked !== listAsked || listLoaded.value) return;
        const cached = readCachedList(client.value, tab.value);
        if (cached) {
          items.value = cached;
          listLoaded.value = true;
        } else listProblem.value = problemText(error, t.value);
      }
    };

    const closeSession = () => {
      if (session.value && client.value) client.value.closeDialog(session.value.dialogId);
      session.value = null;
      replyTo.value = null;
      editing.value = null;
      menuOpen.value = false;
      confirmLeave.value = false;
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
        offs.push(opened.on("refused", (refusal) => (problem.value = refusalText(refusal.kind, refusal.message, t.value))));
        if (opened.refusal) problem.value = refusalText(opened.refusal.kind, opened.refusal.message, t.value);
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
        problem.value = problemText(error, t.value);
        startFailed.value = true;
        emit("error", error);
        return;
      }
      if (props.mode === "inline") await openInline();
      else {
        const cached = readCachedList(client.value, tab.value);
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
      for (const off of offs) off();
      if (props.client) closeSession();
      else client.value?.destroy();
    });

    watch(tab, () => {
      // This tab's copy on the device shows at once; a skeleton when there is none.
      const cached = readCachedList(client.value, tab.value);
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

    const sidebar = () =>
      renderSidebar({
        t: t.value,
        locale: props.locale,
        client: client.value,
        userState: userState.value,
        version: version.value,
        tab,
        query,
        items: items.value,
        listLoaded: listLoaded.value,
        listProblem: listProblem.value,
        search,
        selectedId: selected.value?.id ?? null,
        problem: problem.value,
        problemBanner: !session.value && problem.value ? problemBanner(problem.value) : null,
        notificationPrompt: alerts.renderPrompt(),
        onQuery: () => {
          void refreshList();
          search.search();
        },
        onOpen: open,
      });

    /** The open dialog: header, banners, the message list, who is typing, and the composer (or a join prompt). */
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
      const actions: HeaderAction[] = [];
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
        renderDialogHeader({
          t: tt,
          mode: props.mode,
          title: current.title ?? dialog.title ?? dialog.object_id,
          objectUrl,
          participantsCount: participants.size || dialog.participants_count,
          othersOnline,
          notificationsOn,
          status: status.value,
          transport: transport.value,
          actions,
          menuOpen,
          onBack: () => {
            closeSession();
            selected.value = null;
          },
          onNavigate: (url) => emit("object-navigate", { objectType: dialog.object_type, objectId: dialog.object_id, url }),
        }),
        confirmLeave.value
          ? renderLeaveConfirm(
              tt,
              () => void leave(),
              () => (confirmLeave.value = false),
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
        props.mode === "full" ? [sidebar(), renderDialog()] : [renderDialog()],
      );
  },
});
