import { HocuspocusProviderWebsocket } from "@hocuspocus/provider";
import { metaDocName } from "@mtchat/protocol";
import { SignJWT } from "jose";
import { describe, expect, test } from "vitest";
import WebSocket from "ws";
import { quietWebSocket } from "../../sdk/client/src/quiet-socket.ts";
import { deniedReason, openDoc } from "./clients.ts";
import { createDialog, tokenFor, useServer } from "./harness.ts";

const shop = "https://shop.example";
const partner = "https://partner.example";
const evil = "https://evil.example";
const secretP = "project-partner-secret-long-enough-for-hs256";

const fixture = useServer("external", "cors", { CORS_ALLOWED_ORIGINS: `${shop}, http://localhost:5173` });

/** A request as a browser on `origin` sends it. */
const fromPage = (origin: string, method: string, route: string, init: { token?: string; headers?: Record<string, string> } = {}) =>
  fetch(`${fixture.t.httpUrl}${route}`, {
    method,
    headers: { origin, ...(init.token ? { authorization: `Bearer ${init.token}` } : {}), ...init.headers },
  });

const preflight = (origin: string, route = "/api/v1/dialogs", method = "POST") =>
  fromPage(origin, "OPTIONS", route, {
    headers: { "access-control-request-method": method, "access-control-request-headers": "authorization,content-type" },
  });

const corsHeaders = (response: Response) => [...response.headers.keys()].filter((name) => name.startsWith("access-control-"));

/** A socket whose upgrade carries `Origin`, as a browser page's does. */
const socketFrom = (origin: string) => {
  class FromPage extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols, { origin });
    }
  }
  return new HocuspocusProviderWebsocket({
    url: fixture.t.wsUrl,
    WebSocketPolyfill: quietWebSocket(FromPage),
    delay: 50,
    maxDelay: 500,
    minDelay: 10,
  });
};

/** Project "partner", with its own token key and API key, set up once. */
const partnerProject = (() => {
  let ready: Promise<{ key: string; token: (user: string) => Promise<string> }> | null = null;
  return () =>
    (ready ??= (async () => {
      const created = await fixture.t.api<{ data: { api_key: { key: string } } }>("POST", "/api/v1/management/projects", {
        id: "partner",
        name: "Partner",
      });
      expect(created.status).toBe(201);
      const key = created.body.data.api_key.key;
      expect((await fixture.t.api("POST", "/api/v1/management/jwt-keys", { kind: "hs256", secret: secretP }, key)).status).toBe(201);
      const token = (user: string) =>
        new SignJWT({ prj: "partner", tenant_uid: "tenant-1", scope_level1: [], scope_level2: [], name: user })
          .setProtectedHeader({ alg: "HS256" })
          .setSubject(user)
          .setExpirationTime("10m")
          .sign(new TextEncoder().encode(secretP));
      return { key, token };
    })());
})();

describe("CORS for the host's pages", () => {
  test("a preflight from an allowed origin is answered without credentials, with what the SDK sends", async () => {
    const response = await preflight(shop);
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe(shop);
    expect(response.headers.get("access-control-allow-methods")).toContain("POST");
    expect(response.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("authorization");
    expect(response.headers.get("access-control-allow-credentials")).toBeNull();
    expect(response.headers.get("vary")).toContain("Origin");
    // The other configured entry, with a port, too.
    expect((await preflight("http://localhost:5173")).headers.get("access-control-allow-origin")).toBe("http://localhost:5173");
  });

  test("an origin nobody allowed gets no CORS headers at all, on preflights and requests", async () => {
    const response = await preflight(evil);
    expect(response.status).toBe(204);
    expect(corsHeaders(response)).toEqual([]);
    const health = await fromPage(evil, "GET", "/health");
    expect(health.status).toBe(200);
    expect(corsHeaders(health)).toEqual([]);
    // Same host, other port: another origin.
    expect(corsHeaders(await preflight("https://shop.example:8443"))).toEqual([]);
  });

  test("requests from an allowed page carry the headers, errors included, so the page can read why", async () => {
    const token = await tokenFor("cors-u1");
    const list = await fromPage(shop, "GET", "/api/v1/dialogs", { token });
    expect(list.status).toBe(200);
    expect(list.headers.get("access-control-allow-origin")).toBe(shop);
    expect(list.headers.get("access-control-expose-headers")).toContain("Retry-After");
    const missing = await fromPage(shop, "GET", "/api/v1/dialogs/00000000-0000-7000-8000-000000000000", { token });
    expect(missing.status).toBe(404);
    expect(missing.headers.get("access-control-allow-origin")).toBe(shop);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe("not_found");
    const unauthenticated = await fromPage(shop, "GET", "/api/v1/dialogs");
    expect(unauthenticated.status).toBe(401);
    expect(unauthenticated.headers.get("access-control-allow-origin")).toBe(shop);
  });

  test("a user token is refused from a page its project did not allow; backends (no Origin) are untouched", async () => {
    const token = await tokenFor("cors-u2");
    const refused = await fromPage(evil, "GET", "/api/v1/dialogs", { token });
    expect(refused.status).toBe(403);
    expect(corsHeaders(refused)).toEqual([]);
    expect(await refused.json()).toMatchObject({ error: { code: "forbidden", message: expect.stringContaining(evil) } });
    expect((await fixture.t.api("GET", "/api/v1/dialogs", undefined, token)).status).toBe(200);
  });

  test("each project sets its own list through the Management API; a token works only from its project's pages", async () => {
    const { key, token } = await partnerProject();
    expect(await fixture.t.api("GET", "/api/v1/management/cors-origins", undefined, key)).toEqual({
      status: 200,
      body: { data: { origins: [] } },
    });
    const bad = await fixture.t.api<{ error: { code: string; message: string } }>(
      "PUT",
      "/api/v1/management/cors-origins",
      { origins: ["https://partner.example/app"] },
      key,
    );
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: "bad_request", message: expect.stringContaining("https://partner.example/app") });
    const set = await fixture.t.api("PUT", "/api/v1/management/cors-origins", { origins: [`${partner}/`, "HTTPS://Partner.Example"] }, key);
    expect(set).toEqual({ status: 200, body: { data: { origins: [partner] } } });
    expect(await fixture.t.api("GET", "/api/v1/management/cors-origins", undefined, key)).toEqual({
      status: 200,
      body: { data: { origins: [partner] } },
    });

    expect((await preflight(partner)).headers.get("access-control-allow-origin")).toBe(partner);
    const own = await fromPage(partner, "GET", "/api/v1/dialogs", { token: await token("p-user") });
    expect(own.status).toBe(200);
    expect(own.headers.get("access-control-allow-origin")).toBe(partner);
    // The default project's token from the partner's page, and the partner's token from the default project's page.
    expect((await fromPage(partner, "GET", "/api/v1/dialogs", { token: await tokenFor("cors-u3") })).status).toBe(403);
    expect((await fromPage(shop, "GET", "/api/v1/dialogs", { token: await token("p-user") })).status).toBe(403);
    // An API key without the admin scope may not change who calls the project.
    const reader = await fixture.t.api<{ data: { key: string } }>(
      "POST",
      "/api/v1/management/api-keys",
      { name: "r", scopes: ["read", "write"] },
      key,
    );
    expect((await fixture.t.api("PUT", "/api/v1/management/cors-origins", { origins: ["*"] }, reader.body.data.key)).status).toBe(403);
  });

  test("WebSocket upgrades check Origin: unknown pages are turned away, a project's pages use only its tokens", async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const socket = new WebSocket(fixture.t.wsUrl, { origin: evil });
      socket.on("unexpected-response", (_request, response) => resolve(response.statusCode ?? 0));
      socket.on("open", () => reject(new Error("the upgrade from an unknown origin was accepted")));
      socket.on("error", () => undefined);
    });
    expect(status).toBe(403);

    const dialog = await createDialog(fixture.t, ["cors-ws"]);
    const allowed = socketFrom(shop);
    const provider = await openDoc(allowed, metaDocName(dialog.id), await tokenFor("cors-ws"));
    expect(provider.isSynced).toBe(true);
    provider.destroy();
    allowed.destroy();

    await partnerProject();
    const partnerPage = socketFrom(partner);
    expect(await deniedReason(partnerPage, metaDocName(dialog.id), await tokenFor("cors-ws"))).toMatch(/forbidden.*partner\.example/);
    partnerPage.destroy();
  });
});
