import { createHmac } from "node:crypto";
import { expect, test } from "vitest";
import { signPayload, verifySignature } from "./signature.ts";

const secret = "whsec_test_0123456789abcdef";
const body = JSON.stringify({ id: "0190a000-0000-5000-8000-000000000001", event: "message.new", data: { content: "привет 你好" } });

test("the signature is sha256= and the hex HMAC of timestamp.body, as the README tells receivers", () => {
  const expected = createHmac("sha256", secret).update(`1700000000.${body}`).digest("hex");
  expect(signPayload(secret, 1_700_000_000, body)).toBe(`sha256=${expected}`);
});

test("a receiver accepts a fresh, intact delivery and rejects a changed body, another secret, or an old timestamp", () => {
  const now = 1_700_000_000;
  const signature = signPayload(secret, now, body);
  expect(verifySignature(secret, { timestamp: String(now), signature }, body, now + 10)).toBeNull();
  expect(verifySignature(secret, { timestamp: String(now), signature }, `${body} `, now)).toBe("signature mismatch");
  expect(verifySignature("another-secret-entirely", { timestamp: String(now), signature }, body, now)).toBe("signature mismatch");
  expect(verifySignature(secret, { timestamp: String(now + 1), signature }, body, now)).toBe("signature mismatch");
  expect(verifySignature(secret, { timestamp: String(now), signature }, body, now + 301)).toBe("timestamp outside the tolerance");
  expect(verifySignature(secret, { timestamp: undefined, signature }, body, now)).toBe("missing or malformed timestamp");
});
