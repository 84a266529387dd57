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
font-family:var(--mtc-font);font-size:14px;color:var(--mtc-text);background:var(--mtc-bg);display:flex;height:100%;
min-height:var(--mtc-min-height,420px);container:mtc/inline-size;
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
.mtc-item-title{font-weight:600;display:flex;gap:6px;align-items:baseline;min-width:0}
.mtc-item-name,.mtc-hit-dialog{flex:1;min-width:0;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.mtc-item-row{display:flex;gap:6px;align-items:center;min-width:0}
.mtc-item-last{flex:1;color:var(--mtc-text-muted);font-size:12px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.mtc-item-last[data-system=true]{font-style:italic}
.mtc-time{flex:none;font-size:11px;font-weight:400;color:var(--mtc-text-muted)}
.mtc-hit-sender{color:var(--mtc-text);font-weight:600}
.mtc-avatar{flex:none;width:36px;height:36px;border-radius:50%;display:flex;align-items:center;justify-content:center;font-size:13px;font-weight:600;
color:#fff;background:hsl(var(--mtc-avatar-hue,210) 45% 48%)}
.mtc-skeleton .mtc-avatar,.mtc-bone{background:var(--mtc-bg-hover);animation:mtc-pulse 1.2s ease-in-out infinite}
.mtc-bone{height:10px;border-radius:5px;margin:4px 0;width:80%}.mtc-bone-short{width:50%}
@keyframes mtc-pulse{50%{opacity:.45}}
.mtc-error{color:var(--mtc-danger)}
.mtc-badge{background:var(--mtc-accent);color:var(--mtc-accent-text);border-radius:10px;min-width:20px;padding:1px 6px;font-size:12px;text-align:center;font-weight:600}
.mtc-pin{color:var(--mtc-text-muted);font-size:12px;display:inline-flex}
.mtc-icon{vertical-align:-2px;flex:none}
.mtc-empty{color:var(--mtc-text-muted);padding:16px;text-align:center}
.mtc-main{flex:1;display:flex;flex-direction:column;min-width:0;min-height:0;container:mtc-main/inline-size}
.mtc-main>.mtc-empty{margin:auto 0}
.mtc-header{display:flex;align-items:center;gap:8px;padding:10px 12px;border-bottom:1px solid var(--mtc-border)}
.mtc-header-title{font-weight:600;flex:1;min-width:0}
.mtc-header-name,.mtc-header-sub{white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.mtc-header-actions{display:flex;gap:2px}
.mtc-more-wrap{position:relative;display:none}
.mtc-header-menu{position:absolute;right:0;top:100%;z-index:6;background:var(--mtc-bg);border:1px solid var(--mtc-border);border-radius:8px;padding:4px;
display:flex;flex-direction:column;min-width:180px;box-shadow:0 4px 14px rgba(0,0,0,.15)}
.mtc-header-menu button{text-align:left}
.mtc-confirm{justify-content:flex-end;flex-wrap:wrap}.mtc-confirm span{flex:1;min-width:160px}
.mtc-root .mtc-danger{background:var(--mtc-danger);color:#fff}
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
.mtc-message{display:flex;flex-direction:column;align-items:flex-start;margin:10px 0 2px;position:relative}
.mtc-message[data-grouped=true]{margin-top:2px}
.mtc-line{position:relative;max-width:min(560px,85%);display:flex}
.mtc-message[data-own=true]{align-items:flex-end}
.mtc-message[data-highlight=true] .mtc-bubble{box-shadow:0 0 0 2px var(--mtc-accent)}
.mtc-author{font-size:12px;color:var(--mtc-text-muted);margin:0 6px 2px;display:flex;align-items:center;gap:4px}
.mtc-bubble{background:var(--mtc-bubble);border-radius:var(--mtc-radius);padding:6px 10px;max-width:100%;min-width:0;overflow-wrap:anywhere}
.mtc-message[data-own=true] .mtc-bubble{background:var(--mtc-own-bubble)}
.mtc-body p{margin:0}.mtc-body ul,.mtc-body ol{margin:2px 0;padding-left:20px}
.mtc-body code{background:var(--mtc-bg-hover);border-radius:4px;padding:0 3px;font-size:13px}
.mtc-body a{color:var(--mtc-accent)}
.mtc-body blockquote{margin:2px 0;padding:0 0 0 8px;border-left:3px solid var(--mtc-text-muted);color:var(--mtc-text-muted)}
.mtc-mention{color:var(--mtc-mention);font-weight:600}
.mtc-deleted{color:var(--mtc-text-muted);font-style:italic}
.mtc-meta{font-size:11px;color:var(--mtc-text-muted);margin:2px 6px;display:flex;gap:6px}
.mtc-root .mtc-quote{border:0;border-left:3px solid var(--mtc-accent);border-radius:4px;padding:3px 8px;margin:0 0 6px;font-size:12px;color:var(--mtc-text-muted);
display:flex;flex-direction:column;text-align:left;width:100%;background:color-mix(in srgb,var(--mtc-accent) 9%,transparent)}
.mtc-quote-author{font-weight:600;color:var(--mtc-accent)}
.mtc-quote-text{white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.mtc-reactions{display:flex;gap:4px;margin:2px 4px;flex-wrap:wrap}
.mtc-reaction{border:1px solid var(--mtc-border)!important;border-radius:12px!important;padding:0 6px!important;font-size:12px}
.mtc-reaction[aria-pressed=true]{border-color:var(--mtc-accent)!important;background:var(--mtc-own-bubble)}
.mtc-actions{display:flex;gap:2px;position:absolute;bottom:calc(100% - 6px);left:4px;z-index:3;opacity:0;pointer-events:none;transition:opacity .1s;background:var(--mtc-bg);
border:1px solid var(--mtc-border);border-radius:8px;box-shadow:0 2px 8px rgba(0,0,0,.12);white-space:nowrap}
.mtc-message[data-own=true] .mtc-actions{left:auto;right:4px}
.mtc-message:hover .mtc-actions,.mtc-message:focus-within .mtc-actions{opacity:1;pointer-events:auto}
.mtc-actions button{font-size:12px;padding:2px 6px;color:var(--mtc-text-muted)}
.mtc-menu{position:absolute;top:100%;left:0;z-index:5;background:var(--mtc-bg);border:1px solid var(--mtc-border);border-radius:8px;padding:4px;display:flex;gap:2px;box-shadow:0 4px 14px rgba(0,0,0,.15)}
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
.mtc-viewer-figure{margin:0;display:flex;flex-direction:column;align-items:center;gap:8px;max-width:92vw}
.mtc-viewer img{max-width:92vw;max-height:78vh;display:block}
.mtc-viewer-bar{display:flex;gap:12px;align-items:center;color:#fff;font-size:13px;max-width:92vw}
.mtc-viewer-name{white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.mtc-root .mtc-download{border-radius:6px;padding:6px 12px;text-decoration:none;flex:none}
.mtc-root .mtc-viewer-close{position:absolute;top:12px;right:12px;color:#fff;font-size:18px}
.mtc-staged{display:flex;gap:6px;flex-wrap:wrap;margin-bottom:4px}
.mtc-chip{display:inline-flex;align-items:center;gap:2px;font-size:12px;background:var(--mtc-bg-soft);border:1px solid var(--mtc-border);border-radius:12px;padding:0 0 0 8px}
.mtc-chip button{padding:0 8px!important;border-radius:12px!important}
.mtc-results{list-style:none;margin:0;padding:0 4px;overflow-y:auto;flex:1}
.mtc-results mark{background:var(--mtc-mark);color:inherit}
.mtc-join{padding:16px;text-align:center;display:flex;flex-direction:column;gap:8px;align-items:center}
.mtc-readonly{color:var(--mtc-text-muted);font-size:13px;text-align:center;padding:8px}
.mtc-root[data-mode=inline] .mtc-main{height:100%}
.mtc-search{min-height:36px}
/* A dialog pane too narrow for its title and every action (a list beside it in a small panel): the actions go in the menu. */
@container mtc-main (max-width:560px){
.mtc-header-actions,.mtc-status-text{display:none}
.mtc-more-wrap{display:block}
}
/* Narrow: a phone, or a host's narrow panel (a container query, so it follows the component's width, not the window's). */
@container mtc (max-width:640px){
.mtc-sidebar{width:100%;border-right:0}
.mtc-root[data-open=true]>.mtc-sidebar{display:none}
.mtc-header-actions,.mtc-status-text{display:none}
.mtc-more-wrap{display:block}
.mtc-header{padding:6px 8px;gap:4px}
.mtc-root button:not(.mtc-thumb),.mtc-root .mtc-download{min-height:40px;min-width:40px}
.mtc-root .mtc-chip button{min-height:32px}
.mtc-search{min-height:40px}
.mtc-composer{padding:6px 8px}
.mtc-toolbar{flex-wrap:nowrap;overflow-x:auto;scrollbar-width:none}
.mtc-toolbar button{min-width:40px;flex:none}
.mtc-messages{padding:8px}
.mtc-line{max-width:92%}
.mtc-sidebar+.mtc-main{display:none}
.mtc-root[data-open=true] .mtc-sidebar+.mtc-main{display:flex}
}
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
