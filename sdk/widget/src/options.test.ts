import { describe, expect, test } from "vitest";
import { defaultOptions, parseOptions, serviceUrlFrom } from "./options.ts";

describe("the widget's options", () => {
  test("the service is where the loader came from, under any path prefix", () => {
    expect(serviceUrlFrom("https://chat.example.com/widget/v1/loader.js")).toBe("https://chat.example.com");
    expect(serviceUrlFrom("https://example.com/chat/widget/v1/loader.js?v=2")).toBe("https://example.com/chat");
  });

  test("data- attributes map onto <MTChat>'s options; unknown values keep the defaults", () => {
    const defaults = defaultOptions("https://chat.example.com");
    // What `script.dataset` holds for data-token-url, data-mode, data-object-type …
    const parsed = parseOptions(
      { tokenUrl: "/chat-token", mode: "inline", objectType: "order", objectId: "1001", theme: "dark", locale: "zh", open: "" },
      defaults,
    );
    expect(parsed).toMatchObject({
      tokenUrl: "/chat-token",
      mode: "inline",
      objectType: "order",
      objectId: "1001",
      theme: "dark",
      locale: "zh",
      open: true,
    });
    expect(parseOptions({ mode: "sideways", theme: "neon", locale: "xx", position: "top" }, defaults)).toEqual(defaults);
    expect(parseOptions({ url: "https://other.example.com/" }, defaults).url).toBe("https://other.example.com");
    // null clears an option the page set before; a missing or blank one keeps it.
    const withDialog = { ...defaults, dialogId: "d-1" };
    expect(parseOptions({ dialogId: null }, withDialog).dialogId).toBeNull();
    expect(parseOptions({ dialogId: " " }, withDialog).dialogId).toBe("d-1");
  });
});
