import { describe, expect, test } from "vitest";
import { locales, translator } from "./i18n.ts";

describe("locales", () => {
  test("ru and zh have every English key, no extra ones, and no empty strings", () => {
    const keys = Object.keys(locales.en).sort();
    for (const [name, messages] of Object.entries(locales)) {
      expect(Object.keys(messages).sort(), `locale ${name}`).toEqual(keys);
      for (const [key, value] of Object.entries(messages)) expect(value.trim().length, `${name} ${key}`).toBeGreaterThan(0);
    }
  });

  test("each translation keeps the placeholders of the English text", () => {
    const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((match) => match[1]).sort();
    for (const [key, english] of Object.entries(locales.en)) {
      for (const name of ["ru", "zh"] as const) {
        expect(placeholders(locales[name][key as keyof typeof locales.en]), `${name} ${key}`).toEqual(placeholders(english));
      }
    }
  });

  test("placeholders are filled", () => {
    expect(translator("ru")("typing.one", { name: "Анна" })).toBe("Анна печатает…");
    expect(translator("zh")("list.unread", { count: 3 })).toBe("3 条未读");
  });
});
