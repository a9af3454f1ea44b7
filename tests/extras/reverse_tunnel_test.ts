/**
 * The reverse tunnel of `examples/reverse_tunnel.ts`: an edge dials a
 * relay, and connections to the relay's public port reach a TCP service
 * beside the edge through byte tunnels, byte-exact.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import process from "node:process";
import { type ByteStream, connectTcpStream, listenTcpStream } from "../../transports/tcp.ts";
import { startEdge, startRelay } from "../../examples/reverse_tunnel.ts";
import { scriptCommand, SELF, selfExecPath } from "../fixtures/runtimes.ts";

/** A plain TCP echo server: the service beside the edge. */
async function echoServer(): Promise<{ port: number; close(): Promise<void> }> {
  const listener = await listenTcpStream({ port: 0 });
  const pipes = new Set<Promise<void>>();
  const loop = (async () => {
    for await (const s of listener) {
      const p = s.readable.pipeTo(s.writable).catch(() => {});
      pipes.add(p);
      void p.finally(() => pipes.delete(p));
    }
  })();
  return {
    port: (listener.address as { port: number }).port,
    async close() {
      await listener.close();
      await loop;
      await Promise.all([...pipes]);
    },
  };
}

/** Writes `data` in 256 KiB writes and closes, while reading everything back. */
async function roundTrip(socket: ByteStream, data: Uint8Array): Promise<Uint8Array> {
  const writing = (async () => {
    const w = socket.writable.getWriter();
    for (let off = 0; off < data.length; off += 256 * 1024) {
      await w.write(data.subarray(off, off + 256 * 1024));
    }
    await w.close();
  })();
  const chunks: Uint8Array[] = [];
  let n = 0;
  for await (const c of socket.readable) {
    chunks.push(c);
    n += c.length;
  }
  await writing;
  const out = new Uint8Array(n);
  n = 0;
  for (const c of chunks) {
    out.set(c, n);
    n += c.length;
  }
  return out;
}

test(
  "a reverse tunnel carries 10 MiB byte-exact from the relay's public port to a service beside the edge and back",
  {
    timeout: 30_000,
  },
  async () => {
    const echo = await echoServer();
    const relay = await startRelay("tcp://127.0.0.1:0", 0);
    const edge = await startEdge(relay.controlUrl, { port: echo.port });
    try {
      for (let i = 0; i < 200 && relay.edges === 0; i++) await new Promise((r) => setTimeout(r, 5));
      assert.equal(relay.edges, 1);
      const data = Uint8Array.from({ length: 10 << 20 }, (_, i) => (i * 131 + (i >>> 13)) & 0xff);
      const [big, small] = await Promise.all([
        roundTrip(await connectTcpStream({ port: relay.publicPort }), data),
        roundTrip(await connectTcpStream({ port: relay.publicPort }), data.subarray(0, 1000)),
      ]);
      assert.equal(big.length, data.length);
      assert.ok(big.every((b, i) => b === data[i]), "the 10 MiB came back byte-exact");
      assert.deepEqual(small, data.subarray(0, 1000));
    } finally {
      await edge.close();
      await relay.close();
      await echo.close();
    }
  },
);

test("the relay closes a public connection when no edge is connected or the edge cannot reach its service", async () => {
  const relay = await startRelay("tcp://127.0.0.1:0", 0);
  try {
    const alone = await roundTrip(
      await connectTcpStream({ port: relay.publicPort }),
      new Uint8Array(10),
    );
    assert.equal(alone.length, 0);
    const closed = await listenTcpStream({ port: 0 });
    const nowhere = (closed.address as { port: number }).port;
    await closed.close();
    const failures: unknown[] = [];
    const edge = await startEdge(relay.controlUrl, { port: nowhere }, (e) => failures.push(e));
    try {
      for (let i = 0; i < 200 && relay.edges === 0; i++) await new Promise((r) => setTimeout(r, 5));
      const cut = await roundTrip(
        await connectTcpStream({ port: relay.publicPort }),
        new Uint8Array(10),
      );
      assert.equal(cut.length, 0);
      assert.equal(failures.length, 1, "the edge heard why");
    } finally {
      await edge.close();
    }
  } finally {
    await relay.close();
  }
});

test("examples/reverse_tunnel.ts runs on its own and reports a byte-exact round trip", {
  timeout: 30_000,
}, async () => {
  const file = new URL("../../examples/reverse_tunnel.ts", import.meta.url).pathname;
  const [cmd, args] = scriptCommand(SELF, selfExecPath(), file, []);
  const out = await new Promise<string>((resolve, reject) => {
    execFile(
      cmd,
      args,
      { timeout: 25_000, env: { ...process.env, NO_COLOR: "1" } },
      (e, stdout) => {
        if (e !== null) reject(e);
        else resolve(String(stdout));
      },
    );
  });
  assert.match(out, /1048576 bytes went to the service beside the edge and came back byte-exact/);
});
