import { safeHref } from "@mtchat/client";
import { maxBodyDepth, type RichNode } from "@mtchat/protocol";
import { h, type VNode } from "vue";

/**
 * Renders a message body (ProseMirror JSON written by any client) as VNodes.
 * Only the node and mark types the composer produces are rendered, as the
 * elements we choose; attributes are never copied through, links keep only
 * http(s)/mailto targets, and text is always text. So a forged body cannot
 * run script, inject attributes or point a link at `javascript:`.
 */
const blockTags: Record<string, string> = {
  paragraph: "p",
  bulletList: "ul",
  orderedList: "ol",
  listItem: "li",
  blockquote: "blockquote",
  codeBlock: "pre",
};

const markTags: Record<string, string> = { bold: "strong", italic: "em", strike: "s", code: "code", underline: "u" };

const renderText = (node: RichNode): VNode | string => {
  let content: VNode | string = node.text ?? "";
  for (const mark of node.marks ?? []) {
    if (mark.type === "link") {
      const href = safeHref(mark.attrs?.href);
      content = href ? h("a", { href, target: "_blank", rel: "noopener noreferrer nofollow" }, [content]) : content;
      continue;
    }
    const tag = markTags[mark.type];
    if (tag) content = h(tag, [content]);
  }
  return content;
};

/** Renders nodes; anything nested deeper than a body may be (a forged body) is not rendered. */
export const renderNodes = (nodes: RichNode[] | undefined, depth = 1): (VNode | string)[] =>
  depth > maxBodyDepth
    ? []
    : (nodes ?? []).map((node): VNode | string => {
        if (node.type === "text") return renderText(node);
        if (node.type === "hardBreak") return h("br");
        if (node.type === "mention") {
          const label = String(node.attrs?.label ?? node.attrs?.id ?? "");
          return h("span", { class: "mtc-mention", "data-user": String(node.attrs?.id ?? "") }, `@${label}`);
        }
        const tag = blockTags[node.type];
        if (tag === "pre") return h("pre", [h("code", renderNodes(node.content, depth + 1))]);
        // Unknown node types render their children only: their text stays readable, their markup does not pass.
        return tag ? h(tag, renderNodes(node.content, depth + 1)) : h("span", renderNodes(node.content, depth + 1));
      });

export const renderBody = (body: RichNode): VNode => h("div", { class: "mtc-body" }, renderNodes(body.content));
