/**
 * Checks that the library's folders import only from the layers below
 * them (README, Layout): every relative import of every `.ts` file under
 * `lib/` and `transports/`, and of the entry points, is resolved to its
 * layer and compared. An upward import is reported with its file and line;
 * so is a cycle between folders, which only upward imports can make.
 * Exits 1 on any violation. Run: `deno run --allow-read scripts/check_layers.ts`.
 *
 * @module
 */

import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import process from "node:process";

/**
 * The layers, bottom first, with the layers each may import directly (it
 * may also import what those may, and its own folder).
 */
export const LAYERS: Readonly<Record<string, readonly string[]>> = {
  "lib/_util": [],
  "lib/postcard": ["lib/_util"],
  "lib/identity": ["lib/postcard"],
  "lib/wire": ["lib/postcard"],
  "lib/link": ["lib/_util"],
  "transports": ["lib/link"],
  "lib/conduit": ["lib/wire", "lib/link"],
  "lib/channel": ["lib/wire"],
  "lib/connection": ["lib/channel", "lib/identity", "lib/wire"],
  "lib/session": ["lib/connection", "lib/conduit"],
  "lib/extras": ["lib/session", "transports"],
  "lib/cli": ["lib/extras"],
};

/** Entry points and the layers whose reach each has. */
export const ENTRIES: Readonly<Record<string, readonly string[]>> = {
  "postcard.ts": ["lib/postcard"],
  "wire.ts": ["lib/identity", "lib/wire"],
  "tracing.ts": ["lib/extras"],
  "mod.ts": ["lib/extras"],
};

/** Every layer `layer` may import: its own and, transitively, those it lists. */
export function reach(layer: string): Set<string> {
  const out = new Set<string>([layer]);
  const todo = [layer];
  for (let next = todo.pop(); next !== undefined; next = todo.pop()) {
    for (const below of LAYERS[next] ?? []) {
      if (!out.has(below)) {
        out.add(below);
        todo.push(below);
      }
    }
  }
  return out;
}

/** The layer of a repository path, or undefined for a file outside every layer. */
export function layerOf(path: string): string | undefined {
  for (const layer of Object.keys(LAYERS)) {
    if (path === layer || path.startsWith(`${layer}/`)) return layer;
  }
  return undefined;
}

/** The relative import specifiers of a source file, with their line numbers. */
export function importsOf(source: string): { spec: string; line: number }[] {
  const out: { spec: string; line: number }[] = [];
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(["'])(\.{1,2}\/[^"']+)\1/g;
  // Comments may quote imports (doc examples use "@roam/roam", never relative paths, but be safe).
  const code = source.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, " "));
  for (const m of code.matchAll(re)) {
    const line = code.slice(0, m.index).split("\n").length;
    out.push({ spec: m[2]!, line });
  }
  return out;
}

/** One import that breaks the layering. */
export interface Violation {
  readonly file: string;
  readonly line: number;
  readonly target: string;
  readonly why: string;
}

/**
 * Checks `files` (repository-relative path → source) and returns every
 * import a layer may not make, and every cycle between folders.
 */
export function check(files: ReadonlyMap<string, string>): Violation[] {
  const violations: Violation[] = [];
  const edges = new Map<string, Set<string>>();
  for (const [file, source] of files) {
    const entry = ENTRIES[file];
    const own = entry?.[0] ?? layerOf(file);
    if (own === undefined) continue;
    const allowed = new Set((entry ?? [own]).flatMap((layer) => [...reach(layer)]));
    for (const { spec, line } of importsOf(source)) {
      const target = normalize(join(dirname(file), spec));
      // Importing an entry point reaches the layers it re-exports.
      const layer = ENTRIES[target]?.[ENTRIES[target]!.length - 1] ?? layerOf(target);
      if (layer === undefined) {
        violations.push({ file, line, target, why: "imports a file outside the layers" });
        continue;
      }
      if (!allowed.has(layer)) {
        violations.push({ file, line, target, why: `${own} may not import ${layer}` });
      }
      if (layer !== own && !(file in ENTRIES)) {
        let set = edges.get(own);
        if (set === undefined) edges.set(own, set = new Set());
        set.add(layer);
      }
    }
  }
  // Folder cycles (only possible through an upward import, reported once more as a cycle).
  for (const [from, tos] of edges) {
    for (const to of tos) {
      if (edges.get(to)?.has(from)) {
        violations.push({
          file: from,
          line: 0,
          target: to,
          why: `cycle between ${from} and ${to}`,
        });
      }
    }
  }
  return violations;
}

function walk(dir: string, out: string[]): void {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path, out);
    else if (path.endsWith(".ts")) out.push(path);
  }
}

if (import.meta.main) {
  const root = join(dirname(new URL(import.meta.url).pathname), "..");
  const paths: string[] = [];
  for (const dir of ["lib", "transports"]) walk(join(root, dir), paths);
  for (const entry of Object.keys(ENTRIES)) paths.push(join(root, entry));
  const files = new Map<string, string>();
  for (const p of paths) {
    try {
      files.set(relative(root, p), readFileSync(p, "utf8"));
    } catch {
      // An entry point that does not exist yet.
    }
  }
  const violations = check(files);
  for (const v of violations) {
    console.error(`${v.file}${v.line > 0 ? `:${v.line}` : ""}: ${v.why} (${v.target})`);
  }
  console.log(
    violations.length === 0
      ? `layers: ${files.size} files import only from the layers below them`
      : `layers: ${violations.length} violation(s)`,
  );
  process.exit(violations.length === 0 ? 0 : 1);
}
