import type { ChatClient } from "@mtchat/client";
import { MTChat, primaryButtonKey } from "@mtchat/vue";
import Button from "primevue/button";
import { type Component, defineComponent, type FunctionalComponent, getCurrentInstance, h, onMounted, provide } from "vue";
import { injectPrimeTheme } from "./theme.ts";

/** PrimeVue's Button, small, for MTChat's primary actions (Send, Join): it takes `label` and `onClick` as MTChat passes them. */
export const PrimeButton: FunctionalComponent = (_props, { attrs }) => h(Button, { ...attrs, size: "small" });
PrimeButton.displayName = "MTChatPrimeButton";

/**
 * `<MTChatPrime>`: `<MTChat>` (the same props; its events pass through) in a PrimeVue 4 app. Its colors, borders,
 * radius and font come from the app's PrimeVue theme tokens, and its primary buttons are PrimeVue's `Button`. The app
 * installs PrimeVue with a styled theme (`app.use(PrimeVue, { theme: { preset: Aura } })`).
 */
export const MTChatPrime: typeof MTChat = defineComponent({
  name: "MTChatPrime",
  props: MTChat.props,
  setup(props, { attrs, expose }) {
    provide(primaryButtonKey, PrimeButton);
    let chat: { client: ChatClient | null } | null = null;
    const setChat = (instance: unknown) => {
      chat = instance as typeof chat;
    };
    expose({
      /** The chat's client, as on `<MTChat>`. */
      get client() {
        return chat?.client ?? null;
      },
    });
    const instance = getCurrentInstance();
    // Beside MTChat's own sheet: the document, or the shadow root the app renders in.
    onMounted(() => injectPrimeTheme((instance?.proxy?.$el as Node | undefined)?.getRootNode() ?? null));
    // MTChat's own typing is the wrapper's (same props, events through attrs), so the render passes them untyped.
    return () => h(MTChat as Component, { ...attrs, ...props, ref: setChat, class: ["mtc-prime", attrs.class] });
  },
}) as unknown as typeof MTChat;
