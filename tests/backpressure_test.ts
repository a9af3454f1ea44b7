/**
 * Back-pressure against hostile peers, end to end: a server in a child
 * process of the runtime under test (made with `listenTcp` + `accept`) is
 * attacked by raw TCP clients that never read — one grants a channel
 * 2^32−1 credit, one floods pings — while a well-behaved client keeps
 * calling it. The server's memory must stay bounded and the good client's
 * latency close to its unloaded figure.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { encodeMessage, initiate, type Session } from "../mod.ts";
import { connectTcp, connectTcpStream } from "../transports/tcp.ts";
import { Pressure } from "./fixtures/pressure_server.ts";
import { SELF, selfExecPath, startFixture } from "./fixtures/runtimes.ts";

const SERVER = fileURLToPath(new URL("./fixtures/pressure_server.ts", import.meta.url));
const MiB = 1024 * 1024;
/** What the attacks may add to the server's resident set. */
const RSS_BUDGET = 64 * MiB;

/** One payload with its u32 little-endian length prefix. */
function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.length);
  new DataView(out.buffer).setUint32(0, payload.length, true);
  out.set(payload, 4);
  return out;
}

const HELLO = frame(encodeMessage({
  connectionId: 0,
  payload: {
    type: "hello",
    version: 7,
    settings: { parity: "odd", maxConcurrentRequests: 64 },
    metadata: [],
  },
}));

/** A raw client that writes `bytes` and never reads; closes (with unread data: a reset) on `close()`. */
async function rawAttacker(port: number, bytes: Uint8Array[]): Promise<{ close(): void }> {
  const socket = await connectTcpStream({ port });
  const writer = socket.writable.getWriter();
  // The server stops reading us: these writes may never complete, and that is the point.
  for (const b of bytes) writer.write(b).catch(() => {});
  return { close: () => socket.close() };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

/** Sequential echo calls for `ms`, sampling the server's RSS every 100 ms. */
async function measure(
  session: Session,
  ms: number,
): Promise<{ p99: number; maxRss: number; maxLag: number }> {
  const client = session.client(Pressure);
  const times: number[] = [];
  let maxRss = 0;
  let nextSample = 0;
  await client.lag(); // from now on
  const end = performance.now() + ms;
  for (let i = 0; performance.now() < end; i++) {
    const t0 = performance.now();
    assert.equal(await client.echo(i), i);
    times.push(performance.now() - t0);
    if (t0 >= nextSample) {
      nextSample = t0 + 100;
      maxRss = Math.max(maxRss, Number(await client.rss()));
    }
  }
  times.sort((a, b) => a - b);
  return { p99: percentile(times, 0.99), maxRss, maxLag: await client.lag() };
}

const streamCall = (count: number, size: number): Uint8Array[] => [
  HELLO,
  frame(encodeMessage({
    connectionId: 0,
    payload: {
      type: "request",
      id: 1,
      body: {
        type: "call",
        methodId: Pressure.methods.stream.id,
        channels: [1],
        metadata: [],
        args: Uint8Array.from([...varint(count), ...varint(size)]),
      },
    },
  })),
  frame(encodeMessage({
    connectionId: 0,
    payload: { type: "channel", id: 1, body: { type: "grantCredit", additional: 0xffff_ffff } },
  })),
];

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

function pingFlood(count: number): Uint8Array[] {
  const one = frame(encodeMessage({ connectionId: 0, payload: { type: "ping", nonce: 1n } }));
  const chunk = new Uint8Array(one.length * 10_000);
  for (let i = 0; i < 10_000; i++) chunk.set(one, i * one.length);
  return [HELLO, ...Array.from({ length: count / 10_000 }, () => chunk)];
}

test(
  `a ${SELF} server keeps its memory and its other clients' latency when peers do not read`,
  { timeout: 60_000 },
  async (t) => {
    const child = startFixture(SELF, selfExecPath(), SERVER, []);
    const attackers: { close(): void }[] = [];
    let session: Session | undefined;
    try {
      const { port } = await child.nextLine(30_000, "the server's port") as { port: number };
      session = await initiate(await connectTcp({ port }), { keepalive: false });
      // Warm up as traffic would: the runtime sizes its heap to a high message rate once.
      const echo = session.client(Pressure).echo;
      for (let round = 0; round < 20; round++) {
        await Promise.all(Array.from({ length: 5000 }, (_, i) => echo(i)));
      }
      const unloaded = await measure(session, 700);
      const attacks: [string, Uint8Array[]][] = [
        ["1,000,000 items of 16 bytes with 2^32-1 credit, never read", streamCall(1_000_000, 16)],
        ["2,000 items of 64 KiB with 2^32-1 credit, never read", streamCall(2_000, 64 * 1024)],
        ["1,000,000 pings, pongs never read", pingFlood(1_000_000)],
      ];
      for (const [name, bytes] of attacks) {
        await t.test(name, async () => {
          const base = Number(await session!.client(Pressure).rss());
          attackers.push(await rawAttacker(port, bytes));
          const loaded = await measure(session!, 1500);
          const grew = loaded.maxRss - base;
          assert.ok(
            grew < RSS_BUDGET,
            `the server's RSS grew by ${(grew / MiB).toFixed(1)} MiB (limit ${RSS_BUDGET / MiB})`,
          );
          assert.ok(
            loaded.p99 < unloaded.p99 + 10,
            `p99 latency ${loaded.p99.toFixed(2)} ms under attack, ${
              unloaded.p99.toFixed(2)
            } ms unloaded`,
          );
          // A loop that holds the server's event loop stalls every client at once.
          assert.ok(
            loaded.maxLag < 100,
            `the server's event loop was held for ${loaded.maxLag.toFixed(1)} ms at once`,
          );
        });
      }
    } finally {
      for (const a of attackers) a.close();
      await session?.close();
      const exit = await child.stop();
      assert.deepEqual(exit, { code: 0, killed: false }, "the server's exit");
    }
  },
);
