/**
 * The browser entry (`browser.ts`, `@roam/roam/browser`) offers what
 * `mod.ts` does but `serve`, under the same names, and its `connect` takes
 * WebSocket addresses only.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as browser from "../../browser.ts";
import * as roam from "../../mod.ts";

/** The names in the `export type { ... }` lists of an entry point's source. */
function typeExports(file: string): Set<string> {
  const source = readFileSync(new URL(`../../${file}`, import.meta.url), "utf8");
  const names = new Set<string>();
  for (const m of source.matchAll(/export type \{([^}]*)\}/g)) {
    for (const name of m[1]!.split(",")) if (name.trim() !== "") names.add(name.trim());
  }
  return names;
}

/** What `mod.ts` has that a page cannot use. */
const SERVER_ONLY = new Set([
  "serve",
  "ServeOptions",
  "Server",
  "cluster",
  "clusterWorker",
  "Cluster",
  "ClusterOptions",
  "ClusterWorker",
  "WorkerExit",
]);
/** What the browser entry has its own of: WebSocket addresses only. */
const OWN = new Set(["connect", "reconnect"]);

test("browser.ts exports every value of mod.ts but serve and cluster, the same objects but connect and reconnect", () => {
  const missing = Object.keys(roam).filter((k) => !SERVER_ONLY.has(k) && !(k in browser));
  assert.deepEqual(missing, []);
  const b = browser as Record<string, unknown>;
  const m = roam as Record<string, unknown>;
  const different = Object.keys(roam).filter((k) =>
    !SERVER_ONLY.has(k) && !OWN.has(k) && b[k] !== m[k]
  );
  assert.deepEqual(different, []);
  assert.equal("serve" in browser, false);
  assert.equal("cluster" in browser, false);
  assert.notEqual(browser.connect, roam.connect);
  assert.notEqual(browser.reconnect, roam.reconnect);
});

test("browser.ts exports every type of mod.ts but the server's and the cluster's", () => {
  const ours = typeExports("browser.ts");
  const missing = [...typeExports("mod.ts")].filter((n) => !SERVER_ONLY.has(n) && !ours.has(n));
  assert.deepEqual(missing, []);
});

test("the browser entry's connect() names what it cannot connect to", async () => {
  await assert.rejects(browser.connect("tcp://127.0.0.1:4000"), {
    name: "TypeError",
    message:
      "Cannot connect to tcp://127.0.0.1:4000: the browser entry speaks ws: and wss: only (tcp: and unix: need Deno, Bun or Node and @roam/roam)",
  });
  await assert.rejects(browser.connect("not a url"), {
    name: "TypeError",
    message: 'Invalid address "not a url": expected a ws:// or wss:// URL',
  });
  await assert.rejects(
    browser.connect("ws://127.0.0.1:1/roam"),
    /^Error: Cannot connect to ws:\/\/127\.0\.0\.1:1\/roam/,
  );
});

const hasWebSocketServer = "Deno" in globalThis || "Bun" in globalThis;

test("the browser entry's connect() calls a WebSocket server", {
  skip: hasWebSocketServer ? false : "a WebSocket server needs Deno or Bun",
}, async () => {
  const Echo = roam.service("Echo", { echo: { args: [roam.t.string], returns: roam.t.string } });
  const server = await roam.serve("ws://127.0.0.1:0/roam", {
    services: [roam.implement(Echo, { echo: (s) => s })],
  });
  try {
    const session = await browser.connect(server.url, { maxFrameSize: 1024 });
    assert.equal(await session.client(Echo).echo("from a page"), "from a page");
    await session.close();
  } finally {
    await server.close();
  }
});

test("the browser entry's reconnect() names what it cannot connect to", () => {
  assert.throws(() => browser.reconnect("unix:/run/app.sock"), {
    name: "TypeError",
    message:
      "Cannot connect to unix:/run/app.sock: the browser entry speaks ws: and wss: only (tcp: and unix: need Deno, Bun or Node and @roam/roam)",
  });
});
