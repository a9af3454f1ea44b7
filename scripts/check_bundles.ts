/**
 * Bundles roam for the browser as a user's build would, with each bundler's
 * defaults (no flags that change resolution): esbuild, Vite (Rolldown),
 * `bun build` and `deno bundle`, of `browser.ts` (`@roam/roam/browser`)
 * and of `mod.ts` (`@roam/roam`). Each must succeed; and the browser entry's
 * bundle must contain no runtime-specific module (sockets, stdio,
 * servers), not even one reachable by dynamic import only.
 * esbuild and Vite come from `scripts/dev_tools.ts`; a missing tool skips
 * its runs, visibly (`SKIPPED ...`).
 * Run: `deno run -A scripts/check_bundles.ts`.
 *
 * @module
 */

import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import process from "node:process";
import { bunCommand, ensure, ROOT } from "./dev_tools.ts";

/** Modules the browser entry must never reach. */
const RUNTIME_ONLY =
  /(^|\/)transports\/(_sockets|tcp|unix|stdio|socket_\w+|stdio_\w+|websocket_server\w*)\.ts$|(^|\/)lib\/extras\/serve\.ts$/;

const ENTRIES = ["browser.ts", "mod.ts"] as const;

function run(
  file: string,
  args: string[],
  cwd: string,
): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { cwd, timeout: 180_000, maxBuffer: 16 << 20, env: { ...process.env, NO_COLOR: "1" } },
      (e, out, err) => {
        const code = e === null ? 0 : typeof e.code === "number" ? e.code : 1;
        resolve({ code, output: `${out}${err}`.trim() });
      },
    );
  });
}

function kib(path: string): string {
  return `${Math.round(statSync(path).size / 1024)} KiB`;
}

const work = mkdtempSync(join(tmpdir(), "roam-bundles-"));
let failed = false;
const fail = (what: string, output: string): void => {
  failed = true;
  console.log(`!! ${what}:\n${output.split("\n").slice(-20).join("\n")}`);
};

try {
  const tools = await ensure("bundlers");
  for (const entry of ENTRIES) {
    const source = join(ROOT, entry);
    const name = entry.replace(/\.ts$/, "");

    if ("why" in tools) console.log(`SKIPPED bundle esbuild and vite ${entry}: ${tools.why}`);
    else {
      const out = join(work, `${name}.esbuild.js`);
      const meta = join(work, `${name}.meta.json`);
      const esbuild = join(tools.dir, "esbuild", "bin", "esbuild");
      const r = await run(
        esbuild,
        [source, "--bundle", `--outfile=${out}`, `--metafile=${meta}`],
        ROOT,
      );
      if (r.code !== 0) fail(`esbuild ${entry}`, r.output);
      else {
        const inputs = Object.keys(
          (JSON.parse(readFileSync(meta, "utf8")) as { inputs: Record<string, unknown> }).inputs,
        ).map((p) => relative(ROOT, join(ROOT, p)));
        const reached = inputs.filter((p) => RUNTIME_ONLY.test(p));
        if (entry === "browser.ts" && reached.length > 0) {
          fail(
            `esbuild ${entry}`,
            `the browser bundle contains runtime modules: ${reached.join(", ")}`,
          );
        } else {
          console.log(`bundle esbuild ${entry}: ${kib(out)}, ${inputs.length} modules`);
        }
      }

      const project = join(work, `vite-${name}`);
      rmSync(project, { recursive: true, force: true });
      mkdirSync(project, { recursive: true });
      writeFileSync(
        join(project, "index.html"),
        '<!doctype html>\n<html><body><script type="module" src="./main.ts"></script></body></html>\n',
      );
      writeFileSync(
        join(project, "main.ts"),
        `import * as roam from ${
          JSON.stringify(source)
        };\nconsole.log(Object.keys(roam).length);\n`,
      );
      const vite = join(tools.dir, "vite", "bin", "vite.js");
      const v = await run("node", [vite, "build", "--logLevel", "warn"], project);
      if (v.code !== 0) fail(`vite build of ${entry}`, v.output);
      else console.log(`bundle vite ${entry}: built`);
    }

    const bunOut = join(work, `bun-${name}`);
    const [bun, bunArgs] = bunCommand();
    const b = await run(bun, [...bunArgs, "build", source, "--outdir", bunOut], ROOT);
    if (b.code !== 0) fail(`bun build ${entry}`, b.output);
    else console.log(`bundle bun ${entry}: ${kib(join(bunOut, `${name}.js`))}`);

    const denoOut = join(work, `${name}.deno.js`);
    const d = await run("deno", ["bundle", "--quiet", "--output", denoOut, source], ROOT);
    if (d.code !== 0) fail(`deno bundle ${entry}`, d.output);
    else console.log(`bundle deno ${entry}: ${kib(denoOut)}`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
