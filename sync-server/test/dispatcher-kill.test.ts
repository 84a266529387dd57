import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type ChildServer, spawnServer } from "./child-server.ts";
import { createDialog, prepareStorage, startServer, type TestEnv, type TestServer, tokenFor } from "./harness.ts";
import { type Received, WebhookReceiver } from "./webhook-receiver.ts";

const secret = "dispatcher-kill-secret-0123456789";
/** The bound a user notices: a delivery in flight when its dispatcher died is sent again within this. */
const resumeBoundMs = 10_000;

const kill = (server: ChildServer) =>
  new Promise<void>((resolve) => {
    const { child } = server;
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });

const contentOf = (request: Received) => request.body.data.message?.content;

/**
 * Dispatchers in processes of their own (ROLES=webhooks), SIGKILLed while the
 * receiver holds a delivery unanswered. WEBHOOK_TIMEOUT_MS is two minutes, so
 * the dead process's pg-boss job would only expire after three: a resend
 * within seconds is the reaper's doing.
 */
describe("a webhook dispatcher killed mid-delivery", () => {
  let storage: TestEnv;
  let receiver: WebhookReceiver;
  let api: TestServer;
  let env: Record<string, string>;
  const dispatchers: ChildServer[] = [];
  /** Holds the receiver's answer to a delivery until the test ends (the dispatcher that sent it is killed meanwhile). */
  let releaseHeld = () => {};
  const held = new Promise<void>((resolve) => (releaseHeld = resolve));

  beforeAll(async () => {
    receiver = await WebhookReceiver.start(secret);
    storage = await prepareStorage("external", "dispatcher_kill");
    env = {
      ...storage.env,
      WEBHOOK_URL: receiver.url,
      WEBHOOK_SECRET: secret,
      WEBHOOK_TIMEOUT_MS: "120000",
      WEBHOOK_RETRY_BASE_MS: "20",
      WEBHOOK_RETRY_MAX_MS: "200",
      WEBHOOK_POLL_MS: "500",
      NOTIFICATION_DELAY_SECS: "3600",
    };
    // The API and the projection (which writes the outbox) run here; only dispatchers are killed.
    api = await startServer({ ...env, ROLES: "sync,projections" });
  });
  afterAll(async () => {
    releaseHeld();
    for (const dispatcher of dispatchers) await kill(dispatcher);
    await api?.stop();
    await receiver?.stop();
    await storage?.cleanup();
  });

  const startDispatcher = async () => {
    const dispatcher = await spawnServer({ ...env, ROLES: "webhooks" });
    dispatchers.push(dispatcher);
    return dispatcher;
  };

  /** A dialog whose creation events are delivered, and whose message `m2` is held unanswered on its first attempt. */
  const dialogHoldingM2 = async () => {
    const dialog = await createDialog(api, ["alice", "bob"]);
    await receiver.until(() => receiver.deliveredOf(dialog.id).length >= 3, "the dialog's creation events");
    receiver.behave(dialog.id, (request, attempt) =>
      request.body.data.message?.content === "m2" && attempt === 1 ? { status: 200, hold: held } : { status: 200 },
    );
    const alice = await tokenFor("alice");
    const send = async (content: string) => {
      const response = await api.api<{ data: { id: string } }>("POST", `/api/v1/dialogs/${dialog.id}/messages`, { content }, alice);
      expect(response.status).toBe(201);
      return response.body.data.id;
    };
    return { dialog, send };
  };

  /** Requests about the dialog's messages (after its creation events), in arrival order. */
  const messagesOf = (dialogId: string) => receiver.of(dialogId).filter((request) => request.event === "message.new" && contentOf(request));
  const attemptsOf = (dialogId: string, content: string) => messagesOf(dialogId).filter((request) => contentOf(request) === content);

  /** The second attempt at the held m2, once it comes. */
  const sentAgain = async (dialogId: string, what: string) => {
    const [, again] = await receiver.until(
      () => {
        const attempts = attemptsOf(dialogId, "m2");
        return attempts.length >= 2 && attempts;
      },
      what,
      90_000,
    );
    return again;
  };

  /** What the receiver saw of m1, m2, …: every event once and in order, except the held m2, sent again with the same id. */
  const expectResumedInOrder = (dialogId: string, sent: string[]) => {
    expect(receiver.rejected).toEqual([]);
    const messages = messagesOf(dialogId);
    const contents = sent.map((_, index) => `m${index + 1}`);
    expect(messages.map(contentOf)).toEqual(["m1", "m2", ...contents.slice(1)]);
    // The held attempt is the second arrival; without it, each message once, in the order sent.
    expect(messages.filter((_, index) => index !== 1).map((request) => request.body.data.message?.id)).toEqual(sent);
    const [first, again] = attemptsOf(dialogId, "m2");
    expect(again?.id).toBe(first?.id);
    // Nothing else about the dialog (its creation events included) arrived twice.
    const ids = receiver.of(dialogId).map((request) => request.id);
    expect(ids.filter((id, index) => ids.indexOf(id) !== index)).toEqual([first?.id]);
  };

  test("a restarted dispatcher sends the held delivery again within seconds, then the rest, in order", { timeout: 120_000 }, async () => {
    const first = await startDispatcher();
    const { dialog, send } = await dialogHoldingM2();
    const sent = [await send("m1"), await send("m2"), await send("m3"), await send("m4")];
    await receiver.until(() => attemptsOf(dialog.id, "m2").length === 1, "m2 in flight");
    // Order: m3 waits behind the unanswered m2.
    expect(attemptsOf(dialog.id, "m3")).toEqual([]);

    await kill(first);
    const killedAt = Date.now();
    const second = await startDispatcher();
    const upAt = Date.now();
    const again = await sentAgain(dialog.id, "m2 sent again after the restart");
    await receiver.until(() => attemptsOf(dialog.id, "m4").length > 0, "m4 after the restart");

    const at = again?.at ?? Number.NaN;
    console.log("dispatcher killed and restarted", {
      restartTookMs: upAt - killedAt,
      resumedAfterUpMs: Math.max(0, at - upAt),
      resumedAfterKillMs: at - killedAt,
    });
    expect(Math.max(0, at - upAt)).toBeLessThan(resumeBoundMs);
    expectResumedInOrder(dialog.id, sent);
    await second.stop();
  });

  test("with two dispatchers running, the survivor sends the killed one's held delivery within seconds", { timeout: 120_000 }, async () => {
    // Only this one runs while m2 is fetched, so it is the one holding it.
    const holder = await startDispatcher();
    const { dialog, send } = await dialogHoldingM2();
    const sent = [await send("m1"), await send("m2"), await send("m3")];
    await receiver.until(() => attemptsOf(dialog.id, "m2").length === 1, "m2 in flight");

    const survivor = await startDispatcher();
    // The survivor's reaper ran at its start and runs every 2 s: a delivery whose sender is alive is left to it.
    await new Promise((resolve) => setTimeout(resolve, 5000));
    expect(attemptsOf(dialog.id, "m2")).toHaveLength(1);

    await kill(holder);
    const killedAt = Date.now();
    const again = await sentAgain(dialog.id, "m2 sent again by the survivor");
    await receiver.until(() => attemptsOf(dialog.id, "m3").length > 0, "m3 after the kill");

    const resumedAfterKillMs = (again?.at ?? Number.NaN) - killedAt;
    console.log("one of two dispatchers killed", { resumedAfterKillMs });
    expect(resumedAfterKillMs).toBeLessThan(resumeBoundMs);
    expectResumedInOrder(dialog.id, sent);
    await survivor.stop();
  });
});
