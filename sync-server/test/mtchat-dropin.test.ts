import { metaDocName, participantsOf } from "@mtchat/protocol";
import { describe, expect, test } from "vitest";
import { docUntil, openDoc } from "./clients.ts";
import { adminToken, tokenFor, useServer } from "./harness.ts";
import { eventually } from "./wait.ts";

/**
 * A host backend written against MTChat's README, unchanged: its requests are sent here verbatim (curl's body as
 * it stands there), and what MTChat answers where the contract gives it.
 */
const fixture = useServer("external", "mtchat_dropin");

/** `curl -X POST … -H "Authorization: Bearer $ADMIN_TOKEN" -H "Content-Type: application/json" -d '…'`, byte for byte. */
const curl = async (method: string, route: string, body?: string, token: string = adminToken) => {
  const response = await fetch(`${fixture.t.httpUrl}${route}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
    ...(body ? { body } : {}),
  });
  return {
    status: response.status,
    body: (await response.json()) as { data?: Record<string, unknown>; error?: { code: string; message: string } },
  };
};

type Detail = { id: string; participants: { user_id: string; display_name: string; company: string | null }[]; access_scopes: unknown[] };

describe("MTChat's README, verbatim", () => {
  test("1. Create a Chat: the README's request creates the dialog, with MTChat's scope_level0 as the tenant", async () => {
    const readmeBody = `{
    "object_id": "order-uuid-123",
    "object_type": "order",
    "title": "Order #1234 Discussion",
    "participants": [
      {
        "user_id": "user-1",
        "display_name": "Alice",
        "company": "Acme Inc"
      },
      {
        "user_id": "user-2",
        "display_name": "Bob",
        "company": "Partner Ltd"
      }
    ],
    "access_scopes": [{
      "scope_level0": ["tenant-abc"],
      "scope_level1": ["logistics"],
      "scope_level2": ["manager", "admin"]
    }]
  }`;
    const created = await curl("POST", "/api/v1/management/dialogs", readmeBody);
    expect(created.status).toBe(201);
    expect(created.body.data).toMatchObject({ object_id: "order-uuid-123", object_type: "order", title: "Order #1234 Discussion" });
    const id = created.body.data?.id as string;
    const detail = await fixture.t.api<{ data: Detail }>("GET", `/api/v1/management/dialogs/${id}`);
    expect(detail.body.data.participants).toEqual([
      expect.objectContaining({ user_id: "user-1", display_name: "Alice", company: "Acme Inc" }),
      expect.objectContaining({ user_id: "user-2", display_name: "Bob", company: "Partner Ltd" }),
    ]);
    expect(detail.body.data.access_scopes).toEqual([
      { tenant_uid: "tenant-abc", scope_level1: ["logistics"], scope_level2: ["manager", "admin"] },
    ]);

    // MTChat's scope match: a manager in logistics of tenant-abc may join; a viewer, or another tenant, may not.
    const manager = await tokenFor("carol", { tenant_uid: "tenant-abc", scope_level1: ["logistics"], scope_level2: ["manager"] });
    expect(await fixture.t.api("GET", `/api/v1/dialogs/${id}`, undefined, manager)).toMatchObject({
      status: 200,
      body: { data: { can_join: true } },
    });
    const viewer = await tokenFor("dan", { tenant_uid: "tenant-abc", scope_level1: ["logistics"], scope_level2: ["viewer"] });
    expect((await fixture.t.api("GET", `/api/v1/dialogs/${id}`, undefined, viewer)).status).toBe(404);
    const elsewhere = await tokenFor("eve", { tenant_uid: "tenant-xyz", scope_level1: ["logistics"], scope_level2: ["manager"] });
    expect((await fixture.t.api("GET", `/api/v1/dialogs/${id}`, undefined, elsewhere)).status).toBe(404);
  });

  test("participants as plain user ids: names from the directory, else from the user's token on first connect", async () => {
    expect(
      await fixture.t.api("PUT", "/api/v1/management/users/user-11", { display_name: "Alice Martin", company: "Acme Inc" }),
    ).toMatchObject({
      status: 201,
      body: { data: { user_id: "user-11", display_name: "Alice Martin", source: "api" } },
    });
    const created = await curl(
      "POST",
      "/api/v1/management/dialogs",
      `{"object_id": "order-77", "object_type": "order", "title": "Order 77", "participants": ["user-11", "user-12"]}`,
    );
    expect(created.status).toBe(201);
    const id = created.body.data?.id as string;
    const names = async () =>
      (await fixture.t.api<{ data: Detail }>("GET", `/api/v1/management/dialogs/${id}`)).body.data.participants.map((p) => [
        p.user_id,
        p.display_name,
        p.company,
      ]);
    // user-11 from the directory; user-12 is unknown yet, so their id stands in.
    expect(await names()).toEqual([
      ["user-11", "Alice Martin", "Acme Inc"],
      ["user-12", "user-12", null],
    ]);

    // user-12 connects: their token names them, for everyone, live in the dialog's document too.
    const watcher = await openDoc(fixture.socket(), metaDocName(id), await tokenFor("user-11"));
    await openDoc(fixture.socket(), metaDocName(id), await tokenFor("user-12", { name: "Bob Chen" }));
    await docUntil(watcher.document, () => participantsOf(watcher.document).get("user-12")?.displayName === "Bob Chen", "Bob's name");
    await eventually(
      async () =>
        JSON.stringify(await names()) ===
        JSON.stringify([
          ["user-11", "Alice Martin", "Acme Inc"],
          ["user-12", "Bob Chen", null],
        ]),
      {
        what: "the projected name",
      },
    );
    expect(await fixture.t.api("GET", "/api/v1/management/users/user-12")).toMatchObject({
      status: 200,
      body: { data: { user_id: "user-12", display_name: "Bob Chen", tenant_uid: "tenant-1", source: "token" } },
    });
    // The backend's entry wins over the token from then on.
    expect(
      await fixture.t.api("PUT", "/api/v1/management/users/user-12", { display_name: "Robert Chen", tenant_uid: "tenant-1" }),
    ).toMatchObject({
      status: 200,
      body: { data: { display_name: "Robert Chen", source: "api" } },
    });
    // A Chat API call has passed the directory when it answers.
    expect((await fixture.t.api("GET", "/api/v1/dialogs", undefined, await tokenFor("user-12", { name: "Bobby" }))).status).toBe(200);
    expect(await fixture.t.api("GET", "/api/v1/management/users/user-12")).toMatchObject({
      body: { data: { display_name: "Robert Chen" } },
    });
    // While the token is the source, a new name in it is taken.
    expect((await fixture.t.api("GET", "/api/v1/dialogs", undefined, await tokenFor("user-13", { name: "Cy" }))).status).toBe(200);
    expect((await fixture.t.api("GET", "/api/v1/dialogs", undefined, await tokenFor("user-13", { name: "Cyrus" }))).status).toBe(200);
    expect(await fixture.t.api("GET", "/api/v1/management/users/user-13")).toMatchObject({
      body: { data: { display_name: "Cyrus", source: "token" } },
    });
    // Adding by id alone works too (MTChat requires a display_name there; here it may come from the directory).
    expect(await fixture.t.api("POST", `/api/v1/management/dialogs/${id}/participants`, { user_id: "user-11" })).toMatchObject({
      status: 201,
      body: { data: { user_id: "user-11", display_name: "Alice Martin" } },
    });
  });

  test("the Chat API takes MTChat's field names: last_read_message_id and reply_to", async () => {
    const created = await curl(
      "POST",
      "/api/v1/management/dialogs",
      `{"object_id": "o-9", "object_type": "order", "participants": ["ann", "ben"]}`,
    );
    const id = created.body.data?.id as string;
    const [ann, ben] = await Promise.all([tokenFor("ann"), tokenFor("ben")]);
    const first = await fixture.t.api<{ data: { id: string } }>("POST", `/api/v1/dialogs/${id}/messages`, { content: "first" }, ann);
    const reply = await fixture.t.api<{ data: { reply_to_id: string } }>(
      "POST",
      `/api/v1/dialogs/${id}/messages`,
      { content: "answer", reply_to: first.body.data.id },
      ben,
    );
    expect(reply).toMatchObject({ status: 201, body: { data: { reply_to_id: first.body.data.id } } });
    expect(await fixture.t.api("POST", `/api/v1/dialogs/${id}/read`, { last_read_message_id: first.body.data.id }, ben)).toMatchObject({
      status: 200,
    });
    const people = await fixture.t.api<{ data: { user_id: string; last_read_message_id: string | null }[] }>(
      "GET",
      `/api/v1/dialogs/${id}/participants`,
      undefined,
      ann,
    );
    expect(people.body.data.find((p) => p.user_id === "ben")?.last_read_message_id).toBe(first.body.data.id);
    // MTChat's participant fields: the caller's own state, and null for other people's, which is theirs.
    expect(people.body.data).toEqual([
      expect.objectContaining({
        dialog_id: id,
        user_id: "ann",
        joined_as: "participant",
        unread_count: 1,
        is_archived: false,
        is_pinned: false,
        notifications_enabled: true,
        is_online: false,
      }),
      expect.objectContaining({ user_id: "ben", unread_count: null, is_pinned: null, notifications_enabled: null }),
    ]);
    // Both names at once must agree.
    expect(
      await fixture.t.api(
        "POST",
        `/api/v1/dialogs/${id}/read`,
        { message_id: first.body.data.id, last_read_message_id: reply.body.data.reply_to_id },
        ben,
      ),
    ).toMatchObject({ status: 200 });
    expect(await fixture.t.api("POST", `/api/v1/dialogs/${id}/read`, {}, ben)).toMatchObject({
      status: 400,
      body: { error: { code: "bad_request", message: expect.stringContaining("last_read_message_id") } },
    });
  });

  test("POST /dialogs/search finds the newest dialog of an object, by its exact scope set in any order, or null", async () => {
    const make = async (scopes: string) =>
      (await curl("POST", "/api/v1/management/dialogs", `{"object_id": "tender-5", "object_type": "tender", "access_scopes": ${scopes}}`))
        .body.data?.id as string;
    const both = await make(`[{"scope_level0": ["t1", "t2"], "scope_level1": ["sales"]}]`);
    const older = await make(`[{"scope_level0": ["t1"]}]`);
    const newer = await make(`[{"scope_level0": ["t1"]}]`);
    const search = (body: string) => curl("POST", "/api/v1/management/dialogs/search", body);
    expect((await search(`{"object_id": "tender-5", "object_type": "tender"}`)).body.data?.id).toBe(newer);
    expect(
      (await search(`{"object_id": "tender-5", "object_type": "tender", "access_scopes": [{"scope_level0": ["t1"]}]}`)).body.data?.id,
    ).toBe(newer);
    expect(
      (
        await search(
          `{"object_id": "tender-5", "object_type": "tender", "access_scopes": [{"scope_level0": ["t2", "t1"], "scope_level1": ["sales"]}]}`,
        )
      ).body.data?.id,
    ).toBe(both);
    expect(await search(`{"object_id": "tender-5", "object_type": "tender", "access_scopes": [{"scope_level0": ["t3"]}]}`)).toEqual({
      status: 200,
      body: { data: null },
    });
    expect(older).not.toBe(newer);
  });

  test("the dialog list's search matches a participant's company or name, as MTChat's does", async () => {
    const created = await fixture.t.api<{ data: { id: string } }>("POST", "/api/v1/management/dialogs", {
      object_id: "shipment-3",
      object_type: "shipment",
      title: "Shipment 3",
      participants: [
        { user_id: "s-ann", display_name: "Ann Lee" },
        { user_id: "s-kim", display_name: "Kim Park", company: "Nordfracht GmbH" },
      ],
    });
    const ann = await tokenFor("s-ann");
    const found = async (q: string) =>
      (
        await fixture.t.api<{ data: { items: { id: string }[] } }>("GET", `/api/v1/dialogs?search=${encodeURIComponent(q)}`, undefined, ann)
      ).body.data.items.map((item) => item.id);
    expect(await found("nordfracht")).toEqual([created.body.data.id]);
    expect(await found("Kim")).toEqual([created.body.data.id]);
    expect(await found("Shipment 3")).toEqual([created.body.data.id]);
    expect(await found("Globex")).toEqual([]);
  });

  test("MTChat's upload flow: presign, PUT, then a message naming the file by its s3_key", async () => {
    const created = await curl(
      "POST",
      "/api/v1/management/dialogs",
      `{"object_id": "o-files", "object_type": "order", "participants": ["uma"]}`,
    );
    const id = created.body.data?.id as string;
    const uma = await tokenFor("uma");
    const bytes = "pallet list: 20 × EUR";
    const presigned = await fixture.t.api<{ data: { upload_url: string; s3_key: string; expires_in: number } }>(
      "POST",
      "/api/v1/upload/presign",
      { dialog_id: id, filename: "pallets.txt", content_type: "text/plain", size: Buffer.byteLength(bytes) },
      uma,
    );
    expect(presigned).toMatchObject({ status: 200, body: { data: { s3_key: expect.stringMatching(new RegExp(`^dialogs/${id}/`)) } } });
    expect(
      (await fetch(presigned.body.data.upload_url, { method: "PUT", headers: { "content-type": "text/plain" }, body: bytes })).ok,
    ).toBe(true);
    const { s3_key } = presigned.body.data;
    const sent = await fixture.t.api<{ data: { attachments: { name: string }[] } }>(
      "POST",
      `/api/v1/dialogs/${id}/messages`,
      {
        content: "the list",
        attachments: [{ s3_key, filename: "pallets.txt", content_type: "text/plain", size: Buffer.byteLength(bytes) }],
      },
      uma,
    );
    expect(sent).toMatchObject({ status: 201, body: { data: { attachments: [expect.objectContaining({ name: "pallets.txt" })] } } });
    expect(
      await fixture.t.api(
        "POST",
        `/api/v1/dialogs/${id}/messages`,
        { content: "x", attachments: [{ s3_key: `dialogs/${id}/nope.txt` }] },
        uma,
      ),
    ).toMatchObject({ status: 400, body: { error: { code: "bad_request", message: expect.stringContaining("s3_key") } } });
  });

  test("by-object for an object with no dialog answers 200 with null, as MTChat does", async () => {
    expect(await fixture.t.api("GET", "/api/v1/dialogs/by-object/order/nothing-here", undefined, await tokenFor("ann"))).toEqual({
      status: 200,
      body: { data: null },
    });
  });

  test("a scope across every tenant (empty scope_level0) is refused with a reason, and nothing is created", async () => {
    const refused = await curl(
      "POST",
      "/api/v1/management/dialogs",
      `{"object_id": "o-any", "object_type": "order", "access_scopes": [{"scope_level0": [], "scope_level1": ["logistics"]}]}`,
    );
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ code: "bad_request", message: expect.stringContaining("scope_level0") });
    const list = await fixture.t.api<{ data: unknown }>(
      "GET",
      "/api/v1/dialogs/by-object/order/o-any",
      undefined,
      await tokenFor("x", { scope_level1: ["logistics"] }),
    );
    expect(list.body.data).toBeNull();
  });
});

describe("direct dialogs respect the directory", () => {
  test("another tenant's user is refused; an unknown one too once the directory says who exists; names are the directory's", async () => {
    for (const [user, tenant, name] of [
      ["dm-a", "t-north", "Ada North"],
      ["dm-b", "t-south", "Ben South"],
      ["dm-c", "t-north", "Cleo North"],
    ] as const) {
      expect((await fixture.t.api("PUT", `/api/v1/management/users/${user}`, { tenant_uid: tenant, display_name: name })).status).toBe(201);
    }
    const ada = await tokenFor("dm-a", { tenant_uid: "t-north", name: "Ada" });
    expect(await fixture.t.api("POST", "/api/v1/dialogs/direct", { user_id: "dm-b" }, ada)).toMatchObject({
      status: 403,
      body: { error: { code: "forbidden", message: expect.stringContaining("another tenant") } },
    });
    expect(await fixture.t.api("POST", "/api/v1/dialogs/direct", { user_id: "dm-ghost" }, ada)).toMatchObject({
      status: 404,
      body: { error: { code: "not_found" } },
    });
    // The caller cannot name the other user: a display_name sent along is not used.
    const direct = await fixture.t.api<{ data: { id: string } }>(
      "POST",
      "/api/v1/dialogs/direct",
      { user_id: "dm-c", display_name: "Somebody Else" },
      ada,
    );
    expect(direct.status).toBe(200);
    const people = await fixture.t.api<{ data: { user_id: string; display_name: string }[] }>(
      "GET",
      `/api/v1/dialogs/${direct.body.data.id}/participants`,
      undefined,
      ada,
    );
    expect(people.body.data.map((p) => [p.user_id, p.display_name]).sort()).toEqual([
      ["dm-a", "Ada"],
      ["dm-c", "Cleo North"],
    ]);
  });

  test("the directory lists, pages and validates its entries", async () => {
    const bad = await fixture.t.api<{ error: { code: string; message: string } }>("PUT", "/api/v1/management/users/x-bad", {
      avatar_url: "javascript:alert(1)",
    });
    expect(bad).toMatchObject({ status: 400, body: { error: { code: "bad_request", message: expect.stringContaining("avatar_url") } } });
    expect(await fixture.t.api("GET", "/api/v1/management/users/nobody-at-all")).toMatchObject({
      status: 404,
      body: { error: { code: "not_found" } },
    });
    const first = await fixture.t.api<{ data: { items: { user_id: string }[]; next_cursor: string | null } }>(
      "GET",
      "/api/v1/management/users?limit=2",
    );
    expect(first.body.data.items).toHaveLength(2);
    const second = await fixture.t.api<{ data: { items: { user_id: string }[] } }>(
      "GET",
      `/api/v1/management/users?limit=2&cursor=${first.body.data.next_cursor}`,
    );
    expect((second.body.data.items[0]?.user_id ?? "") > (first.body.data.items[1]?.user_id ?? "")).toBe(true);
    // Another project's key sees none of it.
    const other = await fixture.t.api<{ data: { api_key: { key: string } } }>("POST", "/api/v1/management/projects", {
      id: "dropin-other",
      name: "Other",
    });
    const otherUsers = await fixture.t.api<{ data: { items: unknown[] } }>(
      "GET",
      "/api/v1/management/users",
      undefined,
      other.body.data.api_key.key,
    );
    expect(otherUsers.body.data.items).toEqual([]);
  });
});
