import { describe, expect, test } from "vitest";
import { inputProblem, isStorableInstant, maxInputDepth, textProblem } from "./storable.ts";

describe("what PostgreSQL can store", () => {
  test("text with NUL or an unpaired surrogate is refused; other text, control characters and emoji included, is not", () => {
    expect(textProblem("a\u0000b")).toMatch(/NUL/);
    expect(textProblem("\ud800")).toMatch(/surrogate/);
    expect(textProblem("x\udc00y")).toMatch(/surrogate/);
    for (const fine of ["", "plain", "tab\tand\nnewline", "bell\u0007", "😀 emoji", "订单", "%00", "\\u0000"]) {
      expect(textProblem(fine)).toBeNull();
    }
  });

  test("a request value is checked everywhere: nested strings, keys, arrays", () => {
    expect(inputProblem({ a: [1, "ok", { b: "x\u0000" }] })).toEqual({ path: ["a", "2", "b"], problem: expect.stringMatching(/NUL/) });
    expect(inputProblem({ meta: { "k\u0000": 1 } })).toEqual({ path: ["meta", "k\u0000"], problem: expect.stringMatching(/key/) });
    expect(inputProblem({ first: "\u0000", second: "\u0000" })?.path).toEqual(["first"]);
    expect(inputProblem({ a: 1, b: null, c: true, d: [], e: { f: "ok" } })).toBeNull();
    expect(inputProblem("\u0000")).toEqual({ path: [], problem: expect.any(String) });
  });

  test("instants are the ones PostgreSQL reads: real dates, years 1 to 9999, milliseconds or microseconds", () => {
    for (const fine of [
      "2024-02-29T00:00:00.000Z",
      "0001-01-01T00:00:00.000Z",
      "9999-12-31T23:59:59.999Z",
      "2026-03-01T12:00:00.123456Z",
    ]) {
      expect(isStorableInstant(fine), fine).toBe(true);
    }
    for (const bad of [
      "2024-02-30T00:00:00.000Z",
      "2023-02-29T00:00:00.000Z",
      "0000-01-01T00:00:00.000Z",
      "+275760-09-13T00:00:00.000Z",
      "2024-01-01T24:00:00.000Z",
      "2024-01-01T00:00:00Z",
      "2024-01-01T00:00:00.000+01:00",
      "2024-01-01T00:00:00.1234Z",
      "yesterday",
    ]) {
      expect(isStorableInstant(bad), bad).toBe(false);
    }
  });

  test("nesting is bounded, however deep, without exhausting the stack", () => {
    const nest = (levels: number) => {
      let value: unknown = "leaf";
      for (let index = 0; index < levels; index += 1) value = [value];
      return value;
    };
    expect(inputProblem(nest(maxInputDepth))).toBeNull();
    expect(inputProblem(nest(maxInputDepth + 1))?.problem).toMatch(/nested deeper/);
    expect(inputProblem(JSON.parse(`${"[".repeat(200_000)}${"]".repeat(200_000)}`))?.problem).toMatch(/nested deeper/);
  });
});
