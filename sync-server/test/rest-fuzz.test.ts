import { errorKinds, isErrorKind } from "@mtchat/protocol";
import fc from "fast-check";
import { expect, test } from "vitest";
import { adminToken, createDialog, type TestServer, tokenFor, useServer } from "./harness.ts";

/**
 * A seeded fuzz over every operation of the OpenAPI document: mutated path
 * and query parameters, bodies and credentials. Whatever arrives, the answer
 * is not a 5xx, every error is the documented envelope, and the server still
 * serves honest requests afterwards (no document left unprojectable).
 */

// Rate limits off: a 429 is a fine answer, but it would stop the fuzz from reaching the routes.
const fixture = useServer("external", "rest_fuzz", { RATE_LIMIT_USER: "0", RATE_LIMIT_KEY: "0" });

const seed = 20_261_202;
const runsPerOperation = 36;

type Schema = {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, Schema>;
  items?: Schema;
  enum?: unknown[];
  oneOf?: Schema[];
  anyOf?: Schema[];
  format?: string;
  pattern?: string;
  minimum?: number;
};
type Parameter = { name: string; in: string; schema: Schema; required?: boolean };
type Operation = { method: string; path: string; params: Parameter[]; query: Parameter[]; body: Schema | null; scheme: string | null };
type Document = {
  paths: Record<
    string,
    Record<
      string,
      { parameters?: Parameter[]; requestBody?: { content: Record<string, { schema: Schema }> }; security?: Record<string, unknown>[] }
    >
  >;
  components: { schemas: Record<string, Schema> };
};

/** What one operation's requests act on: fresh per operation, so a deleting request spoils no other operation's reach. */
type Targets = { dialogId: string; objectId: string; messageId: string; apiKey: string; apiKeyId: string };

const b64 = (text: string) => Buffer.from(text).toString("base64url");
/** Percent-encodes the UTF-8 bytes of any string (an unpaired surrogate becomes U+FFFD on the way). */
const encode = (text: string) => [...Buffer.from(text)].map((byte) => `%${byte.toString(16).padStart(2, "0")}`).join("");
const dashes = "-".repeat(36);
const someId = "0190a000-0000-7000-8000-000000000000";
const iso = new Date().toISOString();

/** A JSON literal written as is into a body: numbers JSON.stringify cannot write, nesting it would not survive. */
class Raw {
  constructor(readonly text: string) {}
}

/** Parameter values as they go into the URL: already percent-encoded, some not validly. */
const urlGarbage = [
  "%00",
  "a%00b",
  "%25",
  "%",
  "%ZZ",
  "%ED%A0%80",
  "%C0%AF",
  dashes,
  "00000000-0000-0000-0000-000000000000",
  someId.toUpperCase(),
  "99999999999999999999999",
  "9223372036854775808",
  "-1",
  "0",
  "1e400",
  "1e21",
  "NaN",
  "1.5",
  "0x10",
  "",
  "%20",
  "..%2F..%2Fetc%2Fpasswd",
  "%F0%9F%98%80",
  "null",
  "x".repeat(5000),
];
const cursorGarbage = [
  b64("1e21"),
  b64("9223372036854775808"),
  b64(JSON.stringify({ asOf: iso, pinned: false, at: iso, id: dashes })),
  b64(JSON.stringify({ asOf: "+275760-09-13T00:00:00.000Z", pinned: true, at: iso, id: someId })),
  b64(JSON.stringify({ asOf: iso, pinned: false, at: "2024-02-30T00:00:00.000Z", id: someId })),
  b64(JSON.stringify({ at: "2024-02-30T00:00:00.000Z", id: someId })),
  b64(JSON.stringify({ at: iso, id: dashes })),
  b64(JSON.stringify({ offset: 1e21 })),
  b64('{"offset":9223372036854775808}'),
  b64(`${iso}|${dashes}`),
  b64("+275760-09-13T00:00:00.000Z|0190a000-0000-7000-8000-000000000000"),
  b64("null"),
  b64("[]"),
  b64("{}"),
];
const urlValue = fc.oneof(
  fc.constantFrom(...urlGarbage, ...cursorGarbage),
  fc.string({ unit: "binary", maxLength: 40 }).map(encode),
  fc.jsonValue({ maxDepth: 2 }).map((value) => b64(JSON.stringify(value))),
);

const deep = (levels: number, open: string, close: string) => new Raw(`${open.repeat(levels)}1${close.repeat(levels)}`);
const jsonGarbage = fc.oneof(
  fc.constantFrom<unknown>(
    "a\u0000b",
    "\u0000",
    "\ud800",
    "x\udfffy",
    "",
    "   ",
    dashes,
    "2024-02-30T00:00:00Z",
    "+275760-09-13T00:00:00.000Z",
    "x".repeat(100_000),
    "👍",
    "%00",
  ),
  fc.constantFrom<unknown>(null, true, false, 0, -1, 1.5, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, [], {}),
  fc.constantFrom<unknown>(
    new Raw("9223372036854775808"),
    new Raw("1e999"),
    new Raw("-1e999"),
    new Raw("123456789012345678901234567890"),
    deep(5000, "[", "]"),
    deep(5000, '{"a":', "}"),
  ),
  fc.string({ unit: "binary", maxLength: 30 }),
  fc.jsonValue({ maxDepth: 3 }),
);

/** Bodies that are not the JSON object a route wants, with the Content-Type they come with. */
const rawBodies: [string, string | null][] = [
  ["", "application/json"],
  ["not json", "application/json"],
  ["{", "application/json"],
  ['{"a":', "application/json"],
  ["null", "application/json"],
  ["[]", "application/json"],
  ['"text"', "application/json"],
  ["123", "application/json"],
  ["\ufeff{}", "application/json"],
  [`${"[".repeat(100_000)}${"]".repeat(100_000)}`, "application/json"],
  [JSON.stringify({ content: "x".repeat(1_200_000) }), "application/json"],
  ["{}", "text/plain"],
  ["a=b", "application/x-www-form-urlencoded"],
  ["{}", null],
];

const resolve = (doc: Document, schema: Schema): Schema =>
  schema.$ref ? resolve(doc, doc.components.schemas[schema.$ref.split("/").at(-1) as string] as Schema) : schema;

const operationsOf = (doc: Document): Operation[] =>
  Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({
      method: method.toUpperCase(),
      path,
      params: (op.parameters ?? []).filter((param) => param.in === "path"),
      query: (op.parameters ?? []).filter((param) => param.in === "query"),
      body: op.requestBody?.content["application/json"]?.schema ?? null,
      scheme: op.security?.[0] ? (Object.keys(op.security[0])[0] ?? null) : null,
    })),
  );

let projects = 0;

/** A value the schema accepts, with the operation's own dialog, message and key where a field names one. */
const validValue = (doc: Document, schema: Schema, name: string, targets: Targets, path: string): unknown => {
  const resolved = resolve(doc, schema);
  const options = resolved.oneOf ?? resolved.anyOf;
  if (options?.[0]) return validValue(doc, options[0], name, targets, path);
  if (resolved.enum) return name === "scopes" ? "admin" : resolved.enum[0];
  const type = Array.isArray(resolved.type) ? resolved.type.find((each) => each !== "null") : resolved.type;
  if (type === "object") {
    const properties = Object.entries(resolved.properties ?? {});
    if (properties.length === 0) return { key: "value" };
    return Object.fromEntries(properties.map(([key, property]) => [key, validValue(doc, property, key, targets, path)]));
  }
  if (type === "array") return name === "attachment_ids" ? [] : [validValue(doc, resolved.items ?? {}, name, targets, path)];
  if (type === "integer" || type === "number") return name === "size" ? 10 : (resolved.minimum ?? 1);
  if (type === "boolean") return true;
  const byName: Record<string, string> = {
    dialog_id: targets.dialogId,
    message_id: targets.messageId,
    reply_to_id: targets.messageId,
    mid: targets.messageId,
    before: targets.messageId,
    after: targets.messageId,
    around: targets.messageId,
    user_id: "bob",
    display_name: "Bob",
    object_id: targets.objectId,
    object_type: "order",
    type: "order",
    tenant_uid: "tenant-1",
    filename: "notes.txt",
    content_type: "text/plain",
    content: "hello from the fuzz",
    q: "hello",
    emoji: "👍",
    name: "notes.txt",
    secret: "s".repeat(40),
    email: "bob@example.com",
    expires_at: new Date(Date.now() + 86_400_000).toISOString(),
    limit: "10",
  };
  if (name === "id" && resolved.pattern) {
    projects += 1;
    return `fuzz-${projects}`;
  }
  if (name === "id") return path.startsWith("/api/v1/management/dialogs") || path.startsWith("/api/v1/dialogs") ? targets.dialogId : someId;
  if (name === "key_id") return path.includes("api-keys") ? targets.apiKeyId : someId;
  if (name in byName) return byName[name];
  // Loopback port 9 refuses at once: nothing the fuzz adds sends anything anywhere.
  if (resolved.format === "uri") return "http://127.0.0.1:9/fuzz";
  if (resolved.format === "uuid") return someId;
  if (resolved.format === "date-time") return new Date(Date.now() + 86_400_000).toISOString();
  return "fuzz";
};

const isContainer = (value: unknown): value is Record<string, unknown> =>
  Array.isArray(value) || (value !== null && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype);

/** Every path into a JSON value, the root included. */
const pathsOf = (value: unknown, path: string[] = []): string[][] => [
  path,
  ...(isContainer(value) ? Object.entries(value).flatMap(([key, child]) => pathsOf(child, [...path, key])) : []),
];

type Mutation = { how: "replace" | "delete" | "extra" | "wrap"; pick: number; value: unknown };

/** The valid body with a few mutations: a value replaced, a key deleted or added, a value wrapped in an array. */
const mutate = (body: unknown, mutations: Mutation[]): unknown => {
  const holder: Record<string, unknown> = { root: structuredClone(body) };
  for (const { how, pick, value } of mutations) {
    const paths = pathsOf(holder.root).map((path) => ["root", ...path]);
    const path = paths[pick % paths.length] as string[];
    const parent = path.slice(0, -1).reduce<Record<string, unknown>>((node, key) => node[key] as Record<string, unknown>, holder);
    const key = path.at(-1) as string;
    // Generated values may be shared between runs: each run changes its own copy.
    const fresh = value instanceof Raw ? value : structuredClone(value);
    const target = parent[key];
    if (how === "delete") {
      if (Array.isArray(parent)) parent.splice(Number(key), 1);
      else delete parent[key];
    } else if (how === "wrap") parent[key] = [target];
    else if (how === "extra" && isContainer(target) && !Array.isArray(target)) target.extra = fresh;
    else parent[key] = fresh;
  }
  return holder.root;
};

/** JSON text with the Raw literals written in. */
const serialize = (value: unknown): string => {
  const raws: string[] = [];
  const text = JSON.stringify(value, (_key, each) => (each instanceof Raw ? `@@raw${raws.push(each.text) - 1}@@` : each)) ?? "null";
  return text.replace(/"@@raw(\d+)@@"/g, (_match, index: string) => raws[Number(index)] as string);
};

type Auth = "valid" | "valid-key" | "lowercase" | "none" | "garbage" | "expired" | "other" | "nul-sub" | "long" | "fake-key";
type Case = {
  auth: Auth;
  params: string[];
  query: [string, string][];
  body: { text: string; type: string | null } | null;
};

type UrlMutation = { part: "param" | "query" | "duplicate"; index: number; value: string } | { part: "extra"; entry: [string, string] };

const extraQuery: [string, string][] = [
  ["limit", "500"],
  ["cursor", "x"],
  ["unknown", "%00"],
  ["user_id", "mallory"],
];

/** Garbage for a parameter: cursors get cursor-shaped garbage most often, so it reaches the decoding. */
const garbageFor = (name: string) =>
  name === "cursor" ? fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...cursorGarbage) }, { weight: 1, arbitrary: urlValue }) : urlValue;

/** Single-mutation garbage tried on every parameter before the random runs: the classes the fuzzer once found. */
const seedGarbage = (name: string) =>
  name === "cursor" ? cursorGarbage : ["%00", "a%00b", "%ED%A0%80", dashes, "%25", "99999999999999999999999", "1e400", "-1", ""];

/**
 * A request is a valid one with a few mutations: a parameter replaced or
 * repeated, an unknown one added, the body mutated or replaced, other
 * credentials. Keeping the rest valid lets each mutation reach past
 * validation of the others, into the handler and the database. The seeds
 * come first: the valid request, then each parameter and each field of its
 * body mutated alone with the garbage of {@link seedGarbage}.
 */
const requestsFor = (doc: Document, op: Operation, targets: Targets): { arbitrary: fc.Arbitrary<Case>; seeds: Case[] } => {
  const valid = (param: Parameter) => encodeURIComponent(String(validValue(doc, param.schema, param.name, targets, op.path)));
  const validParams = op.params.map(valid);
  // No cursor is valid before a first page: a valid request leaves it out. Required parameters are always there.
  const optional = op.query.flatMap((param, index) => (param.name === "cursor" || param.required ? [] : [index]));
  const required = op.query.flatMap((param, index) => (param.required ? [index] : []));
  const buildUrl = (present: number[], mutations: UrlMutation[]) => {
    const params = [...validParams];
    const query = new Map<number, string>([...required, ...present].map((index) => [index, valid(op.query[index] as Parameter)]));
    const more: [string, string][] = [];
    for (const mutation of mutations) {
      if (mutation.part === "extra") more.push(mutation.entry);
      else if (mutation.part === "param") params[mutation.index] = mutation.value;
      else if (mutation.part === "query") query.set(mutation.index, mutation.value);
      else more.push([op.query[mutation.index]?.name ?? "", mutation.value]);
    }
    const entries = [...query].map(([index, value]): [string, string] => [op.query[index]?.name ?? "", value]);
    return { params, query: [...entries, ...more] };
  };
  const indexed = (part: "param" | "query" | "duplicate", list: Parameter[]) =>
    fc.nat(list.length - 1).chain((index) => garbageFor(list[index]?.name ?? "").map((value): UrlMutation => ({ part, index, value })));
  const urlMutation = fc.oneof(
    ...(op.params.length > 0 ? [{ weight: 3, arbitrary: indexed("param", op.params) }] : []),
    ...(op.query.length > 0
      ? [
          { weight: 3, arbitrary: indexed("query", op.query) },
          { weight: 1, arbitrary: indexed("duplicate", op.query) },
        ]
      : []),
    { weight: 1, arbitrary: fc.constantFrom(...extraQuery).map((entry): UrlMutation => ({ part: "extra", entry })) },
  );
  const url = fc
    .record({ present: fc.subarray(optional), mutations: fc.array(urlMutation, { maxLength: 2 }) })
    .map(({ present, mutations }) => buildUrl(present, mutations));

  const validBody = op.body ? validValue(doc, op.body, "body", targets, op.path) : { key: "value" };
  const mutation = fc.record({ how: fc.constantFrom("replace", "delete", "extra", "wrap"), pick: fc.nat(), value: jsonGarbage });
  const json = (value: unknown) => ({ text: serialize(value), type: "application/json" });
  const body = fc.oneof(
    { weight: op.body ? 2 : 0, arbitrary: fc.constant(json(validBody)) },
    { weight: op.body ? 5 : 1, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 3 }).map((each) => json(mutate(validBody, each))) },
    { weight: 1, arbitrary: fc.constantFrom(...rawBodies).map(([text, type]) => ({ text, type })) },
    { weight: op.body ? 0 : 3, arbitrary: fc.constant(null) },
  );
  const auth = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom<Auth>("valid", "valid-key", "lowercase") },
    { weight: 2, arbitrary: fc.constantFrom<Auth>("none", "garbage", "expired", "other", "nul-sub", "long", "fake-key") },
  );
  const arbitrary = fc
    .record({ auth, url, body: op.method === "GET" ? fc.constant(null) : body })
    .map(({ auth, url, body }): Case => ({ auth, ...url, body }));

  const base: Case = { auth: "valid", ...buildUrl([], []), body: op.body ? json(validBody) : null };
  const bodySeeds = op.body
    ? pathsOf(validBody).flatMap((path, index): Case[] => {
        const value = path.reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], validBody);
        const at = (replacement: unknown): Mutation[] => [{ how: "replace", pick: index, value: replacement }];
        if (typeof value === "string")
          return ["a\u0000b", "a\ud800b"].map((text) => ({ ...base, body: json(mutate(validBody, at(text))) }));
        if (typeof value === "number") return [{ ...base, body: json(mutate(validBody, at(new Raw("9223372036854775808")))) }];
        if (isContainer(value) && !Array.isArray(value)) {
          return [{ ...base, body: json(mutate(validBody, [{ how: "extra", pick: index, value: { "k\u0000": deep(100, "[", "]") } }])) }];
        }
        return [];
      })
    : [];
  const seeds: Case[] = [
    base,
    { ...base, auth: "nul-sub" },
    ...op.params.flatMap((param, index) =>
      seedGarbage(param.name).map((value): Case => ({ ...base, ...buildUrl([], [{ part: "param", index, value }]) })),
    ),
    ...op.query.flatMap((param, index) =>
      seedGarbage(param.name).map((value): Case => ({ ...base, ...buildUrl([], [{ part: "query", index, value }]) })),
    ),
    ...bodySeeds,
  ];
  return { arbitrary, seeds };
};

type Tokens = { user: string; expired: string; nulSub: string };

const authorization = (auth: Auth, scheme: string | null, tokens: Tokens, targets: Targets): string | null => {
  const own = scheme === "userToken" ? tokens.user : adminToken;
  const other = scheme === "userToken" ? adminToken : tokens.user;
  const value: Record<Auth, string | null> = {
    valid: own,
    "valid-key": scheme === "adminToken" ? targets.apiKey : own,
    lowercase: own,
    none: null,
    garbage: "not-a-token",
    expired: tokens.expired,
    other,
    "nul-sub": tokens.nulSub,
    // Under Node's 16 KiB header limit, past which Node itself answers 431 (with no body) before the app sees anything.
    long: "a".repeat(12_000),
    "fake-key": `mtk_live_abcdefgh_${"A".repeat(43)}`,
  };
  const token = value[auth];
  return token === null ? null : `${auth === "lowercase" ? "bearer" : "Bearer"} ${token}`;
};

type Outcome = { status: number; text: string };

const send = async (t: TestServer, op: Operation, request: Case, tokens: Tokens, targets: Targets): Promise<Outcome> => {
  let index = 0;
  const path = op.path.replace(/\{[^}]+\}/g, () => request.params[index++] ?? "");
  const query = request.query.map(([name, value]) => `${name}=${value}`).join("&");
  const headers: Record<string, string> = {};
  const auth = authorization(request.auth, op.scheme, tokens, targets);
  if (auth) headers.authorization = auth;
  if (request.body?.type) headers["content-type"] = request.body.type;
  const response = await fetch(`${t.httpUrl}${path}${query ? `?${query}` : ""}`, {
    method: op.method,
    headers,
    ...(request.body ? { body: request.body.text } : {}),
    signal: AbortSignal.timeout(20_000),
  });
  return { status: response.status, text: await response.text() };
};

/** Why an answer breaks the contract; null when it keeps it. */
const breach = (outcome: Outcome): string | null => {
  if (outcome.status >= 500) return `answered ${outcome.status}: ${outcome.text.slice(0, 300)}`;
  if (outcome.status < 400) return null;
  let body: unknown;
  try {
    body = JSON.parse(outcome.text);
  } catch {
    return `error ${outcome.status} is not JSON: ${outcome.text.slice(0, 200)}`;
  }
  const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  if (typeof error?.code !== "string" || !isErrorKind(error.code) || typeof error.message !== "string" || error.message === "") {
    return `error ${outcome.status} is not the envelope: ${outcome.text.slice(0, 200)}`;
  }
  if (errorKinds[error.code].http !== outcome.status) return `code ${error.code} came with status ${outcome.status}`;
  return null;
};

test(`every operation of the OpenAPI document, its seed cases and ${runsPerOperation} random ones: no 5xx, only the error envelope`, async () => {
  const { t } = fixture;
  const started = Date.now();
  const doc = (await (await fetch(`${t.httpUrl}/api/v1/openapi.json`)).json()) as Document;
  const operations = operationsOf(doc);
  expect(operations.length).toBeGreaterThan(40);
  const tokens: Tokens = {
    user: await tokenFor("alice"),
    expired: await tokenFor("alice", {}, Math.floor(Date.now() / 1000) - 60),
    nulSub: await tokenFor("al\u0000ice"),
  };

  let sent = 0;
  const statuses = new Map<number, number>();
  const reachedPastAuth = new Set<string>();
  const dialogs: string[] = [];
  const failures: string[] = [];
  for (const [index, op] of operations.entries()) {
    const dialog = await createDialog(t, ["alice", "bob"], {
      access_scopes: [{ tenant_uid: "tenant-1", scope_level1: [], scope_level2: [] }],
    });
    dialogs.push(dialog.id);
    const message = await t.api<{ data: { id: string } }>(
      "POST",
      `/api/v1/dialogs/${dialog.id}/messages`,
      { content: "hello" },
      tokens.user,
    );
    const key = await t.api<{ data: { id: string; key: string } }>("POST", "/api/v1/management/api-keys", {
      name: `fuzz ${index}`,
      scopes: ["admin"],
    });
    const targets: Targets = {
      dialogId: dialog.id,
      objectId: dialog.object_id,
      messageId: message.body.data.id,
      apiKey: key.body.data.key,
      apiKeyId: key.body.data.id,
    };
    // A failing operation does not stop the others: one run reports every operation that breaks, each with a shrunk case.
    try {
      const { arbitrary, seeds } = requestsFor(doc, op, targets);
      await fc.assert(
        fc.asyncProperty(arbitrary, async (request) => {
          const outcome = await send(t, op, request, tokens, targets);
          sent += 1;
          statuses.set(outcome.status, (statuses.get(outcome.status) ?? 0) + 1);
          if (outcome.status !== 401 && request.auth.startsWith("valid")) reachedPastAuth.add(`${op.method} ${op.path}`);
          const problem = breach(outcome);
          if (problem) throw new Error(`${op.method} ${op.path}: ${problem}`);
        }),
        { seed: seed + index, numRuns: seeds.length + runsPerOperation, examples: seeds.map((each): [Case] => [each]) },
      );
    } catch (error) {
      const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error);
      failures.push(`${cause}\n${error instanceof Error ? error.message : ""}`);
    }
  }
  const seconds = (Date.now() - started) / 1000;
  console.log(
    `rest fuzz: ${sent} requests over ${operations.length} operations in ${seconds.toFixed(1)} s; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))}`,
  );

  expect(failures).toEqual([]);
  // The fuzz got past authentication everywhere: valid credentials reached every operation.
  expect([...reachedPastAuth].sort()).toEqual(operations.map((op) => `${op.method} ${op.path}`).sort());
  expect([...statuses].filter(([status]) => status < 300).reduce((sum, [, count]) => sum + count, 0)).toBeGreaterThan(sent / 10);

  // Afterwards the server still serves an honest request, and no dialog was left unprojectable: a message sent now
  // into each surviving dialog is projected (the send reads it back) and shows in its history.
  expect(await t.api("GET", "/health/ready", undefined, null)).toMatchObject({ status: 200 });
  const checker = await tokenFor("checker");
  await Promise.all(
    dialogs.map(async (id) => {
      if ((await t.api("GET", `/api/v1/management/dialogs/${id}`)).status === 404) return;
      await t.api("POST", `/api/v1/management/dialogs/${id}/participants`, { user_id: "checker", display_name: "Checker" });
      const honest = await t.api<{ data: { id: string } }>("POST", `/api/v1/dialogs/${id}/messages`, { content: "still here" }, checker);
      expect(honest.status, `dialog ${id}`).toBe(201);
      const history = await t.api<{ data: { messages: { id: string }[] } }>(
        "GET",
        `/api/v1/dialogs/${id}/messages?limit=1`,
        undefined,
        checker,
      );
      expect(history.body.data.messages.map((each) => each.id)).toEqual([honest.body.data.id]);
    }),
  );
  expect(await t.api("GET", "/api/v1/dialogs?limit=1", undefined, checker)).toMatchObject({ status: 200 });
}, 180_000);
