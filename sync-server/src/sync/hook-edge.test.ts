import type { Extension } from "@hocuspocus/server";
import { expect, test } from "vitest";
import { createMetrics } from "../metrics.ts";
import { hookEdge } from "./hook-edge.ts";
import { Refusal } from "./refusal.ts";

class Fake implements Extension {
  readonly extensionName = "fake";
  readonly priority = 5;
  calls: string[] = [];
  constructor(private readonly failure: unknown) {}
  async beforeSync(): Promise<void> {
    this.calls.push("beforeSync");
    throw this.failure;
  }
  async onStoreDocument(): Promise<void> {
    this.calls.push("onStoreDocument");
    throw this.failure;
  }
  async connected(): Promise<string> {
    this.calls.push("connected");
    return "done";
  }
}

const refused = async (extension: Extension, payload: unknown = {}) => {
  try {
    await extension.beforeSync?.(payload as never);
  } catch (error) {
    return error;
  }
  throw new Error("expected beforeSync to throw");
};

test("an unreachable database becomes an `unavailable` refusal where a client hears it, counted by kind and hook", async () => {
  const metrics = createMetrics();
  const inner = new Fake(Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" }));
  const outer = hookEdge(inner, metrics);
  expect(outer).toMatchObject({ extensionName: "fake", priority: 5 });
  const error = await refused(outer);
  expect(error).toBeInstanceOf(Refusal);
  expect(error).toMatchObject({ kind: "unavailable", code: 4503, reason: expect.stringMatching(/^4503 unavailable: /) });
  // The extension ran as itself (its own fields), and hooks it lacks are not invented.
  expect(inner.calls).toEqual(["beforeSync"]);
  expect(outer.onAuthenticate).toBeUndefined();
  expect(await outer.connected?.({} as never)).toBe("done");
  // Hooks no client hears keep their errors as they are.
  await expect(outer.onStoreDocument?.({} as never)).rejects.toMatchObject({ code: "ECONNREFUSED" });
  expect(await metrics.registry.getSingleMetricAsString("mtchat_refusals_total")).toContain(
    'mtchat_refusals_total{kind="unavailable",hook="beforeSync"} 1',
  );
});

test("refusals pass through counted; other errors pass through untouched and uncounted", async () => {
  const metrics = createMetrics();
  expect(await refused(hookEdge(new Fake(new Refusal("forbidden", "no")), metrics))).toMatchObject({ kind: "forbidden" });
  const bug = new TypeError("a bug");
  expect(await refused(hookEdge(new Fake(bug), metrics))).toBe(bug);
  const text = await metrics.registry.getSingleMetricAsString("mtchat_refusals_total");
  expect(text).toContain('mtchat_refusals_total{kind="forbidden",hook="beforeSync"} 1');
  expect(text).not.toContain("unavailable");
});
