import { bodyToJson, bodyToPlainText, type RichNode, safeHref } from "@mtchat/protocol";
import { describe, expect, test } from "vitest";
import * as Y from "yjs";
import { appendJson, fragmentFromJson, isBlank, mentionsOf } from "./rich-body.ts";

const rich: RichNode = {
  type: "doc",
  content: [
    {
      type: "paragraph",
      content: [
        { type: "text", text: "Hi " },
        { type: "mention", attrs: { id: "bob", label: "Bob" } },
        { type: "text", text: " see ", marks: [{ type: "bold" }] },
        { type: "text", text: "this", marks: [{ type: "link", attrs: { href: "https://example.com" } }] },
      ],
    },
    { type: "bulletList", content: [{ type: "listItem", content: [{ type: "paragraph", content: [{ type: "text", text: "one" }] }] }] },
  ],
};

describe("rich bodies", () => {
  test("appending JSON to a fragment already in a document keeps what it held and adds the rest after it", () => {
    const doc = new Y.Doc();
    const draft = doc.getXmlFragment("draft");
    appendJson(draft, { type: "doc", content: [{ type: "paragraph", content: [{ type: "text", text: "first" }] }] });
    appendJson(draft, rich);
    const json = bodyToJson(draft);
    expect(json.content?.[0]).toEqual({ type: "paragraph", content: [{ type: "text", text: "first" }] });
    expect(json.content?.slice(1)).toEqual(rich.content);
  });

  test("ProseMirror JSON written into a fragment reads back the same, as the server's projection reads it", () => {
    const doc = new Y.Doc();
    doc.getMap("m").set("body", fragmentFromJson(rich));
    const body = doc.getMap("m").get("body") as Y.XmlFragment;
    expect(bodyToJson(body)).toEqual(rich);
    expect(bodyToPlainText(bodyToJson(body))).toBe("Hi @Bob see this\none");
  });

  test("blank bodies and mentions", () => {
    expect(isBlank({ type: "doc", content: [{ type: "paragraph" }, { type: "paragraph", content: [{ type: "text", text: "  " }] }] })).toBe(
      true,
    );
    expect(isBlank(rich)).toBe(false);
    expect(mentionsOf(rich)).toEqual(["bob"]);
  });

  test("only http, https and mailto links render as links", () => {
    expect(safeHref("https://example.com/a")).toBe("https://example.com/a");
    expect(safeHref("mailto:a@example.com")).toBe("mailto:a@example.com");
    expect(safeHref("javascript:alert(1)")).toBeNull();
    expect(safeHref(" JaVaScRiPt:alert(1)")).toBeNull();
    expect(safeHref("data:text/html,<script>")).toBeNull();
    expect(safeHref("/relative")).toBeNull();
    expect(safeHref(42)).toBeNull();
  });
});
