import {
  ChatClient,
  type ChatClientConfig,
  type ChatMessage,
  type ConnectionStatus,
  type DialogSession,
  type Presence,
} from "@mtchat/client";
import { onBeforeUnmount, type Ref, ref, shallowRef, watch } from "vue";

/** Headless: a started client with a reactive connection status, destroyed with the component. */
export const useChatClient = (config: ChatClientConfig) => {
  const client = new ChatClient(config);
  const status = ref<ConnectionStatus>(client.status);
  const ready = client.start();
  const off = client.on("status", (next) => (status.value = next));
  onBeforeUnmount(() => {
    off();
    client.destroy();
  });
  return { client, status, ready };
};

/** Headless: a dialog's messages, presence and refusal as refs, following `dialogId`. */
export const useDialog = (client: ChatClient, dialogId: Ref<string | null>) => {
  const session = shallowRef<DialogSession | null>(null);
  const messages = shallowRef<ChatMessage[]>([]);
  const presence = shallowRef<Presence[]>([]);
  const refusal = shallowRef<DialogSession["refusal"]>(null);
  let off: (() => void) | null = null;
  const sync = () => {
    messages.value = session.value?.messages() ?? [];
    presence.value = session.value?.presence() ?? [];
    refusal.value = session.value?.refusal ?? null;
  };
  watch(
    dialogId,
    async (id, previous) => {
      off?.();
      if (previous) client.closeDialog(previous);
      session.value = id ? await client.openDialog(id) : null;
      off = session.value?.on("change", sync) ?? null;
      sync();
    },
    { immediate: true },
  );
  onBeforeUnmount(() => {
    off?.();
    if (dialogId.value) client.closeDialog(dialogId.value);
  });
  return { session, messages, presence, refusal };
};
