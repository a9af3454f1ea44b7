/**
 * Scale-out on one machine: listeners sharing a port with `reusePort`,
 * and `cluster()` running worker processes that serve one port, restarting
 * a worker that dies and stopping them all on close. Port sharing needs
 * Linux (and `--unstable-net` on Deno, which `cluster()` gives its
 * workers); elsewhere these tests are skipped, saying why.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { cluster, connect, serve, type WorkerExit } from "../../mod.ts";
import { connectTcpStream, listenTcp, listenTcpStream } from "../../transports/tcp.ts";
import { Pid } from "../fixtures/cluster_worker.ts";

const LINUX = process.platform === "linux";
const IS_DENO = "Deno" in globalThis;
/** Deno lets a process use `reusePort` only with --unstable-net, which makes this exist. */
const DENO_NET = IS_DENO &&
  typeof (globalThis as { Deno?: { listenDatagram?: unknown } }).Deno?.listenDatagram ===
    "function";

const inProcess = !LINUX
  ? "port sharing (SO_REUSEPORT balancing) is Linux only"
  : IS_DENO && !DENO_NET
  ? "this Deno runs without --unstable-net (the cluster test below covers Deno through its workers)"
  : false;

/** A port nothing listens on now. */
async function freePort(): Promise<number> {
  const l = await listenTcpStream({ port: 0 });
  const port = (l.address as { port: number }).port;
  await l.close();
  return port;
}

test("two listeners with reusePort share one port, and both accept connections", {
  skip: inProcess,
}, async () => {
  const a = await listenTcp({ port: 0, reusePort: true });
  const port = (a.address as { port: number }).port;
  const b = await listenTcp({ port, reusePort: true });
  const seen = [0, 0];
  const count = async (l: typeof a, i: number) => {
    for await (const link of l) {
      seen[i]!++;
      await link.writable.close().catch(() => {});
    }
  };
  const loops = [count(a, 0), count(b, 1)];
  try {
    for (let i = 0; i < 200 && (seen[0] === 0 || seen[1] === 0); i++) {
      const s = await connectTcpStream({ port });
      s.close();
      await new Promise((r) => setTimeout(r, 2));
    }
    assert.ok(seen[0]! > 0 && seen[1]! > 0, `accepted ${seen}`);
  } finally {
    await a.close();
    await b.close();
    await Promise.all(loops);
  }
});

test(
  "listenTcp({ reusePort }) on Deno without --unstable-net throws instead of ending the process",
  {
    skip: !IS_DENO || DENO_NET ? "only for Deno without --unstable-net" : false,
  },
  async () => {
    await assert.rejects(listenTcp({ port: 0, reusePort: true }), /needs --unstable-net/);
  },
);

/** Connects until the workers with each of `pids` answered, or `tries` run out. */
async function reach(port: number, pids: readonly number[], tries = 400): Promise<Set<number>> {
  const seen = new Set<number>();
  for (let i = 0; i < tries && !pids.every((p) => seen.has(p)); i++) {
    try {
      const s = await connect(`tcp://127.0.0.1:${port}`, { keepalive: false });
      try {
        seen.add(await s.client(Pid).pid());
      } finally {
        await s.close();
      }
    } catch {
      await new Promise((r) => setTimeout(r, 20)); // not listening yet
    }
  }
  return seen;
}

test(
  "cluster() runs workers that share one port, restarts one that dies, and stops them on close",
  {
    skip: LINUX ? false : "port sharing (SO_REUSEPORT balancing) is Linux only",
    timeout: 30_000,
  },
  async () => {
    const port = await freePort();
    const exits: WorkerExit[] = [];
    const script = new URL("../fixtures/cluster_worker.ts", import.meta.url);
    const workers = await cluster({
      workers: 2,
      script,
      args: [String(port)],
      onExit: (e) => exits.push(e),
    });
    try {
      const first = workers.pids as number[];
      assert.equal(first.length, 2);
      assert.ok(first.every((p) => typeof p === "number"));
      const seen = await reach(port, first);
      assert.deepEqual([...seen].sort(), [...first].sort(), "both workers take connections");

      process.kill(first[0]!, "SIGKILL");
      for (
        let i = 0;
        i < 500 && (workers.pids[0] === undefined || workers.pids[0] === first[0]);
        i++
      ) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(exits.length, 1);
      assert.equal(exits[0]!.index, 0);
      assert.equal(exits[0]!.pid, first[0]);
      assert.equal(exits[0]!.signal, "SIGKILL");
      assert.equal(exits[0]!.restartIn, 100);
      const restarted = workers.pids[0]!;
      assert.ok(restarted !== undefined && restarted !== first[0]);
      const after = await reach(port, [restarted, first[1]!]);
      assert.ok(after.has(restarted), "the restarted worker takes connections");
    } finally {
      await workers.close();
    }
    assert.deepEqual(workers.pids, [undefined, undefined]);
    assert.equal(exits.length, 1, "close() does not report the exits it causes");
    await assert.rejects(connectTcpStream({ port }), "nothing listens after close");
  },
);

test("cluster() and serve() check their options", async () => {
  await assert.rejects(cluster({ workers: 0 }), RangeError);
  await assert.rejects(cluster({ workers: 1.5 }), RangeError);
  await assert.rejects(cluster({ workers: 1, closeTimeout: -1 }), RangeError);
  await assert.rejects(serve("ws://127.0.0.1:0/roam", { reusePort: true }), /for tcp: addresses/);
});
