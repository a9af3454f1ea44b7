/**
 * Deno and Bun talking to each other over real loopback sockets, TCP and
 * WebSocket, in both directions: this runtime serves and the other one's
 * child process runs the client cases, then the other runtime's child
 * serves and this process runs them. The other runtime is found through
 * `ROAM_BUN` / `ROAM_DENO`, PATH, or the npx cache; without it the tests
 * are skipped, visibly.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { connect, serve } from "../../mod.ts";
import { type CaseOutcome, CROSS_CASES } from "../fixtures/cross_cases.ts";
import { crossImpl, quietErrors } from "../fixtures/cross_service.ts";
import { findRuntime, OTHER, SELF, startFixture } from "../fixtures/runtimes.ts";

const SERVER = fileURLToPath(new URL("../fixtures/cross_server.ts", import.meta.url));
const CLIENT = fileURLToPath(new URL("../fixtures/cross_client.ts", import.meta.url));

/** How long a child may take to start and print its first line. */
const START_MS = 30_000;
/** How long the child client may take to run every case. */
const CASES_MS = 45_000;
/** Each test's limit (Bun's default is 5 s). */
const TEST_MS = 90_000;

const other = await findRuntime(OTHER);
// A misconfigured ROAM_BUN / ROAM_DENO fails the tests; a missing runtime skips them.
const skip = !other.found && !other.misconfigured
  ? `the other runtime is not available: ${other.reason}`
  : false;
if (skip !== false) console.log(`SKIPPED cross-runtime tests on ${SELF}: ${skip}`);

function otherBinary(): string {
  if (!other.found) assert.fail(other.reason);
  return other.path;
}

function describeFailure(o: CaseOutcome): string {
  return `${o.name} failed on the ${OTHER} client:\n${o.error ?? "(no error reported)"}`;
}

for (const transport of ["tcp", "ws"] as const) {
  const address = transport === "tcp" ? "tcp://127.0.0.1:0" : "ws://127.0.0.1:0/roam";
  const label = transport === "tcp" ? "TCP" : "WebSocket";

  test(`${SELF} server, ${OTHER} client, over ${label}`, { skip, timeout: TEST_MS }, async (t) => {
    const binary = otherBinary();
    const server = await serve(address, { services: [crossImpl()], onError: quietErrors });
    const child = startFixture(OTHER, binary, CLIENT, [server.url, SELF]);
    let exit: { code: number | null; killed: boolean };
    try {
      const report = await child.nextLine(START_MS + CASES_MS, "the client's report") as {
        runtime: string;
        outcomes: CaseOutcome[];
      };
      assert.equal(report.runtime, OTHER);
      assert.deepEqual(report.outcomes.map((o) => o.name), CROSS_CASES.map((c) => c.name));
      for (const o of report.outcomes) {
        await t.test(`${o.name} (${o.ms} ms in the ${OTHER} client)`, () => {
          if (!o.ok) assert.fail(describeFailure(o));
        });
      }
    } finally {
      exit = await child.stop();
      await server.close();
    }
    assert.deepEqual(exit, { code: 0, killed: false }, `the ${OTHER} client's exit`);
    assert.equal(server.sessions.size, 0);
  });

  test(`${OTHER} server, ${SELF} client, over ${label}`, { skip, timeout: TEST_MS }, async (t) => {
    const binary = otherBinary();
    const child = startFixture(OTHER, binary, SERVER, []);
    let exit: { code: number | null; killed: boolean };
    try {
      const hello = await child.nextLine(START_MS, "the server's address") as {
        runtime: string;
        tcp: string;
        ws: string;
      };
      assert.equal(hello.runtime, OTHER);
      const url = hello[transport];
      assert.match(
        url,
        transport === "tcp" ? /^tcp:\/\/127\.0\.0\.1:\d+$/ : /^ws:\/\/127\.0\.0\.1:\d+\/roam$/,
      );
      const session = await connect(url);
      try {
        for (const c of CROSS_CASES) {
          await t.test(c.name, () => c.run(session, OTHER));
        }
      } finally {
        await session.close();
      }
      assert.equal(await session.closed, undefined);
    } finally {
      exit = await child.stop();
    }
    assert.deepEqual(exit, { code: 0, killed: false }, `the ${OTHER} server's exit`);
  });
}
