import { randomUUID } from "node:crypto";
import path from "node:path";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { attachmentKey, filenameProblem, parseAttachmentKey, sanitizeFilename, thumbnailKey } from "./file-keys.ts";
import { assertSafeKey, UnsafeKeyError } from "./file-storage.ts";
import { LocalFileStorage } from "./local-storage.ts";
import { UrlSigner } from "./url-signing.ts";

const traversals = [
  "../../etc/passwd",
  "..\\..\\boot.ini",
  "/etc/passwd",
  "C:\\Windows\\win.ini",
  "..",
  ".",
  "..%2F..%2Fetc%2Fpasswd",
  "%2e%2e%2fsecret",
  "%252e%252e%252fsecret",
  "a\u0000.png",
  "a%00.png",
  "line\nbreak.txt",
];

describe("file names", () => {
  test.each(traversals)("%j is refused, not rewritten", (name) => {
    expect(filenameProblem(name)).not.toBeNull();
  });

  test("ordinary names pass and keep their letters, in any script", () => {
    for (const name of ["report.pdf", "отчёт за май.docx", "报告.xlsx", "100%.txt", "a..b.txt", "photo (2).JPG"]) {
      expect(filenameProblem(name)).toBeNull();
    }
    expect(sanitizeFilename("отчёт за май.docx")).toBe("отчёт за май.docx");
    expect(sanitizeFilename("my report: v2?.pdf")).toBe("my report_ v2_.pdf");
    expect(sanitizeFilename(".hidden")).toBe("hidden");
    expect(sanitizeFilename("...")).toBe("file");
    expect(sanitizeFilename(`${"я".repeat(300)}.pdf`)).toMatch(/^я+\.pdf$/);
    expect(Buffer.byteLength(sanitizeFilename(`${"я".repeat(300)}.pdf`))).toBeLessThanOrEqual(180);
  });

  test("any accepted name makes a key of exactly four safe segments that stays inside the storage root", () => {
    const root = path.resolve("/srv/files");
    const local = new LocalFileStorage(root, new UrlSigner(async () => "x".repeat(32)));
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 80 }), (name) => {
        fc.pre(filenameProblem(name) === null);
        const key = attachmentKey(randomUUID(), randomUUID(), name);
        expect(key.split("/")).toHaveLength(4);
        expect(parseAttachmentKey(key).name).toBe(sanitizeFilename(name));
        expect(local.pathOf(key).startsWith(`${root}${path.sep}`)).toBe(true);
        expect(parseAttachmentKey(thumbnailKey(key)).name).not.toBe(parseAttachmentKey(key).name);
      }),
      { numRuns: 500 },
    );
  });
});

describe("storage keys", () => {
  const unsafe = [
    "",
    "../x",
    "a/../../b",
    "/abs",
    "a//b",
    "./a",
    "a/.",
    "a\\b",
    "a\u0000b",
    "%2e%2e/x",
    "a/%252e%252e/b",
    "C:/x",
    "a/b%2f..%2f..%2fc",
  ];

  test.each(unsafe)("%j is refused everywhere a key is taken", (key) => {
    expect(() => assertSafeKey(key)).toThrow(UnsafeKeyError);
    const local = new LocalFileStorage("/srv/files", new UrlSigner(async () => "x".repeat(32)));
    expect(() => local.pathOf(key)).toThrow(UnsafeKeyError);
  });

  test("a key that is safe but not one of ours is not accepted from a link", () => {
    expect(() => parseAttachmentKey("other/place/file.txt")).toThrow(UnsafeKeyError);
    expect(() => parseAttachmentKey(`dialogs/${randomUUID()}/${randomUUID()}/.hidden`)).toThrow(UnsafeKeyError);
  });
});

describe("signed links", () => {
  const secret = async () => "s".repeat(40);
  let now = Date.UTC(2030, 0, 1);
  const signer = new UrlSigner(secret, () => now);
  const grant = { method: "GET" as const, key: "dialogs/a/b/c.png", expires: now / 1000 + 60, type: "image/png", name: "c.png" };

  test("a link verifies until it expires, and not after", async () => {
    const query = new URLSearchParams(await signer.sign(grant));
    expect(await signer.verify("GET", grant.key, query)).toMatchObject({ ok: true, grant: { type: "image/png", name: "c.png" } });
    now += 61_000;
    expect(await signer.verify("GET", grant.key, query)).toMatchObject({
      ok: false,
      kind: "forbidden",
      reason: expect.stringMatching(/expired/),
    });
    now -= 61_000;
  });

  test("changing anything the link grants breaks its signature", async () => {
    const query = await signer.sign(grant);
    const changed = (param: string, value: string) => {
      const copy = new URLSearchParams(query);
      copy.set(param, value);
      return copy;
    };
    const tamperedSig = query.replace(/sig=(.)/, (_, c: string) => `sig=${c === "A" ? "B" : "A"}`);
    for (const [method, key, params] of [
      ["GET", grant.key, new URLSearchParams(tamperedSig)],
      ["PUT", grant.key, new URLSearchParams(query)],
      ["GET", "dialogs/a/b/other.png", new URLSearchParams(query)],
      ["GET", grant.key, changed("expires", String(grant.expires + 3600))],
      ["GET", grant.key, changed("type", "text/html")],
      ["GET", grant.key, changed("name", "evil.html")],
      ["GET", grant.key, changed("sig", "")],
    ] as const) {
      expect(await signer.verify(method, key, params)).toMatchObject({ ok: false, kind: "forbidden" });
    }
  });
});
