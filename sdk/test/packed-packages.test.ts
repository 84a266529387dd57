import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { buildLibraries, sdkPackages } from "../build.ts";

/**
 * What an app gets from `npm install @mtchat/vue`: the packages are built and
 * packed as `npm publish` would, unpacked into a fresh project's node_modules
 * (third-party dependencies linked from this repository's, so no network),
 * and used there by the TypeScript compiler and by Node. Nothing in the
 * consumer can reach the workspace's sources.
 */
const run = promisify(execFile);
const sdk = path.resolve(import.meta.dirname, "..");
const root = path.resolve(sdk, "..");
const tsc = path.join(root, "node_modules/typescript/bin/tsc");

type PackedFile = { path: string };
type Packed = { name: string; filename: string; files: PackedFile[] };

let work: string;
let consumer: string;
const packed = new Map<string, Packed>();

/** The consumer's code: every line marked `// error` must be reported by tsc, and nothing else. */
const app = `import { ChatClient, type ChatMessage, type ConnectionStatus, type DialogSession } from "@mtchat/client";
import type { RichNode } from "@mtchat/protocol";
import { MTChat } from "@mtchat/vue";
import { MTChatPrime } from "@mtchat/vue-primevue";
import { h } from "vue";

const client = new ChatClient({ url: "https://chat.example.com", token: async () => "jwt" });
const status: ConnectionStatus = client.status;
const texts = (messages: ChatMessage[]): string[] => messages.map((message) => message.text);
const open = (id: string): Promise<DialogSession> => client.openDialog(id);
const body: RichNode = { type: "doc", content: [{ type: "paragraph", content: [{ type: "text", text: "Hi" }] }] };
export const chat = h(MTChat, { config: { url: "https://chat.example.com", token: "jwt" }, mode: "inline", locale: "ru" });
export const primeChat = h(MTChatPrime, { config: { url: "https://chat.example.com", token: "jwt" }, mode: "full", theme: "dark" });
export { body, open, status, texts };

export const wrongStatus: number = client.status; // error
export const wrongNode: RichNode = { type: 42 }; // error
export const wrongMode = h(MTChat, { config: { url: "https://chat.example.com", token: "jwt" }, mode: "sideways" }); // error
export const wrongPrimeTheme = h(MTChatPrime, { config: { url: "https://chat.example.com", token: "jwt" }, theme: "neon" }); // error
`;

const expectedErrorLines = app
  .split("\n")
  .flatMap((line, index) => (line.endsWith("// error") ? [index + 1] : []))
  .sort((a, b) => a - b);

const typecheck = async (moduleResolution: "bundler" | "nodenext") => {
  const config = {
    compilerOptions: {
      target: "ES2022",
      module: moduleResolution === "bundler" ? "ESNext" : "NodeNext",
      moduleResolution,
      lib: ["ES2022", "DOM", "DOM.Iterable"],
      types: [],
      strict: true,
      noEmit: true,
      // The packages' declarations are checked too, not only their use.
      skipLibCheck: false,
    },
    files: ["app.ts"],
  };
  const project = path.join(consumer, `tsconfig.${moduleResolution}.json`);
  await writeFile(project, JSON.stringify(config, null, 2));
  const result = await run(process.execPath, [tsc, "-p", project, "--pretty", "false"], { cwd: consumer }).then(
    ({ stdout }) => ({ code: 0, stdout }),
    (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
  );
  const errors = result.stdout.split("\n").filter((line) => / error TS\d+:/.test(line));
  return { code: result.code, errors };
};

beforeAll(async () => {
  await buildLibraries();
  work = await mkdtemp(path.join(tmpdir(), "mtchat-packed-"));
  const packs = path.join(work, "packs");
  consumer = path.join(work, "consumer");
  await mkdir(packs);
  // `npm pack` needs no network; the libraries were just built, so the prepack build is skipped.
  const { stdout } = await run(
    "npm",
    ["pack", "--json", "--ignore-scripts", "--offline", "--pack-destination", packs, ...sdkPackages.map((pkg) => `--workspace=sdk/${pkg}`)],
    { cwd: root, env: { ...process.env, npm_config_update_notifier: "false" } },
  );
  for (const entry of JSON.parse(stdout) as Packed[]) packed.set(entry.name, entry);

  const thirdParty = new Set<string>();
  for (const entry of packed.values()) {
    const target = path.join(consumer, "node_modules", entry.name);
    await mkdir(target, { recursive: true });
    await run("tar", ["-xzf", path.join(packs, entry.filename), "-C", target, "--strip-components=1"]);
    const manifest = JSON.parse(await readFile(path.join(target, "package.json"), "utf8")) as Record<string, Record<string, string>>;
    for (const name of Object.keys({ ...manifest.dependencies, ...manifest.peerDependencies })) {
      if (!name.startsWith("@mtchat/")) thirdParty.add(name);
    }
  }
  // Only what the packages declare: an undeclared import fails to resolve below.
  for (const name of thirdParty) {
    const link = path.join(consumer, "node_modules", name);
    await mkdir(path.dirname(link), { recursive: true });
    await symlink(path.join(root, "node_modules", name), link, "dir");
  }
  await writeFile(path.join(consumer, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  await writeFile(path.join(consumer, "app.ts"), app);
}, 180_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe("the packed SDK packages", { timeout: 120_000 }, () => {
  test("each tarball holds the built ESM and its declarations, and no sources or tests", () => {
    expect([...packed.keys()].sort()).toEqual(["@mtchat/client", "@mtchat/protocol", "@mtchat/vue", "@mtchat/vue-primevue"]);
    for (const { name, files } of packed.values()) {
      const paths = files.map((file) => file.path);
      expect(paths, name).toEqual(expect.arrayContaining(["package.json", "README.md", "dist/index.js", "dist/index.d.ts"]));
      expect(
        paths.filter((file) => file.startsWith("src/") || file.includes(".test.")),
        name,
      ).toEqual([]);
      // The client also ships its web push service worker as is (@mtchat/client/sw): hosts serve it from their origin.
      const extras = name === "@mtchat/client" ? ["sw/push-sw.js"] : [];
      expect(
        paths.filter((file) => !file.startsWith("dist/") && !["package.json", "README.md", ...extras].includes(file)),
        name,
      ).toEqual([]);
      expect(paths, name).toEqual(expect.arrayContaining(extras));
    }
  });

  test("the unpacked manifests are publishable and point at dist", async () => {
    for (const name of packed.keys()) {
      const manifest = JSON.parse(await readFile(path.join(consumer, "node_modules", name, "package.json"), "utf8")) as {
        private?: boolean;
        exports: Record<string, Record<string, string>>;
      };
      expect(manifest.private, name).toBeUndefined();
      expect(manifest.exports["."], name).toMatchObject({ types: "./dist/index.d.ts", import: "./dist/index.js" });
    }
  });

  test.each(["bundler", "nodenext"] as const)(
    "a consumer type-checks against the declarations (moduleResolution %s)",
    async (resolution) => {
      const { code, errors } = await typecheck(resolution);
      // Exactly the deliberate mistakes are reported: the types are real, not `any`, and the rest compiles.
      expect(
        errors.map((line) => line.replace(/:.*/, "")),
        errors.join("\n"),
      ).toEqual(expectedErrorLines.map((line) => expect.stringMatching(new RegExp(`^app\\.ts\\(${line},\\d+\\)$`))));
      expect(code).not.toBe(0);
    },
  );

  test("Node loads the built ESM from the consumer's node_modules", async () => {
    const script = `
      const client = await import("@mtchat/client");
      const protocol = await import("@mtchat/protocol");
      const vue = await import("@mtchat/vue");
      const prime = await import("@mtchat/vue-primevue");
      console.log(JSON.stringify({
        resolved: import.meta.resolve("@mtchat/client"),
        chatClient: typeof client.ChatClient,
        status: new client.ChatClient({ url: "http://127.0.0.1:9", token: "jwt" }).status,
        docName: protocol.metaDocName("0190f1a2-3b4c-7d5e-8f60-718293a4b5c6"),
        mtchat: vue.MTChat.name,
        prime: prime.MTChatPrime.name,
        primeCss: prime.primeThemeCss.includes("var(--p-primary-color"),
      }));`;
    const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script], { cwd: consumer });
    const loaded = JSON.parse(stdout) as Record<string, string>;
    expect(loaded.resolved).toBe(`file://${path.join(consumer, "node_modules/@mtchat/client/dist/index.js")}`);
    expect(loaded).toMatchObject({ chatClient: "function", status: "connecting", mtchat: "MTChat", prime: "MTChatPrime", primeCss: true });
    expect(loaded.docName).toBe("dialog/0190f1a2-3b4c-7d5e-8f60-718293a4b5c6");
  });
});
