/**
 * A real browser as a roam client: `fixtures/browser_client.ts` is bundled
 * for the browser with this runtime's own bundler (`deno bundle --platform
 * browser` or `bun build --target=browser`), served next to a roam
 * WebSocket server on one port, and run in headless Chromium driven by
 * `playwright-core`. Skipped, visibly, when Chromium (`ROAM_CHROMIUM`, else
 * `/usr/bin/chromium`) or `playwright-core` (a `node_modules` folder above
 * this file) is missing.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { serve, type Session } from "../../mod.ts";
import type { BrowserReport } from "../fixtures/browser_client.ts";
import { crossImpl, quietErrors, STREAM_CREDIT } from "../fixtures/cross_service.ts";
import { SELF } from "../fixtures/runtimes.ts";

const CLIENT = fileURLToPath(new URL("../fixtures/browser_client.ts", import.meta.url));
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** The few parts of playwright-core used here. */
interface Playwright {
  chromium: {
    launch(options: {
      executablePath: string;
      headless: boolean;
      args: string[];
      timeout: number;
    }): Promise<Browser>;
  };
}
interface Browser {
  version(): string;
  newPage(): Promise<Page>;
  close(): Promise<void>;
}
interface Page {
  on(event: "console", f: (message: { type(): string; text(): string }) => void): void;
  on(event: "pageerror", f: (error: Error) => void): void;
  goto(url: string, options: { timeout: number }): Promise<unknown>;
  waitForFunction(f: string, arg: undefined, options: { timeout: number }): Promise<unknown>;
  evaluate<T>(f: string): Promise<T>;
  title(): Promise<string>;
}

function findChromium(): { path: string } | { why: string } {
  const fromEnv = process.env.ROAM_CHROMIUM;
  const path = fromEnv !== undefined && fromEnv !== "" ? fromEnv : "/usr/bin/chromium";
  try {
    accessSync(path, constants.X_OK);
    return { path };
  } catch {
    return {
      why:
        `no Chromium at ${path} (install it: apt-get install -y chromium, or set $ROAM_CHROMIUM)`,
    };
  }
}

function loadPlaywright(): { playwright: Playwright } | { why: string } {
  try {
    // createRequire works for the CommonJS package on both runtimes (Deno's
    // import() of a bare name needs an import map entry).
    const require = createRequire(import.meta.url);
    return { playwright: require("playwright-core") as Playwright };
  } catch (e) {
    return {
      why: `playwright-core cannot be loaded (${
        (e as Error).message.split("\n")[0]
      }); install it: npm install --no-save playwright-core`,
    };
  }
}

const chromium = findChromium();
const pw = "path" in chromium ? loadPlaywright() : undefined;
const skip = "why" in chromium ? chromium.why : pw !== undefined && "why" in pw ? pw.why : false;
if (skip !== false) console.log(`SKIPPED browser test on ${SELF}: ${skip}`);

/** Bundles the browser client with this runtime's bundler. */
function bundle(outFile: string): Promise<void> {
  const args = SELF === "deno"
    ? ["bundle", "--quiet", "--platform", "browser", "--output", outFile, CLIENT]
    : ["build", "--target=browser", "--outfile", outFile, CLIENT];
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      args,
      { timeout: 60_000, env: { ...process.env, NO_COLOR: "1" } },
      (error, _stdout, stderr) => {
        if (error === null) resolve();
        else reject(new Error(`Bundling ${CLIENT} failed: ${error.message}\n${stderr}`));
      },
    );
  });
}

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>roam: running</title></head>
<body><script type="module" src="/client.js"></script></body></html>
`;

test(`a browser calls a ${SELF} server over WebSocket`, { skip, timeout: 90_000 }, async () => {
  assert.ok(pw !== undefined && "playwright" in pw && "path" in chromium);
  const dir = mkdtempSync(join(tmpdir(), "roam-browser-"));
  let browser: Browser | undefined;
  const sessions: Session[] = [];
  const server = await serve("ws://127.0.0.1:0/roam", {
    services: [crossImpl()],
    onError: quietErrors,
    onSession: (s) => sessions.push(s),
    fetch: (request) => {
      const path = new URL(request.url).pathname;
      if (path === "/") {
        return new Response(PAGE, { headers: { "content-type": "text/html; charset=utf-8" } });
      }
      if (path === "/client.js") {
        return new Response(readFileSync(join(dir, "client.js")), {
          headers: { "content-type": "text/javascript; charset=utf-8" },
        });
      }
      return new Response("not found", { status: 404 });
    },
  });
  const logs: string[] = [];
  try {
    await bundle(join(dir, "client.js"));
    browser = await pw.playwright.chromium.launch({
      executablePath: chromium.path,
      headless: true,
      args: CHROMIUM_ARGS,
      timeout: 30_000,
    });
    const page = await browser.newPage();
    page.on("console", (m) => logs.push(`console.${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => logs.push(`page error: ${e.message}`));
    const port = new URL(server.url).port;
    await page.goto(`http://127.0.0.1:${port}/`, { timeout: 15_000 });
    await page.waitForFunction("globalThis.__roamResult !== undefined", undefined, {
      timeout: 45_000,
    });
    const report = await page.evaluate<BrowserReport>("globalThis.__roamResult");
    const context = `\n${JSON.stringify(report, null, 2)}\nbrowser log:\n${logs.join("\n")}`;
    assert.equal(report.completed, true, `the page failed: ${report.fatal}${context}`);
    assert.equal(await page.title(), "roam: done");
    assert.match(report.userAgent, /Chrom/);
    const v = report.values;
    const expect = (name: string, value: unknown): void =>
      assert.deepEqual(v[name], value, `${name}${context}`);

    expect("runtime", SELF);
    expect("add", 42);
    expect("echo", "héllo from the browser 🦀");
    expect("echoBytes", true);
    expect("birthday", {
      name: "Grace",
      age: 86,
      email: SELF,
      id: String(2n ** 63n + 1n),
      tags: ["cobol", "birthday"],
      scores: [["debugging", 10]],
      origin: [40, -74],
      role: { tag: "Admin", value: { level: 3 } },
    });
    expect("divideOk", { ok: true, value: "42" });
    expect("divideByZero", { ok: false, error: { tag: "DivisionByZero" } });
    expect("unknownMethod", "UnknownMethodError:unknown-method");
    expect("handlerThrows", "CancelledError:cancelled");
    expect("abort", { rejectedWithReason: true, server: "Cancelled" });
    expect("streamUp", { total: String(10_000 * 9_999 / 2), count: 10_000 });
    expect("streamUpSmallCredit", { total: String(1000 * 999 / 2), count: 1000 });
    expect("streamDown", { received: 10_000, inOrder: true, returned: 10_000 });
    expect("afterErrors", 2);
    expect("closed", true);
    assert.equal(sessions.length, 1, "one browser session reached the server");
    console.log(
      `browser ${browser.version()}, credit ${STREAM_CREDIT}; ms per check: ${
        JSON.stringify(report.ms)
      }`,
    );
  } finally {
    await browser?.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(server.sessions.size, 0);
});
