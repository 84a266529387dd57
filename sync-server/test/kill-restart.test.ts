import type { ChildProcess } from "node:child_process";
import { createMessage, messagesOf, readMessage, segmentDocName } from "@mtchat/protocol";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { spawnServer } from "./child-server.ts";
import { acknowledged, openDoc, openSocket } from "./clients.ts";
import { callApi, type DialogData, prepareStorage, storages, type TestEnv, tokenFor } from "./harness.ts";
import { eventually } from "./wait.ts";

const kill = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });

describe.each(storages)("SIGKILL right after acknowledgement, on %s PostgreSQL", (storage) => {
  let env: TestEnv;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    env = await prepareStorage(storage, "kill");
  });
  afterAll(async () => {
    for (const child of children) await kill(child);
    // The embedded server outlives a SIGKILLed owner; one clean start and stop shuts it down.
    if (storage === "embedded") {
      const { child } = await spawnServer(env.env);
      child.kill("SIGTERM");
      await new Promise((resolve) => child.once("exit", resolve));
    }
    await env.cleanup();
  });

  test("every acknowledged message is there after the restart", { timeout: 60_000 }, async () => {
    const first = await spawnServer(env.env);
    children.push(first.child);
    const base = `http://127.0.0.1:${first.port}`;
    const created = await callApi<{ data: DialogData }>(base, "POST", "/api/v1/management/dialogs", {
      object_id: "order-kill",
      object_type: "order",
      participants: [{ user_id: "alice", display_name: "Alice" }],
    });
    expect(created.status).toBe(201);
    const dialogId = created.body.data.id;
    const segment = segmentDocName(dialogId, 0);

    const socket = openSocket(`ws://127.0.0.1:${first.port}/api/v1/ws`);
    const provider = await openDoc(socket, segment, await tokenFor("alice"));
    const sent: string[] = [];
    for (let index = 0; index < 25; index += 1) {
      const text = `message ${index}`;
      createMessage(provider.document, { id: uuidv7(), author: "alice", createdAt: Date.now() + index, text });
      sent.push(text);
    }
    await acknowledged(provider);
    // No grace period: the process dies the moment the client has its acknowledgement.
    await kill(first.child);
    socket.destroy();

    const second = await spawnServer(env.env);
    children.push(second.child);
    const again = openSocket(`ws://127.0.0.1:${second.port}/api/v1/ws`);
    try {
      const reloaded = await openDoc(again, segment, await tokenFor("alice"));
      const texts = [...messagesOf(reloaded.document).entries()].map(([id, entry]) => readMessage(id, entry).text);
      expect(texts).toEqual(expect.arrayContaining(sent));
      // The restarted server answers the Management API from its projection again.
      const rows = await eventually(
        async () => {
          const response = await callApi<{ data: { participants: unknown[] } }>(
            `http://127.0.0.1:${second.port}`,
            "GET",
            `/api/v1/management/dialogs/${dialogId}`,
          );
          return response.status === 200 ? response : undefined;
        },
        { what: "dialog readable after restart" },
      );
      expect(rows.body.data.participants).toHaveLength(1);
    } finally {
      again.destroy();
      second.child.kill("SIGTERM");
      await new Promise((resolve) => second.child.once("exit", resolve));
    }
  });
});
