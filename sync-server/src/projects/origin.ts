import { ApiError } from "../http/errors.ts";

/** Largest list a project may set: origins are for the host's own sites, not a directory of the web. */
export const maxCorsOrigins = 100;

/**
 * An origin as a browser sends it in `Origin` (`https://shop.example.com`, `http://localhost:5173`), or `*`;
 * null when the entry is not one (a path, a query, another scheme).
 */
export const normalizeOrigin = (entry: string): string | null => {
  if (entry === "*") return "*";
  let url: URL;
  try {
    url = new URL(entry);
  } catch {
    return null;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return null;
  if (url.username || url.password || url.search || url.hash || (url.pathname !== "/" && url.pathname !== "")) return null;
  if (!/^https?:\/\/[^/]+\/?$/i.test(entry)) return null;
  return url.origin;
};

/** The entries, normalized; a bad one is a 400 naming it. */
export const parseOrigins = (entries: string[]): string[] => {
  const origins = new Set<string>();
  for (const entry of entries) {
    const origin = normalizeOrigin(entry.trim());
    if (!origin) throw new ApiError("bad_request", `"${entry}" is not an origin: give scheme://host[:port] (http or https, no path), or *`);
    origins.add(origin);
  }
  return [...origins];
};
