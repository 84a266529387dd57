import { describe, expect, test } from "vitest";
import { locales, translator } from "./i18n.ts";

describe("locales", () => {
  test("every shipped locale has every English key, no extra ones, and no empty strings", () => {
    const keys = Object.keys(locales.en).sort();
    expect(Object.keys(locales).sort()).toEqual(["en", "es", "pt-BR", "ru", "zh"]);
    for (const [name, messages] of Object.entries(locales)) {
      expect(Object.keys(messages).sort(), `locale ${name}`).toEqual(keys);
      for (const [key, value] of Object.entries(messages)) expect(value.trim().length, `${name} ${key}`).toBeGreaterThan(0);
    }
  });

  test("each translation keeps the placeholders of the English text", () => {
    const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((match) => match[1]).sort();
    for (const [key, english] of Object.entries(locales.en)) {
      for (const name of ["ru", "zh", "es", "pt-BR"] as const) {
        expect(placeholders(locales[name][key as keyof typeof locales.en]), `${name} ${key}`).toEqual(placeholders(english));
      }
    }
  });

  test("placeholders are filled", () => {
    expect(translator("ru")("typing.one", { name: "Анна" })).toBe("Анна печатает…");
    expect(translator("zh")("list.unread", { count: 3 })).toBe("3 条未读");
    expect(translator("es")("typing.one", { name: "Ana" })).toBe("Ana está escribiendo…");
    expect(translator("pt-BR")("list.unread", { count: 2 })).toBe("2 não lidas");
  });

  test("a host overrides some strings of a shipped locale and adds a locale of its own", () => {
    const overridden = translator("en", { en: { "composer.send": "Post" } });
    expect(overridden("composer.send")).toBe("Post");
    expect(overridden("dialog.pin")).toBe("Pin");
    // German does not ship: a partial table, the rest in English.
    const german = translator("de", { de: { "composer.send": "Senden", "typing.one": "{name} schreibt…" } });
    expect(german("composer.send")).toBe("Senden");
    expect(german("typing.one", { name: "Jan" })).toBe("Jan schreibt…");
    expect(german("dialog.pin")).toBe("Pin");
    // A regional tag falls back to its language's table.
    expect(translator("es-MX")("composer.send")).toBe("Enviar");
    expect(translator("pt-PT")("composer.send")).toBe("Enviar");
  });
});
