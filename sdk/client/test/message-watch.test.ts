import { describe, expect, test } from "vitest";
import WebSocket from "ws";
import { createDialog, tokenFor, useServer } from "../../../sync-server/test/harness.ts";
import { eventually, until } from "../../../sync-server/test/wait.ts";
import { ChatClient, type IncomingMessage } from "../src/index.ts";

/** The client's `message` event against the real server and PostgreSQL, in Node. */
const fixture = useServer("external", "sdk_message_watch");

/**
 * A client of `userId` that listens for `message` from the start, once its
 * baseline has been read (the watch's list of archived dialogs answered: what
 * was there before is history, and a message sent meanwhile would be part of it).
 */
const watching = async (userId: string, reconnect = { minDelayMs: 20, maxDelayMs: 200 }) => {
  const client = new ChatClient({ url: fixture.t.httpUrl, token: () => tokenFor(userId), persistence: false, WebSocket, reconnect });
  await client.start();
  const listDialogs = client.rest.listDialogs.bind(client.rest);
  const baselined = new Promise<void>((resolve) => {
    client.rest.listDialogs = (query = {}) => {
      const answer = listDialogs(query);
      if (query.archived) void answer.then(() => resolve());
      return answer;
    };
  });
  const heard: IncomingMessage[] = [];
  const heardMore = (count: number, what: string) =>
    until(
      () => heard.length >= count,
      (notify) => client.on("message", notify),
      { what, timeoutMs: 15_000 },
    );
  client.on("message", (message) => heard.push(message));
  await baselined;
  return { client, heard, heardMore };
};

const send = async (dialogId: string, userId: string, content: string) => {
  const response = await fixture.t.api<{ data: { id: string } }>(
    "POST",
    `/api/v1/dialogs/${dialogId}/messages`,
    { content },
    await tokenFor(userId),
  );
  expect(response.status).toBe(201);
  return response.body.data.id;
};

type Connection = { context: unknown; webSocket: { close(code?: number, reason?: string): void } };

describe("the message event", () => {
  test("once per message from someone else: not history, not the user's own, not system messages", async () => {
    const dialog = await createDialog(fixture.t, ["alice", "bob"], { title: "Order #7 · pallets" });
    await send(dialog.id, "bob", "said before alice looked");
    // Projected before Alice's client starts, so it is history to her.
    await eventually(async () => {
      const history = await fixture.t.api<{ data: { messages: { content: string }[] } }>(
        "GET",
        `/api/v1/dialogs/${dialog.id}/messages`,
        undefined,
        await tokenFor("alice"),
      );
      return history.body.data.messages.some((message) => message.content === "said before alice looked");
    });
    const alice = await watching("alice");

    const hello = await send(dialog.id, "bob", "hello   there,\n alice");
    await send(dialog.id, "alice", "alice's own");
    await fixture.t.api("POST", `/api/v1/management/dialogs/${dialog.id}/participants`, { user_id: "carol", display_name: "Carol" });
    await send(dialog.id, "carol", "carol joined and wrote");
    await alice.heardMore(2, "two messages");
    expect(alice.heard[0]).toEqual({
      dialogId: dialog.id,
      dialogTitle: "Order #7 · pallets",
      senderId: "bob",
      senderName: "BOB",
      preview: "hello there, alice",
      messageId: hello,
      sentAt: expect.any(String),
      muted: false,
    });
    // A sender who joined after the watch first read the dialog is named too.
    expect(alice.heard.map((message) => [message.senderName, message.preview])).toEqual([
      ["BOB", "hello there, alice"],
      ["Carol", "carol joined and wrote"],
    ]);
    alice.client.destroy();
  });

  test("after the socket comes back, what arrived meanwhile is heard once and nothing is heard again", async () => {
    const dialog = await createDialog(fixture.t, ["alice", "bob"]);
    const alice = await watching("alice", { minDelayMs: 500, maxDelayMs: 1000 });
    await send(dialog.id, "bob", "one");
    await alice.heardMore(1, "the first message");

    const statuses: string[] = [];
    const back = until(
      () => statuses.includes("disconnected") && statuses.at(-1) === "connected",
      (notify) =>
        alice.client.on("status", (status) => {
          statuses.push(status);
          notify();
        }),
      { what: "the socket to come back" },
    );
    // The server drops Alice's socket (a deploy, a network change): every document on it syncs again.
    const connections = [...fixture.t.server.hocuspocus.documents.values()]
      .flatMap((document) => [...document.connections.keys()] as Connection[])
      .filter((connection) => (connection.context as { user?: { userId?: string } } | undefined)?.user?.userId === "alice");
    expect(connections.length).toBeGreaterThan(0);
    for (const connection of connections) connection.webSocket.close(1001, "going away");
    // Sent while she is away (or just after: either way it must be heard once).
    await send(dialog.id, "bob", "two");
    await back;
    await send(dialog.id, "bob", "three");
    await alice.heardMore(3, "every message");
    await send(dialog.id, "bob", "four");
    await alice.heardMore(4, "the sentinel");
    expect(alice.heard.map((message) => message.preview)).toEqual(["one", "two", "three", "four"]);
    alice.client.destroy();
  });

  test("says when the user muted the dialog, for alerts to stay quiet", async () => {
    const dialog = await createDialog(fixture.t, ["alice", "bob"]);
    const alice = await watching("alice");
    const state = await alice.client.openUserState();
    state.setNotifications(dialog.id, false);
    await send(dialog.id, "bob", "psst");
    await alice.heardMore(1, "the muted message");
    expect(alice.heard[0]).toMatchObject({ preview: "psst", muted: true });
    state.setNotifications(dialog.id, true);
    await send(dialog.id, "bob", "loud");
    await alice.heardMore(2, "the unmuted message");
    expect(alice.heard[1]).toMatchObject({ preview: "loud", muted: false });
    alice.client.destroy();
  });
});
