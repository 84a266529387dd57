import { parseCloseReason, setUserState, userDocName, userStateKey, userStateOf } from "@mtchat/protocol";
import { describe, expect, test } from "vitest";
import * as Y from "yjs";
import { acknowledged, docUntil, openDoc, RawClient } from "./clients.ts";
import { createDialog, type TestServer, tokenFor, useServer } from "./harness.ts";
import { eventually } from "./wait.ts";

type Item = {
  id: string;
  type: string;
  title: string | null;
  unread_count?: number;
  is_archived?: boolean;
  is_pinned?: boolean;
  notifications_enabled?: boolean;
  i_am_participant: boolean;
  can_join: boolean;
  last_message?: { id: string; content: string; sender_id: string } | null;
};
type Page = { items: Item[]; next_cursor: string | null };

const fixture = useServer("external", "dialog_lists");

const send = async (t: TestServer, dialogId: string, token: string, content: string) => {
  const response = await t.api<{ data: { id: string } }>("POST", `/api/v1/dialogs/${dialogId}/messages`, { content }, token);
  expect(response.status).toBe(201);
  return response.body.data.id;
};

const list = async (t: TestServer, token: string, query = "") => {
  const response = await t.api<{ data: Page }>("GET", `/api/v1/dialogs${query}`, undefined, token);
  expect(response.status).toBe(200);
  return response.body.data;
};

/** Every page of a list, following cursors; `between` runs after each page, as other users keep writing. */
const allPages = async (t: TestServer, token: string, query: string, between: (page: number) => Promise<void> = async () => {}) => {
  const ids: string[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 50; page += 1) {
    const data: Page = await list(t, token, `${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    ids.push(...data.items.map((item) => item.id));
    if (!data.next_cursor) return ids;
    cursor = data.next_cursor;
    await between(page);
  }
  throw new Error("the list never ended");
};

describe("dialog lists", () => {
  test("participating: pinned first, then by last activity, with unread counts and the last message", async () => {
    const { t } = fixture;
    const [alice, bob] = await Promise.all([tokenFor("lia"), tokenFor("ben")]);
    const a = await createDialog(t, ["lia", "ben"], { title: "A" });
    const b = await createDialog(t, ["lia", "ben"], { title: "B" });
    const c = await createDialog(t, ["lia", "ben"], { title: "C" });
    await send(t, a.id, bob, "a1");
    await send(t, b.id, bob, "b1");
    const lastInB = await send(t, b.id, bob, "b2");
    await send(t, c.id, alice, "c1 by lia herself");

    let items = (await list(t, alice)).items;
    expect(items.map((item) => item.title)).toEqual(["C", "B", "A"]);
    expect(items.find((item) => item.id === b.id)).toMatchObject({
      unread_count: 2,
      is_pinned: false,
      is_archived: false,
      notifications_enabled: true,
      i_am_participant: true,
      can_join: false,
      last_message: { id: lastInB, content: "b2", sender_id: "ben" },
    });
    // One's own messages are never unread.
    expect(items.find((item) => item.id === c.id)?.unread_count).toBe(0);

    // Reading B up to its first message leaves one unread; pinning A puts it first.
    const firstInB = (
      await t.api<{ data: { messages: { id: string; content: string }[] } }>("GET", `/api/v1/dialogs/${b.id}/messages`, undefined, alice)
    ).body.data.messages.find((message) => message.content === "b1")?.id;
    expect(await t.api("POST", `/api/v1/dialogs/${b.id}/read`, { message_id: firstInB }, alice)).toMatchObject({ status: 200 });
    expect(await t.api("POST", `/api/v1/dialogs/${a.id}/pin`, undefined, alice)).toMatchObject({
      status: 200,
      body: { data: { is_pinned: true } },
    });
    items = (await list(t, alice)).items;
    expect(items.map((item) => item.title)).toEqual(["A", "C", "B"]);
    expect(items.find((item) => item.id === b.id)?.unread_count).toBe(1);
    // Pinning is Lia's alone.
    expect((await list(t, bob)).items[0]?.title).toBe("C");
  });

  test("archiving hides a dialog until a new message arrives; mute is per user", async () => {
    const { t } = fixture;
    const [alice, bob] = await Promise.all([tokenFor("ada"), tokenFor("bo")]);
    const dialog = await createDialog(t, ["ada", "bo"], { title: "quiet" });
    await send(t, dialog.id, bob, "hello");
    expect(await t.api("POST", `/api/v1/dialogs/${dialog.id}/archive`, undefined, alice)).toMatchObject({
      body: { data: { is_archived: true } },
    });
    expect((await list(t, alice)).items.map((item) => item.id)).not.toContain(dialog.id);
    expect((await list(t, alice, "?archived=true")).items.map((item) => item.id)).toEqual([dialog.id]);
    expect((await list(t, bob)).items.map((item) => item.id)).toContain(dialog.id);

    await send(t, dialog.id, bob, "are you there?");
    expect((await list(t, alice)).items.find((item) => item.id === dialog.id)).toMatchObject({ is_archived: false, unread_count: 2 });

    expect(await t.api("POST", `/api/v1/dialogs/${dialog.id}/notifications`, { enabled: false }, alice)).toMatchObject({
      body: { data: { notifications_enabled: false } },
    });
    expect((await list(t, alice)).items.find((item) => item.id === dialog.id)?.notifications_enabled).toBe(false);
    expect((await list(t, bob)).items.find((item) => item.id === dialog.id)?.notifications_enabled).toBe(true);
    expect(await t.api("POST", `/api/v1/dialogs/${dialog.id}/notifications`, { enabled: "no" }, alice)).toMatchObject({
      status: 400,
      body: { error: { code: "bad_request" } },
    });
  });

  test("cursor pages never repeat or skip a dialog while new messages reorder the list", async () => {
    const { t } = fixture;
    const [reader, writer] = await Promise.all([tokenFor("pager"), tokenFor("poster")]);
    const dialogs = [];
    for (let index = 0; index < 9; index += 1) {
      const dialog = await createDialog(t, ["pager", "poster"], { title: `p${index}` });
      await send(t, dialog.id, writer, `first in p${index}`);
      dialogs.push(dialog.id);
    }
    // After each page, the dialog currently last gets a message, which moves it to the top.
    const paged = await allPages(t, reader, "?limit=2", async () => {
      const current = (await list(t, reader, "?limit=100")).items;
      const last = current.at(-1);
      if (last) await send(t, last.id, writer, "bump");
    });
    expect(paged.length).toBe(dialogs.length);
    expect(new Set(paged)).toEqual(new Set(dialogs));
  });

  test("dialogs whose last messages arrived in the same millisecond still page apart", async () => {
    const { t } = fixture;
    const token = await tokenFor("samems");
    const dialogs = [];
    for (let index = 0; index < 3; index += 1) {
      const dialog = await createDialog(t, ["samems"], { title: `same ${index}` });
      await send(t, dialog.id, token, `in ${index}`);
      dialogs.push(dialog.id);
    }
    // Microseconds apart, within one millisecond: a cursor cut to milliseconds would skip the older two.
    await t.server.pool.query(
      "UPDATE messages SET received_at = '2026-03-01 12:00:00.123000+00'::timestamptz + (substr(body_text, 4)::int * interval '100 microseconds') WHERE dialog_id = ANY($1) AND kind = 'text'",
      [dialogs],
    );
    const paged = await allPages(t, token, "?limit=1");
    expect(paged).toEqual([...dialogs].reverse());
  });

  test("available lists scope matches the caller has not joined; by-object finds readable dialogs only", async () => {
    const { t } = fixture;
    const scopes = [{ tenant_uid: "tenant-1", scope_level1: ["dispatch"], scope_level2: [] }];
    const objectId = `route-${Date.now()}`;
    const first = await createDialog(t, ["owner"], {
      title: "route chat",
      object_type: "route",
      object_id: objectId,
      access_scopes: scopes,
    });
    const second = await createDialog(t, ["owner"], {
      title: "route chat 2",
      object_type: "route",
      object_id: objectId,
      access_scopes: scopes,
    });
    const [dispatcher, outsider] = await Promise.all([
      tokenFor("disp", { scope_level1: ["dispatch"] }),
      tokenFor("out", { scope_level1: ["sales"] }),
    ]);

    const available = await list(t, dispatcher, "?type=available&search=route%20chat");
    expect(available.items.map((item) => item.id).sort()).toEqual([first.id, second.id].sort());
    expect(available.items[0]).toMatchObject({ i_am_participant: false, can_join: true });
    expect(available.items[0]).not.toHaveProperty("unread_count");
    expect((await list(t, outsider, "?type=available")).items.map((item) => item.id)).not.toContain(first.id);

    // The newest readable one, as MTChat answers.
    expect(await t.api("GET", `/api/v1/dialogs/by-object/route/${objectId}`, undefined, dispatcher)).toMatchObject({
      status: 200,
      body: { data: { id: second.id, can_join: true } },
    });
    const all = await t.api<{ data: Item[] }>("GET", `/api/v1/dialogs/by-object/route/${objectId}/list`, undefined, dispatcher);
    expect(all.body.data.map((item) => item.id)).toEqual([first.id, second.id]);
    // None readable: 200 with null, as MTChat answers, so a host tells "no chat yet" from an error.
    expect(await t.api("GET", `/api/v1/dialogs/by-object/route/${objectId}`, undefined, outsider)).toEqual({
      status: 200,
      body: { data: null },
    });

    // Joining moves the dialog from available to participating.
    expect(await t.api("POST", `/api/v1/dialogs/${first.id}/join`, undefined, dispatcher)).toMatchObject({ status: 200 });
    expect((await list(t, dispatcher)).items.map((item) => item.id)).toContain(first.id);
    expect((await list(t, dispatcher, "?type=available")).items.map((item) => item.id)).not.toContain(first.id);
    expect(await t.api("GET", "/api/v1/dialogs?type=everything", undefined, dispatcher)).toMatchObject({ status: 400 });
    expect(await t.api("GET", "/api/v1/dialogs?cursor=bm9wZQ", undefined, dispatcher)).toMatchObject({
      status: 400,
      body: { error: { code: "bad_request" } },
    });
    expect(await t.api("GET", "/api/v1/dialogs", undefined, null)).toMatchObject({ status: 401 });
  });
});

describe("the per-user state document", () => {
  test("state written offline over the WebSocket and state written over REST meet in one document", async () => {
    const { t } = fixture;
    const [alice, bob] = await Promise.all([tokenFor("uma"), tokenFor("vic")]);
    const dialog = await createDialog(t, ["uma", "vic"], { title: "prefs" });
    const other = await createDialog(t, ["uma", "vic"], { title: "other" });

    // The SDK's way: Uma's own document, written by her client.
    const socket = fixture.socket();
    const mine = await openDoc(socket, userDocName("default", "uma"), alice);
    setUserState(mine.document, dialog.id, "pinned", true);
    await acknowledged(mine);
    await eventually(async () => (await list(t, alice)).items.find((item) => item.id === dialog.id)?.is_pinned === true, {
      what: "the pin written over the WebSocket in the list",
    });

    // The REST way lands in the same document, live.
    expect(await t.api("POST", `/api/v1/dialogs/${other.id}/notifications`, { enabled: false }, alice)).toMatchObject({ status: 200 });
    await docUntil(mine.document, () => userStateOf(mine.document).get(userStateKey(other.id, "notifications")) === false);

    // Vic cannot open Uma's document, and Uma cannot write nonsense into her own.
    const intruder = await RawClient.connect(t.wsUrl, userDocName("default", "uma"), bob);
    const denied = await intruder.waitFor((event) => event.type === "denied");
    intruder.close();
    expect(parseCloseReason((denied as { reason: string }).reason)).toMatchObject({ code: 4403 });

    const raw = await RawClient.connect(t.wsUrl, userDocName("default", "uma"), alice);
    await raw.handshake();
    const before = Y.encodeStateVector(raw.doc);
    raw.doc.getMap("dialogs").set(`${dialog.id}/pinned`, "very");
    raw.sendUpdate(Y.encodeStateAsUpdate(raw.doc, before));
    const closed = await raw.waitFor((event) => event.type === "closed");
    raw.close();
    expect(closed).toMatchObject({ reason: expect.stringMatching(/^4422 invalid_update/) });
    expect((await list(t, alice)).items.find((item) => item.id === dialog.id)?.is_pinned).toBe(true);
  });
});

describe("dialog kinds and reactions", () => {
  test("direct dialogs are one per pair, self dialogs one per user", async () => {
    const { t } = fixture;
    const [alice, bob] = await Promise.all([tokenFor("dina"), tokenFor("dan")]);
    const created = await Promise.all([
      t.api<{ data: { id: string; type: string } }>("POST", "/api/v1/dialogs/direct", { user_id: "dan", display_name: "Dan" }, alice),
      t.api<{ data: { id: string; type: string } }>("POST", "/api/v1/dialogs/direct", { user_id: "dan" }, alice),
      t.api<{ data: { id: string; type: string } }>("POST", "/api/v1/dialogs/direct", { user_id: "dina" }, bob),
    ]);
    expect(created.map((response) => response.status)).toEqual([200, 200, 200]);
    expect(new Set(created.map((response) => response.body.data.id)).size).toBe(1);
    expect(created[0]?.body.data.type).toBe("direct");
    const directId = created[0]?.body.data.id as string;
    expect((await list(t, bob)).items.find((item) => item.id === directId)).toMatchObject({ type: "direct" });
    await send(t, directId, bob, "hi dina");

    const self = await t.api<{ data: { id: string; type: string } }>("POST", "/api/v1/dialogs/self", undefined, alice);
    const again = await t.api<{ data: { id: string } }>("POST", "/api/v1/dialogs/direct", { user_id: "dina" }, alice);
    expect(self.body.data.type).toBe("self");
    expect(again.body.data.id).toBe(self.body.data.id);
    expect(await t.api("GET", `/api/v1/dialogs/${self.body.data.id}`, undefined, bob)).toMatchObject({ status: 404 });
  });

  test("in a channel only admins post; everyone reacts, each with their own reactions", async () => {
    const { t } = fixture;
    const { body } = await t.api<{ data: { id: string; type: string } }>("POST", "/api/v1/management/dialogs", {
      type: "channel",
      object_type: "news",
      object_id: `news-${Date.now()}`,
      title: "Announcements",
      participants: [
        { user_id: "editor", display_name: "Editor", role: "admin" },
        { user_id: "reader", display_name: "Reader" },
      ],
    });
    expect(body.data.type).toBe("channel");
    const channel = body.data.id;
    const [editor, reader] = await Promise.all([tokenFor("editor"), tokenFor("reader")]);
    const post = await send(t, channel, editor, "we ship on Friday");
    expect(await t.api("POST", `/api/v1/dialogs/${channel}/messages`, { content: "me too" }, reader)).toMatchObject({
      status: 403,
      body: { error: { code: "forbidden", message: "only admins post in a channel" } },
    });

    const thumbs = encodeURIComponent("👍");
    expect(await t.api("PUT", `/api/v1/dialogs/${channel}/messages/${post}/reactions/${thumbs}`, undefined, reader)).toMatchObject({
      status: 200,
      body: { data: { reactions: { "👍": ["reader"] } } },
    });
    expect(await t.api("PUT", `/api/v1/dialogs/${channel}/messages/${post}/reactions/${thumbs}`, undefined, editor)).toMatchObject({
      body: { data: { reactions: { "👍": ["editor", "reader"] } } },
    });
    expect(await t.api("DELETE", `/api/v1/dialogs/${channel}/messages/${post}/reactions/${thumbs}`, undefined, reader)).toMatchObject({
      body: { data: { reactions: { "👍": ["editor"] } } },
    });
    expect(
      await t.api("PUT", `/api/v1/dialogs/${channel}/messages/${post}/reactions/${encodeURIComponent("two words")}`, undefined, reader),
    ).toMatchObject({
      status: 400,
      body: { error: { code: "bad_request" } },
    });
  });
});

describe("auto-archive", () => {
  const quick = useServer("external", "auto_archive", { ARCHIVE_AFTER_SECS: "1" });

  test("a quiet dialog is archived for its participants and in its document; a new message unarchives it", async () => {
    const { t } = quick;
    const [alice, bob] = await Promise.all([tokenFor("ann"), tokenFor("bill")]);
    const dialog = await createDialog(t, ["ann", "bill"], { title: "goes quiet" });
    const last = await send(t, dialog.id, bob, "see you next month");

    const archivedFor = async (token: string) => (await list(t, token, "?archived=true")).items.some((item) => item.id === dialog.id);
    await eventually(async () => (await archivedFor(alice)) && (await archivedFor(bob)), { what: "auto-archive" });
    expect((await list(t, alice)).items.map((item) => item.id)).not.toContain(dialog.id);
    // Clients learn it from the meta document, so the SDK shows it offline too.
    const meta = await openDoc(quick.socket(), `dialog/${dialog.id}`, alice);
    expect(meta.document.getMap("meta").get("autoArchivedThrough")).toBe(last);

    // Ann brings it back; the sweeper leaves her choice alone while nothing new arrives.
    await t.api("POST", `/api/v1/dialogs/${dialog.id}/unarchive`, undefined, alice);
    expect(await archivedFor(alice)).toBe(false);
    expect(await t.server.archiver.sweep()).toBe(0);
    expect(await archivedFor(alice)).toBe(false);
    expect(await archivedFor(bob)).toBe(true);

    await send(t, dialog.id, alice, "actually, one more thing");
    expect(await archivedFor(bob)).toBe(false);
    expect((await list(t, bob)).items.find((item) => item.id === dialog.id)).toMatchObject({ is_archived: false, unread_count: 1 });
  });
});
