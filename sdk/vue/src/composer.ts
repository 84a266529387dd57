import { type ChatClient, type DialogSession, isBlank, type UserState, uploadFile } from "@mtchat/client";
import type { AttachmentRef } from "@mtchat/protocol";
import { Editor, Extension } from "@tiptap/core";
import { Blockquote } from "@tiptap/extension-blockquote";
import { Bold } from "@tiptap/extension-bold";
import { Code } from "@tiptap/extension-code";
import { CodeBlock } from "@tiptap/extension-code-block";
import Collaboration from "@tiptap/extension-collaboration";
import { Document } from "@tiptap/extension-document";
import { HardBreak } from "@tiptap/extension-hard-break";
import { Italic } from "@tiptap/extension-italic";
import { Link } from "@tiptap/extension-link";
import { BulletList } from "@tiptap/extension-list/bullet-list";
import { ListItem } from "@tiptap/extension-list/item";
import { ListKeymap } from "@tiptap/extension-list/keymap";
import { OrderedList } from "@tiptap/extension-list/ordered-list";
import Mention from "@tiptap/extension-mention";
import { Paragraph } from "@tiptap/extension-paragraph";
import { Strike } from "@tiptap/extension-strike";
import { Text } from "@tiptap/extension-text";
import { Underline } from "@tiptap/extension-underline";
import { Dropcursor } from "@tiptap/extensions/drop-cursor";
import { Gapcursor } from "@tiptap/extensions/gap-cursor";
import { Placeholder } from "@tiptap/extensions/placeholder";
import { TrailingNode } from "@tiptap/extensions/trailing-node";
import type { SuggestionKeyDownProps, SuggestionProps } from "@tiptap/suggestion";
import { defineComponent, h, onBeforeUnmount, onMounted, type PropType, ref, shallowRef, type VNode, watch } from "vue";
import * as Y from "yjs";
import type { Translate } from "./i18n.ts";
import { usePrimaryButton } from "./parts.ts";

export type MentionCandidate = { id: string; label: string };

/**
 * The editor's schema and editing behaviour: what Tiptap's starter kit gave,
 * in its order (which decides the schema's node order and which keymap wins),
 * minus headings and rules, imported one by one: subpaths, so that the other
 * extensions of the same packages stay out of the bundle. No undo history:
 * Collaboration brings its own. Blockquote, code block and underline have no
 * button but stay, because sent messages and drafts may hold them (Markdown
 * shortcuts, shortcut keys, paste), and the Yjs binding deletes any node or
 * marked text the schema does not know from the fragment it edits.
 */
const formatting = () => [
  Bold,
  Blockquote,
  BulletList,
  Code,
  CodeBlock,
  Document,
  Dropcursor,
  Gapcursor,
  HardBreak,
  Italic,
  ListItem,
  ListKeymap,
  Link.configure({ openOnClick: false, autolink: true }),
  OrderedList,
  Paragraph,
  Strike,
  Text,
  Underline,
  TrailingNode,
];

/** Toolbar icons as inline SVG: they need no icon font and no emoji font on the user's machine. */
const icon = (d: string) =>
  h(
    "svg",
    {
      viewBox: "0 0 24 24",
      width: 16,
      height: 16,
      fill: "none",
      stroke: "currentColor",
      "stroke-width": 2,
      "stroke-linecap": "round",
      "aria-hidden": "true",
    },
    [h("path", { d })],
  );
const linkIcon = "M10 14a5 5 0 0 0 7 0l3-3a5 5 0 0 0-7-7l-1 1M14 10a5 5 0 0 0-7 0l-3 3a5 5 0 0 0 7 7l1-1";
const clipIcon = "M21 12l-8.5 8.5a5 5 0 0 1-7-7L14 5a3.5 3.5 0 0 1 5 5l-8.5 8.5a2 2 0 0 1-3-3L15 8";

/** A list of people under the caret while typing `@…`: plain DOM, positioned at the caret. */
const mentionPopup = (t: Translate) => {
  let list: HTMLUListElement | null = null;
  let items: MentionCandidate[] = [];
  let selected = 0;
  let choose: (item: MentionCandidate) => void = () => undefined;
  const draw = (rect: DOMRect | null) => {
    if (!list) return;
    list.replaceChildren(
      ...items.map((item, index) => {
        const li = document.createElement("li");
        li.textContent = item.label;
        li.id = `mtc-mention-${index}`;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", String(index === selected));
        li.addEventListener("mousedown", (event) => {
          event.preventDefault();
          choose(item);
        });
        return li;
      }),
    );
    list.style.display = items.length > 0 ? "block" : "none";
    if (rect) {
      list.style.left = `${rect.left}px`;
      list.style.top = `${Math.max(4, rect.top - 8 - list.offsetHeight)}px`;
    }
  };
  return {
    open: () => list !== null && items.length > 0,
    onStart(props: SuggestionProps<MentionCandidate>) {
      list = document.createElement("ul");
      list.className = "mtc-suggest";
      list.setAttribute("role", "listbox");
      list.setAttribute("aria-label", t("composer.mentions"));
      // Beside the editor's root: a shadow root (the script-tag widget) keeps the list inside its styles.
      const root = props.editor.view.dom.getRootNode();
      if (root instanceof ShadowRoot) root.append(list);
      else document.body.append(list);
      this.onUpdate(props);
    },
    onUpdate(props: SuggestionProps<MentionCandidate>) {
      items = props.items;
      selected = 0;
      choose = (item) => props.command(item);
      draw(props.clientRect?.() ?? null);
    },
    onKeyDown({ event }: SuggestionKeyDownProps): boolean {
      if (!list || items.length === 0) return false;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        selected = (selected + (event.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
        draw(null);
        return true;
      }
      if (event.key === "Enter" || event.key === "Tab") {
        const item = items[selected];
        if (item) choose(item);
        return true;
      }
      if (event.key === "Escape") {
        this.onExit();
        return true;
      }
      return false;
    },
    onExit() {
      list?.remove();
      list = null;
      items = [];
    },
  };
};

/**
 * The Tiptap composer. Its content is a Y.XmlFragment: the user's draft for
 * this dialog in their own state document (so it continues on another
 * device), or, while editing, the message's own body fragment.
 */
export const Composer = defineComponent({
  name: "MtcComposer",
  props: {
    client: { type: Object as PropType<ChatClient>, required: true },
    session: { type: Object as PropType<DialogSession>, required: true },
    userState: { type: Object as PropType<UserState>, required: true },
    t: { type: Function as PropType<Translate>, required: true },
    people: { type: Array as PropType<MentionCandidate[]>, required: true },
    replyTo: { type: Object as PropType<{ id: string; name: string } | null>, default: null },
    editing: { type: String as PropType<string | null>, default: null },
  },
  emits: ["sent", "cancel-reply", "done-editing", "error"],
  setup(props, { emit }) {
    const host = ref<HTMLElement | null>(null);
    const editor = shallowRef<Editor | null>(null);
    const staged = ref<AttachmentRef[]>([]);
    const uploading = ref<{ name: string; fraction: number } | null>(null);
    const active = ref<Record<string, boolean>>({});
    const fileInput = ref<HTMLInputElement | null>(null);
    let typingTimer: ReturnType<typeof setTimeout> | null = null;
    let popup = mentionPopup(props.t);
    const primaryButton = usePrimaryButton();

    const submit = (): boolean => {
      const current = editor.value;
      if (!current) return true;
      if (props.editing) {
        props.session.markEdited(props.editing);
        emit("done-editing");
        return true;
      }
      const body = current.getJSON() as Parameters<typeof isBlank>[0];
      if (isBlank(body) && staged.value.length === 0) return true;
      try {
        const id = props.session.send({ body, replyTo: props.replyTo?.id ?? null, attachments: staged.value });
        staged.value = [];
        props.userState.clearDraft(props.session.dialogId);
        props.session.setTyping(false);
        emit("sent", id);
      } catch (error) {
        emit("error", error);
      }
      return true;
    };

    const create = async () => {
      editor.value?.destroy();
      editor.value = null;
      if (!host.value) return;
      let fragment: Y.XmlFragment;
      if (props.editing) {
        const body = props.session.entry(props.editing)?.get("body");
        if (!(body instanceof Y.XmlFragment)) return;
        fragment = body;
      } else {
        fragment = props.userState.draft(props.session.dialogId);
      }
      if (!host.value) return;
      popup = mentionPopup(props.t);
      const keys = Extension.create({
        name: "mtcKeys",
        addKeyboardShortcuts: () => ({
          Enter: () => (popup.open() ? false : submit()),
          Escape: () => {
            if (props.editing) emit("done-editing");
            else if (props.replyTo) emit("cancel-reply");
            return true;
          },
        }),
      });
      const instance = new Editor({
        element: host.value,
        extensions: [
          ...formatting(),
          Placeholder.configure({ placeholder: props.t("composer.placeholder") }),
          Collaboration.configure({ fragment }),
          Mention.configure({
            HTMLAttributes: { class: "mtc-mention" },
            suggestion: {
              char: "@",
              items: ({ query }) => props.people.filter((person) => person.label.toLowerCase().includes(query.toLowerCase())).slice(0, 8),
              render: () => popup,
            },
          }),
          keys,
        ],
        editorProps: {
          attributes: {
            role: "textbox",
            "aria-multiline": "true",
            "aria-label": props.editing ? props.t("composer.editing") : props.t("composer.placeholder"),
            "data-testid": "composer",
          },
        },
        onUpdate: ({ editor: current }) => {
          if (props.editing) return;
          if (typingTimer) clearTimeout(typingTimer);
          // A draft erased to nothing is no longer being typed: the others stop seeing "typing…" at once.
          if (current.isEmpty) {
            props.session.setTyping(false);
            return;
          }
          props.session.setTyping(true);
          typingTimer = setTimeout(() => props.session.setTyping(false), 3_000);
        },
        onTransaction: ({ editor: current }) => {
          active.value = {
            bold: current.isActive("bold"),
            italic: current.isActive("italic"),
            strike: current.isActive("strike"),
            bulletList: current.isActive("bulletList"),
            orderedList: current.isActive("orderedList"),
            code: current.isActive("code"),
            link: current.isActive("link"),
          };
        },
      });
      editor.value = instance;
      if (props.editing) instance.commands.focus("end");
    };

    onMounted(() => void create());
    watch(
      () => [props.editing, props.session.dialogId],
      () => void create(),
    );
    watch(
      () => props.replyTo,
      (reply) => {
        if (reply) editor.value?.commands.focus();
      },
    );
    onBeforeUnmount(() => {
      popup.onExit();
      if (typingTimer) clearTimeout(typingTimer);
      editor.value?.destroy();
    });

    const attach = async (event: Event) => {
      const input = event.target as HTMLInputElement;
      const file = input.files?.[0];
      input.value = "";
      if (!file) return;
      uploading.value = { name: file.name, fraction: 0 };
      try {
        const { ref: attachment } = await uploadFile(props.client.rest, props.session.dialogId, file, (fraction) => {
          uploading.value = { name: file.name, fraction };
        });
        staged.value = [...staged.value, attachment];
      } catch (error) {
        emit("error", new Error(props.t("error.upload", { message: error instanceof Error ? error.message : String(error) })));
      } finally {
        uploading.value = null;
      }
    };

    const tool = (
      name: string,
      label: string,
      text: string | VNode,
      run: (chain: ReturnType<Editor["chain"]>) => ReturnType<Editor["chain"]>,
    ) =>
      h(
        "button",
        {
          type: "button",
          "aria-label": label,
          title: label,
          "aria-pressed": String(!!active.value[name]),
          onMousedown: (event: MouseEvent) => event.preventDefault(),
          onClick: () => editor.value && run(editor.value.chain().focus()).run(),
        },
        text,
      );

    const setLink = (chain: ReturnType<Editor["chain"]>) => {
      if (active.value.link) return chain.unsetLink();
      const href = typeof window !== "undefined" ? window.prompt(props.t("composer.linkPrompt")) : null;
      return href ? chain.setLink({ href }) : chain;
    };

    return () => {
      const t = props.t;
      const context = props.editing
        ? h("div", { class: "mtc-context" }, [
            h("span", t("composer.editing")),
            h("button", { type: "button", onClick: () => emit("done-editing") }, t("composer.done")),
          ])
        : props.replyTo
          ? h("div", { class: "mtc-context" }, [
              h("span", t("message.replyTo", { name: props.replyTo.name })),
              h("button", { type: "button", "aria-label": t("composer.cancelReply"), onClick: () => emit("cancel-reply") }, "×"),
            ])
          : null;
      return h("div", { class: "mtc-composer" }, [
        context,
        uploading.value
          ? h("div", { role: "status" }, [
              h("div", { class: "mtc-progress" }, [h("div", { style: { width: `${Math.round(uploading.value.fraction * 100)}%` } })]),
              h(
                "div",
                { class: "mtc-context" },
                t("composer.uploading", { name: uploading.value.name, percent: Math.round(uploading.value.fraction * 100) }),
              ),
            ])
          : null,
        staged.value.length > 0
          ? h(
              "div",
              { class: "mtc-staged", "data-testid": "staged" },
              staged.value.map((file) =>
                h("span", { class: "mtc-chip" }, [
                  h("span", [icon(clipIcon), ` ${file.name}`]),
                  h(
                    "button",
                    {
                      type: "button",
                      "aria-label": t("composer.removeAttachment", { name: file.name }),
                      title: t("composer.removeAttachment", { name: file.name }),
                      onClick: () => (staged.value = staged.value.filter((other) => other !== file)),
                    },
                    "×",
                  ),
                ]),
              ),
            )
          : null,
        h("div", { class: "mtc-toolbar", role: "toolbar", "aria-label": t("composer.toolbar") }, [
          tool("bold", t("composer.bold"), "B", (chain) => chain.toggleBold()),
          tool("italic", t("composer.italic"), "I", (chain) => chain.toggleItalic()),
          tool("strike", t("composer.strike"), "S", (chain) => chain.toggleStrike()),
          tool("bulletList", t("composer.bulletList"), "•", (chain) => chain.toggleBulletList()),
          tool("orderedList", t("composer.orderedList"), "1.", (chain) => chain.toggleOrderedList()),
          tool("code", t("composer.code"), "</>", (chain) => chain.toggleCode()),
          tool("link", t("composer.link"), icon(linkIcon), setLink),
          props.editing
            ? null
            : h(
                "button",
                {
                  type: "button",
                  "aria-label": t("composer.attach"),
                  title: t("composer.attach"),
                  onClick: () => fileInput.value?.click(),
                },
                [icon(clipIcon)],
              ),
          h("input", { ref: fileInput, type: "file", hidden: true, "data-testid": "file-input", onChange: attach }),
        ]),
        h("div", { class: "mtc-editor-row" }, [
          h("div", { class: "mtc-editor", ref: host }),
          primaryButton(props.editing ? t("composer.done") : t("composer.send"), submit, t("composer.send")),
        ]),
      ]);
    };
  },
});
