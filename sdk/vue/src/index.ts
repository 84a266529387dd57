export { useChatClient, useDialog } from "./composables.ts";
export { Composer, type MentionCandidate } from "./composer.ts";
export {
  type Locale,
  type LocaleMessages,
  locales,
  localeTag,
  localeTags,
  type MessageKey,
  type Messages,
  type Translate,
  translator,
} from "./i18n.ts";
export { MessageList } from "./message-list.ts";
export { MTChat } from "./mtchat.ts";
export { primaryButtonKey, usePrimaryButton } from "./parts.ts";
export { renderBody, renderNodes } from "./render-body.ts";
export { css, injectStyles } from "./styles.ts";
