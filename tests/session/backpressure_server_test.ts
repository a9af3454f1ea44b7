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
import { channel, initiate, type Session } from "../../mod.ts";
import { encodeMessage } from "../../wire.ts";
import { connectTcp, connectTcpStream } from "../../transports/tcp.ts";
import { connectWebSocket } from "../../transports/websocket.ts";
import { concat, frame, HELLO, upgradeRequest, varint, wsFrame } from "../_helpers/mod.ts";
import { Pressure } from "../fixtures/pressure_server.ts";
import { SELF, selfExecPath, startFixture } from "../fixtures/runtimes.ts";

const SERVER = fileURLToPath(new URL("../fixtures/pressure_server.ts", import.meta.url));
const MiB = 1024 * 1024;
/** What the attacks may add to the server's resident set (over TCP, as the issue asks). */
const RSS_BUDGET = 64 * MiB;
/**
 * Over WebSocket the budget is larger: Deno sends each WebSocket message
 * through its own asynchronous operation, and at a few hundred thousand
 * messages a second V8 grows its heap for the garbage (the retained check
 * below shows that nothing is kept).
 */
const WS_RSS_BUDGET = 96 * MiB;
/** What the attacks may add to the heap that survives a full collection. */
const RETAINED_BUDGET = 16 * MiB;

/**
 * A raw client that sends roam messages and never reads: framed over TCP,
 * or one WebSocket message each after an upgrade. It uses this library's
 * own socket adapter (`connectTcpStream`), whose readable, left unread,
 * pauses the socket: what the server sends then stays in the kernel.
 * Closing it (with unread data) resets the connection.
 */
async function rawAttacker(
  transport: "tcp" | "ws",
  port: number,
  messages: Uint8Array[],
): Promise<{ close(): Promise<void> }> {
  const socket = await connectTcpStream({ port });
  const writer = socket.writable.getWriter();
  if (transport === "ws") {
    await writer.write(new TextEncoder().encode(upgradeRequest("/roam")));
    const reader = socket.readable.getReader();
    let head = "";
    while (!head.includes("\r\n\r\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("The server closed the connection instead of upgrading it");
      head += new TextDecoder().decode(value);
    }
    assert.match(head, /^HTTP\/1\.1 101/);
    reader.releaseLock(); // and never read again
  }
  const wrap = transport === "tcp" ? frame : (m: Uint8Array) => wsFrame(m);
  for (let i = 0; i < messages.length;) {
    const batch: Uint8Array[] = [];
    for (let n = 0; n < 10_000 && i < messages.length; n++) batch.push(wrap(messages[i++]!));
    // The server stops reading us: these writes may never complete, and that is the point.
    writer.write(concat(...batch)).catch(() => {});
  }
  return {
    close: () => {
      socket.close();
      return Promise.resolve();
    },
  };
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
  encodeMessage({
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
  }).slice(),
  encodeMessage({
    connectionId: 0,
    payload: { type: "channel", id: 1, body: { type: "grantCredit", additional: 0xffff_ffff } },
  }).slice(),
];

function pingFlood(count: number): Uint8Array[] {
  const ping = encodeMessage({ connectionId: 0, payload: { type: "ping", nonce: 1n } }).slice();
  return [HELLO, ...Array.from({ length: count }, () => ping)];
}

for (const transport of ["tcp", "ws"] as const) {
  test(
    `a ${SELF} server keeps its memory and its other clients' latency when peers do not read (${transport})`,
    { timeout: 60_000 },
    async (t) => {
      const child = startFixture(SELF, selfExecPath(), SERVER, [], ["--expose-gc"]);
      const attackers: { close(): Promise<void> }[] = [];
      let session: Session | undefined;
      try {
        const ports = await child.nextLine(30_000, "the server's ports") as {
          port: number;
          wsPort: number;
        };
        const port = transport === "tcp" ? ports.port : ports.wsPort;
        const link = transport === "tcp"
          ? await connectTcp({ port })
          : await connectWebSocket(`ws://127.0.0.1:${port}/roam`);
        session = await initiate(link, { keepalive: false });
        // Warm up as traffic would: the runtime sizes its heap to a high message rate once.
        const echo = session.client(Pressure).echo;
        for (let round = 0; round < 20; round++) {
          await Promise.all(Array.from({ length: 5000 }, (_, i) => echo(i)));
        }
        const [tx, rx] = channel<Uint8Array>();
        const streamed = session.client(Pressure).stream(300_000, 16, tx);
        for await (const _ of rx) { /* read as fast as it comes */ }
        assert.equal(await streamed, 300_000);
        const unloaded = await measure(session, 700);
        const attacks: [string, Uint8Array[]][] = [
          ["1,000,000 items of 16 bytes with 2^32-1 credit, never read", streamCall(1_000_000, 16)],
          ["2,000 items of 64 KiB with 2^32-1 credit, never read", streamCall(2_000, 64 * 1024)],
          ["1,000,000 pings, pongs never read (past limits.maxPingRate)", pingFlood(1_000_000)],
        ];
        for (const [name, messages] of attacks) {
          await t.test(name, async () => {
            const client = session!.client(Pressure);
            const base = Number(await client.rss());
            const baseRetained = Number(await client.retained());
            attackers.push(await rawAttacker(transport, port, messages));
            const loaded = await measure(session!, 1500);
            const grew = loaded.maxRss - base;
            const budget = transport === "tcp" ? RSS_BUDGET : WS_RSS_BUDGET;
            assert.ok(
              grew < budget,
              `the server's RSS grew by ${(grew / MiB).toFixed(1)} MiB (limit ${budget / MiB})`,
            );
            const kept = Number(await client.retained()) - baseRetained;
            assert.ok(
              kept < RETAINED_BUDGET,
              `the server kept ${(kept / MiB).toFixed(1)} MiB more heap (limit ${
                RETAINED_BUDGET / MiB
              })`,
            );
            assert.ok(
              loaded.p99 < unloaded.p99 + 10,
              `p99 latency ${loaded.p99.toFixed(2)} ms under attack, ${
                unloaded.p99.toFixed(2)
              } ms unloaded`,
            );
            // A loop that holds the server's event loop stalls every client at once (the
            // budget is ~4 ms a turn; this bound leaves room for a loaded machine, and
            // the code before this check held the loop for 350-440 ms).
            assert.ok(
              loaded.maxLag < 150,
              `the server's event loop was held for ${loaded.maxLag.toFixed(1)} ms at once`,
            );
          });
        }
      } finally {
        for (const a of attackers) await a.close();
        await session?.close();
        const exit = await child.stop();
        assert.deepEqual(exit, { code: 0, killed: false }, "the server's exit");
      }
    },
  );
}
