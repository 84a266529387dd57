import type { HocuspocusProvider, HocuspocusProviderWebsocket } from "@hocuspocus/provider";
import { createMessage, deleteMessage, messagesOf, metaDocName, readsOf, segmentDocName } from "@mtchat/protocol";
import fc from "fast-check";
import { v7 as uuidv7 } from "uuid";
import { expect, test } from "vitest";
import type * as Y from "yjs";
import { acknowledged, docUntil, openDoc, openSocket } from "./clients.ts";
import { createDialog, type TestServer, tokenFor, useServer } from "./harness.ts";
import { eventually } from "./wait.ts";

const fixture = useServer("external", "unread_property");

const users = ["ana", "ben", "cyd"] as const;
type Action =
  | { kind: "send"; user: number }
  | { kind: "read"; user: number }
  | { kind: "delete"; user: number }
  | { kind: "toggle"; user: number };

const action: fc.Arbitrary<Action> = fc.record({
  kind: fc.constantFrom("send", "send", "read", "delete", "toggle"),
  user: fc.integer({ min: 0, max: users.length - 1 }),
}) as fc.Arbitrary<Action>;

/**
 * The model: messages in the order they reached the server, each user's read
 * cursor as the server last received it. Unread for a user: messages by
 * others, not deleted, that arrived after the message the cursor names.
 */
type Model = {
  arrived: { id: string; author: string; deleted: boolean }[];
  cursor: (string | null)[];
  /** Messages written offline, waiting for the reconnect that delivers them. */
  pending: { id: string; author: string; deleted: boolean }[][];
  pendingCursor: (string | null | undefined)[];
  /** What each user has seen: the arrived count when they last synced. */
  seen: number[];
  online: boolean[];
};

const expectedUnread = (model: Model, user: number) => {
  const cursorAt = model.arrived.findIndex((message) => message.id === model.cursor[user]);
  return model.arrived.filter((message, index) => index > cursorAt && message.author !== users[user] && !message.deleted).length;
};

type Client = { socket: HocuspocusProviderWebsocket; segment: HocuspocusProvider; meta: HocuspocusProvider };

const connectUser = async (t: TestServer, dialogId: string, user: string): Promise<Client> => {
  const socket = openSocket(t.wsUrl);
  const token = await tokenFor(user);
  return {
    socket,
    segment: await openDoc(socket, segmentDocName(dialogId, 0), token),
    meta: await openDoc(socket, metaDocName(dialogId), token),
  };
};

const settled = async (client: Client) => {
  await acknowledged(client.segment);
  await acknowledged(client.meta);
};

/** Until every document of the dialog is projected up to its log head. */
const projected = (t: TestServer, dialogId: string) =>
  eventually(
    async () => {
      const { rows } = await t.server.pool.query<{ behind: number }>(
        `SELECT count(*)::int AS behind FROM doc_heads h LEFT JOIN projection_checkpoints c USING (doc_name)
         WHERE h.dialog_id = $1 AND COALESCE(c.seq, 0) < h.head_seq`,
        [dialogId],
      );
      return rows[0]?.behind === 0;
    },
    { what: "the projection catching up" },
  );

test("unread counts match a simple model under random sends, reads, deletions and offline merges", { timeout: 240_000 }, async () => {
  const { t } = fixture;
  await fc.assert(
    fc.asyncProperty(fc.array(action, { minLength: 1, maxLength: 20 }), async (actions) => {
      const dialog = await createDialog(t, [...users]);
      const clients = await Promise.all(users.map((user) => connectUser(t, dialog.id, user)));
      const model: Model = {
        arrived: [],
        cursor: users.map(() => null),
        pending: users.map(() => []),
        pendingCursor: users.map(() => undefined),
        seen: users.map(() => 0),
        online: users.map(() => true),
      };
      const segmentOf = (user: number) => (clients[user] as Client).segment.document as Y.Doc;
      const catchUp = async (user: number) => {
        // An online client receives everything that arrived before it acts again.
        const doc = segmentOf(user);
        await docUntil(doc, () => model.arrived.every((message) => messagesOf(doc).has(message.id)), "a client catching up");
        model.seen[user] = model.arrived.length;
      };

      try {
        for (const step of actions) {
          const client = clients[step.user] as Client;
          const author = users[step.user] as string;
          const online = model.online[step.user];
          if (step.kind === "toggle") {
            if (online) {
              client.socket.disconnect();
              client.socket.shouldConnect = false;
              model.online[step.user] = false;
            } else {
              client.socket.shouldConnect = true;
              await client.socket.connect();
              await settled(client);
              // The offline writes arrive now, in the order they were made; the cursor with them.
              model.arrived.push(...(model.pending[step.user] ?? []));
              model.pending[step.user] = [];
              const cursor = model.pendingCursor[step.user];
              if (cursor !== undefined) model.cursor[step.user] = cursor;
              model.pendingCursor[step.user] = undefined;
              model.online[step.user] = true;
              await catchUp(step.user);
            }
          } else if (step.kind === "send") {
            const message = { id: uuidv7(), author, deleted: false };
            createMessage(segmentOf(step.user), { id: message.id, author, createdAt: Date.now(), text: `from ${author}` });
            if (online) {
              await settled(client);
              model.arrived.push(message);
            } else {
              model.pending[step.user]?.push(message);
            }
          } else if (step.kind === "read") {
            // The client reads up to the newest message it has seen from the server.
            const newest = model.arrived[(model.seen[step.user] ?? 0) - 1];
            if (!newest) continue;
            readsOf(client.meta.document).set(author, { messageId: newest.id, readAt: Date.now() });
            if (online) {
              await settled(client);
              model.cursor[step.user] = newest.id;
            } else {
              model.pendingCursor[step.user] = newest.id;
            }
          } else {
            // Deleting the user's own newest message (arrived or still pending).
            const own = [...model.arrived, ...(model.pending[step.user] ?? [])].filter((m) => m.author === author && !m.deleted).at(-1);
            const entry = own ? messagesOf(segmentOf(step.user)).get(own.id) : undefined;
            if (!own || !entry) continue;
            deleteMessage(entry);
            own.deleted = true;
            if (online) await settled(client);
          }
          for (const [index, isOnline] of model.online.entries()) if (isOnline) await catchUp(index);
        }

        // Everyone comes back; then the counts must match the model.
        for (const [index, isOnline] of model.online.entries()) {
          if (isOnline) continue;
          const client = clients[index] as Client;
          client.socket.shouldConnect = true;
          await client.socket.connect();
          await settled(client);
          model.arrived.push(...(model.pending[index] ?? []));
          model.pending[index] = [];
          const cursor = model.pendingCursor[index];
          if (cursor !== undefined) model.cursor[index] = cursor;
          model.online[index] = true;
        }
        await projected(t, dialog.id);
        for (const [index, user] of users.entries()) {
          const { body } = await t.api<{ data: { items: { id: string; unread_count: number }[] } }>(
            "GET",
            "/api/v1/dialogs?limit=100",
            undefined,
            await tokenFor(user),
          );
          const item = body.data.items.find((candidate) => candidate.id === dialog.id);
          expect({ user, unread: item?.unread_count }).toEqual({ user, unread: expectedUnread(model, index) });
        }
      } finally {
        for (const client of clients) {
          client.segment.destroy();
          client.meta.destroy();
          client.socket.destroy();
        }
      }
    }),
    {
      numRuns: 40,
      endOnFailure: true,
      // The case that tells arrival order from the senders' clocks: a message written offline
      // before a read, delivered after it, is unread.
      examples: [
        [
          [
            { kind: "toggle", user: 0 },
            { kind: "send", user: 0 },
            { kind: "send", user: 1 },
            { kind: "read", user: 2 },
            { kind: "toggle", user: 0 },
          ],
        ],
      ],
    },
  );
});
