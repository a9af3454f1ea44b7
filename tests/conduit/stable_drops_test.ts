/**
 * Stable sessions across forced link drops: a proxy between client and
 * server cuts every connection at seeded random points (in the middle of
 * frames and of length prefixes included, by reset or by close) while
 * 100,000 channel items and 10,000 calls go through; every item and every
 * response arrives exactly once and in order, every call runs exactly
 * once on the server, and neither side's replay buffer grows past its
 * send buffer. Within this runtime, and with the other runtime's server
 * in a child process (skipped, visibly, without it). Then the same, on a
 * smaller scale, by URL over TCP, a Unix socket and WebSocket.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { connect, serve, type Server, type Session } from "../../mod.ts";
import { CutProxy, type Rng, seeded } from "../_helpers/mod.ts";
import {
  CALLS,
  ITEMS,
  LIMITS,
  runWorkload,
  SEND_HIGH_WATER,
  stableStats,
  Survive,
  surviveImpl,
} from "../fixtures/survive_service.ts";
import { findRuntime, OTHER, SELF, startFixture } from "../fixtures/runtimes.ts";

const SERVER = fileURLToPath(new URL("../fixtures/survive_server.ts", import.meta.url));

/** Forced drops per run. */
const DROPS = 20;
/** Each run's limit. */
const TEST_MS = 60_000;
/** Replay bytes allowed beyond the send buffer: messages that do not wait, and one last message. */
const REPLAY_SLACK = 64 * 1024;

/**
 * Plans `count` cuts: each after a random 10 to 100 kB more (the workload
 * moves about 2.2 MB), by reset or close at random.
 */
function planCuts(proxy: CutProxy, rng: Rng, count: number): void {
  let planned = 0;
  const next = (): void => {
    if (planned++ >= count) return;
    proxy.cutAfter(10_000 + Math.floor(rng() * 90_000), rng() < 0.5 ? "reset" : "close", next);
  };
  next();
}

/** Runs the workload through a cutting proxy to `serverUrl` and checks everything. */
async function dropsThrough(serverUrl: string, rng: Rng): Promise<void> {
  const proxy = await CutProxy.start(Number(new URL(serverUrl).port));
  let session: Session | undefined;
  try {
    session = await connect(`tcp://127.0.0.1:${proxy.port}`, {
      conduit: "stable",
      keepalive: false,
      limits: LIMITS,
      stable: { retry: { initialDelay: 5, maxDelay: 100, maxElapsed: 10_000 } },
    });
    planCuts(proxy, rng, DROPS);
    const result = await runWorkload(session);
    assert.equal(result.items, ITEMS, "every item, once, in order");
    assert.equal(result.responses, CALLS, "every response, once");
    assert.equal(proxy.cuts, DROPS, `${DROPS} drops (${proxy.forwarded} bytes forwarded)`);
    const audit = await session.client(Survive).audit();
    assert.equal(audit.ran, CALLS, "every call ran on the server");
    assert.equal(audit.twice, 0, "no call ran twice");
    const mine = stableStats(session);
    assert.ok(mine.resumes >= DROPS / 2 && mine.resumes <= DROPS, `${mine.resumes} resumes`);
    assert.ok(audit.resumes >= mine.resumes, `the server resumed ${audit.resumes} times`);
    for (const [side, peak] of [["client", mine.peakReplay], ["server", audit.peakReplay]]) {
      assert.ok(
        (peak as number) <= SEND_HIGH_WATER + REPLAY_SLACK,
        `the ${side}'s replay buffer peaked at ${peak} bytes`,
      );
    }
  } finally {
    await session?.close();
    await proxy.close();
  }
  assert.equal(await session.closed, undefined);
}

test(
  `${ITEMS} items and ${CALLS} calls cross ${DROPS} forced drops on a stable session, each exactly once and in order`,
  {
    timeout: TEST_MS,
  },
  async () => {
    const server: Server = await serve("tcp://127.0.0.1:0", {
      conduit: "stable",
      keepalive: false,
      limits: LIMITS,
      services: [surviveImpl(() => server.sessions)],
    });
    try {
      await seeded(0x51ab1e, (rng) => dropsThrough(server.url, rng));
    } finally {
      await server.close();
    }
    assert.equal(server.sessions.size, 0);
  },
);

const other = await findRuntime(OTHER);
const skip = !other.found && !other.misconfigured
  ? `the other runtime is not available: ${other.reason}`
  : false;
if (skip !== false) console.log(`SKIPPED the ${SELF} ↔ ${OTHER} forced-drop test: ${skip}`);

test(
  `${ITEMS} items and ${CALLS} calls cross ${DROPS} forced drops between a ${SELF} client and a ${OTHER} server`,
  {
    skip,
    timeout: TEST_MS,
  },
  async () => {
    if (!other.found) return assert.fail(other.reason);
    const child = startFixture(OTHER, other.path, SERVER, []);
    try {
      const hello = await child.nextLine(30_000, "the server's address") as {
        runtime: string;
        url: string;
      };
      assert.equal(hello.runtime, OTHER);
      await seeded(0xd0b1e5, (rng) => dropsThrough(hello.url, rng));
    } finally {
      const exit = await child.stop();
      assert.deepEqual(exit, { code: 0, killed: false }, `the ${OTHER} server's exit`);
    }
  },
);

/** Node has no WebSocket server. */
const hasWebSocketServer = "Deno" in globalThis || "Bun" in globalThis;

for (const transport of ["tcp", "unix", "ws"] as const) {
  test(`A stable session made by URL resumes after drops over ${transport}`, {
    timeout: TEST_MS,
    skip: transport === "ws" && !hasWebSocketServer
      ? "a WebSocket server needs Deno or Bun"
      : false,
  }, async () => {
    const unixPath = join(tmpdir(), `roam-survive-${process.pid}-${Date.now()}.sock`);
    const address = transport === "tcp"
      ? "tcp://127.0.0.1:0"
      : transport === "unix"
      ? `unix:${unixPath}`
      : "ws://127.0.0.1:0/roam";
    const server: Server = await serve(address, {
      conduit: "stable",
      keepalive: false,
      services: [surviveImpl(() => server.sessions)],
    });
    const proxyPath = `${unixPath}.proxy`;
    const proxy = transport === "unix"
      ? await CutProxy.start({ path: unixPath }, proxyPath)
      : await CutProxy.start(Number(new URL(server.url).port));
    const url = transport === "tcp"
      ? `tcp://127.0.0.1:${proxy.port}`
      : transport === "unix"
      ? `unix:${proxyPath}`
      : `ws://127.0.0.1:${proxy.port}/roam`;
    const session = await connect(url, {
      conduit: "stable",
      keepalive: false,
      stable: { retry: { initialDelay: 5, maxElapsed: 10_000 } },
    });
    try {
      const calc = session.client(Survive);
      for (let round = 0; round < 5; round++) {
        const calls = Array.from({ length: 100 }, (_, i) => calc.echo(round * 100 + i));
        await new Promise((r) => setTimeout(r, 1));
        proxy.cutNow(round % 2 === 0 ? "reset" : "close");
        assert.deepEqual(await Promise.all(calls), calls.map((_, i) => round * 100 + i));
      }
      const audit = await calc.audit();
      assert.equal(audit.twice, 0);
      assert.ok(stableStats(session).resumes >= 3, `${stableStats(session).resumes} resumes`);
    } finally {
      await session.close();
      await proxy.close();
      await server.close();
    }
    assert.equal(await session.closed, undefined);
  });
}
