import { createMessage, messagesOf, metaDocName, readMessage, segmentDocName } from "@mtchat/protocol";
import { v7 as uuidv7 } from "uuid";
import { describe, expect, test } from "vitest";
import { acknowledged, docUntil, openDoc } from "./clients.ts";
import { createDialog, storages, tokenFor, useServer } from "./harness.ts";

const textsOf = (doc: import("yjs").Doc) =>
  [...messagesOf(doc).entries()]
    .map(([id, entry]) => readMessage(id, entry))
    .filter((message) => message.kind === "text")
    .sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id))
    .map((message) => message.text);

describe.each(storages)("two real clients on %s PostgreSQL", (storage) => {
  const fixture = useServer(storage, "two_clients");

  test("A sends, B receives; B writes three messages offline; both converge and PostgreSQL holds each once", async () => {
    const dialog = await createDialog(fixture.t, ["alice", "bob"]);
    const segment = segmentDocName(dialog.id, 0);
    const aliceSocket = fixture.socket();
    const bobSocket = fixture.socket();
    const alice = await openDoc(aliceSocket, segment, await tokenFor("alice"));
    const bob = await openDoc(bobSocket, segment, await tokenFor("bob"));
    const meta = await openDoc(bobSocket, metaDocName(dialog.id), await tokenFor("bob"));
    expect(meta.document.getMap("meta").get("title")).toBe("Order chat");

    createMessage(alice.document, { id: uuidv7(), author: "alice", createdAt: Date.now(), text: "Hi Bob, is the order ready?" });
    await acknowledged(alice);
    await docUntil(bob.document, () => textsOf(bob.document).includes("Hi Bob, is the order ready?"), "Bob receiving");

    // Offline: the socket goes away, Bob keeps writing into his local copy.
    bobSocket.disconnect();
    bobSocket.shouldConnect = false;
    const offline = ["Packing now", "Courier booked", "Tracking: 42"];
    for (const [index, text] of offline.entries()) {
      createMessage(bob.document, { id: uuidv7(), author: "bob", createdAt: Date.now() + index, text });
    }
    createMessage(alice.document, { id: uuidv7(), author: "alice", createdAt: Date.now() + 10, text: "Any news?" });
    await acknowledged(alice);
    expect(textsOf(alice.document)).not.toContain("Packing now");

    bobSocket.shouldConnect = true;
    await bobSocket.connect();
    await acknowledged(bob);
    const expected = ["Hi Bob, is the order ready?", ...offline, "Any news?"];
    await docUntil(
      alice.document,
      () => expected.every((text) => textsOf(alice.document).includes(text)),
      "Alice receiving Bob's offline messages",
    );
    await docUntil(bob.document, () => textsOf(bob.document).includes("Any news?"), "Bob receiving Alice's message");
    expect(textsOf(alice.document).sort()).toEqual([...expected].sort());
    expect(textsOf(bob.document)).toEqual(textsOf(alice.document));

    await fixture.t.server.projector.catchUp(segment);
    const { rows } = await fixture.t.server.pool.query<{ body_text: string; author_id: string; n: string }>(
      "SELECT body_text, author_id, count(*) OVER (PARTITION BY id) AS n FROM messages WHERE dialog_id = $1 AND kind = 'text' ORDER BY created_at",
      [dialog.id],
    );
    expect(rows.map((row) => row.body_text).sort()).toEqual([...expected].sort());
    expect(rows.every((row) => row.n === "1")).toBe(true);
    expect(
      rows
        .filter((row) => row.author_id === "bob")
        .map((row) => row.body_text)
        .sort(),
    ).toEqual([...offline].sort());
    const { rows: system } = await fixture.t.server.pool.query("SELECT system FROM messages WHERE dialog_id = $1 AND kind = 'system'", [
      dialog.id,
    ]);
    expect(system).toEqual([{ system: { event: "chat_created", title: "Order chat", created_by: null } }]);
  });
});
