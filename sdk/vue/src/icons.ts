import { h, type VNode } from "vue";

/** Small line icons as inline SVG: unlike emoji, they need no emoji font on the user's machine. */
export const icon = (d: string, size = 14): VNode =>
  h(
    "svg",
    {
      class: "mtc-icon",
      viewBox: "0 0 24 24",
      width: size,
      height: size,
      fill: "none",
      stroke: "currentColor",
      "stroke-width": 2,
      "stroke-linecap": "round",
      "stroke-linejoin": "round",
      "aria-hidden": "true",
    },
    [h("path", { d })],
  );

export const icons = {
  clip: "M21 12l-8.5 8.5a5 5 0 0 1-7-7L14 5a3.5 3.5 0 0 1 5 5l-8.5 8.5a2 2 0 0 1-3-3L15 8",
  pin: "M9 4h6l-1 6 4 4H6l4-4zM12 14v7",
  muted: "M6 8a6 6 0 0 1 9.5-4.9M18 8c0 7 3 9 3 9H9M13.7 21a2 2 0 0 1-3.4 0M3 3l18 18M6 8c0 3.5-.8 5.8-1.6 7.2",
} as const;
