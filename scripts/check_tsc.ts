/**
 * Type-checks roam's entry points as its users' `tsc` does, with no Deno
 * types: each project in `tests/tsc/` (a Bun project with `@types/bun`, a
 * browser project with the DOM library, a Node project with `@types/node`
 * and `erasableSyntaxOnly`) imports the entry points its audience uses,
 * and `tsc -p` must report nothing, with the latest TypeScript and with
 * 5.9. The compilers and type packages come from `scripts/dev_tools.ts`;
 * a missing one skips its runs, visibly (`SKIPPED ...`).
 * Run: `deno run -A scripts/check_tsc.ts`.
 *
 * @module
 */

import { execFile } from "node:child_process";
import { join } from "node:path";
import process from "node:process";
import { ensure, ROOT } from "./dev_tools.ts";

/** The projects under `tests/tsc/`. */
const PROJECTS = ["bun", "browser", "node"] as const;
/** The compilers: tool group → label. */
const COMPILERS = { "ts-latest": "latest", "ts-5.9": "5.9" } as const;

function run(file: string, args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: ROOT, timeout: 300_000, maxBuffer: 16 << 20 }, (e, out, err) => {
      const code = e === null ? 0 : typeof e.code === "number" ? e.code : 1;
      resolve({ code, output: `${out}${err}`.trim() });
    });
  });
}

const types = await ensure("types");
const runs: Promise<{ line: string; failed: boolean }>[] = [];
for (const [group, label] of Object.entries(COMPILERS)) {
  const tools = await ensure(group);
  if ("why" in tools) {
    console.log(`SKIPPED tsc ${label}: ${tools.why}`);
    continue;
  }
  const tsc = join(tools.dir, "typescript", "bin", "tsc");
  const version = (await run("node", [tsc, "--version"])).output.replace(/^Version /, "");
  for (const project of PROJECTS) {
    if (project !== "browser" && "why" in types) {
      console.log(`SKIPPED tsc ${label} ${project}: ${types.why}`);
      continue;
    }
    runs.push(
      run("node", [tsc, "-p", join("tests", "tsc", project)]).then((r) =>
        r.code === 0 && r.output === ""
          ? { line: `tsc ${version} ${project}: clean`, failed: false }
          : { line: `!! tsc ${version} ${project}:\n${r.output}`, failed: true }
      ),
    );
  }
}
let failed = false;
for (const r of await Promise.all(runs)) {
  console.log(r.line);
  failed ||= r.failed;
}
process.exit(failed ? 1 : 0);
