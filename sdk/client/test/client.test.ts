import { metaDocName } from "@mtchat/protocol";
import { describe, expect, test } from "vitest";
import WebSocket from "ws";
import { createDialog, tokenFor, useServer } from "../../../sync-server/test/harness.ts";
import { eventually, until } from "../../../sync-server/test/wait.ts";
import { ChatClient, type DialogSession } from "../src/index.ts";

/** The client core against the real server and PostgreSQL; IndexedDB is the browser tests' part. */
const fixture = useServer("external", "sdk_client");

const clientFor = async (userId: string) => {
  let calls = 0;
  const client = new ChatClient({
    url: fixture.t.httpUrl,
    token: () => {
      calls += 1;
      return tokenFor(userId);
    },
    persistence: false,
    WebSocket,
    reconnect: { minDelayMs: 20, maxDelayMs: 200 },
  });
  await client.start();
  return { client, calls: () => calls };
};

const changed = <T>(session: DialogSession, check: () => T | undefined | false, what: string) =>
  until(check, (notify) => session.on("change", notify), { what });

type CloseEvent = { code: number; reason: string };
type ServerConnection = { context: unknown; close(event: CloseEvent): void; webSocket: { close(code?: number, reason?: string): void } };

/** The server's live connections of a user to some documents (Hocuspocus keeps one per document and socket). */
const connectionsOf = (userId: string, docNames: string[]): ServerConnection[] =>
  [...fixture.t.server.hocuspocus.documents.values()]
    .filter((document) => docNames.includes(document.name))
    .flatMap((document) => [...document.connections.keys()] as ServerConnection[])
    .filter((connection) => (connection.context as { user?: { userId?: string } } | undefined)?.user?.userId === userId);

/** The dialog's documents open on the server: its meta document first, then its segments. */
const docNamesOf = (dialogId: string) =>
  [...fixture.t.server.hocuspocus.documents.keys()]
    .filter((name) => name === metaDocName(dialogId) || name.startsWith(`${metaDocName(dialogId)}/seg/`))
    .sort();

/** How many messages with this text the REST history holds, once the projection has one. */
const inHistory = (client: ChatClient, dialogId: string, text: string) =>
  eventually(async () => {
    const page = await client.rest.history(dialogId);
    const count = page.messages.filter((message) => message.content === text).length;
    return count > 0 ? count : undefined;
  });

describe("client core", () => {
  test("a rich message goes out pending, is acknowledged, arrives live, and read cursors show who has seen it", async () => {
    const dialog = await createDialog(fixture.t, ["alice", "bob"]);
    const { client: alice } = await clientFor("alice");
    const { client: bob } = await clientFor("bob");
    const aliceDialog = await alice.openDialog(dialog.id);
    const bobDialog = await bob.openDialog(dialog.id);
    await changed(aliceDialog, () => aliceDialog.synced, "alice synced");

    const id = aliceDialog.send({
      body: {
        type: "doc",
        content: [
          {
            type: "paragraph",
            content: [
              { type: "text", text: "Hello " },
              { type: "mention", attrs: { id: "bob", label: "BOB" } },
              { type: "text", text: " now", marks: [{ type: "bold" }] },
            ],
          },
        ],
      },
    });
    expect(aliceDialog.messages().find((message) => message.id === id)?.pending).toBe(true);
    await changed(aliceDialog, () => aliceDialog.messages().find((message) => message.id === id)?.pending === false, "acknowledgement");

    const received = await changed(bobDialog, () => bobDialog.messages().find((message) => message.id === id), "bob receives");
    expect(received.text).toBe("Hello @BOB now");
    expect(received.pending).toBe(false);
    expect(bobDialog.firstUnread()).toBe(id);

    bobDialog.markRead(id);
    expect(bobDialog.firstUnread()).toBeNull();
    await changed(aliceDialog, () => aliceDialog.seenBy(id).includes("bob"), "alice sees bob's receipt");

    // The REST history holds it too, once the projection wrote it.
    const history = await eventually(async () => {
      const page = await alice.rest.history(dialog.id);
      return page.messages.find((message) => message.id === id);
    });
    expect(history.content).toBe("Hello @BOB now");
    alice.destroy();
    bob.destroy();
  });

  test("presence and typing travel through awareness, stamped by the server", async () => {
    const dialog = await createDialog(fixture.t, ["alice", "bob"]);
    const { client: alice } = await clientFor("alice");
    const { client: bob } = await clientFor("bob");
    const aliceDialog = await alice.openDialog(dialog.id);
    const bobDialog = await bob.openDialog(dialog.id);
    await changed(aliceDialog, () => aliceDialog.presence().some((user) => user.userId === "bob"), "bob online");
    bobDialog.setTyping(true);
    await changed(aliceDialog, () => aliceDialog.presence().find((user) => user.userId === "bob")?.typing, "bob typing");
    bobDialog.setTyping(false);
    await changed(aliceDialog, () => aliceDialog.presence().find((user) => user.userId === "bob")?.typing === false, "bob stopped");

    // A typist who goes quiet without saying so (a frozen tab): the mark lapses and views hear of it.
    bobDialog.setTyping(true);
    await changed(aliceDialog, () => aliceDialog.presence().find((user) => user.userId === "bob")?.typing, "bob typing again");
    await until(
      () => aliceDialog.presence().find((user) => user.userId === "bob")?.typing === false,
      (notify) => aliceDialog.on("change", notify),
      { what: "the typing mark to lapse", timeoutMs: 15_000 },
    );
    alice.destroy();
    bob.destroy();
  });

  test("removed from a dialog: the user is told why, and what they wrote stays, pending", async () => {
    const dialog = await createDialog(fixture.t, ["alice", "carol"]);
    const { client: carol } = await clientFor("carol");
    const refusals: string[] = [];
    carol.on("refused", (refusal) => refusals.push(refusal.kind));
    const session = await carol.openDialog(dialog.id);
    await changed(session, () => session.synced, "carol synced");

    const removed = await fixture.t.api("DELETE", `/api/v1/management/dialogs/${dialog.id}/participants/carol`);
    expect(removed.status).toBe(200);
    await changed(session, () => session.refusal ?? undefined, "the refusal");
    expect(session.refusal).toMatchObject({ code: 4403, kind: "forbidden" });
    expect(refusals).toContain("forbidden");

    const id = session.send({ body: "written after removal" });
    const kept = session.messages().find((message) => message.id === id);
    expect(kept).toMatchObject({ text: "written after removal", pending: true });

    // Added back, she tries again on the same socket: what she wrote goes out.
    const added = await fixture.t.api("POST", `/api/v1/management/dialogs/${dialog.id}/participants`, {
      user_id: "carol",
      display_name: "Carol",
      role: "member",
    });
    expect(added.status).toBeLessThan(300);
    session.retry();
    await changed(session, () => session.messages().find((message) => message.id === id)?.pending === false, "acknowledged after retry");
    expect(session.refusal).toBeNull();
    carol.destroy();
  });

  test("closed by the server without a refusal, a dialog reattaches by itself and what was written meanwhile arrives once", async () => {
    const dialog = await createDialog(fixture.t, ["alice", "bob"]);
    const { client: alice } = await clientFor("alice");
    const { client: bob } = await clientFor("bob");
    const refusals: string[] = [];
    alice.on("refused", (refusal) => refusals.push(refusal.kind));
    const aliceDialog = await alice.openDialog(dialog.id);
    const bobDialog = await bob.openDialog(dialog.id);
    await changed(aliceDialog, () => aliceDialog.synced, "alice synced");
    await changed(bobDialog, () => bobDialog.synced, "bob synced");
    const docNames = docNamesOf(dialog.id);

    // A document closed on a live socket (the server could not load or log it, reset it, or is shedding load):
    // nothing but the client brings it back. The socket itself closing is the provider's to reopen (1001 last).
    const closes: [string, (connection: ServerConnection) => void][] = [
      ["4503 unavailable", (connection) => connection.close({ code: 4503, reason: "4503 unavailable: reconnect" })],
      ["4429 rate_limited", (connection) => connection.close({ code: 4429, reason: "4429 rate_limited: slow down" })],
      // What Hocuspocus itself sends when a hook throws something else than a close event (its ResetConnection).
      ["Reset Connection", (connection) => connection.close({ code: 4205, reason: "Reset Connection" })],
      ["1001 socket close", (connection) => connection.webSocket.close(1001, "server shutting down")],
    ];
    for (const [what, close] of closes) {
      const connections = connectionsOf("alice", docNames);
      expect(connections, what).toHaveLength(2);
      for (const connection of what.startsWith("1001") ? connections.slice(0, 1) : connections) close(connection);
      await changed(aliceDialog, () => !aliceDialog.synced, `alice detached (${what})`);

      const text = `written while detached (${what})`;
      const id = aliceDialog.send({ body: text });
      expect(aliceDialog.messages().find((message) => message.id === id)?.pending).toBe(true);
      await changed(
        aliceDialog,
        () => aliceDialog.synced && aliceDialog.messages().find((message) => message.id === id)?.pending === false,
        `reattached and acknowledged (${what})`,
      );
      await changed(bobDialog, () => bobDialog.messages().find((message) => message.id === id), `bob receives it (${what})`);
      expect(
        bobDialog.messages().filter((message) => message.text === text),
        what,
      ).toHaveLength(1);
      expect(await inHistory(bob, dialog.id, text), what).toBe(1);
      expect(connectionsOf("alice", docNames), what).toHaveLength(2);
    }
    expect(refusals).toEqual([]);
    expect(aliceDialog.refusal).toBeNull();
    alice.destroy();
    bob.destroy();
  });

  test("a refusal is not retried: the document stays closed, with what was written, until the user retries", async () => {
    const dialog = await createDialog(fixture.t, ["alice", "bob"]);
    const { client: alice } = await clientFor("alice");
    const session = await alice.openDialog(dialog.id);
    await changed(session, () => session.synced, "alice synced");
    const docNames = docNamesOf(dialog.id);
    const [segment] = connectionsOf("alice", docNames.slice(1));
    // Alice is still a participant: an attach would succeed, so any retry would show as a new connection.
    segment?.close({ code: 4403, reason: "4403 forbidden: you may not write here" });
    await changed(session, () => session.refusal ?? undefined, "the refusal");
    expect(session.refusal).toMatchObject({ code: 4403, kind: "forbidden" });
    const id = session.send({ body: "kept, not sent" });

    // Several times the longest reconnect delay (200 ms here): a retry loop would have attached again by now.
    // (A fixed wait: nothing happens that an event could announce.)
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(connectionsOf("alice", docNames.slice(1))).toHaveLength(0);
    expect(connectionsOf("alice", docNames.slice(0, 1))).toHaveLength(1);
    expect(session.messages().find((message) => message.id === id)?.pending).toBe(true);

    session.retry();
    await changed(session, () => session.messages().find((message) => message.id === id)?.pending === false, "sent after retry");
    alice.destroy();
  });

  test("a refused forgery is dropped by reloading from the server; the user's own unsent text comes back", async () => {
    const dialog = await createDialog(fixture.t, ["alice", "bob"]);
    const { client: alice } = await clientFor("alice");
    const { client: bob } = await clientFor("bob");
    const aliceDialog = await alice.openDialog(dialog.id);
    await changed(aliceDialog, () => aliceDialog.synced, "alice synced");
    const target = aliceDialog.send({ body: "alice's words" });
    let session = await bob.openDialog(dialog.id);
    await changed(session, () => session.entry(target) ?? undefined, "bob has alice's message");

    const body = session.entry(target)?.get("body") as { length: number; delete(at: number, n: number): void };
    body.delete(0, body.length);
    await changed(session, () => session.refusal ?? undefined, "the refusal");
    const unsent = session.send({ body: "bob's unsent words" });
    expect(session.messages().find((message) => message.id === unsent)?.pending).toBe(true);

    const bodies = await session.discardRefused();
    expect(bodies.map((node) => JSON.stringify(node))).toEqual([expect.stringContaining("bob's unsent words")]);
    session = await bob.openDialog(dialog.id);
    await changed(
      session,
      () => session.synced && session.messages().find((message) => message.id === target)?.text === "alice's words",
      "the server's copy",
    );
    expect(session.messages().some((message) => message.id === unsent)).toBe(false);
    expect(session.refusal).toBeNull();
    const again = session.send({ body: bodies[0] ?? "" });
    await changed(
      aliceDialog,
      () => aliceDialog.messages().find((message) => message.id === again)?.text === "bob's unsent words",
      "alice receives it",
    );
    alice.destroy();
    bob.destroy();
  });

  test("the server pushes dialog activity to the user's own document once the projection has it", async () => {
    const dialog = await createDialog(fixture.t, ["alice", "bob"]);
    const { client: alice } = await clientFor("alice");
    const { client: bob } = await clientFor("bob");
    const { client: carol } = await clientFor("carol");
    const bobState = await bob.openUserState();
    const carolState = await carol.openUserState();
    await bobState.synced.whenSynced();
    await carolState.synced.whenSynced();
    const session = await alice.openDialog(dialog.id);
    await changed(session, () => session.synced, "alice synced");
    // The dialog's creation is projected (and pushed) first; listen from then on.
    await eventually(async () => (await bob.rest.listDialogs()).items.find((item) => item.id === dialog.id));
    // On each push Bob's client asks for the list, as the SDK does: one of them must show the new message.
    const seenAfterPush: (number | undefined)[] = [];
    bobState.on("activity", (dialogs) => {
      if (!dialogs.includes(dialog.id)) return;
      void bob.rest.listDialogs().then((list) => seenAfterPush.push(list.items.find((item) => item.id === dialog.id)?.unread_count));
    });
    const carolPushed: string[][] = [];
    carolState.on("activity", (dialogs) => carolPushed.push(dialogs));

    session.send({ body: "a push for bob" });
    await eventually(async () => (seenAfterPush.includes(1) ? true : undefined));
    // Carol takes no part: she hears nothing of it.
    expect(carolPushed.flat()).not.toContain(dialog.id);
    alice.destroy();
    bob.destroy();
    carol.destroy();
  });

  test("REST helpers: lists with unread counts, search, and a refused call's error code", async () => {
    const dialog = await createDialog(fixture.t, ["alice", "bob"], { title: "Searchable lighthouse" });
    const { client: alice } = await clientFor("alice");
    const { client: bob } = await clientFor("bob");
    const session = await alice.openDialog(dialog.id);
    await changed(session, () => session.synced, "synced");
    session.send({ body: "the lighthouse keeper waves" });
    const listed = await eventually(async () => {
      const list = await bob.rest.listDialogs();
      const item = list.items.find((entry) => entry.id === dialog.id);
      return item?.unread_count === 1 ? item : undefined;
    });
    expect(listed.title).toBe("Searchable lighthouse");
    const hits = await bob.rest.search("lighthouse");
    expect(hits.results.some((hit) => hit.dialog_id === dialog.id)).toBe(true);
    await expect(bob.rest.getDialog("01890a5d-ac96-774b-b9aa-0000000000ff")).rejects.toMatchObject({ status: 404, code: "not_found" });
    alice.destroy();
    bob.destroy();
  });
});

describe("a dialog longer than one segment", () => {
  const small = useServer("external", "sdk_client_segments", { SEGMENT_SIZE: "3" });

  test("opening loads the head segment only; scrolling back and jumping load older ones", async () => {
    const dialog = await createDialog(small.t, ["alice", "bob"]);
    const ids: string[] = [];
    for (let index = 0; index < 8; index += 1) {
      const { status, body } = await small.t.api<{ data: { id: string } }>(
        "POST",
        `/api/v1/dialogs/${dialog.id}/messages`,
        { content: `message ${index}` },
        await tokenFor("alice"),
      );
      expect(status).toBe(201);
      ids.push(body.data.id);
    }
    // Bob has read up to message 1, which lies in a segment his client has not loaded.
    await eventually(async () => {
      const page = await small.t.api("POST", `/api/v1/dialogs/${dialog.id}/read`, { message_id: ids[1] }, await tokenFor("bob"));
      return page.status === 200 ? page : undefined;
    });
    const bob = new ChatClient({ url: small.t.httpUrl, token: () => tokenFor("bob"), persistence: false, WebSocket });
    await bob.start();
    const session = await bob.openDialog(dialog.id);
    // Nine entries in segments of three: the head is segment 2 or, once it moved on, an empty segment 3.
    await changed(session, () => bob.status === "connected" && session.synced && session.readCursor() === ids[1], "bob's cursor");
    const first = ids[0] as string;
    expect(session.messages().some((message) => message.id === first)).toBe(false);
    expect(session.hasOlder).toBe(true);

    // The first unread (message 2, segment 1) is in no loaded segment: the server finds it, the client alone cannot.
    expect(session.messages().some((message) => message.id === ids[2])).toBe(false);
    expect(session.firstUnread()).not.toBe(ids[2]);
    expect(await session.findFirstUnread()).toBe(ids[2]);

    // Jumping: the REST history shows the message at once, then its segment loads and it goes live.
    expect(await session.ensureLoaded(first)).toBe(true);
    expect(session.messages().find((message) => message.id === first)).toMatchObject({ text: "message 0", author: "alice" });
    await changed(session, () => session.messages().find((message) => message.id === first)?.live, "message 0 live");
    await changed(
      session,
      () => session.messages().filter((message) => message.kind === "text" && message.live).length === 8,
      "every message live",
    );
    expect(
      session
        .messages()
        .filter((message) => message.kind === "text")
        .map((message) => message.text),
    ).toEqual(ids.map((_, index) => `message ${index}`));
    expect(session.messages().find((message) => message.kind === "system")).toMatchObject({
      system: { event: "chat_created" },
      live: true,
    });
    expect(await session.ensureLoaded("01890a5d-ac96-774b-b9aa-0000000000ee")).toBe(false);
    bob.destroy();
  });

  test("scrolling back shows a page of REST history at once, in order, and says when the beginning is reached", async () => {
    const dialog = await createDialog(small.t, ["alice", "bob"]);
    const token = await tokenFor("alice");
    const ids: string[] = [];
    for (let index = 0; index < 7; index += 1) {
      const { body } = await small.t.api<{ data: { id: string } }>(
        "POST",
        `/api/v1/dialogs/${dialog.id}/messages`,
        { content: `m${index}` },
        token,
      );
      ids.push(body.data.id);
    }
    const bob = new ChatClient({ url: small.t.httpUrl, token: () => tokenFor("bob"), persistence: false, WebSocket });
    await bob.start();
    const session = await bob.openDialog(dialog.id);
    await changed(session, () => bob.status === "connected" && session.synced, "bob connected");
    // The projection has to hold the oldest shown message for the history to page before it.
    await eventually(async () => ((await bob.rest.history(dialog.id)).messages.length === 8 ? true : undefined));
    // Seven messages in segments of three: the head holds only some of them (how many depends on when the
    // server moved the head between the sends; a segment takes up to twice its size).
    const shownBefore = session.messages().length;
    expect(shownBefore).toBeLessThan(ids.length);
    expect(await session.loadOlder()).toBe(true);
    const shown = session.messages();
    expect(shown.filter((message) => message.kind === "text").map((message) => message.text)).toEqual(ids.map((_, index) => `m${index}`));
    expect(session.hasOlder).toBe(false);
    expect(await session.loadOlder()).toBe(false);
    bob.destroy();
  });
});
