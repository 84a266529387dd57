import type { RichNode } from "@mtchat/protocol";
import { expect, test } from "vitest";
import { createSSRApp } from "vue";
import { renderToString } from "vue/server-renderer";
import { renderBody } from "./render-body.ts";

const html = (body: RichNode) => renderToString(createSSRApp({ render: () => renderBody(body) }));

test("a forged body nested 10,000 deep renders its readable part and nothing past the depth bound", async () => {
  let node: RichNode = { type: "text", text: "buried" };
  for (let level = 0; level < 10_000; level += 1) node = { type: "blockquote", content: [node] };
  const body: RichNode = { type: "doc", content: [{ type: "paragraph", content: [{ type: "text", text: "on top" }] }, node] };
  const out = await html(body);
  expect(out).toContain("on top");
  expect(out).not.toContain("buried");
});

test("links keep only http(s) and mailto targets; unknown nodes pass their text, not their markup", async () => {
  const out = await html({
    type: "doc",
    content: [
      {
        type: "paragraph",
        content: [
          { type: "text", text: "bad", marks: [{ type: "link", attrs: { href: "javascript:alert(1)" } }] },
          { type: "text", text: "good", marks: [{ type: "link", attrs: { href: "https://example.com/" } }] },
        ],
      },
      { type: "script", content: [{ type: "text", text: "alert(2)" }] },
    ],
  });
  expect(out).not.toContain("javascript:");
  expect(out).toContain('href="https://example.com/"');
  expect(out).not.toContain("<script");
  expect(out).toContain("alert(2)");
});
