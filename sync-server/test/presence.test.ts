import type { HocuspocusProvider } from "@hocuspocus/provider";
import type { Document } from "@hocuspocus/server";
import { metaDocName } from "@mtchat/protocol";
import { beforeAll, describe, expect, test } from "vitest";
import { openDoc, RawClient } from "./clients.ts";
import { createDialog, tokenFor, useServer } from "./harness.ts";
import { until } from "./wait.ts";

type State = Record<string, unknown> & { user?: { id: string; name: string | null } };

/** Sends an empty update and waits for its acknowledgement: everything the client sent before it has been handled. */
const acknowledgedAfter = async (raw: RawClient) => {
  const seen = new Set(raw.events);
  raw.sendUpdate(new Uint8Array([0, 0]));
  await raw.waitFor((event) => !seen.has(event) && event.type === "status");
};

/** Presence, as the server stamps and relays it: the user on every state, and no more states than clients need. */
describe("presence on external PostgreSQL", () => {
  const fixture = useServer("external", "presence");
  let meta: string;
  let alice: HocuspocusProvider;
  let bob: HocuspocusProvider;

  const serverDoc = () => fixture.t.server.hocuspocus.documents.get(meta) as Document;
  const serverStates = () => serverDoc().awareness.getStates() as Map<number, State>;
  const statesOf = (user: string) => [...serverStates().entries()].filter(([, state]) => state.user?.id === user);
  const serverUntil = <T>(check: () => T | undefined | false, what: string) =>
    until(
      check,
      (notify) => {
        serverDoc().awareness.on("update", notify);
        return () => serverDoc().awareness.off("update", notify);
      },
      { what },
    );
  const bobUntil = <T>(check: () => T | undefined | false, what: string) =>
    until(
      check,
      (notify) => {
        bob.awareness?.on("change", notify);
        return () => bob.awareness?.off("change", notify);
      },
      { what },
    );

  beforeAll(async () => {
    const dialog = await createDialog(fixture.t, ["alice", "bob", "mallory"]);
    meta = metaDocName(dialog.id);
    alice = await openDoc(fixture.socket(), meta, await tokenFor("alice", { name: "Alice A." }));
    bob = await openDoc(fixture.socket(), meta, await tokenFor("bob"));
  });

  test("an honest client's presence is stamped with its user and holds one state, however often it changes", async () => {
    for (let round = 1; round <= 5; round += 1) alice.setAwarenessField("typing", round);
    await bobUntil(() => [...(bob.awareness?.getStates().values() ?? [])].some((state) => state.typing === 5), "Alice typing at Bob");
    const mine = alice.document.clientID;
    expect(bob.awareness?.getStates().get(mine)).toMatchObject({ typing: 5, user: { id: "alice", name: "Alice A." } });
    // One state per client: no stray entry from how the server decodes each frame.
    expect(statesOf("alice").map(([clientId]) => clientId)).toEqual([mine]);
    expect([...(bob.awareness?.getStates().values() ?? [])].filter((state) => state.user?.id === "alice")).toHaveLength(1);
  });

  test("a client cannot speak for another user's client id, nor stamp itself as someone else", async () => {
    const mallory = await RawClient.connect(fixture.t.wsUrl, meta, await tokenFor("mallory"));
    try {
      await mallory.handshake();
      const alicesId = alice.document.clientID;
      mallory.sendAwareness([
        [alicesId, 1_000, { typing: 0, user: { id: "alice", name: "Alice A." } }],
        [77_000_001, 1, { online: 1, user: { id: "alice", name: "Alice A." } }],
      ]);
      await serverUntil(() => serverStates().has(77_000_001), "mallory's own state");
      expect(serverStates().get(77_000_001)?.user).toEqual({ id: "mallory", name: "mallory" });
      expect(serverStates().get(alicesId)).toMatchObject({ typing: 5, user: { id: "alice" } });
    } finally {
      mallory.close();
    }
    // Its states go with its connection.
    await serverUntil(() => statesOf("mallory").length === 0, "mallory's states removed");
  });

  test("one connection brings at most four client ids, a user sixteen, and a state no more than 4 KiB", async () => {
    const connections = await Promise.all(
      Array.from({ length: 5 }, async () => {
        const raw = await RawClient.connect(fixture.t.wsUrl, meta, await tokenFor("mallory"));
        await raw.handshake();
        return raw;
      }),
    );
    try {
      let next = 88_000_000;
      for (const raw of connections) {
        raw.sendAwareness(Array.from({ length: 10 }, () => [next++, 1, { online: 1 }] as const));
        raw.sendAwareness([[next++, 1, { note: "x".repeat(5000) }]]);
      }
      // A connection handles its messages in order: once an empty update after them is acknowledged, they are done.
      await Promise.all(connections.map((raw) => acknowledgedAfter(raw)));
      expect(statesOf("mallory")).toHaveLength(16);
      expect(statesOf("mallory").some(([, state]) => "note" in state)).toBe(false);
      // Bob, who relays nothing, saw no more than the server kept.
      expect([...(bob.awareness?.getStates().values() ?? [])].filter((state) => state.user?.id === "mallory").length).toBeLessThanOrEqual(
        16,
      );
      // An honest user is not crowded out.
      alice.setAwarenessField("typing", 6);
      await bobUntil(() => bob.awareness?.getStates().get(alice.document.clientID)?.typing === 6, "Alice typing again");
    } finally {
      for (const raw of connections) raw.close();
    }
  });
});
