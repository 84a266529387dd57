/**
 * MTChat's CSS variables from PrimeVue's theme tokens: PrimeVue 4 in styled mode (Aura, Lara, Nora, a custom preset)
 * puts its tokens on `:root` as `--p-…` variables, and switches them itself in dark mode, so the chat follows the
 * app's theme and its dark mode. Each falls back to MTChat's own default where an app has no PrimeVue theme.
 * Doubled class: it must win over `.mtc-root` and `.mtc-root[data-theme=dark]` whatever the order of the sheets.
 */
export const primeThemeCss = `
.mtc-root.mtc-prime.mtc-prime{
--mtc-bg:var(--p-content-background,#ffffff);
--mtc-bg-soft:color-mix(in srgb,var(--p-content-hover-background,#eceff3) 50%,var(--p-content-background,#ffffff));
--mtc-bg-hover:var(--p-content-hover-background,#eceff3);
--mtc-text:var(--p-text-color,#1b1f24);
--mtc-text-muted:var(--p-text-muted-color,#5f6b7a);
--mtc-border:var(--p-content-border-color,#dde2e8);
--mtc-accent:var(--p-primary-color,#2f6fed);
--mtc-accent-text:var(--p-primary-contrast-color,#ffffff);
--mtc-own-bubble:var(--p-highlight-background,#e3ecff);
--mtc-bubble:var(--p-content-hover-background,#f1f3f6);
--mtc-mention:var(--p-primary-color,#2f6fed);
--mtc-radius:var(--p-content-border-radius,10px);
--mtc-font:inherit}
.mtc-prime .mtc-primary-part{flex:none}
`;

/** Adds the mapping once per root (the document, or a shadow root the chat renders in). */
export const injectPrimeTheme = (root: Node | null): void => {
  if (typeof document === "undefined") return;
  const target = typeof ShadowRoot !== "undefined" && root instanceof ShadowRoot ? root : document;
  if (target.getElementById("mtchat-prime-styles")) return;
  const style = document.createElement("style");
  style.id = "mtchat-prime-styles";
  style.textContent = primeThemeCss;
  if (target instanceof ShadowRoot) target.append(style);
  else document.head.append(style);
};
