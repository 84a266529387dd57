import { type Component, h, type InjectionKey, inject, type VNode } from "vue";

/**
 * Parts of `<MTChat>` a host may render with its own components, by `provide(key, Component)` above it; a design
 * system's wrapper (`@mtchat/vue-primevue`) does. The primary action buttons (Send, Join) get `label`, `aria-label`
 * and `onClick`, which PrimeVue's `Button` takes as they are.
 */
export const primaryButtonKey: InjectionKey<Component> = Symbol("mtchat.primaryButton");

/** A renderer for the primary buttons: the provided component, or MTChat's own `<button class="mtc-primary">`. Call in setup. */
export const usePrimaryButton = () => {
  const provided = inject(primaryButtonKey, null);
  return (label: string, onClick: () => unknown, ariaLabel = label): VNode =>
    provided
      ? h(provided, { label, "aria-label": ariaLabel, class: "mtc-primary-part", onClick })
      : h("button", { type: "button", class: "mtc-primary", "aria-label": ariaLabel, onClick }, label);
};
