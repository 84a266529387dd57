import { type ChatClient, type ChatMessage, type DialogSession, dayKey, formatSize } from "@mtchat/client";
import { defineComponent, h, nextTick, onBeforeUnmount, onBeforeUpdate, onMounted, type PropType, reactive, ref, type VNode } from "vue";
import type { MessageKey, Translate } from "./i18n.ts";
import { localeTag } from "./i18n.ts";
import { icon, icons } from "./icons.ts";
import { renderBody } from "./render-body.ts";

const quickReactions = ["👍", "❤️", "😂", "🎉", "😮", "🙏"];

type AttachmentLinks = { url: string | null; thumbnail: string | null; width: number | null; height: number | null };

/**
 * The message list: day separators, system messages, replies with a quoted
 * preview, edit/delete of one's own messages, reactions, attachments,
 * receipts, a "new messages" divider at the first unread, and infinite
 * scroll that keeps the view steady while older messages load above it.
 */
export const MessageList = defineComponent({
  name: "MtcMessageList",
  props: {
    client: { type: Object as PropType<ChatClient>, required: true },
    session: { type: Object as PropType<DialogSession>, required: true },
    t: { type: Function as PropType<Translate>, required: true },
    locale: { type: String, required: true },
    names: { type: Object as PropType<Map<string, string>>, required: true },
    online: { type: Object as PropType<Set<string>>, required: true },
    canWrite: { type: Boolean, required: true },
    version: { type: Number, required: true },
  },
  emits: ["reply", "edit"],
  setup(props, { emit, expose }) {
    const scroller = ref<HTMLElement | null>(null);
    const highlight = ref<string | null>(null);
    const menuFor = ref<string | null>(null);
    const viewer = ref<{ url: string; name: string; size: number } | null>(null);
    const loadingOlder = ref(false);
    const links = reactive(new Map<string, AttachmentLinks>());
    // The divider stays where the first unread was when the dialog opened, even as the user reads on.
    const dividerAt = ref<string | null>(props.session.firstUnread());
    let stickToBottom = true;
    /** The first message in view and its offset from the top, taken before each render to hold it steady. */
    let anchor: { id: string; top: number } | null = null;
    /** Where the last render left the list's scroll offset. */
    let placedAt = 0;

    // "$erased": the author of a message whose user was erased (the Management API's DELETE /users/{id}).
    const name = (userId: string) => (userId === "$erased" ? props.t("user.erased") : (props.names.get(userId) ?? userId));
    const time = (at: number) => new Date(at).toLocaleTimeString(localeTag(props.locale), { hour: "2-digit", minute: "2-digit" });
    const dayLabel = (at: number) => {
      const key = dayKey(at);
      if (key === dayKey(Date.now())) return props.t("day.today");
      if (key === dayKey(Date.now() - 86_400_000)) return props.t("day.yesterday");
      return new Date(at).toLocaleDateString(localeTag(props.locale), { day: "numeric", month: "long", year: "numeric" });
    };

    const atBottom = () => {
      const el = scroller.value;
      return !el || el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    };

    const markReadIfVisible = () => {
      if (typeof document !== "undefined" && document.visibilityState !== "visible") return;
      if (!atBottom()) return;
      const last = props.session.messages().at(-1);
      if (last && !last.pending) props.session.markRead(last.id);
    };

    const offsetOf = (el: HTMLElement, item: Element) => item.getBoundingClientRect().top - el.getBoundingClientRect().top;

    const takeAnchor = () => {
      const el = scroller.value;
      anchor = null;
      if (!el) return;
      // Scrolled since the last render placed the list (its scroll event may not have come yet):
      // judge by where the list is now, so this render does not throw the reader back to the end.
      if (Math.abs(el.scrollTop - placedAt) > 1) stickToBottom = atBottom();
      if (stickToBottom) return;
      for (const item of el.querySelectorAll<HTMLElement>("[data-message-id]")) {
        const top = offsetOf(el, item);
        if (top + item.offsetHeight > 0) {
          anchor = { id: item.dataset.messageId ?? "", top };
          return;
        }
      }
    };
    onBeforeUpdate(takeAnchor);

    const afterRender = async () => {
      await nextTick();
      const el = scroller.value;
      if (el && stickToBottom) el.scrollTop = el.scrollHeight;
      else if (el && anchor) {
        // Messages arrived above (older history, a segment loading behind served history):
        // keep the message under the reader's eyes where it was.
        const item = el.querySelector(`[data-message-id="${anchor.id}"]`);
        if (item) el.scrollTop += offsetOf(el, item) - anchor.top;
      }
      if (el) placedAt = el.scrollTop;
      fillViewport();
      markReadIfVisible();
    };

    /**
     * A list too short to scroll never sees the scroll that loads older messages
     * (a head segment that has just rolled over holds few): load them now, while
     * each try brings something new.
     */
    let filledAt = -1;
    const fillViewport = () => {
      const el = scroller.value;
      if (!el || loadingOlder.value || el.scrollHeight > el.clientHeight + 60 || !props.session.hasOlder) return;
      // Online, wait for the head's own messages first: before they arrive every list is short.
      if (props.client.status === "connected" && !props.session.synced) return;
      const count = props.session.messages().length;
      if (count === filledAt) return;
      filledAt = count;
      void loadOlder();
    };

    const loadOlder = async () => {
      if (loadingOlder.value || !props.session.hasOlder) return;
      loadingOlder.value = true;
      try {
        await props.session.loadOlder();
      } finally {
        loadingOlder.value = false;
      }
    };

    const onScroll = () => {
      const el = scroller.value;
      if (!el) return;
      stickToBottom = atBottom();
      if (el.scrollTop < 60) void loadOlder();
      markReadIfVisible();
    };

    /** Scrolls to a message, loading older segments when it is not loaded yet; false when it does not exist. */
    const jumpTo = async (messageId: string): Promise<boolean> => {
      if (!(await props.session.ensureLoaded(messageId))) return false;
      await nextTick();
      const el = scroller.value?.querySelector(`[data-message-id="${messageId}"]`);
      if (!el) return false;
      stickToBottom = false;
      el.scrollIntoView({ block: "center" });
      highlight.value = messageId;
      (el as HTMLElement).focus({ preventScroll: true });
      setTimeout(() => {
        if (highlight.value === messageId) highlight.value = null;
      }, 2_500);
      return true;
    };
    expose({ jumpTo });

    // Keyboard use: the reaction menu and the image viewer take the focus when they open
    // and give it back to the button that opened them when they close.
    let menuOpener: HTMLElement | null = null;
    let viewerOpener: HTMLElement | null = null;
    const openMenu = async (messageId: string, opener: HTMLElement) => {
      menuOpener = opener;
      menuFor.value = messageId;
      await nextTick();
      scroller.value?.querySelector<HTMLElement>(".mtc-menu [role=menuitem]")?.focus();
    };
    const closeMenu = () => {
      const hadFocus = !!scroller.value?.querySelector(".mtc-menu")?.contains(document.activeElement);
      menuFor.value = null;
      if (hadFocus) menuOpener?.focus({ preventScroll: true });
    };
    const onMenuKey = (event: KeyboardEvent) => {
      const items = [...(event.currentTarget as HTMLElement).querySelectorAll<HTMLElement>("[role=menuitem]")];
      const at = items.indexOf(document.activeElement as HTMLElement);
      const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[event.key];
      let next: HTMLElement | undefined;
      if (step !== undefined) next = items[(at + step + items.length) % items.length];
      else if (event.key === "Home") next = items[0];
      else if (event.key === "End") next = items.at(-1);
      else if (event.key === "Escape") closeMenu();
      else return;
      event.preventDefault();
      event.stopPropagation();
      next?.focus();
    };
    const openViewer = async (url: string, name: string, size: number, opener: HTMLElement) => {
      viewerOpener = opener;
      viewer.value = { url, name, size };
      await nextTick();
      scroller.value?.querySelector<HTMLElement>(".mtc-viewer button")?.focus();
    };
    const closeViewer = () => {
      viewer.value = null;
      viewerOpener?.focus({ preventScroll: true });
      viewerOpener = null;
    };
    const onKey = (event: KeyboardEvent) => {
      if (event.key !== "Escape") return;
      if (viewer.value) closeViewer();
      else if (menuFor.value) closeMenu();
    };
    const onVisible = () => markReadIfVisible();
    /** Opens at the first unread when it is above the end: the server finds it in segments not loaded. */
    const showFirstUnread = async () => {
      const id = await props.session.findFirstUnread();
      if (id && id !== dividerAt.value) {
        if (!(await props.session.ensureLoaded(id))) return;
        dividerAt.value = id;
      }
      if (!dividerAt.value) return;
      await nextTick();
      const divider = scroller.value?.querySelector('[data-testid="new-divider"]');
      if (!divider) return;
      divider.scrollIntoView({ block: "start" });
      stickToBottom = atBottom();
    };

    onMounted(() => {
      document.addEventListener("keydown", onKey);
      document.addEventListener("visibilitychange", onVisible);
      void afterRender();
      void showFirstUnread();
    });
    onBeforeUnmount(() => {
      document.removeEventListener("keydown", onKey);
      document.removeEventListener("visibilitychange", onVisible);
    });

    const linksOf = (id: string): AttachmentLinks | null => {
      const known = links.get(id);
      if (known) return known;
      links.set(id, { url: null, thumbnail: null, width: null, height: null });
      void props.client.rest
        .attachment(id)
        .then((attachment) =>
          links.set(id, { url: attachment.url, thumbnail: attachment.thumbnail_url, width: attachment.width, height: attachment.height }),
        )
        // A failed lookup (offline, a busy server) must not leave the image blank for good:
        // forgetting it after a pause makes the next render ask again.
        .catch(() => setTimeout(() => links.delete(id), 2000));
      return null;
    };

    const systemText = (message: ChatMessage): string => {
      const event = typeof message.system?.event === "string" ? message.system.event : "unknown";
      // The host's own notice (the Management API's message without a sender), shown as the host wrote it.
      if (event === "notice" && message.text) return message.text;
      const key = `system.${event}` as MessageKey;
      const userId = typeof message.system?.user_id === "string" ? message.system.user_id : "";
      const known = ["chat_created", "participant_joined", "participant_left", "participant_added", "participant_removed"].includes(event);
      const fallback = typeof message.system?.display_name === "string" ? message.system.display_name : userId;
      return props.t(known ? key : "system.unknown", { name: props.names.get(userId) ?? fallback });
    };

    const renderAttachments = (message: ChatMessage): VNode | null => {
      if (message.attachments.length === 0) return null;
      return h(
        "div",
        { class: "mtc-attachments" },
        message.attachments.map((file) => {
          if (file.mime.startsWith("image/")) {
            const found = linksOf(file.id);
            const src = found?.thumbnail ?? found?.url;
            return h(
              "button",
              {
                type: "button",
                class: "mtc-thumb",
                "aria-label": props.t("message.openImage", { name: file.name }),
                onClick: (event: MouseEvent) => {
                  if (found?.url) void openViewer(found.url, file.name, file.size, event.currentTarget as HTMLElement);
                },
              },
              src
                ? [
                    h("img", {
                      src,
                      alt: file.name,
                      class: "mtc-thumb",
                      "data-testid": "thumbnail",
                      // An image that loads after the list scrolled down pushes the end out of view.
                      onLoad: () => {
                        if (stickToBottom && scroller.value) scroller.value.scrollTop = scroller.value.scrollHeight;
                      },
                    }),
                  ]
                : file.name,
            );
          }
          const found = linksOf(file.id);
          return h(
            "a",
            {
              class: "mtc-file",
              href: found?.url ?? undefined,
              target: "_blank",
              rel: "noopener",
              download: file.name,
              "aria-label": props.t("message.attachment", { name: file.name }),
            },
            [icon(icons.clip), ` ${file.name} (${formatSize(file.size)})`],
          );
        }),
      );
    };

    const renderMessage = (
      message: ChatMessage,
      byId: Map<string, ChatMessage>,
      lastOwnId: string | null,
      grouped: boolean,
      continued: boolean,
    ): VNode => {
      const own = message.author === props.session.me;
      const quoted = message.replyTo ? byId.get(message.replyTo) : undefined;
      const reactions = Object.entries(message.reactions);
      const status = own
        ? message.pending
          ? props.t("message.pending")
          : message.id === lastOwnId
            ? props.session.seenBy(message.id).length > 0
              ? props.t("message.seenBy", { names: props.session.seenBy(message.id).map(name).join(", ") })
              : props.t("message.sent")
            : null
        : null;
      return h(
        "article",
        {
          class: "mtc-message",
          "data-own": String(own),
          "data-message-id": message.id,
          "data-pending": String(message.pending),
          "data-highlight": String(highlight.value === message.id),
          // A run of messages from one sender names them once, at its start.
          "data-grouped": String(grouped),
          tabindex: -1,
          "aria-label": `${name(message.author)}, ${time(message.createdAt)}`,
        },
        [
          own || grouped
            ? null
            : h("div", { class: "mtc-author" }, [
                h("span", {
                  class: "mtc-dot",
                  "data-online": String(props.online.has(message.author)),
                  "aria-label": props.online.has(message.author) ? props.t("online") : undefined,
                }),
                name(message.author),
              ]),
          // The bubble and its actions share a box: the actions sit on the message's own edge.
          h("div", { class: "mtc-line" }, [
            h("div", { class: "mtc-bubble" }, [
              message.replyTo
                ? h(
                    "button",
                    {
                      type: "button",
                      class: "mtc-quote",
                      "aria-label": props.t("message.jump"),
                      onClick: () => message.replyTo && void jumpTo(message.replyTo),
                    },
                    quoted
                      ? [
                          h("span", { class: "mtc-quote-author" }, name(quoted.author)),
                          h("span", { class: "mtc-quote-text" }, quoted.deleted ? props.t("message.deleted") : quoted.text.slice(0, 120)),
                        ]
                      : "…",
                  )
                : null,
              message.deleted ? h("span", { class: "mtc-deleted" }, props.t("message.deleted")) : renderBody(message.body),
              message.deleted ? null : renderAttachments(message),
            ]),
            message.deleted ? null : renderActions(message, own),
          ]),
          reactions.length > 0
            ? h(
                "div",
                { class: "mtc-reactions" },
                reactions.map(([emoji, users]) =>
                  h(
                    "button",
                    {
                      type: "button",
                      class: "mtc-reaction",
                      "aria-pressed": String(users.includes(props.session.me)),
                      // Until its segment loads, a message from the REST history is shown read-only.
                      disabled: !message.live,
                      title: users.map(name).join(", "),
                      onClick: () => props.session.react(message.id, emoji, !users.includes(props.session.me)),
                    },
                    `${emoji} ${users.length}`,
                  ),
                ),
              )
            : null,
          // Inside a run the time shows once, under its last message (each message's label still says it).
          continued && !status && !(message.editedAt && !message.deleted)
            ? null
            : h("div", { class: "mtc-meta" }, [
                h("time", { datetime: new Date(message.createdAt).toISOString() }, time(message.createdAt)),
                message.editedAt && !message.deleted ? h("span", props.t("message.edited")) : null,
                status ? h("span", { "data-testid": "status" }, status) : null,
              ]),
        ],
      );
    };

    const renderActions = (message: ChatMessage, own: boolean): VNode | null => {
      const t = props.t;
      if (!message.live) return null;
      return h("div", { class: "mtc-actions", role: "group", "aria-label": t("message.actions") }, [
        props.canWrite ? h("button", { type: "button", onClick: () => emit("reply", message) }, t("message.reply")) : null,
        h(
          "button",
          {
            type: "button",
            "aria-haspopup": "true",
            "aria-expanded": String(menuFor.value === message.id),
            onClick: (event: MouseEvent) =>
              menuFor.value === message.id ? closeMenu() : void openMenu(message.id, event.currentTarget as HTMLElement),
          },
          t("message.react"),
        ),
        own && props.canWrite ? h("button", { type: "button", onClick: () => emit("edit", message.id) }, t("message.edit")) : null,
        own && props.canWrite
          ? h("button", { type: "button", onClick: () => props.session.delete(message.id) }, t("message.delete"))
          : null,
        menuFor.value === message.id
          ? h(
              "div",
              { class: "mtc-menu", role: "menu", "aria-label": t("message.react"), onKeydown: onMenuKey },
              quickReactions.map((emoji) =>
                h(
                  "button",
                  {
                    type: "button",
                    role: "menuitem",
                    "aria-label": `${t("message.react")} ${emoji}`,
                    onClick: () => {
                      props.session.react(message.id, emoji, !(message.reactions[emoji] ?? []).includes(props.session.me));
                      closeMenu();
                    },
                  },
                  emoji,
                ),
              ),
            )
          : null,
      ]);
    };

    return () => {
      void props.version;
      const messages = props.session.messages();
      const byId = new Map(messages.map((message) => [message.id, message]));
      const lastOwnId = [...messages].reverse().find((message) => message.author === props.session.me && !message.deleted)?.id ?? null;
      const children: (VNode | null)[] = [];
      if (loadingOlder.value) children.push(h("div", { class: "mtc-day", role: "status" }, props.t("dialog.loadingOlder")));
      let lastDay = "";
      /** Whether `next` continues `previous`'s run: one sender, within five minutes, the same day, no divider between. */
      const joins = (previous: ChatMessage | undefined, next: ChatMessage | undefined) =>
        !!previous &&
        !!next &&
        previous.kind !== "system" &&
        next.kind !== "system" &&
        previous.author === next.author &&
        next.createdAt - previous.createdAt <= 5 * 60_000 &&
        dayKey(previous.createdAt) === dayKey(next.createdAt) &&
        next.id !== dividerAt.value;
      messages.forEach((message, index) => {
        const day = dayKey(message.createdAt);
        if (day !== lastDay) {
          children.push(h("div", { class: "mtc-day", role: "separator" }, dayLabel(message.createdAt)));
          lastDay = day;
        }
        if (message.id === dividerAt.value)
          children.push(h("div", { class: "mtc-divider", role: "separator", "data-testid": "new-divider" }, props.t("divider.new")));
        children.push(
          message.kind === "system"
            ? h("div", { class: "mtc-system", "data-message-id": message.id }, systemText(message))
            : renderMessage(message, byId, lastOwnId, joins(messages[index - 1], message), joins(message, messages[index + 1])),
        );
      });
      if (messages.length === 0) children.push(h("div", { class: "mtc-empty" }, props.t("dialog.empty")));
      void afterRender();
      return h("div", { class: "mtc-messages", ref: scroller, onScroll, role: "log", "aria-live": "polite", "data-testid": "messages" }, [
        ...children,
        viewer.value
          ? h(
              "div",
              {
                class: "mtc-viewer",
                role: "dialog",
                "aria-modal": "true",
                "aria-label": props.t("viewer.title"),
                onClick: closeViewer,
                // A modal: Tab goes round its own controls instead of wandering behind it.
                onKeydown: (event: KeyboardEvent) => {
                  if (event.key !== "Tab") return;
                  event.preventDefault();
                  const controls = [...(event.currentTarget as HTMLElement).querySelectorAll<HTMLElement>("button, a[href]")];
                  const at = controls.indexOf(document.activeElement as HTMLElement);
                  controls[(at + (event.shiftKey ? controls.length - 1 : 1)) % controls.length]?.focus();
                },
              },
              [
                h(
                  "button",
                  { type: "button", class: "mtc-viewer-close", "aria-label": props.t("viewer.close"), onClick: closeViewer },
                  "✕",
                ),
                h("figure", { class: "mtc-viewer-figure", onClick: (event: MouseEvent) => event.stopPropagation() }, [
                  h("img", { src: viewer.value.url, alt: viewer.value.name, "data-testid": "viewer-image" }),
                  h("figcaption", { class: "mtc-viewer-bar" }, [
                    h(
                      "span",
                      { class: "mtc-viewer-name", "data-testid": "viewer-name" },
                      `${viewer.value.name} · ${formatSize(viewer.value.size)}`,
                    ),
                    h(
                      "a",
                      {
                        class: "mtc-primary mtc-download",
                        href: viewer.value.url,
                        download: viewer.value.name,
                        "data-testid": "viewer-download",
                      },
                      props.t("viewer.download"),
                    ),
                  ]),
                ]),
              ],
            )
          : null,
      ]);
    };
  },
});
