import type { Extension, HookName } from "@hocuspocus/server";
import { isDatabaseUnavailable } from "../db/unavailable.ts";
import type { Metrics } from "../metrics.ts";
import { Refusal } from "./refusal.ts";

/** Every hook Hocuspocus calls; the edge forwards those the extension has. */
const hookNames = [
  "onConfigure",
  "onListen",
  "onUpgrade",
  "onConnect",
  "connected",
  "onAuthenticate",
  "onTokenSync",
  "onCreateDocument",
  "onLoadDocument",
  "afterLoadDocument",
  "beforeHandleMessage",
  "afterHandleMessage",
  "beforeHandleAwareness",
  "beforeBroadcastStateless",
  "beforeSync",
  "onStateless",
  "onChange",
  "onStoreDocument",
  "afterStoreDocument",
  "onAwarenessUpdate",
  "onRequest",
  "onDisconnect",
  "beforeUnloadDocument",
  "afterUnloadDocument",
  "onDestroy",
] as const satisfies readonly HookName[];

/** The hooks whose failure closes a client's document (or denies it): a refusal there is what the client hears. */
const refusingHooks = new Set<HookName>(["onAuthenticate", "onTokenSync", "onLoadDocument", "beforeSync"]);

type Hook = (payload: unknown) => Promise<unknown>;

/**
 * Wraps the sync extension where Hocuspocus calls it. In the hooks that
 * answer a client, a database that cannot be reached becomes a refusal of
 * kind `unavailable` (4503; the socket guard then closes the whole socket, so
 * the client reconnects and sends again), instead of Hocuspocus's generic
 * reset or "permission-denied", which the SDK cannot tell from a real denial.
 * Each refusal is counted by kind and hook. Nothing else changes: the wrapped
 * extension's own code still runs, with itself as `this`.
 */
export const hookEdge = (inner: Extension, metrics?: Pick<Metrics, "refusals">): Extension => {
  const outer: Record<string, unknown> = { extensionName: inner.extensionName, priority: inner.priority };
  for (const name of hookNames) {
    const hook = (inner as Record<string, unknown>)[name];
    if (typeof hook !== "function") continue;
    const call = (payload: unknown) => (hook as Hook).call(inner, payload);
    if (!refusingHooks.has(name)) {
      outer[name] = call;
      continue;
    }
    outer[name] = async (payload: unknown) => {
      try {
        return await call(payload);
      } catch (error) {
        const refusal =
          error instanceof Refusal
            ? error
            : isDatabaseUnavailable(error)
              ? new Refusal("unavailable", "the database is unreachable; nothing was applied, reconnect and send it again")
              : null;
        if (!refusal) throw error;
        metrics?.refusals.inc({ kind: refusal.kind, hook: name });
        throw refusal;
      }
    };
  }
  return outer as Extension;
};
