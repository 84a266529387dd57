// <MTChat>'s sidebar in full mode: the tabs, the search with its message hits, the dialog list and its skeleton.
import type { ChatClient, DialogSummary, UserState } from "@mtchat/client";
import { h, type Ref, type VNode } from "vue";
import { dialogTitle, type Tab } from "./dialog-summary.ts";
import { localeTag, type Translate } from "./i18n.ts";
import { icon, icons } from "./icons.ts";
import type { MessageSearch } from "./message-search.ts";

/** What the sidebar shows and what it asks `<MTChat>` to do. */
export type SidebarProps = {
  t: Translate;
  locale: string;
  client: ChatClient | null;
  /** For the muted marks, which live only in the user's state document. */
  userState: UserState | null;
  /** Bumped when the state document changes: its marks are not reactive. */
  version: number;
  /** The tab shown: the sidebar's tabs switch it. */
  tab: Ref<Tab>;
  /** The search box's text. */
  query: Ref<string>;
  items: DialogSummary[];
  /** False until the first list answer (or a cached list) arrives: a skeleton, not "no chats", shows meanwhile. */
  listLoaded: boolean;
  listProblem: string | null;
  search: MessageSearch;
  selectedId: string | null;
  /** What went wrong: when the client did not start, there is no list to wait for. */
  problem: string | null;
  /** The problem's banner, shown here while no dialog is open. */
  problemBanner: VNode | null;
  notificationPrompt: VNode | null;
  /** The query changed: the list and the message search follow it. */
  onQuery: () => void;
  onOpen: (dialog: DialogSummary, jumpTo?: string) => Promise<void>;
};

const tabs: Tab[] = ["mine", "available", "archived"];

/** The full mode's sidebar: tabs, search with its message hits, and the dialog list. */
export const renderSidebar = (props: SidebarProps): VNode => {
  const { t } = props;
  return h("nav", { class: "mtc-sidebar", "aria-label": t("tabs.mine") }, [
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
            "aria-selected": String(props.tab.value === name),
            onClick: () => (props.tab.value = name),
          },
          t(`tabs.${name}`),
        ),
      ),
    ),
    props.notificationPrompt,
    h("input", {
      class: "mtc-search",
      type: "search",
      value: props.query.value,
      placeholder: t("list.search"),
      "aria-label": t("list.search"),
      onInput: (event: Event) => {
        props.query.value = (event.target as HTMLInputElement).value;
        props.onQuery();
      },
    }),
    props.problemBanner,
    props.search.hits.value.length > 0 ? renderHits(props) : null,
    // Searching, the message hits come first; the chats whose names match follow under their tab's name.
    props.query.value.trim() && props.search.hits.value.length > 0 && props.items.length > 0
      ? h("div", { class: "mtc-day" }, t(`tabs.${props.tab.value}`))
      : null,
    renderList(props),
  ]);
};

const renderHits = (props: SidebarProps): VNode => {
  const { t } = props;
  return h("section", { "aria-label": t("search.messages") }, [
    h("div", { class: "mtc-day" }, t("search.messages")),
    h(
      "ul",
      { class: "mtc-results", "data-testid": "search-results" },
      props.search.hits.value.map((hit) => {
        const where = props.search.hitDialogs.get(hit.dialog_id);
        return h("li", [
          h(
            "button",
            {
              type: "button",
              class: "mtc-item mtc-hit",
              onClick: async () => {
                const dialog = props.items.find((item) => item.id === hit.dialog_id) ?? (await props.client?.rest.getDialog(hit.dialog_id));
                if (dialog) await props.onOpen(dialog, hit.message_id);
              },
            },
            [
              avatar(hit.dialog_id, where?.title ?? ""),
              h("div", { class: "mtc-item-main" }, [
                h("div", { class: "mtc-item-title" }, [
                  h("span", { class: "mtc-hit-dialog", "data-testid": "hit-dialog" }, where?.title || "…"),
                  h("span", { class: "mtc-time" }, shortTime(hit.sent_at, props.locale)),
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
  ]);
};

const renderList = (props: SidebarProps): VNode => {
  const { t, items } = props;
  const q = props.query.value.trim();
  // The chat did not start: the banner above says why, and there is no list to wait for.
  if (items.length === 0 && !props.listLoaded && props.problem && !props.client?.tokens.claims) return h("div");
  if (items.length === 0 && !props.listLoaded)
    return props.listProblem
      ? h("div", { class: "mtc-empty mtc-error", role: "alert", "data-testid": "list-problem" }, props.listProblem)
      : h(
          "ul",
          { class: "mtc-list mtc-skeleton", "aria-busy": "true", "aria-label": t("list.loading"), "data-testid": "list-loading" },
          [0, 1, 2, 3, 4].map((index) =>
            h("li", { key: index, class: "mtc-item" }, [
              h("span", { class: "mtc-avatar" }),
              h("div", { class: "mtc-item-main" }, [h("div", { class: "mtc-bone" }), h("div", { class: "mtc-bone mtc-bone-short" })]),
            ]),
          ),
        );
  if (items.length === 0) {
    if (!q) return h("div", { class: "mtc-empty", "data-testid": "list-empty" }, t("list.empty"));
    // Matching messages are shown above; "nothing" only when the message search found none either.
    return props.search.hits.value.length > 0
      ? h("div")
      : h("div", { class: "mtc-empty", role: "status", "data-testid": "search-empty" }, t("search.noResultsFor", { query: q }));
  }
  const muted = props.userState?.states() ?? new Map<string, { notifications: boolean }>();
  return h(
    "ul",
    { class: "mtc-list", "data-testid": "dialog-list" },
    // Keyed, so a list that reorders on a push keeps focus on the same dialog.
    items.map((item) => h("li", { key: item.id }, [renderItem(props, item, muted)])),
  );
};

const renderItem = (props: SidebarProps, item: DialogSummary, muted: ReadonlyMap<string, { notifications: boolean }>): VNode => {
  const { t } = props;
  return h(
    "button",
    {
      type: "button",
      class: "mtc-item",
      "aria-current": String(props.selectedId === item.id),
      "data-dialog-id": item.id,
      onClick: () => void props.onOpen(item),
    },
    [
      avatar(item.id, dialogTitle(item)),
      h("div", { class: "mtc-item-main" }, [
        h("div", { class: "mtc-item-title" }, [
          h("span", { class: "mtc-item-name" }, dialogTitle(item)),
          h(
            "span",
            { class: "mtc-time", "data-testid": "item-time" },
            shortTime(item.last_message?.sent_at ?? item.last_activity_at, props.locale),
          ),
        ]),
        h("div", { class: "mtc-item-row" }, [
          h(
            "div",
            { class: "mtc-item-last", "data-system": String(item.last_message?.message_type === "system") },
            item.last_message && item.last_message.message_type !== "system" && !item.last_message.content
              ? [icon(icons.clip, 12), " ", preview(props, item)]
              : preview(props, item),
          ),
          (muted.get(item.id)?.notifications ?? item.notifications_enabled) === false ? mark(t("dialog.muted"), icons.muted) : null,
          item.is_pinned ? mark(t("list.pinned"), icons.pin) : null,
          item.unread_count
            ? h(
                "span",
                { class: "mtc-badge", "aria-label": t("list.unread", { count: item.unread_count }), "data-testid": "unread" },
                String(item.unread_count),
              )
            : null,
        ]),
      ]),
    ],
  );
};

/** "14:05" today, "3 Dec" before, in the user's locale. */
const shortTime = (iso: string | undefined, locale: string) => {
  if (!iso) return "";
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return "";
  const tag = localeTag(locale);
  return at.toDateString() === new Date().toDateString()
    ? at.toLocaleTimeString(tag, { hour: "2-digit", minute: "2-digit" })
    : at.toLocaleDateString(tag, { day: "numeric", month: "short" });
};

/** A dialog's avatar: its initials on a hue of its own. */
const avatar = (id: string, title: string): VNode =>
  h("span", { class: "mtc-avatar", "aria-hidden": "true", style: { "--mtc-avatar-hue": String(hue(id)) } }, initials(title));

/** A list item's mark (muted, pinned): an icon that says what it means. */
const mark = (label: string, path: string): VNode =>
  h("span", { class: "mtc-pin", role: "img", "aria-label": label, title: label }, [icon(path)]);

const initials = (text: string) =>
  text
    .split(/[\s#·:/-]+/)
    .filter((word) => /^\p{L}/u.test(word))
    .slice(0, 2)
    .map((word) => word.slice(0, 1).toUpperCase())
    .join("") || text.slice(0, 1).toUpperCase();

/** A stable hue per dialog, so an avatar is recognisable at a glance. */
const hue = (id: string) => [...id].reduce((sum, char) => (sum * 31 + char.charCodeAt(0)) % 360, 7);

/** The list item's last line: the last message, "You: …" when it is the user's own. */
const preview = (props: SidebarProps, item: DialogSummary): string => {
  const { t } = props;
  const last = item.last_message;
  if (!last) return t("list.noMessages");
  const text = last.message_type === "system" ? last.content || t("system.unknown") : last.content || t("list.attachment");
  const me = (() => {
    try {
      return props.client?.me.userId;
    } catch {
      return undefined;
    }
  })();
  return last.message_type !== "system" && last.sender_id === me ? t("list.you", { text }) : text;
};
