/**
 * Node talking to this runtime (Deno or Bun) over real loopback sockets and
 * pipes: a Node child runs every cross-runtime case against this runtime's
 * TCP and WebSocket servers (Node's built-in WebSocket client), this
 * process runs them against a Node child's TCP and Unix socket servers,
 * and a Node child serves over stdio (`spawnLink` here, `stdioLink()`
 * there). Run by both suites, so Node meets Deno and Bun both ways. Node
 * 22+ comes from `$ROAM_NODE`, PATH or `.tools/`; without it the tests are
 * skipped, visibly.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { connect, initiate, serve } from "../../mod.ts";
import { spawnLink } from "../../transports/stdio.ts";
import { type CaseOutcome, CROSS_CASES } from "../fixtures/cross_cases.ts";
import { crossImpl, quietErrors } from "../fixtures/cross_service.ts";
import { findNode } from "../fixtures/node_binary.ts";
import { SELF, startFixture } from "../fixtures/runtimes.ts";

const PEER = fileURLToPath(new URL("../fixtures/node_peer.ts", import.meta.url));
/** How long the Node child may take to start and run every case. */
const CHILD_MS = 60_000;
/** Each test's limit (Bun's default is 5 s). */
const TEST_MS = 90_000;

const onNode = !("Deno" in globalThis) && !("Bun" in globalThis);
/** This runtime's name (`SELF` says "bun" for anything but Deno). */
const self = onNode ? "node" : SELF;
const node = findNode();
// A misconfigured ROAM_NODE fails the tests; a missing Node skips them.
const skip = onNode
  ? "this is Node: the tests run Node beside Deno or Bun"
  : !node.found && !node.misconfigured
  ? node.reason
  : false;
if (skip !== false) {
  console.log(`SKIPPED Node interop tests on ${self}: ${skip}`);
}

function nodePath(): string {
  if (!node.found) assert.fail(node.reason);
  return node.path;
}

for (const transport of ["tcp", "ws"] as const) {
  const address = transport === "tcp" ? "tcp://127.0.0.1:0" : "ws://127.0.0.1:0/roam";
  const label = transport === "tcp" ? "TCP" : "WebSocket";

  test(`${self} server, node client, over ${label}`, { skip, timeout: TEST_MS }, async (t) => {
    const server = await serve(address, { services: [crossImpl()], onError: quietErrors });
    // "bun" runs a script as `binary file args`, which is how Node runs one too.
    const child = startFixture("bun", nodePath(), PEER, ["client", server.url, SELF]);
    let exit: { code: number | null; killed: boolean };
    try {
      const report = await child.nextLine(CHILD_MS, "the client's report") as {
        runtime: string;
        outcomes: CaseOutcome[];
      };
      assert.equal(report.runtime, "node");
      assert.deepEqual(report.outcomes.map((o) => o.name), CROSS_CASES.map((c) => c.name));
      for (const o of report.outcomes) {
        await t.test(`${o.name} (${o.ms} ms in the node client)`, () => {
          if (!o.ok) assert.fail(`${o.name} failed on the node client:\n${o.error}`);
        });
      }
    } finally {
      exit = await child.stop();
      await server.close();
    }
    assert.deepEqual(exit, { code: 0, killed: false }, "the node client's exit");
    assert.equal(server.sessions.size, 0);
  });
}

test(`node server, ${self} client, over TCP and a Unix socket`, {
  skip,
  timeout: TEST_MS,
}, async (t) => {
  const child = startFixture("bun", nodePath(), PEER, ["server"]);
  let exit: { code: number | null; killed: boolean };
  try {
    const hello = await child.nextLine(CHILD_MS, "the server's addresses") as {
      runtime: string;
      tcp: string;
      unix: string;
    };
    assert.equal(hello.runtime, "node");
    assert.match(hello.tcp, /^tcp:\/\/127\.0\.0\.1:\d+$/);
    assert.match(hello.unix, /^unix:\//);
    for (const url of [hello.tcp, hello.unix]) {
      const session = await connect(url);
      try {
        for (const c of CROSS_CASES) {
          await t.test(`${c.name} (${url.split(":")[0]})`, () => c.run(session, "node"));
        }
      } finally {
        await session.close();
      }
      assert.equal(await session.closed, undefined);
    }
  } finally {
    exit = await child.stop();
  }
  assert.deepEqual(exit, { code: 0, killed: false }, "the node server's exit");
});

test(`${self} spawns a node child and calls it over stdio`, {
  skip,
  timeout: TEST_MS,
}, async (t) => {
  const child = await spawnLink(nodePath(), [PEER, "stdio"]);
  try {
    const session = await initiate(child);
    try {
      for (const c of CROSS_CASES) await t.test(c.name, () => c.run(session, "node"));
    } finally {
      await session.close();
    }
  } finally {
    const status = await child.close();
    assert.deepEqual(status, { code: 0, signal: null, success: true });
  }
});
