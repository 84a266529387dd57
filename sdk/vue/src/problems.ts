// What went wrong, in the user's words: start-up and network problems, refused changes.
import type { Translate } from "./i18n.ts";

/** What went wrong, in words that say the fix: an unreachable server is not the user's mistake. */
export const problemText = (error: unknown, t: Translate): string => {
  const message = error instanceof Error ? error.message : String(error);
  if ((error as { code?: string }).code === "network" || (error instanceof TypeError && /fetch|network/i.test(message)))
    return t("error.network");
  return t("error.start", { message });
};

/** Why the server refused this device's changes to a dialog. */
export const refusalText = (kind: string, message: string, t: Translate) =>
  kind === "not_found" || kind === "unauthorized" ? t(`error.${kind}` as "error.not_found") : t("error.refused", { message });
