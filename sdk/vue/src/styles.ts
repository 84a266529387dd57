/**
 * The components' stylesheet, injected once. Every color, radius and font
 * comes from a CSS variable on `.mtc-root`, so a host restyles by setting
 * them (see the README); `data-theme="dark"` switches the defaults.
 */
export const css = `
.mtc-root{--mtc-bg:#ffffff;--mtc-bg-soft:#f4f6f8;--mtc-bg-hover:#eceff3;--mtc-text:#1b1f24;--mtc-text-muted:#5f6b7a;
--mtc-border:#dde2e8;--mtc-accent:#2f6fed;--mtc-accent-text:#ffffff;--mtc-own-bubble:#e3ecff;--mtc-bubble:#f1f3f6;
--mtc-danger:#c62828;--mtc-warning-bg:#fff4d6;--mtc-online:#2e9e55;--mtc-mention:#2f6fed;--mtc-mark:#ffe58a;
--mtc-radius:10px;--mtc-font:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","PingFang SC","Microsoft YaHei",sans-serif;
font-family:var(--mtc-font);font-size:14px;color:var(--mtc-text);background:var(--mtc-bg);display:flex;height:100%;min-height:0;
border:1px solid var(--mtc-border);border-radius:var(--mtc-radius);overflow:hidden;box-sizing:border-box}
.mtc-root[data-theme=dark]{--mtc-bg:#16191d;--mtc-bg-soft:#1f2328;--mtc-bg-hover:#2a2f36;--mtc-text:#e6e9ed;--mtc-text-muted:#9aa4b1;
--mtc-border:#30363d;--mtc-accent:#5b8def;--mtc-own-bubble:#23375e;--mtc-bubble:#252a31;--mtc-danger:#ef6b6b;--mtc-warning-bg:#3b3320;
--mtc-online:#3fbf6b;--mtc-mention:#8fb3ff;--mtc-mark:#6b5a12}
.mtc-root *,.mtc-root *::before,.mtc-root *::after{box-sizing:border-box}
.mtc-root button:where(:not(.mtc-primary-part)){font:inherit;color:inherit;background:none;border:1px solid transparent;border-radius:6px;padding:4px 8px;cursor:pointer}
.mtc-root button:where(:not(.mtc-primary-part)):hover{background:var(--mtc-bg-hover)}
.mtc-root :focus-visible{outline:2px solid var(--mtc-accent);outline-offset:1px}
.mtc-root .mtc-primary{background:var(--mtc-accent);color:var(--mtc-accent-text)}
.mtc-root .mtc-primary:hover{background:var(--mtc-accent);filter:brightness(1.08)}
.mtc-sidebar{width:300px;flex:none;border-right:1px solid var(--mtc-border);display:flex;flex-direction:column;min-height:0;background:var(--mtc-bg-soft)}
.mtc-tabs{display:flex;gap:2px;padding:8px 8px 0}
.mtc-tab{flex:1;font-size:13px;white-space:nowrap;padding:4px 6px!important}
.mtc-tab[aria-selected=true]{background:var(--mtc-bg);border-color:var(--mtc-border)!important;font-weight:600}
.mtc-search{margin:8px;padding:7px 10px;border:1px solid var(--mtc-border);border-radius:8px;background:var(--mtc-bg);color:var(--mtc-text);font:inherit}
.mtc-list{list-style:none;margin:0;padding:0 4px 8px;overflow-y:auto;flex:1}
.mtc-item{display:flex;gap:8px;align-items:center;width:100%;text-align:left;padding:8px!important;margin:1px 0}
.mtc-item[aria-current=true]{background:var(--mtc-bg-hover)}
.mtc-item-main{flex:1;min-width:0}
.mtc-item-title{font-weight:600;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.mtc-item-last{color:var(--mtc-text-muted);font-size:12px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.mtc-badge{background:var(--mtc-accent);color:var(--mtc-accent-text);border-radius:10px;min-width:20px;padding:1px 6px;font-size:12px;text-align:center;font-weight:600}
.mtc-pin{color:var(--mtc-text-muted);font-size:12px}
.mtc-empty{color:var(--mtc-text-muted);padding:16px;text-align:center}
.mtc-main{flex:1;display:flex;flex-direction:column;min-width:0;min-height:0}
.mtc-header{display:flex;align-items:center;gap:8px;padding:10px 12px;border-bottom:1px solid var(--mtc-border)}
.mtc-header-title{font-weight:600;flex:1;min-width:0;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.mtc-header-sub{color:var(--mtc-text-muted);font-size:12px;font-weight:400}
.mtc-status{font-size:12px;color:var(--mtc-text-muted);display:flex;align-items:center;gap:4px}
.mtc-dot{display:inline-block;width:8px;height:8px;border-radius:50%;background:var(--mtc-text-muted)}
.mtc-dot[data-online=true]{background:var(--mtc-online)}
.mtc-banner{background:var(--mtc-warning-bg);padding:8px 12px;font-size:13px;display:flex;gap:8px;align-items:center}
.mtc-messages{flex:1;overflow-y:auto;padding:8px 12px;min-height:0}
.mtc-day{text-align:center;color:var(--mtc-text-muted);font-size:12px;margin:12px 0 6px}
.mtc-divider{display:flex;align-items:center;gap:8px;color:var(--mtc-danger);font-size:12px;margin:8px 0}
.mtc-divider::before,.mtc-divider::after{content:"";flex:1;border-top:1px solid var(--mtc-danger)}
.mtc-system{text-align:center;color:var(--mtc-text-muted);font-size:12px;margin:6px 0;font-style:italic}
.mtc-message{display:flex;flex-direction:column;align-items:flex-start;margin:4px 0;position:relative}
.mtc-message[data-own=true]{align-items:flex-end}
.mtc-message[data-highlight=true] .mtc-bubble{box-shadow:0 0 0 2px var(--mtc-accent)}
.mtc-author{font-size:12px;color:var(--mtc-text-muted);margin:0 6px 2px;display:flex;align-items:center;gap:4px}
.mtc-bubble{background:var(--mtc-bubble);border-radius:var(--mtc-radius);padding:6px 10px;max-width:min(560px,85%);overflow-wrap:anywhere}
.mtc-message[data-own=true] .mtc-bubble{background:var(--mtc-own-bubble)}
.mtc-body p{margin:0}.mtc-body ul,.mtc-body ol{margin:2px 0;padding-left:20px}
.mtc-body code{background:var(--mtc-bg-hover);border-radius:4px;padding:0 3px;font-size:13px}
.mtc-body a{color:var(--mtc-accent)}
.mtc-mention{color:var(--mtc-mention);font-weight:600}
.mtc-deleted{color:var(--mtc-text-muted);font-style:italic}
.mtc-meta{font-size:11px;color:var(--mtc-text-muted);margin:2px 6px;display:flex;gap:6px}
.mtc-quote{border-left:3px solid var(--mtc-accent);padding:2px 8px;margin-bottom:4px;font-size:12px;color:var(--mtc-text-muted);display:block;text-align:left;width:100%}
.mtc-reactions{display:flex;gap:4px;margin:2px 4px;flex-wrap:wrap}
.mtc-reaction{border:1px solid var(--mtc-border)!important;border-radius:12px!important;padding:0 6px!important;font-size:12px}
.mtc-reaction[aria-pressed=true]{border-color:var(--mtc-accent)!important;background:var(--mtc-own-bubble)}
.mtc-actions{display:flex;gap:2px;position:absolute;top:0;right:0;opacity:0;transition:opacity .1s;background:var(--mtc-bg);border-radius:8px}
.mtc-message[data-own=true] .mtc-actions{right:auto;left:0}
.mtc-message:hover .mtc-actions,.mtc-message:focus-within .mtc-actions{opacity:1}
.mtc-actions button{font-size:12px;padding:2px 6px;color:var(--mtc-text-muted)}
.mtc-menu{position:absolute;top:100%;right:0;z-index:5;background:var(--mtc-bg);border:1px solid var(--mtc-border);border-radius:8px;padding:4px;display:flex;gap:2px;box-shadow:0 4px 14px rgba(0,0,0,.15)}
.mtc-typing{height:20px;padding:0 12px;font-size:12px;color:var(--mtc-text-muted)}
.mtc-composer{border-top:1px solid var(--mtc-border);padding:8px 12px}
.mtc-toolbar{display:flex;gap:2px;margin-bottom:4px;flex-wrap:wrap}
.mtc-toolbar button{font-size:13px;min-width:28px;padding:2px 6px}
.mtc-toolbar button[aria-pressed=true]{background:var(--mtc-bg-hover);border-color:var(--mtc-border)}
.mtc-editor-row{display:flex;gap:8px;align-items:flex-end}
.mtc-editor{flex:1;border:1px solid var(--mtc-border);border-radius:8px;padding:6px 10px;max-height:160px;overflow-y:auto;background:var(--mtc-bg)}
.mtc-editor .ProseMirror{outline:none;min-height:22px;white-space:pre-wrap}
.mtc-editor .ProseMirror p{margin:0}
.mtc-editor .ProseMirror p.is-editor-empty:first-child::before{content:attr(data-placeholder);color:var(--mtc-text-muted);float:left;height:0;pointer-events:none}
.mtc-context{font-size:12px;color:var(--mtc-text-muted);display:flex;justify-content:space-between;align-items:center;margin-bottom:4px}
.mtc-suggest{position:fixed;z-index:20;background:var(--mtc-bg);color:var(--mtc-text);border:1px solid var(--mtc-border);border-radius:8px;list-style:none;margin:0;padding:4px;min-width:160px;box-shadow:0 4px 14px rgba(0,0,0,.15);font-family:var(--mtc-font);font-size:14px}
.mtc-suggest li{padding:4px 8px;border-radius:6px;cursor:pointer}
.mtc-suggest li[aria-selected=true]{background:var(--mtc-bg-hover)}
.mtc-attachments{display:flex;flex-direction:column;gap:4px;margin-top:4px}
.mtc-thumb{max-width:240px;max-height:240px;border-radius:8px;display:block;cursor:zoom-in;padding:0!important}
.mtc-file{color:var(--mtc-accent);font-size:13px}
.mtc-progress{height:4px;background:var(--mtc-bg-hover);border-radius:2px;overflow:hidden;margin-bottom:4px}
.mtc-progress>div{height:100%;background:var(--mtc-accent)}
.mtc-viewer{position:fixed;inset:0;background:rgba(0,0,0,.8);display:flex;align-items:center;justify-content:center;z-index:30}
.mtc-viewer img{max-width:92vw;max-height:88vh}
.mtc-viewer button{position:absolute;top:12px;right:12px;color:#fff!important}
.mtc-results{list-style:none;margin:0;padding:0 4px;overflow-y:auto;flex:1}
.mtc-results mark{background:var(--mtc-mark);color:inherit}
.mtc-join{padding:16px;text-align:center;display:flex;flex-direction:column;gap:8px;align-items:center}
.mtc-readonly{color:var(--mtc-text-muted);font-size:13px;text-align:center;padding:8px}
.mtc-root[data-mode=inline] .mtc-main{height:100%}
@media (max-width:640px){.mtc-root[data-mode=full] .mtc-sidebar{width:100%}.mtc-root[data-mode=full][data-open=true] .mtc-sidebar{display:none}.mtc-root[data-mode=full][data-open=false] .mtc-main{display:none}}
`;

/**
 * Adds the stylesheet once per root: the document, or the shadow root a
 * component renders in (the script-tag widget), where document styles do not
 * reach. Several components in one root share it.
 */
export const injectStyles = (root: Node | null = typeof document === "undefined" ? null : document): void => {
  if (typeof document === "undefined") return;
  const target = typeof ShadowRoot !== "undefined" && root instanceof ShadowRoot ? root : document;
  if (target.getElementById("mtchat-styles")) return;
  const style = document.createElement("style");
  style.id = "mtchat-styles";
  style.textContent = css;
  if (target instanceof ShadowRoot) target.append(style);
  else document.head.append(style);
};
