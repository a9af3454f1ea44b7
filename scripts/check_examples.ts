/**
 * Checks that every class and function the entry points export, and the
 * `Session` and `Connection` interfaces, has an `@example` in its JSDoc
 * (`deno check --doc-only`, also run by `deno task ok`, type-checks them).
 * Reads `deno doc --json` of the entry points, prints the count, and
 * exits 1 naming each symbol without one.
 * Run: `deno run --allow-read --allow-run --allow-env scripts/check_examples.ts`.
 *
 * @module
 */

import { execFileSync } from "node:child_process";
import process from "node:process";

/** The entry points of `deno.json`'s `exports`. */
const ENTRIES = Object.values(
  JSON.parse(Deno.readTextFileSync(new URL("../deno.json", import.meta.url))).exports as Record<
    string,
    string
  >,
);
/** Interfaces that must have an example too: what users hold most. */
const INTERFACES = new Set(["Session", "Connection"]);

interface Declaration {
  kind: string;
  jsDoc?: { tags?: { kind: string }[] };
  location?: { filename: string; line: number };
}
interface DocSymbol {
  name: string;
  declarations?: Declaration[];
}

const json = execFileSync(Deno.execPath(), ["doc", "--json", ...ENTRIES], {
  cwd: new URL("..", import.meta.url),
  encoding: "utf8",
  maxBuffer: 64 << 20,
});
const doc = JSON.parse(json) as { nodes: Record<string, { symbols: DocSymbol[] }> };
const seen = new Map<string, boolean>();
for (const { symbols } of Object.values(doc.nodes)) {
  for (const symbol of symbols) {
    for (const d of symbol.declarations ?? []) {
      const wanted = d.kind === "class" || d.kind === "function" ||
        (d.kind === "interface" && INTERFACES.has(symbol.name));
      if (!wanted || d.location === undefined) continue;
      const where = `${
        d.location.filename.replace(/^.*?\/(lib|transports)\//, "$1/")
      }:${d.location.line}`;
      const key = `${symbol.name} (${d.kind}, ${where})`;
      const has = (d.jsDoc?.tags ?? []).some((t) => t.kind === "example");
      seen.set(key, (seen.get(key) ?? false) || has);
    }
  }
}
const missing = [...seen].filter(([, has]) => !has).map(([key]) => key).sort();
console.log(
  `${
    seen.size - missing.length
  } of ${seen.size} exported classes and functions (and Session, Connection) have an example`,
);
for (const key of missing) console.log(`!! no @example: ${key}`);
process.exit(missing.length === 0 ? 0 : 1);
