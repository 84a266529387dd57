import { describe, expect, test } from "vitest";
import { Awareness, applyAwarenessUpdate, encodeAwarenessUpdate } from "y-protocols/awareness";
import * as Y from "yjs";
import { admitAwareness, awarenessLimits } from "./awareness-policy.ts";

type State = Record<string, unknown>;

const alice = { userId: "alice", name: "Alice" };
const bob = { userId: "bob", name: null };

/** A frame's states as the hook sees them when Hocuspocus did not add a scratch state (built by hand here). */
const frame = (entries: [number, unknown][]) => new Map(entries as [number, State][]);

const stamped = (user: { userId: string; name: string | null }, fields: State = {}) => ({
  ...fields,
  user: { id: user.userId, name: user.name },
});

/** One document's presence, as the hook's inputs evolve over several frames. */
const presence = () => {
  const present = new Map<number, State>();
  const claims = new Map<number, string>();
  const held = new Map<string, Set<number>>();
  return {
    present,
    claims,
    /** Runs the policy for one frame from `connection`, then applies what is left, as Hocuspocus would. */
    send(connection: string, user: typeof alice | typeof bob, states: Map<number, State>) {
      const connectionHeld = held.get(connection) ?? new Set<number>();
      held.set(connection, connectionHeld);
      const dropped = admitAwareness({ states, user, claims, present, held: connectionHeld });
      for (const [clientId, state] of states) {
        present.set(clientId, state);
        connectionHeld.add(clientId);
      }
      return dropped;
    },
  };
};

describe("awareness policy", () => {
  test("stamps each state with the authenticated user, whatever the client claimed", () => {
    const states = frame([[1, { online: 5, user: { id: "bob", name: "Bob" } }]]);
    const dropped = presence().send("c1", alice, states);
    expect(dropped.size).toBe(0);
    expect(states.get(1)).toEqual(stamped(alice, { online: 5 }));
  });

  test("a client id claimed by one user cannot speak for another", () => {
    const doc = presence();
    doc.send("c1", alice, frame([[1, { online: 1 }]]));
    const states = frame([[1, { online: 2 }]]);
    expect(doc.send("c2", bob, states)).toEqual(new Map([[1, "claimed"]]));
    expect(states.size).toBe(0);
    expect(doc.present.get(1)).toEqual(stamped(alice, { online: 1 }));
    // Alice herself, from another connection (a reload), still may.
    expect(doc.send("c3", alice, frame([[1, { online: 3 }]])).size).toBe(0);
  });

  test("drops the scratch state Hocuspocus's decoding adds in front of every frame", () => {
    // What MessageReceiver does: decode into a fresh Awareness, whose constructor sets its own state {}.
    const client = new Awareness(new Y.Doc());
    client.setLocalStateField("online", 1);
    const scratch = new Awareness(new Y.Doc());
    applyAwarenessUpdate(scratch, encodeAwarenessUpdate(client, [client.clientID]), null);
    const states = scratch.getStates() as Map<number, State>;
    expect(states.size).toBe(2);
    const dropped = presence().send("c1", alice, states);
    expect(dropped).toEqual(new Map([[scratch.clientID, "scratch"]]));
    expect([...states.keys()]).toEqual([client.clientID]);
    client.destroy();
    scratch.destroy();
  });

  test("an empty state the client sent itself, after the first entry, is kept", () => {
    const states = frame([
      [9, {}],
      [1, {}],
    ]);
    expect(presence().send("c1", alice, states)).toEqual(new Map([[9, "scratch"]]));
    expect(states.get(1)).toEqual(stamped(alice));
  });

  test("drops states that are not JSON objects, and states over the size limit", () => {
    const big = { text: "x".repeat(awarenessLimits.maxStateChars) };
    const fits = { text: "x".repeat(awarenessLimits.maxStateChars - '{"text":""}'.length) };
    const states = frame([
      [1, { online: 1 }],
      [2, 5],
      [3, ["a"]],
      [4, "text"],
      [5, big],
      [6, fits],
    ]);
    const dropped = presence().send("c1", alice, states);
    expect(dropped).toEqual(
      new Map([
        [2, "not_an_object"],
        [3, "not_an_object"],
        [4, "not_an_object"],
        [5, "too_large"],
      ]),
    );
    expect([...states.keys()]).toEqual([1, 6]);
  });

  test("a long display name does not count against the client's size limit", () => {
    const longName = { userId: "alice", name: "A".repeat(256) };
    const fits = { text: "x".repeat(awarenessLimits.maxStateChars - '{"text":""}'.length) };
    const states = frame([[1, fits]]);
    const doc = presence();
    expect(doc.send("c1", longName, states).size).toBe(0);
    // Re-sent as relayed (with the stamp), it still fits: the stamp is replaced, not measured.
    expect(doc.send("c1", longName, frame([[1, { ...fits, user: { id: "alice", name: "A".repeat(256) } }]])).size).toBe(0);
  });

  test("a connection brings at most four client ids; updates of those it holds always pass", () => {
    const doc = presence();
    const ids = [1, 2, 3, 4, 5, 6];
    const states = frame(ids.map((id) => [id, { online: 1 }]));
    const dropped = doc.send("c1", alice, states);
    expect([...states.keys()]).toEqual([1, 2, 3, 4]);
    expect(dropped).toEqual(
      new Map([
        [5, "connection_full"],
        [6, "connection_full"],
      ]),
    );
    expect(doc.send("c1", alice, frame([[2, { online: 2 }]])).size).toBe(0);
    expect(doc.send("c1", alice, frame([[7, { online: 2 }]]))).toEqual(new Map([[7, "connection_full"]]));
  });

  test("a user holds at most sixteen states in a document, over all their connections", () => {
    const doc = presence();
    let next = 100;
    for (let connection = 0; connection < 4; connection += 1) {
      const states = frame([0, 1, 2, 3].map(() => [next++, { online: 1 }]));
      expect(doc.send(`c${connection}`, alice, states).size).toBe(0);
    }
    expect(doc.send("c4", alice, frame([[next++, { online: 1 }]]))).toEqual(new Map([[next - 1, "user_full"]]));
    // Another user is not affected, and Alice's existing states still update.
    expect(doc.send("c5", bob, frame([[next++, { online: 1 }]])).size).toBe(0);
    expect(doc.send("c0", alice, frame([[100, { online: 2 }]])).size).toBe(0);
    expect([...doc.present.values()].filter((state) => (state.user as { id: string }).id === "alice")).toHaveLength(16);
  });

  test("claims of client ids no longer present are forgotten once they pile up, never those present", () => {
    const doc = presence();
    for (let id = 1; id <= 300; id += 1) {
      doc.send(`c${id}`, alice, frame([[id, { online: 1 }]]));
      // Each client leaves again (its connection closed).
      doc.present.delete(id);
    }
    doc.send("live", alice, frame([[1000, { online: 1 }]]));
    expect(doc.claims.size).toBeLessThanOrEqual(2 * doc.present.size + 257);
    expect(doc.claims.get(1000)).toBe("alice");
    expect(doc.send("bob", bob, frame([[1000, { online: 1 }]]))).toEqual(new Map([[1000, "claimed"]]));
  });
});
