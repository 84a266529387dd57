import { cp, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type Plugin, rolldown } from "rolldown";

/**
 * `npm run build`: the server as plain JavaScript that `node` runs without the
 * dev dependencies, in dist/server, laid out so that `npm ci --omit=dev` there
 * installs exactly what it imports (the Dockerfile's final stage does that).
 *
 * - main.js bundles sync-server/src/main.ts with every workspace package
 *   (resolved to its sources through the `mtchat-source` condition, as `npm start`
 *   does); third-party packages stay imports, installed from the lockfile.
 * - The assets the server reads at run time sit where they sit in the repository,
 *   relative to dist/server: migrations/*.sql, and sdk/demo/dist and
 *   sdk/widget/dist when they were built. Each bundled module's `import.meta.url`
 *   is its source file's place under dist/server (see `sourceUrls`), so code that
 *   finds a file next to its module finds it there too.
 * - package.json, package-lock.json and each workspace's package.json, so that
 *   `npm ci` accepts the lockfile; `npm start` there runs `node --enable-source-maps main.js`.
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const serverDist = path.join(root, "dist", "server");

/** Files and folders the server reads from disk at run time, relative to the repository; `optional` ones are built on request. */
const assets = [
  { from: "migrations", filter: (file: string) => file === "" || file.endsWith(".sql"), optional: false },
  { from: "sdk/demo/dist", filter: () => true, optional: true },
  { from: "sdk/widget/dist", filter: () => true, optional: true },
] as const;

const isBare = (id: string) => !id.startsWith(".") && !path.isAbsolute(id) && !id.startsWith("\0");

/**
 * Rewrites `import.meta.url` in the repository's own modules to the URL their
 * source file would have under dist/server (main.js sits at its top), instead of
 * main.js's own URL, which every module of a bundle would otherwise share.
 */
const sourceUrls = (): Plugin => ({
  name: "mtchat-source-urls",
  transform(code, id) {
    if (!id.startsWith(root + path.sep) || id.includes(`${path.sep}node_modules${path.sep}`) || !code.includes("import.meta.url"))
      return null;
    const relative = path.relative(root, id).split(path.sep).join("/");
    return { code: code.replaceAll("import.meta.url", `new URL(${JSON.stringify(`./${relative}`)}, import.meta.url).href`), map: null };
  },
});

const exists = (file: string) =>
  stat(file).then(
    () => true,
    () => false,
  );

export const buildServer = async (): Promise<void> => {
  await rm(serverDist, { recursive: true, force: true });
  const bundle = await rolldown({
    input: path.join(root, "sync-server/src/main.ts"),
    platform: "node",
    // Workspace packages are bundled from source; everything else is installed next to main.js.
    external: (id) => isBare(id) && !id.startsWith("@mtchat/"),
    resolve: { conditionNames: ["mtchat-source", "node", "import", "default"] },
    plugins: [sourceUrls()],
    logLevel: "warn",
  });
  await bundle.write({ dir: serverDist, format: "esm", entryFileNames: "main.js", sourcemap: true, codeSplitting: false });
  await bundle.close();

  for (const asset of assets) {
    const from = path.join(root, asset.from);
    if (!(await exists(from))) {
      if (asset.optional) continue;
      throw new Error(`${asset.from} is missing`);
    }
    await cp(from, path.join(serverDist, asset.from), {
      recursive: true,
      filter: (source) => asset.filter(path.relative(from, source)),
    });
  }

  const manifest = JSON.parse(await readFile(path.join(root, "package.json"), "utf8")) as {
    workspaces: string[];
    scripts: Record<string, string>;
  };
  await writeFile(
    path.join(serverDist, "package.json"),
    `${JSON.stringify({ ...manifest, scripts: { start: "node --enable-source-maps main.js" } }, null, 2)}\n`,
  );
  await cp(path.join(root, "package-lock.json"), path.join(serverDist, "package-lock.json"));
  // npm ci links every workspace of the lockfile: each needs its manifest (nothing of it is imported at run time).
  for (const workspace of manifest.workspaces) {
    await mkdir(path.join(serverDist, workspace), { recursive: true });
    await cp(path.join(root, workspace, "package.json"), path.join(serverDist, workspace, "package.json"));
  }
};

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await buildServer();
