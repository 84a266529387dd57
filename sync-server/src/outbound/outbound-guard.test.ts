import type { LookupAddress } from "node:dns";
import { afterAll, describe, expect, test } from "vitest";
import { blockedReason, OutboundBlockedError, OutboundGuard, type Resolve } from "./outbound-guard.ts";

/** A resolver of made-up names, so no test asks real DNS (and nothing here connects anywhere). */
const names: Record<string, LookupAddress[]> = {
  "public.test": [{ address: "93.184.215.14", family: 4 }],
  "loopback.test": [{ address: "127.0.0.1", family: 4 }],
  "private.test": [{ address: "10.1.2.3", family: 4 }],
  "metadata.test": [{ address: "169.254.169.254", family: 4 }],
  // One bad address among good ones is enough to refuse: a connection may pick any of them.
  "mixed.test": [
    { address: "93.184.215.14", family: 4 },
    { address: "fd00::1", family: 6 },
  ],
};
const resolve: Resolve = async (host) => {
  const addresses = names[host];
  if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
  return addresses;
};

const guards: OutboundGuard[] = [];
const guard = (allow: string[] = []) => {
  const made = new OutboundGuard(allow, resolve);
  guards.push(made);
  return made;
};
afterAll(() => Promise.all(guards.map((made) => made.close())));

describe("registration check", () => {
  const strict = guard();

  test.each([
    ["http://127.0.0.1:8080/hook", /127\.0\.0\.1, a loopback/],
    ["http://127.1/", /127\.0\.0\.1, a loopback/],
    ["http://2130706433/", /127\.0\.0\.1, a loopback/],
    ["http://0x7f000001/", /127\.0\.0\.1, a loopback/],
    ["http://0177.0.0.1/", /127\.0\.0\.1, a loopback/],
    ["http://[::1]/", /::1, a loopback/],
    ["http://[::ffff:127.0.0.1]/", /127\.0\.0\.1, a loopback/],
    ["http://[::ffff:a9fe:a9fe]/latest/meta-data", /169\.254\.169\.254, a link-local/],
    ["http://0.0.0.0/", /unspecified/],
    ["http://0/", /unspecified/],
    ["http://[::]/", /unspecified/],
    ["http://10.0.0.7/", /private/],
    ["https://192.168.0.1/", /private/],
    ["http://169.254.169.254/latest/meta-data/", /link-local/],
    ["http://100.100.100.200/", /carrier-grade NAT/],
    ["http://[fd00:ec2::254]/", /unique-local/],
    ["http://255.255.255.255/", /broadcast/],
    ["http://224.0.0.251/", /multicast/],
    ["http://localhost/", /localhost, which resolves to 127\.0\.0\.1/],
    ["http://LocalHost./", /localhost, which resolves to 127\.0\.0\.1/],
    ["http://hooks.localhost:3000/", /hooks\.localhost, which resolves to 127\.0\.0\.1/],
    ["http://loopback.test/", /loopback\.test, which resolves to 127\.0\.0\.1/],
    ["http://private.test/", /private/],
    ["http://metadata.test/", /link-local/],
    ["http://mixed.test/", /mixed\.test, which resolves to fd00::1, a unique-local/],
  ])("%s is refused (%s), with the fix", async (url, what) => {
    const problem = await strict.check("url", url);
    expect(problem).toMatch(what);
    expect(problem).toMatch(/^url points at .*OUTBOUND_ALLOW_PRIVATE\.$/);
  });

  test("only http and https", async () => {
    for (const url of ["ftp://public.test/", "file:///etc/passwd", "gopher://public.test/", "data:text/plain,hi"]) {
      expect(await strict.check("url", url)).toBe("url must be an http or https URL");
    }
    expect(await strict.check("jwks_url", "not a url")).toBe("jwks_url must be an absolute http or https URL");
  });

  test("public addresses and names that resolve to them pass; a name that does not resolve yet is left to connect time", async () => {
    for (const url of [
      "https://93.184.215.14/hook",
      "https://[2606:4700:4700::1111]/",
      "https://public.test/hook",
      "https://nowhere.test/",
    ]) {
      expect(await strict.check("url", url)).toBeNull();
    }
  });

  test("the allowance lets its hosts and ranges through, and nothing else", async () => {
    const allowing = guard(["127.0.0.0/8", "private.test", "fd00::/8"]);
    for (const url of ["http://127.0.0.1:9/", "http://127.9.9.9/", "http://localhost/", "http://private.test/", "http://mixed.test/"]) {
      expect(await allowing.check("url", url)).toBeNull();
    }
    for (const url of ["http://[::1]/", "http://10.1.2.3/", "http://169.254.169.254/", "http://metadata.test/"]) {
      expect(await allowing.check("url", url)).not.toBeNull();
    }
  });
});

describe("refusals", () => {
  test("are found behind the errors fetch wraps them in", () => {
    const refusal = new OutboundBlockedError("refused to connect to 127.0.0.1, a loopback address");
    expect(blockedReason(new TypeError("fetch failed", { cause: refusal }))).toBe(refusal.message);
    expect(blockedReason(refusal)).toBe(refusal.message);
    expect(blockedReason(new TypeError("fetch failed", { cause: new Error("ECONNREFUSED") }))).toBeNull();
    expect(blockedReason("nope")).toBeNull();
  });
});
