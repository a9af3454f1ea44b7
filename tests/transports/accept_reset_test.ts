/**
 * A TCP server keeps accepting after peers reset their connections
 * before it took them (what a load balancer's health checks do): the
 * other runtime's accept may fail for such a connection, and that must
 * not read as the listener being closed. The peers run in a child
 * process while this one's event loop is blocked, so their connections
 * are reset while they wait in the backlog.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { connect, serve } from "../../mod.ts";
import { connectTcp, listenTcp } from "../../transports/tcp.ts";
import { within } from "../_helpers/mod.ts";
import { scriptCommand, SELF, selfExecPath } from "../fixtures/runtimes.ts";

const RESETTER = fileURLToPath(new URL("../fixtures/resetter.ts", import.meta.url));

/** Runs the resetter against `port` synchronously: nothing is accepted meanwhile. */
function resetWhileBlocked(port: number): void {
  const [cmd, args] = scriptCommand(SELF, selfExecPath(), RESETTER, [String(port), "20"]);
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 30_000 });
  assert.equal(r.stdout.trim(), "done", `the resetter: ${r.stderr}`);
}

test("serve() keeps accepting after peers reset connections waiting in its backlog", {
  timeout: 60_000,
}, async () => {
  const server = await serve("tcp://127.0.0.1:0", { keepalive: false, onError: () => {} });
  try {
    resetWhileBlocked(Number(new URL(server.url).port));
    const session = await within(
      connect(server.url, { keepalive: false, handshakeTimeout: 5000 }),
      10_000,
      "a session after the resets",
    );
    await session.close();
  } finally {
    await server.close();
  }
});

test("A TCP listener's accept() goes on past connections reset in its backlog", {
  timeout: 60_000,
}, async () => {
  const listener = await listenTcp({ port: 0 });
  const { port } = listener.address as { port: number };
  try {
    resetWhileBlocked(port);
    const client = await connectTcp({ port });
    const writer = client.writable.getWriter();
    await writer.write(Uint8Array.of(42));
    // Reset connections may come out as links that end at once; the live one follows.
    for (let i = 0; i <= 20; i++) {
      const link = await within(listener.accept(), 10_000, "an accepted link");
      assert.ok(link !== undefined, "accept() must not report an open listener closed");
      const reader = link.readable.getReader();
      const first = await reader.read().catch(() => ({ done: true, value: undefined }));
      await reader.cancel().catch(() => {});
      if (first.value?.[0] === 42) break;
      assert.ok(i < 20, "the live connection was never accepted");
    }
    await writer.abort().catch(() => {});
  } finally {
    await listener.close();
  }
});
