import fc from "fast-check";
import { expect, test } from "vitest";
import * as Y from "yjs";
import { clampInt, cleanId, cleanText, isExactText, jsonSafe, maxJsonDepth, toTime, truncateText, uuidOrNull } from "./sanitize.ts";

/** What text and jsonb hold: no NUL, no unpaired surrogate (Node 20 has `isWellFormed`; the ES2023 lib does not declare it). */
const storable = (text: string) => !text.includes("\u0000") && (text as unknown as { isWellFormed(): boolean }).isWellFormed();

test("cleaned text never holds NUL or an unpaired surrogate, and clean text is kept as it is", () => {
  fc.assert(
    fc.property(fc.string({ unit: "binary" }), (text) => {
      const clean = cleanText(text);
      expect(storable(clean)).toBe(true);
      expect(storable(cleanId(text))).toBe(true);
      if (storable(text)) {
        expect(clean).toBe(text);
        expect(cleanId(text)).toBe(text);
        expect(isExactText(text)).toBe(true);
      } else {
        expect(isExactText(text)).toBe(false);
      }
    }),
  );
  expect(cleanText("a\u0000b")).toBe("ab");
  expect(cleanId("alice\u0000")).toBe("alice\uFFFD");
  expect(cleanText("x\uD800y\uDFFFz\uD83D\uDE00")).toBe("x\uFFFDy\uFFFDz\uD83D\uDE00");
});

test("text is cut to its limit without splitting a surrogate pair", () => {
  expect(truncateText("abc", 5)).toBe("abc");
  expect(truncateText("abcdef", 3)).toBe("abc");
  expect(truncateText("ab\uD83D\uDE00", 3)).toBe("ab");
  fc.assert(
    fc.property(fc.string({ unit: "grapheme" }), fc.nat(50), (text, max) => {
      const cut = truncateText(text, max);
      expect(cut.length).toBeLessThanOrEqual(max);
      expect(storable(cut)).toBe(storable(text.slice(0, cut.length)));
      expect(text.startsWith(cut)).toBe(true);
    }),
  );
});

test("times, integers and ids map to what their columns hold", () => {
  expect(toTime(0)).toBe("1970-01-01T00:00:00.000Z");
  expect(toTime(-1e20)).toBe("1970-01-01T00:00:00.000Z");
  expect(toTime(1e300)).toBe("9999-12-31T23:59:59.999Z");
  expect(toTime(Number.NaN)).toBeNull();
  expect(toTime("2024-01-01")).toBeNull();
  expect(toTime(1.5)).toBe("1970-01-01T00:00:00.001Z");
  expect(clampInt(1e20, 0, 10, 0)).toBe(10);
  expect(clampInt(Number.POSITIVE_INFINITY, 0, 10, 3)).toBe(3);
  expect(clampInt(-4.7, 0, 10, 3)).toBe(0);
  expect(uuidOrNull("not-a-uuid")).toBeNull();
  expect(uuidOrNull("0190A8C0-0000-7000-8000-000000000000")).toBeNull();
  expect(uuidOrNull("0190a8c0-0000-7000-8000-000000000000")).toBe("0190a8c0-0000-7000-8000-000000000000");
});

test("any value becomes JSON that round-trips through JSON.stringify, depth-bounded", () => {
  fc.assert(
    fc.property(fc.anything({ withBigInt: true, withNullPrototype: true, withTypedArray: true, withSparseArray: true }), (value) => {
      const safe = jsonSafe(value);
      const text = JSON.stringify(safe);
      expect(storable(text)).toBe(true);
      expect(JSON.parse(text)).toEqual(safe);
    }),
  );
  const doc = new Y.Doc();
  const map = doc.getMap("m");
  const inner = new Y.Map<unknown>();
  map.set("inner", inner);
  inner.set("a\u0000", "b\u0000");
  inner.set("n", 2n ** 70n);
  inner.set("bin", new Uint8Array([1, 2]));
  expect(JSON.parse(JSON.stringify(jsonSafe(map)))).toEqual({ inner: { a: "b", n: (2n ** 70n).toString(), bin: null } });
  let deep: unknown = "leaf";
  for (let depth = 0; depth < 5_000; depth += 1) deep = { deep };
  const bounded = JSON.stringify(jsonSafe(deep));
  expect(bounded.split("{").length - 1).toBe(maxJsonDepth);
  expect(JSON.parse(JSON.stringify(jsonSafe({ ["__proto__"]: { x: 1 } })))).toEqual(JSON.parse('{"__proto__":{"x":1}}'));
});
