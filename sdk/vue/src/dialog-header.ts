// The open dialog's header (title, presence, connection status, actions and their ⋯ menu) and the leave confirmation.
import type { ConnectionStatus, TransportKind } from "@mtchat/client";
import { h, type Ref, type VNode } from "vue";
import type { Translate } from "./i18n.ts";

/** One of the header's actions (pin, archive, mute, leave). */
export type HeaderAction = { label: string; run: () => void };

/** What the open dialog's header shows and what it asks `<MTChat>` to do. */
export type DialogHeaderProps = {
  t: Translate;
  /** Full mode has a back button to the list. */
  mode: "full" | "inline";
  title: string;
  /** The host object's web address, made safe; null for no link. */
  objectUrl: string | null;
  participantsCount: number;
  /** The names of the others online: the user's own connection is the status dot. */
  othersOnline: string[];
  notificationsOn: boolean;
  status: ConnectionStatus;
  /** WebSocket, or the HTTP fallback: the status's tooltip says which. */
  transport: TransportKind;
  actions: HeaderAction[];
  /** The "⋯" menu is open; the header opens and closes it. */
  menuOpen: Ref<boolean>;
  onBack: () => void;
  onNavigate: (url: string) => void;
};

/** The open dialog's header: back, title (a link to the host object), presence, connection status, actions. */
export const renderDialogHeader = (props: DialogHeaderProps): VNode => {
  const { t, status, transport, actions, othersOnline, objectUrl } = props;
  return h("header", { class: "mtc-header" }, [
    props.mode === "full"
      ? h("button", { type: "button", class: "mtc-back", "aria-label": t("dialog.back"), onClick: props.onBack }, "←")
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
                  props.onNavigate(objectUrl);
                },
              },
              props.title,
            )
          : props.title,
      ),
      h("div", { class: "mtc-header-sub", "data-testid": "dialog-sub" }, [
        t("dialog.participants", { count: props.participantsCount }),
        othersOnline.length === 1
          ? ` · ${t("dialog.onlineOne", { name: othersOnline[0] ?? "" })}`
          : othersOnline.length > 1
            ? ` · ${t("dialog.onlineMany", { count: othersOnline.length })}`
            : "",
        props.notificationsOn ? "" : ` · ${t("dialog.muted")}`,
      ]),
    ]),
    h(
      "span",
      {
        class: "mtc-status",
        role: "status",
        "data-testid": "connection",
        // Said only as the tooltip: it matters to someone wondering why the chat is slower on this network.
        "data-transport": transport,
        title: transport === "http" ? t("status.http") : t(`status.${status}`),
      },
      [
        h("span", { class: "mtc-dot", "data-online": String(status === "connected") }),
        h("span", { class: "mtc-status-text" }, t(`status.${status}`)),
      ],
    ),
    // The actions: buttons on a wide pane, a "⋯" menu on a narrow one (styles.ts decides).
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
              "aria-label": t("dialog.more"),
              title: t("dialog.more"),
              "aria-haspopup": "menu",
              "aria-expanded": String(props.menuOpen.value),
              "data-testid": "header-more",
              onClick: () => (props.menuOpen.value = !props.menuOpen.value),
            },
            "⋯",
          ),
          props.menuOpen.value
            ? h(
                "div",
                { class: "mtc-header-menu", role: "menu", "aria-label": t("dialog.more") },
                actions.map((action) =>
                  h(
                    "button",
                    {
                      type: "button",
                      role: "menuitem",
                      onClick: () => {
                        props.menuOpen.value = false;
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
  ]);
};

/** Asks before leaving a dialog: leaving cannot be undone from here. */
export const renderLeaveConfirm = (t: Translate, onLeave: () => void, onCancel: () => void): VNode =>
  h("div", { class: "mtc-banner mtc-confirm", role: "alertdialog", "aria-label": t("dialog.leave"), "data-testid": "leave-confirm" }, [
    h("span", t("dialog.leaveConfirm")),
    h("button", { type: "button", class: "mtc-danger", onClick: onLeave }, t("dialog.leaveYes")),
    h("button", { type: "button", onClick: onCancel }, t("dialog.cancel")),
  ]);
