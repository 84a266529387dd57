import { messagesOf, metaDocName, metaKeys, metaOf, segmentDocName } from "@mtchat/protocol";
import { describe, expect, test } from "vitest";
import { docUntil, openDoc } from "./clients.ts";
import { createDialog, tokenFor, useServer } from "./harness.ts";

/** The host's backend with an API key: it lists, changes, reads and posts into its project's dialogs. */
const fixture = useServer("external", "host_api");

type Msg = { id: string; sender_id: string; content: string; message_type: string; reply_to_id: string | null };
type Page = { items: { id: string; last_activity_at: string; participants_count: number }[]; next_cursor: string | null };

describe("the backend API", () => {
  test("PATCH changes the title, object URL and meta, live for connected clients; bad values are refused", async () => {
    const dialog = await createDialog(fixture.t, ["alice"], { meta: { stage: "quote" } });
    const meta = await openDoc(fixture.socket(), metaDocName(dialog.id), await tokenFor("alice"));
    const patched = await fixture.t.api("PATCH", `/api/v1/management/dialogs/${dialog.id}`, {
      title: "Order 7 (shipped)",
      object_url: "https://host.example/orders/7",
      meta: { stage: "shipped" },
    });
    expect(patched).toMatchObject({
      status: 200,
      body: {
        data: { id: dialog.id, title: "Order 7 (shipped)", object_url: "https://host.example/orders/7", meta: { stage: "shipped" } },
      },
    });
    await docUntil(meta.document, () => metaOf(meta.document).get(metaKeys.title) === "Order 7 (shipped)", "the new title");
    // Only what is sent changes.
    expect(await fixture.t.api("PATCH", `/api/v1/management/dialogs/${dialog.id}`, { title: null })).toMatchObject({
      body: { data: { title: null, object_url: "https://host.example/orders/7", meta: { stage: "shipped" } } },
    });
    for (const body of [{ object_url: "javascript:alert(1)" }, {}, { title: "x".repeat(1025) }]) {
      expect(await fixture.t.api("PATCH", `/api/v1/management/dialogs/${dialog.id}`, body)).toMatchObject({
        status: 400,
        body: { error: { code: "bad_request" } },
      });
    }
    expect((await fixture.t.api("PATCH", "/api/v1/management/dialogs/00000000-0000-7000-8000-000000000000", { title: "t" })).status).toBe(
      404,
    );
  });

  test("lists dialogs by object, participant and activity, newest activity first, in pages", async () => {
    const object_id = `list-${Date.now()}`;
    const a = await createDialog(fixture.t, ["lena", "omar"], { object_type: "tender", object_id });
    const b = await createDialog(fixture.t, ["lena"], { object_type: "tender", object_id });
    const c = await createDialog(fixture.t, ["omar"], { object_type: "tender", object_id });
    // A message makes `a` the most recently active.
    const since = new Date().toISOString();
    expect((await fixture.t.api("POST", `/api/v1/dialogs/${a.id}/messages`, { content: "bump" }, await tokenFor("lena"))).status).toBe(201);
    const list = async (query: string) =>
      (await fixture.t.api<{ data: Page }>("GET", `/api/v1/management/dialogs?object_type=tender&object_id=${object_id}${query}`)).body
        .data;
    expect((await list("")).items.map((item) => item.id)).toEqual([a.id, c.id, b.id]);
    expect((await list("&participant=lena")).items.map((item) => item.id)).toEqual([a.id, b.id]);
    expect((await list(`&active_after=${encodeURIComponent(since)}`)).items.map((item) => item.id)).toEqual([a.id]);
    expect((await list(`&active_before=${encodeURIComponent(since)}`)).items.map((item) => item.id)).toEqual([c.id, b.id]);
    expect((await list("")).items[0]).toMatchObject({ participants_count: 2, last_activity_at: expect.any(String) });
    const first = await list("&limit=2");
    expect(first.items.map((item) => item.id)).toEqual([a.id, c.id]);
    const second = await list(`&limit=2&cursor=${first.next_cursor}`);
    expect(second).toEqual({ items: [expect.objectContaining({ id: b.id })], next_cursor: null });
    expect(await fixture.t.api("GET", "/api/v1/management/dialogs?cursor=nope")).toMatchObject({ status: 400 });
    // Another project's key sees none of them.
    const other = await fixture.t.api<{ data: { api_key: { key: string } } }>("POST", "/api/v1/management/projects", {
      id: "host-other",
      name: "O",
    });
    const key = other.body.data.api_key.key;
    expect(
      (await fixture.t.api<{ data: Page }>("GET", `/api/v1/management/dialogs?object_id=${object_id}`, undefined, key)).body.data.items,
    ).toEqual([]);
    expect((await fixture.t.api("GET", `/api/v1/management/dialogs/${a.id}/messages`, undefined, key)).status).toBe(404);
  });

  test("posts as a participant (a bot the host added, or a person) under their rights, or as a system notice; reads it back", async () => {
    const dialog = await createDialog(fixture.t, ["alice"]);
    const base = `/api/v1/management/dialogs/${dialog.id}`;
    expect(await fixture.t.api("POST", `${base}/participants`, { user_id: "orders-bot", display_name: "Order Bot" })).toMatchObject({
      status: 201,
    });
    expect(
      await fixture.t.api("POST", `${base}/participants`, { user_id: "auditor", display_name: "Auditor", role: "readonly" }),
    ).toMatchObject({
      status: 201,
    });
    const alice = await openDoc(fixture.socket(), segmentDocName(dialog.id, 0), await tokenFor("alice"));

    const fromBot = await fixture.t.api<{ data: Msg }>("POST", `${base}/messages`, {
      content: "Your order has shipped",
      sender_id: "orders-bot",
    });
    expect(fromBot).toMatchObject({
      status: 201,
      body: { data: { sender_id: "orders-bot", content: "Your order has shipped", message_type: "text" } },
    });
    await docUntil(alice.document, () => messagesOf(alice.document).has(fromBot.body.data.id), "the bot's message, live");
    const onBehalf = await fixture.t.api<{ data: Msg }>("POST", `${base}/messages`, {
      content: "Thanks, received",
      sender_id: "alice",
      reply_to_id: fromBot.body.data.id,
    });
    expect(onBehalf).toMatchObject({ status: 201, body: { data: { sender_id: "alice", reply_to_id: fromBot.body.data.id } } });
    const notice = await fixture.t.api<{ data: Msg }>("POST", `${base}/messages`, { content: "Delivery window moved to 14:00" });
    expect(notice).toMatchObject({ status: 201, body: { data: { message_type: "system", content: "Delivery window moved to 14:00" } } });

    // The same authorization as their own writes: a read-only participant writes nothing, a stranger neither.
    expect(await fixture.t.api("POST", `${base}/messages`, { content: "hi", sender_id: "auditor" })).toMatchObject({
      status: 403,
      body: { error: { code: "forbidden", message: expect.stringContaining("read-only") } },
    });
    expect(await fixture.t.api("POST", `${base}/messages`, { content: "hi", sender_id: "mallory" })).toMatchObject({
      status: 403,
      body: { error: { code: "forbidden", message: expect.stringContaining("not a participant") } },
    });
    expect(await fixture.t.api("POST", `${base}/messages`, { content: "" })).toMatchObject({ status: 400 });

    const history = await fixture.t.api<{ data: { messages: Msg[]; first_unread_message_id: null } }>("GET", `${base}/messages?limit=10`);
    expect(history.status).toBe(200);
    expect(history.body.data.messages.map((m) => [m.sender_id, m.message_type, m.content]).slice(-3)).toEqual([
      ["orders-bot", "text", "Your order has shipped"],
      ["alice", "text", "Thanks, received"],
      ["$system", "system", "Delivery window moved to 14:00"],
    ]);
    expect(history.body.data.first_unread_message_id).toBeNull();
  });
});
