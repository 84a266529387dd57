import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Env, Hono } from "hono";
import { SignJWT } from "jose";
import type { Config } from "../config/options.ts";
import type { DialogService } from "../management/dialog-service.ts";

/**
 * The development demo: a page with `<MTChat>` and a route that signs tokens
 * for a few demo users, so a newcomer opens two windows and chats. It is a
 * development helper, not part of the API (so it is not in the OpenAPI
 * document), and it never runs in production or next to real user-token keys.
 */
export type Demo = { secret: string };

/** Whether the demo runs, and the HS256 secret it signs with (made up when no key is configured). */
export const demoSetup = (config: Config): Demo | null => {
  if (config.nodeEnv === "production" || config.demo === "off") return null;
  const realKeys = config.jwtSecret !== undefined || config.jwtPublicKey !== undefined || config.jwtJwksUrl !== undefined;
  if (config.demo === "auto" && realKeys) return null;
  if (config.jwtSecret) return { secret: config.jwtSecret };
  if (config.jwtPublicKey || config.jwtJwksUrl) return null;
  return { secret: randomBytes(32).toString("base64url") };
};

export const demoUsers = {
  alice: { name: "Alice Martin", company: "Northwind Buyers", scopes: ["logistics"] },
  bob: { name: "Bob Chen", company: "FastFreight", scopes: ["logistics"] },
  carol: { name: "Carol Ivanova", company: "Northwind Buyers", scopes: ["finance"] },
  dave: { name: "Dave Novak", company: "FastFreight", scopes: ["logistics"] },
} as const;
type DemoUser = keyof typeof demoUsers;

/** Where `npm run demo:build` writes the page (gitignored). */
export const demoDist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../sdk/demo/dist");

const types: Record<string, string> = {
  ".js": "text/javascript",
  ".css": "text/css",
  ".html": "text/html; charset=utf-8",
  ".svg": "image/svg+xml",
};

export const registerDemoRoutes = <E extends Env>(app: Hono<E>, demo: Demo, dialogs: DialogService, dist = demoDist) => {
  const participants = (users: DemoUser[]) =>
    users.map((id) => ({ user_id: id, display_name: demoUsers[id].name, company: demoUsers[id].company, role: "member" as const }));
  let seeded: Promise<unknown> | null = null;
  const seed = () =>
    (seeded ??= Promise.all([
      dialogs.getOrCreate("default", "demo:order-1001", {
        type: "object",
        object_type: "order",
        object_id: "1001",
        title: "Order #1001 · 20 pallets to Rotterdam",
        participants: participants(["alice", "bob", "carol"]),
        access_scopes: [],
        meta: {},
      }),
      dialogs.getOrCreate("default", "demo:tender-77", {
        type: "object",
        object_type: "tender",
        object_id: "77",
        title: "Tender #77 · Reefer capacity, March",
        participants: participants(["alice", "bob"]),
        access_scopes: [{ tenant_uid: "demo", scope_level1: ["logistics"], scope_level2: [] }],
        meta: {},
      }),
    ]).catch((error: unknown) => {
      seeded = null;
      throw error;
    }));

  app.post("/demo/session", async (c) => {
    const body = (await c.req.json().catch(() => ({}))) as { user?: unknown };
    const user = typeof body.user === "string" && Object.hasOwn(demoUsers, body.user) ? (body.user as DemoUser) : null;
    if (!user) return c.json({ error: { code: "bad_request", message: `user must be one of ${Object.keys(demoUsers).join(", ")}` } }, 400);
    await seed();
    const profile = demoUsers[user];
    const token = await new SignJWT({
      name: profile.name,
      company: profile.company,
      tenant_uid: "demo",
      scope_level1: profile.scopes,
      scope_level2: [],
    })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject(user)
      .setIssuedAt()
      .setExpirationTime("2h")
      .sign(new TextEncoder().encode(demo.secret));
    return c.json({ data: { token, user, name: profile.name } });
  });

  const serve = async (file: string) => {
    try {
      const bytes = await readFile(path.join(dist, file));
      return new Response(bytes, { headers: { "content-type": types[path.extname(file)] ?? "application/octet-stream" } });
    } catch {
      return new Response("The demo page is not built: run `npm run demo:build`, then reload.", { status: 503 });
    }
  };
  app.get("/demo", (c) => c.redirect("/demo/"));
  app.get("/demo/", () => serve("index.html"));
  app.get("/demo/sw.js", () => serve("sw.js"));
  // The SDK's web push worker (@mtchat/client/sw), which the demo's worker imports.
  app.get("/demo/push-sw.js", () => serve("push-sw.js"));
  app.get("/demo/assets/:file{[A-Za-z0-9._-]+}", (c) => serve(path.join("assets", c.req.param("file"))));
};
