import { createHash } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import type { Env, Hono } from "hono";
import { sendError } from "./errors.ts";

/** Where `npm run widget:build` writes the script-tag widget (gitignored); `npm start` builds it when it is missing or stale. */
export const widgetDist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../sdk/widget/dist/loader.js");

type Loaded = { mtimeMs: number; bytes: Buffer; gzipped: Buffer; etag: string };

/**
 * GET /widget/v1/loader.js: the script-tag widget, for any page on any origin (a classic script needs no CORS;
 * `Access-Control-Allow-Origin: *` also lets a page load it with `crossorigin` for Subresource Integrity). Pages
 * keep it five minutes and then revalidate by ETag, so a new release reaches them soon without a new URL.
 */
export const registerWidgetRoutes = <E extends Env>(app: Hono<E>, file = widgetDist) => {
  let loaded: Loaded | null = null;
  const load = async (): Promise<Loaded> => {
    const { mtimeMs } = await stat(file);
    if (loaded?.mtimeMs === mtimeMs) return loaded;
    const bytes = await readFile(file);
    loaded = {
      mtimeMs,
      bytes,
      gzipped: gzipSync(bytes, { level: 9 }),
      etag: `"${createHash("sha256").update(bytes).digest("base64url").slice(0, 27)}"`,
    };
    return loaded;
  };

  app.get("/widget/v1/loader.js", async (c) => {
    let widget: Loaded;
    try {
      widget = await load();
    } catch {
      return sendError(c, "unavailable", "the widget is not built: run `npm run widget:build` (npm start does it when it is missing)");
    }
    c.header("content-type", "text/javascript; charset=utf-8");
    c.header("cache-control", "public, max-age=300, stale-while-revalidate=86400");
    c.header("etag", widget.etag);
    c.header("vary", "Accept-Encoding", { append: true });
    c.header("cross-origin-resource-policy", "cross-origin");
    c.header("x-content-type-options", "nosniff");
    if (!c.res.headers.has("access-control-allow-origin")) c.header("access-control-allow-origin", "*");
    if (c.req.header("if-none-match") === widget.etag) return c.body(null, 304);
    if (/\bgzip\b/.test(c.req.header("accept-encoding") ?? "")) {
      c.header("content-encoding", "gzip");
      return c.body(new Uint8Array(widget.gzipped));
    }
    return c.body(new Uint8Array(widget.bytes));
  });
};
