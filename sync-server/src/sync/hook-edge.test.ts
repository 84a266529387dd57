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

test("refusals pass through counted; other errors pass through untouched and uncounted", async () => {
  const metrics = createMetrics();
  expect(await refused(hookEdge(new Fake(new Refusal("forbidden", "no")), metrics))).toMatchObject({ kind: "forbidden" });
  const bug = new TypeError("a bug");
  expect(await refused(hookEdge(new Fake(bug), metrics))).toBe(bug);
  const text = await metrics.registry.getSingleMetricAsString("mtchat_refusals_total");
  expect(text).toContain('mtchat_refusals_total{kind="forbidden",hook="beforeSync"} 1');
  expect(text).not.toContain("unavailable");
});
