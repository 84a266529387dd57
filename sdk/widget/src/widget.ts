import type { ChatClient } from "@mtchat/client";
import { MTChat, translator } from "@mtchat/vue";
import { defineComponent, h, type PropType } from "vue";
import type { WidgetOptions } from "./options.ts";

/** What the loader keeps for the component: the page's options, and whether the panel is open. */
export type WidgetState = {
  options: WidgetOptions;
  opened: boolean;
  /** Once opened, the chat stays mounted while hidden, so it keeps its place and its open dialog. */
  mounted: boolean;
  unread: number;
  /** Bumped by `openDialog`, which remounts the chat on that dialog. */
  generation: number;
  embedded: boolean;
};

const chatIcon = () =>
  h(
    "svg",
    { viewBox: "0 0 24 24", fill: "none", stroke: "currentColor", "stroke-width": 2, "stroke-linejoin": "round", "aria-hidden": "true" },
    [h("path", { d: "M4 5h16v11H9l-5 4z" })],
  );

/** The launcher button with its unread badge, and the panel with `<MTChat>` in it. */
export const Widget = defineComponent({
  name: "MTChatWidget",
  props: {
    state: { type: Object as PropType<WidgetState>, required: true },
    client: { type: Object as PropType<ChatClient>, required: true },
  },
  emits: ["toggle", "message-sent", "error", "dialog-selected"],
  setup(props, { emit }) {
    return () => {
      const { state } = props;
      const { options } = state;
      const t = translator(options.locale);
      const label = state.unread > 0 ? `${t("tabs.mine")} (${t("list.unread", { count: state.unread })})` : t("tabs.mine");
      const chat =
        state.mounted || state.embedded
          ? h(MTChat, {
              key: state.generation,
              config: props.client.config,
              client: props.client,
              mode: options.mode,
              objectType: options.objectType,
              objectId: options.objectId,
              dialogId: options.dialogId,
              theme: options.theme,
              locale: options.locale,
              onMessageSent: (sent: unknown) => emit("message-sent", sent),
              onDialogSelected: (dialog: unknown) => emit("dialog-selected", dialog),
              onError: (error: unknown) => emit("error", error),
            })
          : null;
      return h(
        "div",
        {
          class: "mtw",
          "data-theme": options.theme,
          "data-mode": options.mode,
          "data-position": options.position,
          "data-embedded": String(state.embedded),
        },
        [
          state.embedded
            ? null
            : h(
                "button",
                {
                  type: "button",
                  class: "mtw-launcher",
                  "aria-label": label,
                  "aria-expanded": String(state.opened),
                  onClick: () => emit("toggle"),
                },
                [
                  chatIcon(),
                  state.unread > 0
                    ? h("span", { class: "mtw-badge", "data-testid": "widget-unread" }, state.unread > 99 ? "99+" : String(state.unread))
                    : null,
                ],
              ),
          h("div", { class: "mtw-panel", role: "dialog", "aria-label": t("tabs.mine"), hidden: !(state.opened || state.embedded) }, [
            state.embedded
              ? null
              : h("div", { class: "mtw-bar" }, [
                  h("button", { type: "button", class: "mtw-close", "aria-label": t("viewer.close"), onClick: () => emit("toggle") }, "×"),
                ]),
            h("div", { class: "mtw-chat" }, [chat]),
          ]),
        ],
      );
    };
  },
});
