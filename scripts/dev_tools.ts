/**
 * Dev-only tools from the npm registry, each group installed with
 * `npm install --no-save` into its own folder under `.tools/` (ignored by
 * git), once: TypeScript for the `tsc` checks, the runtime type packages,
 * bundlers, a Node 22 binary and playwright-core. Nothing here is a
 * dependency of the library.
 *
 * Run `deno run -A scripts/dev_tools.ts [GROUP...]` to install groups
 * (all by default; `--print-node` prints the installed Node's path); it prints one line per group, and `SKIPPED ...: why`
 * for a group that could not be installed (no network, no npm), and
 * always exits 0: the checks that need a missing tool skip themselves,
 * visibly.
 *
 * @module
 */

import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** The repository's root. */
export const ROOT: string = fileURLToPath(new URL("..", import.meta.url));

/** Where the tools go. */
export const TOOLS: string = join(ROOT, ".tools");

/** The npm platform package that ships Node's binary for this machine. */
function nodePackage(): string {
  const os = process.platform === "win32" ? "win" : process.platform;
  return `node-${os}-${process.arch}`;
}

/** The Node release tested (the oldest line roam supports). */
export const NODE_VERSION = "22.23.5";

/** The groups: folder name → packages (exact versions, so runs are repeatable). */
export const GROUPS: Readonly<Record<string, readonly string[]>> = {
  "ts-latest": ["typescript@7.0.2"],
  "ts-5.9": ["typescript@5.9.3"],
  "types": ["@types/bun@1.4.5", "@types/node@22.19.3"],
  "bundlers": ["esbuild@0.28.2", "vite@8.4.0"],
  "node": [`${nodePackage()}@${NODE_VERSION}`],
  "browser": ["playwright-core@1.65.1"],
};

/** The folder of a group's `node_modules`. */
export function modules(group: string): string {
  return join(TOOLS, group, "node_modules");
}

/** The Node binary of the `node` group (it may not be installed). */
export function nodeBinary(): string {
  return join(
    modules("node"),
    nodePackage(),
    "bin",
    process.platform === "win32" ? "node.exe" : "node",
  );
}

/**
 * How to run Bun: `bun` on PATH, else `npx -y bun@1` (as `.ci/run` does).
 *
 * @returns The command and the arguments that come before Bun's own.
 */
export function bunCommand(): [string, string[]] {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir !== "" && existsSync(join(dir, "bun"))) return [join(dir, "bun"), []];
  }
  return ["npx", ["-y", "bun@1"]];
}

function npm(args: string[], cwd: string): Promise<{ ok: true } | { ok: false; why: string }> {
  return new Promise((resolve) => {
    execFile("npm", args, { cwd, timeout: 300_000, maxBuffer: 16 << 20 }, (error, _out, err) => {
      if (error === null) resolve({ ok: true });
      else {
        const tail = String(err).trim().split("\n").slice(-2).join(" | ");
        resolve({ ok: false, why: `${error.message.split("\n")[0]}${tail ? ` (${tail})` : ""}` });
      }
    });
  });
}

/**
 * Installs a group unless the same packages are installed already.
 *
 * @param group A key of {@linkcode GROUPS}.
 * @returns The group's `node_modules` folder, or why it could not be installed.
 */
export async function ensure(group: string): Promise<{ dir: string } | { why: string }> {
  const packages = GROUPS[group];
  if (packages === undefined) return { why: `no tool group ${group}` };
  const dir = join(TOOLS, group);
  const stamp = join(dir, ".installed");
  const want = packages.join(" ");
  if (existsSync(stamp) && readFileSync(stamp, "utf8") === want) return { dir: modules(group) };
  mkdirSync(dir, { recursive: true });
  // An empty package.json keeps npm inside this folder.
  writeFileSync(join(dir, "package.json"), '{ "private": true }\n');
  const r = await npm(
    ["install", "--no-save", "--no-audit", "--no-fund", "--no-package-lock", ...packages],
    dir,
  );
  if (!r.ok) return { why: `npm install ${want} failed: ${r.why}` };
  writeFileSync(stamp, want);
  return { dir: modules(group) };
}

if (import.meta.main && process.argv[2] === "--print-node") {
  // The Node binary of the `node` group, if installed (for scripts/ok.sh).
  if (existsSync(nodeBinary())) console.log(nodeBinary());
} else if (import.meta.main) {
  const groups = process.argv.slice(2);
  for (const group of groups.length > 0 ? groups : Object.keys(GROUPS)) {
    const r = await ensure(group);
    if ("dir" in r) console.log(`tools ${group}: ${GROUPS[group]!.join(" ")}`);
    else console.log(`SKIPPED tools ${group}: ${r.why}`);
  }
}
