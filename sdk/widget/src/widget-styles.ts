/**
 * The launcher's and panel's styles, inside the widget's shadow root. `:host` resets everything the page's CSS
 * could have put on the host element (`all: initial !important` wins over the page's own `!important` there), and
 * nothing of the page's CSS reaches the elements inside; inherited values are set again on `.mtw`. The mention
 * list sits outside `.mtc-root` (it floats over everything), so it gets the colors `.mtc-root` would give it.
 */
export const widgetCss = `
:host{all:initial!important;display:contents!important}
.mtw{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;font-size:14px;line-height:1.4;color:#1b1f24;
--mtw-accent:#2f6fed;--mtw-accent-text:#fff}
.mtw[data-theme=dark]{color:#e6e9ed;--mtw-accent:#5b8def}
.mtw-launcher{position:fixed;bottom:20px;right:20px;z-index:2147483000;width:56px;height:56px;border-radius:50%;border:none;padding:0;margin:0;
background:var(--mtw-accent);color:var(--mtw-accent-text);cursor:pointer;box-shadow:0 4px 16px rgba(0,0,0,.25);display:flex;align-items:center;justify-content:center}
.mtw[data-position=left] .mtw-launcher{right:auto;left:20px}
.mtw-launcher:focus-visible{outline:3px solid #fff;outline-offset:-6px}
.mtw-launcher svg{width:26px;height:26px}
.mtw-badge{position:absolute;top:-4px;right:-4px;min-width:22px;height:22px;padding:0 6px;border-radius:11px;background:#c62828;color:#fff;
font-size:12px;font-weight:700;line-height:22px;text-align:center;box-sizing:border-box}
.mtw-panel{position:fixed;bottom:88px;right:20px;z-index:2147483000;width:min(760px,calc(100vw - 40px));height:min(620px,calc(100vh - 108px));
display:flex;flex-direction:column;box-shadow:0 8px 32px rgba(0,0,0,.25);border-radius:12px;background:#fff}
.mtw[data-theme=dark] .mtw-panel{background:#16191d}
.mtw[data-mode=inline] .mtw-panel{width:min(400px,calc(100vw - 40px))}
.mtw[data-position=left] .mtw-panel{right:auto;left:20px}
.mtw-panel[hidden]{display:none}
.mtw-bar{display:flex;justify-content:flex-end;padding:4px}
.mtw-close{border:none;background:none;color:inherit;font:inherit;font-size:18px;line-height:1;padding:4px 8px;cursor:pointer;border-radius:6px}
.mtw-close:hover{background:rgba(127,127,127,.15)}
.mtw-chat{flex:1;min-height:0;padding:0 8px 8px}
.mtw[data-embedded=true] .mtw-panel{position:static;width:100%;height:100%;box-shadow:none;border-radius:0;background:none}
.mtw[data-embedded=true] .mtw-chat{padding:0}
.mtc-suggest{--mtc-bg:#fff;--mtc-text:#1b1f24;--mtc-border:#dde2e8;--mtc-bg-hover:#eceff3;--mtc-font:system-ui,sans-serif}
@media (max-width:640px){.mtw-panel{right:0!important;left:0!important;bottom:0;width:100vw;height:100vh;border-radius:0}}
`;
