import { describe, expect, test } from "vitest";
import { createDialog, storages, tokenFor, useServer } from "./harness.ts";

type Hit = { dialog_id: string; message_id: string; content: string; highlight: string };
type Results = { results: Hit[]; next_cursor: string | null };

describe.each(storages)("search on %s PostgreSQL", (storage) => {
  const fixture = useServer(storage, "search");

  test("Russian and English stem, Chinese matches inside words; edits re-index, deletions vanish, only joined dialogs are searched", async () => {
    const { t } = fixture;
    const mine = await createDialog(t, ["alice"]);
    const scoped = await createDialog(t, ["bob"], { access_scopes: [{ tenant_uid: "tenant-1", scope_level1: ["ops"], scope_level2: [] }] });
    const hidden = await createDialog(t, ["bob"]);
    const alice = await tokenFor("alice", { scope_level1: ["ops"] });
    const bob = await tokenFor("bob");
    const send = async (dialogId: string, token: string, content: string) => {
      const response = await t.api<{ data: { id: string } }>("POST", `/api/v1/dialogs/${dialogId}/messages`, { content }, token);
      expect(response.status).toBe(201);
      return response.body.data.id;
    };
    const find = async (q: string, extra = "") =>
      (await t.api<{ data: Results }>("GET", `/api/v1/search?q=${encodeURIComponent(q)}${extra}`, undefined, alice)).body.data;

    const russian = await send(mine.id, alice, "Где мой заказ номер 42? Заказ оплачен.");
    const english = await send(mine.id, alice, "Your orders have shipped today");
    const chinese = await send(mine.id, alice, "您的订单号是12345，请查收");
    const scopedHit = await send(scoped.id, bob, "The order for the ops team is ready");
    await send(hidden.id, bob, "Secret order nobody else may find");
    const unsafe = await send(mine.id, alice, "order <script>alert(1)</script>");

    const ru = await find("заказы");
    expect(ru.results.map((hit) => hit.message_id)).toEqual([russian]);
    expect(ru.results[0]?.highlight).toContain("<mark>заказ</mark>");

    // Alice's scopes match Bob's scoped dialog, but its messages are found only once she has joined it.
    expect((await find("order")).results.map((hit) => hit.message_id).sort()).toEqual([english, unsafe].sort());
    expect(await t.api("POST", `/api/v1/dialogs/${scoped.id}/join`, {}, alice)).toMatchObject({ status: 200 });
    const en = await find("order");
    expect(en.results.map((hit) => hit.message_id).sort()).toEqual([english, scopedHit, unsafe].sort());
    expect((await find("shipping")).results.map((hit) => hit.message_id)).toEqual([english]);
    const escaped = en.results.find((hit) => hit.message_id === unsafe)?.highlight ?? "";
    // Safe to render as HTML: no tag survives but the highlight marks.
    expect(escaped).toContain("<mark>order</mark>");
    expect(escaped).not.toMatch(/<(?!\/?mark>)/);
    // …and the markup someone typed is still there, as text.
    expect(escaped).toBe("<mark>order</mark> &#60;script&#62;alert(1)&#60;/script&#62;");

    for (const q of ["订单", "订单号"]) {
      const zh = await find(q);
      expect(zh.results.map((hit) => hit.message_id)).toEqual([chinese]);
      expect(zh.results[0]?.highlight).toContain(`<mark>${q}</mark>`);
    }

    // Pages of one, joined, give the same hits as one page.
    const first = await find("order", "&limit=1");
    expect(first.results).toHaveLength(1);
    expect(first.next_cursor).not.toBeNull();
    const second = await find("order", `&limit=2&cursor=${first.next_cursor}`);
    expect([...first.results, ...second.results].map((hit) => hit.message_id).sort()).toEqual(
      en.results.map((hit) => hit.message_id).sort(),
    );
    expect(second.next_cursor).toBeNull();

    // Edited text is re-indexed; deleted messages disappear.
    expect(
      await t.api("PUT", `/api/v1/dialogs/${mine.id}/messages/${english}`, { content: "Your parcel has left the warehouse" }, alice),
    ).toMatchObject({
      status: 200,
    });
    expect((await find("order")).results.map((hit) => hit.message_id)).not.toContain(english);
    expect((await find("warehouse")).results.map((hit) => hit.message_id)).toEqual([english]);
    expect(await t.api("DELETE", `/api/v1/dialogs/${mine.id}/messages/${russian}`, undefined, alice)).toMatchObject({ status: 200 });
    expect((await find("заказ")).results).toEqual([]);

    expect(await t.api("GET", "/api/v1/search?q=", undefined, alice)).toMatchObject({ status: 400 });
    expect(await t.api("GET", "/api/v1/search?q=order", undefined, null)).toMatchObject({ status: 401 });
  });

  test("filters narrow the hits to a dialog, a sender and a time range", async () => {
    const { t } = fixture;
    const one = await createDialog(t, ["fia", "gus"]);
    const two = await createDialog(t, ["fia"]);
    const [fia, gus] = await Promise.all([tokenFor("fia"), tokenFor("gus")]);
    const send = async (dialogId: string, token: string, content: string) =>
      (await t.api<{ data: { id: string } }>("POST", `/api/v1/dialogs/${dialogId}/messages`, { content }, token)).body.data.id;
    const early = await send(one.id, fia, "invoice for the pallets");
    await new Promise((resolve) => setTimeout(resolve, 20));
    const middle = new Date().toISOString();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const fromGus = await send(one.id, gus, "invoice approved");
    const elsewhere = await send(two.id, fia, "invoice copy for the archive");
    const hits = async (extra: string) =>
      (await t.api<{ data: Results }>("GET", `/api/v1/search?q=invoice${extra}`, undefined, fia)).body.data.results
        .map((hit) => hit.message_id)
        .sort();
    expect(await hits("")).toEqual([early, fromGus, elsewhere].sort());
    expect(await hits(`&dialog_id=${one.id}`)).toEqual([early, fromGus].sort());
    expect(await hits("&sender_id=gus")).toEqual([fromGus]);
    expect(await hits(`&from=${encodeURIComponent(middle)}`)).toEqual([fromGus, elsewhere].sort());
    expect(await hits(`&to=${encodeURIComponent(middle)}`)).toEqual([early]);
    expect(await hits(`&dialog_id=${one.id}&sender_id=fia&to=${encodeURIComponent(middle)}`)).toEqual([early]);
    expect(await t.api("GET", "/api/v1/search?q=invoice&from=yesterday", undefined, fia)).toMatchObject({ status: 400 });
  });
});
