import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { addressProblem, allowEntryProblem, isLocalhostName, normalizeHost, parseAllowList } from "./address-policy.ts";

/** Every address here is only classified: nothing connects to any of them. */
const internal: [string, RegExp][] = [
  ["127.0.0.1", /loopback/],
  ["127.255.255.254", /loopback/],
  ["::1", /loopback/],
  ["10.0.0.1", /private/],
  ["172.16.5.4", /private/],
  ["192.168.1.1", /private/],
  ["100.64.0.1", /carrier-grade NAT/],
  ["100.100.100.200", /carrier-grade NAT/], // Alibaba Cloud metadata
  ["169.254.169.254", /link-local/], // AWS, GCP, Azure metadata
  ["fe80::1", /link-local/],
  ["fd00:ec2::254", /unique-local/], // AWS metadata over IPv6
  ["fc00::1", /unique-local/],
  ["0.0.0.0", /unspecified/],
  ["0.1.2.3", /unspecified/],
  ["::", /unspecified/],
  ["224.0.0.1", /multicast/],
  ["ff02::1", /multicast/],
  ["255.255.255.255", /broadcast/],
  ["192.0.0.192", /reserved/], // Oracle Cloud metadata
  ["198.18.0.1", /reserved/],
  ["240.0.0.1", /reserved/],
  ["2001:db8::1", /reserved/],
  ["::ffff:127.0.0.1", /^127\.0\.0\.1, a loopback/],
  ["::ffff:7f00:1", /^127\.0\.0\.1, a loopback/],
  ["::ffff:10.1.2.3", /^10\.1\.2\.3, a private/],
  ["::ffff:169.254.169.254", /link-local/],
  ["::7f00:1", /IPv4-compatible/],
  ["64:ff9b::7f00:1", /special-purpose/], // NAT64 of 127.0.0.1
  ["2002:7f00:1::", /special-purpose/], // 6to4 of 127.0.0.1
  ["2001::1", /special-purpose/], // Teredo
];

describe("which addresses the server may call for a project", () => {
  test.each(internal)("%s is refused (%s)", (address, what) => {
    expect(addressProblem(address)).toMatch(what);
  });

  test("globally routable unicast addresses pass, in either family and as IPv4-mapped IPv6", () => {
    for (const address of ["93.184.215.14", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4001::200e", "::ffff:93.184.215.14"]) {
      expect(addressProblem(address)).toBeNull();
    }
  });

  test("what is not an IP address is refused, never guessed at", () => {
    for (const text of ["localhost", "2130706433", "0x7f000001", "127.1", "", "1.2.3.4.5"])
      expect(addressProblem(text)).toMatch(/not an IP/);
  });

  test("the allowance opens exactly its ranges, matching IPv4-mapped IPv6 as IPv4", () => {
    const allow = parseAllowList(["10.20.0.0/16", "127.0.0.1", "fd12:3456::/32", "hooks.internal"]);
    expect(addressProblem("10.20.3.4", allow)).toBeNull();
    expect(addressProblem("::ffff:10.20.3.4", allow)).toBeNull();
    expect(addressProblem("10.21.0.1", allow)).toMatch(/private/);
    expect(addressProblem("127.0.0.1", allow)).toBeNull();
    expect(addressProblem("127.0.0.2", allow)).toMatch(/loopback/);
    expect(addressProblem("fd12:3456::9", allow)).toBeNull();
    expect(addressProblem("fd12:3457::9", allow)).toMatch(/unique-local/);
    expect(addressProblem("169.254.169.254", allow)).toMatch(/link-local/);
    expect(allow.hosts).toEqual(new Set(["hooks.internal"]));
    // Everything, for an operator who wants the guard off.
    const everything = parseAllowList(["0.0.0.0/0", "::/0"]);
    for (const [address] of internal) expect(addressProblem(address, everything)).toBeNull();
  });

  test("any IPv4 address is judged the same as its IPv4-mapped IPv6 form", () => {
    fc.assert(
      fc.property(fc.ipV4(), (address) => {
        expect(addressProblem(`::ffff:${address}`) === null).toBe(addressProblem(address) === null);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("the allowance's entries", () => {
  test("host names, IP addresses and CIDR ranges are accepted", () => {
    for (const entry of [
      "10.0.0.0/8",
      "192.168.1.7",
      "::1",
      "fd00::/8",
      "hooks.internal",
      "Hooks.Example.COM.",
      "receiver.localhost",
      "metadata",
    ]) {
      expect(allowEntryProblem(entry)).toBeNull();
    }
  });

  test("anything else is refused with a readable reason", () => {
    for (const entry of ["10.0.0.0/33", "10/8", "http://hooks.internal", "hooks.internal:8080", "*.internal", "a b", "-bad.example", ""]) {
      expect(allowEntryProblem(entry)).toMatch(/neither a host name, an IP address nor a CIDR range/);
    }
    expect(() => parseAllowList(["10/8"])).toThrow(/10\/8/);
  });
});

describe("host names", () => {
  test("are compared lower-case, without IPv6 brackets or a final dot", () => {
    expect(normalizeHost("LocalHost.")).toBe("localhost");
    expect(normalizeHost("[::FFFF:7F00:1]")).toBe("::ffff:7f00:1");
    expect(normalizeHost("hooks.example.com")).toBe("hooks.example.com");
  });

  test("localhost and every name under it are loopback names", () => {
    expect(["localhost", "hooks.localhost", "a.b.localhost"].every(isLocalhostName)).toBe(true);
    expect(["localhost.example.com", "notlocalhost", "example.com"].some(isLocalhostName)).toBe(false);
  });
});
