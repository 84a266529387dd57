import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { parse as renderGoTemplate } from "@evertdespiegeleer/go-template";
import { parseAllDocuments, parse as parseYaml } from "yaml";

/**
 * A stand-in for `helm template`, which cannot run here (no helm binary, nothing to download it from): the chart's
 * templates rendered by Go's own text/template (compiled to WebAssembly in @evertdespiegeleer/go-template), as helm
 * renders them, with `.Values`, `.Chart`, `.Release` built as helm builds them. It has Go's built-in functions only:
 * no Sprig, no `include`/`tpl`/`required`, which is the restriction the chart's README states, and a missing key is an
 * error, where helm would print nothing. Like helm, it prepends every `_*.tpl` partial to each template, renders only
 * `templates/*.yaml`, and splits the output into documents at `---`.
 */
export type Manifest = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> } } & Record<
  string,
  unknown
>;

type Plain = Record<string, unknown>;
const isPlain = (value: unknown): value is Plain => typeof value === "object" && value !== null && !Array.isArray(value);

/** helm's coalescing of `--set`/`-f` over values.yaml: maps merge key by key, anything else replaces. */
export const mergeValues = (base: Plain, override: Plain): Plain => {
  const merged: Plain = { ...base };
  for (const [key, value] of Object.entries(override)) {
    const current = merged[key];
    merged[key] = isPlain(current) && isPlain(value) ? mergeValues(current, value) : value;
  }
  return merged;
};

/** `.Chart`: Chart.yaml's fields, capitalized as helm exposes them (`.Chart.Name`, `.Chart.AppVersion`). */
const chartObject = (chart: Plain): Plain =>
  Object.fromEntries(
    Object.entries(chart).map(([key, value]) => [key === "apiVersion" ? "APIVersion" : key[0]?.toUpperCase() + key.slice(1), value]),
  );

export const renderChart = async (chartDir: string, options: { release?: string; namespace?: string; values?: Plain } = {}) => {
  const chart = parseYaml(await readFile(path.join(chartDir, "Chart.yaml"), "utf8")) as Plain;
  const defaults = parseYaml(await readFile(path.join(chartDir, "values.yaml"), "utf8")) as Plain;
  const values = mergeValues(defaults, options.values ?? {});
  const context = {
    Values: values,
    Chart: chartObject(chart),
    Release: {
      Name: options.release ?? "chat",
      Namespace: options.namespace ?? "default",
      Service: "Helm",
      IsInstall: true,
      IsUpgrade: false,
      Revision: 1,
    },
  };
  const templatesDir = path.join(chartDir, "templates");
  const files = (await readdir(templatesDir)).sort();
  const partials = await Promise.all(
    files.filter((file) => file.startsWith("_")).map((file) => readFile(path.join(templatesDir, file), "utf8")),
  );
  const manifests: (Manifest & { source: string })[] = [];
  for (const file of files.filter((name) => !name.startsWith("_") && name.endsWith(".yaml"))) {
    const template = await readFile(path.join(templatesDir, file), "utf8");
    let text: string;
    try {
      text = await renderGoTemplate(partials.join("\n") + template, context);
    } catch (error) {
      throw new Error(`${file}: ${(error as Error).message}`);
    }
    for (const document of parseAllDocuments(text)) {
      if (document.errors.length > 0) throw new Error(`${file}: ${document.errors[0]?.message}\n${text}`);
      const manifest = document.toJS() as Manifest | null;
      if (manifest !== null) manifests.push({ ...manifest, source: file });
    }
  }
  return manifests;
};
