import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { eventId, uuidv5 } from "./outbox.ts";
import { type DialogRef, messageEvents, type ProjectedMessage, participantEvents } from "./webhook-events.ts";

const ref: DialogRef = { dialogId: "0190a000-0000-7000-8000-000000000001", projectId: "default", objectType: "order", objectId: "o-1" };

const message = (id: string, seq: number, fields: Partial<ProjectedMessage> = {}): ProjectedMessage => ({
  id,
  author_id: "alice",
  kind: "text",
  body_text: `text ${id}`,
  body: { type: "doc" },
  reply_to: null,
  attachments: [],
  created_at: new Date(1_700_000_000_000 + seq),
  edited_at: null,
  deleted: false,
  system: null,
  seq: String(seq),
  existed: false,
  prev_edited_at: null,
  prev_deleted: null,
  ...fields,
});

describe("event ids", () => {
  test("UUIDv5 matches the RFC 4122 reference value", () => {
    const dns = Buffer.from("6ba7b8109dad11d180b400c04fd430c8", "hex");
    expect(uuidv5("www.example.com", dns)).toBe("2ed6657d-e927-568b-95e1-2665a8aea6a2");
  });

  test("the same parts give the same id, and different parts different ids", () => {
    fc.assert(
      fc.property(fc.array(fc.string(), { minLength: 1, maxLength: 4 }), fc.array(fc.string(), { minLength: 1, maxLength: 4 }), (a, b) => {
        expect(eventId(...a)).toBe(eventId(...a));
        if (a.join("\n") !== b.join("\n")) expect(eventId(...a)).not.toBe(eventId(...b));
      }),
    );
  });
});

describe("message events", () => {
  test("new, edited and deleted follow the difference with the replaced rows, in arrival order", () => {
    const edited = new Date(1_700_000_100_000);
    const events = messageEvents(ref, [
      message("m3", 3, { existed: true, deleted: true, prev_deleted: false }),
      message("m1", 1),
      message("m2", 2, { existed: true, edited_at: edited, prev_edited_at: null, prev_deleted: false }),
      message("m4", 4, { existed: true, prev_deleted: false }),
    ]);
    expect(events.map((event) => [event.event, (event.data.message as { id: string }).id])).toEqual([
      ["message.new", "m1"],
      ["message.edited", "m2"],
      ["message.deleted", "m3"],
    ]);
    expect(events[0]?.data).toMatchObject({
      dialog_id: ref.dialogId,
      object_type: "order",
      object_id: "o-1",
      message: { id: "m1", sender_id: "alice", message_type: "text", content: "text m1", seq: 1, last_edited_at: null },
    });
    expect(events[1]?.id).toBe(eventId(ref.dialogId, "message.edited", "m2", edited.getTime()));
  });

  test("a replay from zero derives exactly the ids a step-by-step projection emitted last for each message", () => {
    const editedAt = new Date(1_700_000_200_000);
    // Step by step: created, then edited, then deleted.
    const live = [
      ...messageEvents(ref, [message("m1", 1)]),
      ...messageEvents(ref, [message("m1", 1, { existed: true, edited_at: editedAt, prev_deleted: false })]),
      ...messageEvents(ref, [
        message("m1", 1, { existed: true, edited_at: editedAt, prev_edited_at: editedAt, deleted: true, prev_deleted: false }),
      ]),
    ];
    // From zero: the final state, seen for the first time.
    const replay = messageEvents(ref, [message("m1", 1, { edited_at: editedAt, deleted: true })]);
    expect(live.map((event) => event.event)).toEqual(["message.new", "message.edited", "message.deleted"]);
    expect(replay.map((event) => event.id)).toEqual(live.map((event) => event.id));
    // Rerunning on the same rows changes nothing.
    expect(
      messageEvents(ref, [
        message("m1", 1, { existed: true, edited_at: editedAt, prev_edited_at: editedAt, deleted: true, prev_deleted: true }),
      ]),
    ).toEqual([]);
  });
});

describe("participant events", () => {
  const row = (user_id: string, joinedAt: number) => ({
    user_id,
    display_name: user_id,
    company: null,
    role: "member",
    joined_at: new Date(joinedAt),
  });

  test("joins and leaves, a rejoin being both, and nothing for an unchanged set", () => {
    const before = [row("carol", 1), row("alice", 1), row("bob", 1)];
    const after = [row("alice", 1), row("dave", 5), row("bob", 7)];
    const events = participantEvents(ref, before, after);
    expect(events.map((event) => [event.event, (event.data.participant as { user_id: string }).user_id])).toEqual([
      ["participant.left", "bob"],
      ["participant.left", "carol"],
      ["participant.joined", "bob"],
      ["participant.joined", "dave"],
    ]);
    expect(participantEvents(ref, after, after)).toEqual([]);
    // From zero, the current members are joins with the ids they got when they joined.
    const fromZero = participantEvents(ref, [], after).map((event) => event.id);
    expect(fromZero).toEqual(
      expect.arrayContaining(events.filter((event) => event.event === "participant.joined").map((event) => event.id)),
    );
  });
});
