/**
 * Just enough of the Dockerfile grammar to read this repository's Dockerfile: instructions, `\` continuations,
 * comment lines (also inside a continuation), exec-form (JSON) arguments and `--flag=value` options. No parser
 * directives beyond the leading `# syntax=` comment, no heredocs, no `ARG` substitution.
 */
export type Instruction = {
  /** Upper-cased: FROM, RUN, COPY … */
  keyword: string;
  /** `--from=build`, `--mount=…` as a map (HEALTHCHECK's `--interval` too). */
  flags: Record<string, string>;
  /** Everything after the keyword and its flags, continuations joined with a space. */
  text: string;
  /** The JSON array of an exec-form argument (after HEALTHCHECK's `CMD`), or null for shell form. */
  exec: string[] | null;
};

export type Stage = { from: string; name: string | null; instructions: Instruction[] };

const flagPattern = /^--([a-z-]+)=(\S+)\s*/;

const parseInstruction = (line: string): Instruction => {
  const [, keyword = "", rest = ""] = /^(\S+)\s*(.*)$/s.exec(line) ?? [];
  let text = rest;
  const flags: Record<string, string> = {};
  for (let match = flagPattern.exec(text); match; match = flagPattern.exec(text)) {
    flags[match[1] as string] = match[2] as string;
    text = text.slice(match[0].length);
  }
  const upper = keyword.toUpperCase();
  const json = upper === "HEALTHCHECK" ? text.replace(/^CMD\s+/, "") : text;
  let exec: string[] | null = null;
  if (json.startsWith("[")) {
    const parsed: unknown = JSON.parse(json);
    if (!Array.isArray(parsed) || !parsed.every((part) => typeof part === "string")) throw new Error(`not an exec form: ${line}`);
    exec = parsed;
  }
  return { keyword: upper, flags, text, exec };
};

export const parseDockerfile = (source: string): Stage[] => {
  const lines: string[] = [];
  let pending = "";
  for (const raw of source.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("#") || (line === "" && pending === "")) continue;
    if (line.endsWith("\\")) {
      pending += `${line.slice(0, -1).trim()} `;
      continue;
    }
    lines.push((pending + line).trim());
    pending = "";
  }
  if (pending !== "") lines.push(pending.trim());

  const stages: Stage[] = [];
  for (const instruction of lines.filter((line) => line !== "").map(parseInstruction)) {
    if (instruction.keyword === "FROM") {
      const [from = "", as, name] = instruction.text.split(/\s+/);
      stages.push({ from, name: as?.toUpperCase() === "AS" && name ? name : null, instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw new Error(`${instruction.keyword} before the first FROM`);
    stage.instructions.push(instruction);
  }
  return stages;
};

/** The variables a stage's ENV lines set (`ENV A=1 B=2` form). */
export const envOf = (stage: Stage): Record<string, string> =>
  Object.fromEntries(
    stage.instructions
      .filter((instruction) => instruction.keyword === "ENV")
      .flatMap((instruction) =>
        instruction.text.split(/\s+/).map((pair) => [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)]),
      ),
  );

/** The commands of a stage's RUN lines, each `&&`-chained part on its own. */
export const commandsOf = (stage: Stage): string[] =>
  stage.instructions
    .filter((instruction) => instruction.keyword === "RUN")
    .flatMap((instruction) => instruction.text.split("&&").map((command) => command.trim().replace(/\s+/g, " ")));
