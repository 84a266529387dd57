import type { HocuspocusProvider } from "@hocuspocus/provider";
import { createMessage, metaDocName, parseCloseReason, segmentDocName } from "@mtchat/protocol";
import { v7 as uuidv7 } from "uuid";
import { describe, expect, test } from "vitest";
import { acknowledged, deniedReason, openDoc } from "./clients.ts";
import { adminToken, createDialog, startServer, tokenFor, useServer } from "./harness.ts";
import { until } from "./wait.ts";

/** Resolves with the close reason the server sends to this document's connection. */
const closeOf = (provider: HocuspocusProvider) =>
  until<string>(
    () => closed.get(provider),
    (notify) => {
      const onClose = ({ event }: { event: { reason: string } }) => {
        closed.set(provider, event.reason);
        notify();
      };
      provider.on("close", onClose);
      return () => provider.off("close", onClose);
    },
    { what: "close" },
  );
const closed = new WeakMap<HocuspocusProvider, string>();

describe("Management API", () => {
  const fixture = useServer("external", "management");
  const socket = () => fixture.socket();

  test("creates a dialog in MTChat's shape and reads it back with participants and scopes", async () => {
    const { status, body } = await fixture.t.api<{ data: Record<string, unknown> }>("POST", "/api/v1/management/dialogs", {
      object_id: "tender-7",
      object_type: "tender",
      title: "Tender 7",
      object_url: "https://host.example/tenders/7",
      participants: [{ user_id: "u1", display_name: "Una", company: "Acme", email: "una@acme.test", phone: "+100" }],
      access_scopes: [{ tenant_uid: "t1", scope_level1: ["procurement"], scope_level2: ["north"] }],
      meta: { budget: 1000 },
    });
    expect(status).toBe(201);
    expect(body.data).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      object_id: "tender-7",
      object_type: "tender",
      type: "object",
      title: "Tender 7",
      object_url: "https://host.example/tenders/7",
      created_by: null,
      created_at: expect.any(String),
      meta: { budget: 1000 },
    });
    const detail = await fixture.t.api<{ data: Record<string, unknown> }>("GET", `/api/v1/management/dialogs/${body.data.id}`);
    expect(detail.status).toBe(200);
    expect(detail.body.data).toMatchObject({
      participants: [{ user_id: "u1", display_name: "Una", company: "Acme", email: "una@acme.test", phone: "+100", role: "member" }],
      access_scopes: [{ tenant_uid: "t1", scope_level1: ["procurement"], scope_level2: ["north"] }],
    });
  });

  test("bad input gets its own code in the error envelope", async () => {
    const dialog = await createDialog(fixture.t, ["u1"]);
    const cases: [string, string, unknown, string | null, number, string][] = [
      ["POST", "/api/v1/management/dialogs", { object_type: "order" }, adminToken, 400, "bad_request"],
      ["POST", "/api/v1/management/dialogs", "{not json", adminToken, 400, "bad_request"],
      [
        "POST",
        `/api/v1/management/dialogs/${dialog.id}/participants`,
        { user_id: "$system", display_name: "x" },
        adminToken,
        400,
        "bad_request",
      ],
      ["GET", "/api/v1/management/dialogs/not-a-uuid", undefined, adminToken, 400, "bad_request"],
      ["GET", `/api/v1/management/dialogs/${uuidv7()}`, undefined, adminToken, 404, "not_found"],
      ["DELETE", `/api/v1/management/dialogs/${dialog.id}/participants/nobody`, undefined, adminToken, 404, "not_found"],
      ["GET", `/api/v1/management/dialogs/${dialog.id}`, undefined, null, 401, "unauthorized"],
      ["GET", `/api/v1/management/dialogs/${dialog.id}`, undefined, "wrong-token-wrong-token", 401, "unauthorized"],
      ["GET", "/api/v1/nope", undefined, adminToken, 404, "not_found"],
    ];
    for (const [method, route, body, token, status, code] of cases) {
      const response = await fixture.t.api<{ error: { code: string; message: string } }>(method, route, body, token);
      expect({ method, route, status: response.status, code: response.body.error?.code }).toEqual({ method, route, status, code });
      expect(response.body.error.message.length).toBeGreaterThan(10);
    }
  });

  test("with no ADMIN_API_TOKEN configured the Management API answers 403", async () => {
    const { ADMIN_API_TOKEN: _unused, ...rest } = fixture.env.env;
    const bare = await startServer(rest);
    try {
      const response = await bare.api<{ error: { code: string } }>("GET", `/api/v1/management/dialogs/${uuidv7()}`);
      expect(response).toMatchObject({ status: 403, body: { error: { code: "forbidden" } } });
    } finally {
      await bare.stop();
    }
  });

  test("health, readiness and the OpenAPI document", async () => {
    expect(await fixture.t.api("GET", "/health", undefined, null)).toEqual({ status: 200, body: { status: "ok" } });
    expect(await fixture.t.api("GET", "/health/ready", undefined, null)).toEqual({ status: 200, body: { status: "ready" } });
    const openapi = await fixture.t.api<{ openapi: string; paths: Record<string, unknown> }>(
      "GET",
      "/api/v1/openapi.json",
      undefined,
      null,
    );
    expect(openapi.body.openapi).toBe("3.1.0");
    expect(Object.keys(openapi.body.paths)).toEqual(
      expect.arrayContaining(["/api/v1/management/dialogs", "/api/v1/management/dialogs/{id}/participants/{user_id}"]),
    );
  });

  test("a removed participant loses their live connections within a second, and cannot come back", async () => {
    const dialog = await createDialog(fixture.t, ["alice", "bob"]);
    const shared = socket();
    const segment = await openDoc(shared, segmentDocName(dialog.id, 0), await tokenFor("bob"));
    const meta = await openDoc(shared, metaDocName(dialog.id), await tokenFor("bob"));
    const closes = Promise.all([closeOf(segment), closeOf(meta)]);
    const started = performance.now();
    const removed = await fixture.t.api("DELETE", `/api/v1/management/dialogs/${dialog.id}/participants/bob`);
    expect(removed.status).toBe(200);
    const reasons = await closes;
    expect(performance.now() - started).toBeLessThan(1000);
    expect(reasons.map((reason) => parseCloseReason(reason))).toEqual([
      { code: 4403, kind: "forbidden", message: "you were removed from this dialog" },
      { code: 4403, kind: "forbidden", message: "you were removed from this dialog" },
    ]);
    expect(await deniedReason(socket(), segmentDocName(dialog.id, 0), await tokenFor("bob"))).toMatch(/^4403 forbidden/);
    const detail = await fixture.t.api<{ data: { participants: { user_id: string }[] } }>("GET", `/api/v1/management/dialogs/${dialog.id}`);
    expect(detail.body.data.participants.map((p) => p.user_id)).toEqual(["alice"]);
  });

  test("adding a participant lets them in; narrowing the scopes closes a potential participant", async () => {
    const dialog = await createDialog(fixture.t, ["alice"], {
      access_scopes: [{ tenant_uid: "tenant-1", scope_level1: ["ops"], scope_level2: [] }],
    });
    const added = await fixture.t.api("POST", `/api/v1/management/dialogs/${dialog.id}/participants`, {
      user_id: "carol",
      display_name: "Carol",
      role: "admin",
    });
    expect(added).toMatchObject({ status: 201, body: { data: { user_id: "carol", role: "admin" } } });
    const carol = await openDoc(socket(), segmentDocName(dialog.id, 0), await tokenFor("carol"));
    createMessage(carol.document, { id: uuidv7(), author: "carol", createdAt: Date.now(), text: "hello from an added admin" });
    await acknowledged(carol);

    // A potential participant reads the metadata (the messages only once they join).
    const watcher = await openDoc(socket(), metaDocName(dialog.id), await tokenFor("pat", { scope_level1: ["ops"] }));
    const watcherClosed = closeOf(watcher);
    const put = await fixture.t.api("PUT", `/api/v1/management/dialogs/${dialog.id}/access-scopes`, {
      access_scopes: [{ tenant_uid: "tenant-1", scope_level1: ["finance"], scope_level2: [] }],
    });
    expect(put).toMatchObject({ status: 200, body: { data: { access_scopes: [{ tenant_uid: "tenant-1", scope_level1: ["finance"] }] } } });
    expect(parseCloseReason(await watcherClosed)).toMatchObject({ code: 4403 });
  });

  test("a token refreshed on a live connection is checked again", async () => {
    const dialog = await createDialog(fixture.t, ["alice"]);
    const provider = await openDoc(socket(), segmentDocName(dialog.id, 0), await tokenFor("alice"));
    // A valid refresh keeps the connection working.
    provider.configuration.token = await tokenFor("alice", {}, "20m");
    await provider.sendToken();
    createMessage(provider.document, { id: uuidv7(), author: "alice", createdAt: Date.now(), text: "still here" });
    await acknowledged(provider);
    // A refresh naming someone else closes it.
    const closing = closeOf(provider);
    provider.configuration.token = await tokenFor("mallory");
    await provider.sendToken();
    expect(await closing).toMatch(/^4403 forbidden: a refreshed token must be for the same user/);
  });

  test("deleting a dialog closes its connections and removes it", async () => {
    const dialog = await createDialog(fixture.t, ["alice"]);
    const provider = await openDoc(socket(), segmentDocName(dialog.id, 0), await tokenFor("alice"));
    const closing = closeOf(provider);
    expect(await fixture.t.api("DELETE", `/api/v1/management/dialogs/${dialog.id}`)).toEqual({
      status: 200,
      body: { data: { id: dialog.id, deleted: true } },
    });
    expect(parseCloseReason(await closing)).toMatchObject({ code: 4404 });
    expect((await fixture.t.api("GET", `/api/v1/management/dialogs/${dialog.id}`)).status).toBe(404);
    const { rows } = await fixture.t.server.pool.query("SELECT count(*)::int AS n FROM doc_log WHERE dialog_id = $1", [dialog.id]);
    expect(rows[0].n).toBe(0);
  });
});
