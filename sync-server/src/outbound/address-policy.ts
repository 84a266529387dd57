import ipaddr from "ipaddr.js";

/**
 * Which addresses the server may call on behalf of a project (webhook
 * endpoints and JWKS URLs set through the Management API). Only globally
 * routable unicast addresses pass, as `ipaddr.js` classifies them; everything
 * else (loopback, private, link-local and metadata, CGNAT, unique-local,
 * unspecified, multicast, broadcast, reserved, and IPv6 forms that carry an
 * IPv4 address) needs the operator's allowance. Pure: no DNS, no sockets.
 */

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/** What the operator allowed (OUTBOUND_ALLOW_PRIVATE): host names, and address ranges. */
export type AllowList = { hosts: ReadonlySet<string>; ranges: readonly [Address, number][] };

export const emptyAllowList: AllowList = { hosts: new Set(), ranges: [] };

/**
 * `::/96` held IPv4-compatible IPv6 addresses (deprecated by RFC 4291), which
 * `ipaddr.js` counts as unicast; they carry an IPv4 address, so they pass no
 * more than that address would.
 */
const ipv4Compatible = ipaddr.IPv6.parseCIDR("::/96");

const rangeWords: Record<string, string> = {
  loopback: "a loopback address",
  private: "a private (RFC 1918) address",
  linkLocal: "a link-local address (where cloud metadata services answer)",
  carrierGradeNat: "a shared (carrier-grade NAT, 100.64.0.0/10) address",
  uniqueLocal: "a unique-local IPv6 address",
  unspecified: "an unspecified address",
  multicast: "a multicast address",
  broadcast: "the broadcast address",
  reserved: "a reserved address",
};

const hostPattern = /^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/;

/** A URL's hostname as compared and resolved: lower case, without IPv6 brackets or a final dot. */
export const normalizeHost = (hostname: string): string => {
  const host = hostname.toLowerCase();
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  return bare.endsWith(".") ? bare.slice(0, -1) : bare;
};

/** RFC 6761: `localhost` and every name under it are loopback, whatever a resolver says. */
export const isLocalhostName = (host: string): boolean => host === "localhost" || host.endsWith(".localhost");

const isAddress = (text: string): boolean => ipaddr.IPv4.isValidFourPartDecimal(text) || ipaddr.IPv6.isValid(text);

const parseRange = (entry: string): [Address, number] | null => {
  if (entry.includes("/")) {
    if (ipaddr.IPv4.isValidCIDRFourPartDecimal(entry)) return ipaddr.IPv4.parseCIDR(entry);
    if (ipaddr.IPv6.isValidCIDR(entry)) return ipaddr.IPv6.parseCIDR(entry);
    return null;
  }
  if (!isAddress(entry)) return null;
  const address = ipaddr.process(entry);
  return [address, address.kind() === "ipv4" ? 32 : 128];
};

/** Why an OUTBOUND_ALLOW_PRIVATE entry is unusable, or null when it is a host name, an address or a CIDR range. */
export const allowEntryProblem = (entry: string): string | null => {
  if (parseRange(entry)) return null;
  if (!entry.includes("/") && !isAddress(entry) && hostPattern.test(normalizeHost(entry))) return null;
  return `${JSON.stringify(entry)} is neither a host name, an IP address nor a CIDR range (like 10.0.0.0/8 or fd00::/8)`;
};

/** The allowance from its entries (each already checked with `allowEntryProblem`). */
export const parseAllowList = (entries: readonly string[]): AllowList => {
  const hosts = new Set<string>();
  const ranges: [Address, number][] = [];
  for (const entry of entries) {
    const problem = allowEntryProblem(entry);
    if (problem) throw new Error(problem);
    const range = parseRange(entry);
    if (range) ranges.push(range);
    else hosts.add(normalizeHost(entry));
  }
  return { hosts, ranges };
};

const inRanges = (address: Address, ranges: AllowList["ranges"]): boolean =>
  ranges.some(([network, bits]) => network.kind() === address.kind() && address.match(network, bits));

/**
 * Why the server must not connect to this address, as "<address>, <what it
 * is>", or null when it may: a globally routable unicast address, or one in an
 * allowed range. IPv4-mapped IPv6 addresses are judged as the IPv4 address
 * they map to, so `::ffff:127.0.0.1` is loopback and `10.0.0.0/8` allows
 * `::ffff:10.1.2.3`.
 */
export const addressProblem = (text: string, allow: AllowList = emptyAllowList): string | null => {
  if (!isAddress(text)) return `${text}, not an IP address`;
  const address = ipaddr.process(text);
  if (inRanges(address, allow.ranges)) return null;
  const range = address.range();
  if (range === "unicast") {
    if (address.kind() === "ipv6" && address.match(ipv4Compatible)) return `${address.toString()}, an IPv4-compatible IPv6 address`;
    return null;
  }
  return `${address.toString()}, ${rangeWords[range] ?? `a special-purpose address (${range})`}`;
};
