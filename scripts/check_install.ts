/**
 * Installs this checkout into scratch projects, offline, the way the
 * README's "Using a local checkout" says, and runs the same small app in
 * each (a TCP server and a call to it, the codec, a transport import):
 *
 * - Deno: `deno.json` with `"links": [checkout]`;
 * - Bun: `bun add <checkout>`;
 * - Node 22+: `npm install <checkout>` (run with `$ROAM_NODE`, else the Node
 *   from `scripts/dev_tools.ts`; skipped, visibly, without one).
 *
 * Run: `deno run -A scripts/check_install.ts`.
 *
 * @module
 */

import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { bunCommand, nodeBinary, ROOT } from "./dev_tools.ts";

const APP = `import { connect, implement, serve, service, t } from "@roam/roam";
import { encode } from "@roam/roam/postcard";
import { listenTcp } from "@roam/roam/transports/tcp";

const Adder = service("Adder", { add: { args: [t.u32, t.u32], returns: t.u32 } });
const server = await serve("tcp://127.0.0.1:0", {
  services: [implement(Adder, { add: (a, b) => a + b })],
});
const session = await connect(server.url);
const sum = await session.client(Adder).add(2, 3);
await session.close();
await server.close();
console.log(JSON.stringify({ sum, bytes: [...encode(t.u32, 300)], tcp: typeof listenTcp }));
`;
const EXPECTED = JSON.stringify({ sum: 5, bytes: [172, 2], tcp: "function" });

function run(
  file: string,
  args: string[],
  cwd: string,
): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { cwd, timeout: 120_000, maxBuffer: 1 << 20, env: { ...process.env, NO_COLOR: "1" } },
      (e, out, err) => {
        const code = e === null ? 0 : typeof e.code === "number" ? e.code : 1;
        resolve({ code, output: `${out}${err}`.trim() });
      },
    );
  });
}

/** Makes a scratch project with `files`, runs `steps` in it; the last one prints the result. */
async function project(
  name: string,
  files: Record<string, string>,
  steps: [string, string[]][],
): Promise<boolean> {
  const dir = mkdtempSync(join(tmpdir(), `roam-install-${name}-`));
  try {
    mkdirSync(dir, { recursive: true });
    for (const [file, text] of Object.entries({ ...files, "app.ts": APP })) {
      writeFileSync(join(dir, file), text);
    }
    let last = "";
    for (const [cmd, args] of steps) {
      const r = await run(cmd, args, dir);
      if (r.code !== 0) {
        console.log(`!! install ${name}: ${cmd} ${args.join(" ")} failed:\n${r.output}`);
        return false;
      }
      last = r.output.split("\n").pop() ?? "";
    }
    if (last !== EXPECTED) {
      console.log(`!! install ${name}: the app printed ${last}, expected ${EXPECTED}`);
      return false;
    }
    console.log(`install ${name}: ${steps.map(([c, a]) => [c, ...a].join(" ")).join("; ")}: ok`);
    return true;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const pkg = (name: string): string =>
  JSON.stringify({ name, private: true, type: "module" }, null, 2);
let ok = true;

ok = await project("deno", {
  "deno.json": JSON.stringify(
    { imports: { "@roam/roam": "jsr:@roam/roam@^0.1.0" }, links: [ROOT] },
    null,
    2,
  ),
}, [["deno", ["run", "--allow-net", "app.ts"]]]) && ok;

const [bun, bunArgs] = bunCommand();
ok = await project("bun", { "package.json": pkg("bun-app") }, [
  [bun, [...bunArgs, "add", ROOT]],
  [bun, [...bunArgs, "app.ts"]],
]) && ok;

const node = process.env.ROAM_NODE || (existsSync(nodeBinary()) ? nodeBinary() : "");
if (node === "") {
  console.log(
    "SKIPPED install node: no Node 22+ ($ROAM_NODE, or deno run -A scripts/dev_tools.ts node)",
  );
} else {
  ok = await project("node", { "package.json": pkg("node-app") }, [
    ["npm", ["install", "--offline", "--no-audit", "--no-fund", ROOT]],
    [node, ["app.ts"]],
  ]) && ok;
}
process.exit(ok ? 0 : 1);
