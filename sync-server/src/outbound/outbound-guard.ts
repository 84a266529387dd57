import { promises as dns, type LookupAddress } from "node:dns";
import { isIP, type LookupFunction } from "node:net";
import { Agent, buildConnector, type Dispatcher, request, fetch as undiciFetch } from "undici";
import { type AllowList, addressProblem, isLocalhostName, normalizeHost, parseAllowList } from "./address-policy.ts";

/** Resolves a host name to every address it has (injectable, so tests can play a rebinding resolver). */
export type Resolve = (host: string) => Promise<LookupAddress[]>;

const systemResolve: Resolve = (host) => dns.lookup(host, { all: true });

/** Loopback names are never asked of DNS (RFC 6761), so a resolver cannot make them point elsewhere, nor here. */
const localhostAddresses: LookupAddress[] = [{ address: "127.0.0.1", family: 4 }];

/** Longest a registration waits for DNS; a slower name is accepted and checked when connected to, like any other. */
const registrationLookupMs = 5_000;

export const allowOption = "OUTBOUND_ALLOW_PRIVATE";

/** A connection refused because its destination is internal; never retried, since asking again gets the same answer. */
export class OutboundBlockedError extends Error {
  override name = "OutboundBlockedError";
}

/** The refusal behind a failed request (fetch wraps connection errors in its own), or null when it was something else. */
export const blockedReason = (error: unknown): string | null => {
  for (let cause = error, depth = 0; cause instanceof Error && depth < 5; cause = cause.cause, depth += 1) {
    if (cause instanceof OutboundBlockedError) return cause.message;
  }
  return null;
};

/** What the guarded fetch takes; there is no `redirect`, since none is ever followed (no hop is left unchecked). */
export type OutboundRequest = { method: string; headers: Headers | Record<string, string>; body?: string; signal: AbortSignal };
export type OutboundFetch = (url: string, init: OutboundRequest) => Promise<Response>;

/** A POST's answer, as much of it as a webhook delivery keeps. */
export type PostAnswer = { status: number; retryAfter: string | null; text: string };
export type OutboundPost = (
  url: string,
  init: { headers: Record<string, string>; body: string | Uint8Array; signal: AbortSignal },
) => Promise<PostAnswer>;

/**
 * POSTs through `dispatcher` with undici's request API, which costs about a
 * third of fetch's CPU per call (no WHATWG streams); like fetch here, it
 * never follows a redirect. The answer's body is read whole, so the
 * connection can be reused.
 */
export const postThrough =
  (dispatcher: Dispatcher): OutboundPost =>
  async (url, { headers, body, signal }) => {
    const response = await request(url, { method: "POST", headers, body, signal, dispatcher });
    const text = await response.body.text().catch(() => "");
    const retryAfter = response.headers["retry-after"];
    return { status: response.statusCode, retryAfter: (Array.isArray(retryAfter) ? retryAfter[0] : retryAfter) ?? null, text };
  };

const withTimeout = <T>(promise: Promise<T>, ms: number): Promise<T | null> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve(null), ms);
    timer.unref();
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });

/**
 * Guards the calls the server makes to URLs that projects set through the
 * Management API (webhook endpoints, JWKS URLs) against server-side request
 * forgery. `check` refuses an internal destination at registration, to tell
 * the caller at once; `fetch` enforces it on every connection, after DNS
 * resolution, through an undici Agent whose connector checks each address it
 * is about to connect to, so a name that resolves elsewhere later (DNS
 * rebinding) is refused too. Redirects are never followed.
 *
 * What the operator configures (WEBHOOK_URL, JWT_JWKS_URL) is trusted and
 * does not come through here.
 */
export class OutboundGuard {
  private readonly allow: AllowList;
  private readonly agent: Agent;
  /** A POST through the guarded connections (webhook deliveries to a project's endpoints). */
  readonly post: OutboundPost;

  constructor(
    allow: readonly string[] = [],
    private readonly resolve: Resolve = systemResolve,
  ) {
    this.allow = parseAllowList(allow);
    const connector = buildConnector({ lookup: this.lookup });
    this.agent = new Agent({
      connect: (options, callback) => {
        // A literal address skips the lookup, so it is checked here.
        const host = normalizeHost(options.hostname);
        const problem = isIP(host) ? addressProblem(host, this.allow) : null;
        if (problem) callback(new OutboundBlockedError(`refused to connect to ${problem} (${allowOption} can allow it)`), null);
        else connector(options, callback);
      },
    });
    this.post = postThrough(this.agent);
  }

  private addressesOf(host: string): Promise<LookupAddress[]> {
    return isLocalhostName(host) ? Promise.resolve(localhostAddresses) : this.resolve(host);
  }

  /** Problems of the addresses a name resolves to (none when the name itself is allowed). */
  private problemsOf(host: string, addresses: readonly LookupAddress[]): string[] {
    if (this.allow.hosts.has(host)) return [];
    return addresses.flatMap(({ address }) => addressProblem(address, this.allow) ?? []);
  }

  /** What sockets use instead of dns.lookup: it answers only when every address of the name may be called. */
  private readonly lookup: LookupFunction = (hostname, options, callback) => {
    const host = normalizeHost(hostname);
    this.addressesOf(host).then(
      (all) => {
        const addresses = options.family === 4 || options.family === 6 ? all.filter(({ family }) => family === options.family) : all;
        const [problem] = this.problemsOf(host, addresses);
        const first = addresses[0];
        if (problem)
          callback(new OutboundBlockedError(`refused to connect to ${host}: it resolves to ${problem} (${allowOption} can allow it)`), "");
        else if (!first) callback(Object.assign(new Error(`${host} has no address`), { code: "ENOTFOUND" }), "");
        else if (options.all) callback(null, addresses);
        else callback(null, first.address, first.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, ""),
    );
  };

  /**
   * Why a project may not register this URL, as a message that tells the fix,
   * or null when it may. A name that does not resolve (yet) is accepted: every
   * connection checks it again.
   */
  async check(field: string, url: string): Promise<string | null> {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return `${field} must be an absolute http or https URL`;
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return `${field} must be an http or https URL`;
    const host = normalizeHost(parsed.hostname);
    let problem: string | undefined;
    if (isIP(host)) problem = addressProblem(host, this.allow) ?? undefined;
    else {
      const addresses = await withTimeout(this.addressesOf(host), registrationLookupMs).catch(() => null);
      const [first] = this.problemsOf(host, addresses ?? []);
      if (first) problem = `${host}, which resolves to ${first}`;
    }
    if (!problem) return null;
    return (
      `${field} points at ${problem}: the server does not call loopback, private, link-local or other internal addresses ` +
      `for a project. Use a publicly reachable URL, or have the operator allow this host or its range in ${allowOption}.`
    );
  }

  /** fetch through the guarded connections, never following a redirect (a 3xx comes back as the answer). */
  readonly fetch: OutboundFetch = (url, { method, headers, body, signal }) =>
    // undici's Response is the WHATWG one that callers (and jose) expect, typed by another copy of undici's types
    // (or by the DOM's, where the browser config typechecks server code): the same shape under another name.
    undiciFetch(url, {
      method,
      // The Headers of Node's built-in fetch are another class than undici's: pass plain pairs.
      headers: headers instanceof Headers ? Object.fromEntries(headers) : headers,
      ...(body === undefined ? {} : { body }),
      signal,
      redirect: "manual",
      dispatcher: this.agent,
    }) as unknown as Promise<Response>;

  async close(): Promise<void> {
    await this.agent.close();
  }
}
