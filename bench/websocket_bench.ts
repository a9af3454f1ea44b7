/**
 * WebSocket benchmarks on loopback, each beside a baseline measured in the
 * same run: a raw echo server written directly on the runtime's API
 * (`Deno.serve` + `Deno.upgradeWebSocket`, or `Bun.serve` handlers) with a
 * plain global `WebSocket` client, against the same traffic through roam's
 * WebSocket links and through full roam sessions.
 *
 * @module
 */

import { accept, implement, initiate, type Link, service, t } from "../mod.ts";
import { connectWebSocket } from "../transports/websocket.ts";
import { listenWebSocket } from "../transports/websocket_server.ts";
import { asyncOpsPerSecond, type Report } from "./_harness.ts";
import type { EchoServer } from "./_websocket_raw_deno.ts";

const Bench = service("WsBench", {
  add: { args: [t.u32, t.u32], returns: t.u32 },
  echo: { args: [t.bytes], returns: t.bytes },
});

/** About the size of an encoded `add(3, 5)` call. */
const SMALL = new Uint8Array(16).fill(7);
const MIB = 1024 * 1024;
const BIG = new Uint8Array(MIB).fill(42);
const IN_FLIGHT = 64;

async function startRawServer(): Promise<EchoServer> {
  if ("Deno" in globalThis) return (await import("./_websocket_raw_deno.ts")).startEchoServer();
  if ("Bun" in globalThis) return (await import("./_websocket_raw_bun.ts")).startEchoServer();
  throw new TypeError("The WebSocket benchmark needs Deno or Bun");
}

/** Something that sends `count` copies of a message and resolves when as many replies are back. */
interface Exchanger {
  exchange(message: Uint8Array, count: number): Promise<void>;
  close(): Promise<void>;
}

/** A plain global `WebSocket` client, counting replies. */
async function rawClient(url: string): Promise<Exchanger> {
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error(`Cannot connect to ${url}`));
  });
  let received = 0;
  let target = 0;
  let wake: (() => void) | undefined;
  ws.onmessage = () => {
    if (++received >= target && wake !== undefined) {
      const w = wake;
      wake = undefined;
      w();
    }
  };
  return {
    exchange(message, count) {
      return new Promise<void>((resolve) => {
        target = received + count;
        wake = resolve;
        for (let i = 0; i < count; i++) ws.send(message);
      });
    },
    async close() {
      const closed = new Promise((r) => (ws.onclose = r));
      ws.close();
      await closed;
    },
  };
}

/** A roam WebSocket link used the same way (no RPC layers). */
function linkClient(link: Link): Exchanger {
  const reader = link.readable.getReader();
  const writer = link.writable.getWriter();
  return {
    async exchange(message, count) {
      for (let i = 0; i < count; i++) writer.write(message).catch(() => {});
      for (let i = 0; i < count; i++) await reader.read();
    },
    async close() {
      await writer.close();
      reader.releaseLock();
    },
  };
}

/** Echoes every payload back on the same link until it closes. */
async function echo(link: Link): Promise<void> {
  const reader = link.readable.getReader();
  const writer = link.writable.getWriter();
  for (;;) {
    const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
    if (done) break;
    writer.write(value).catch(() => {});
  }
  await writer.close().catch(() => {});
}

/** Round trips per second of `inFlight` messages at a time. */
function rate(x: Exchanger, message: Uint8Array, inFlight: number): Promise<number> {
  return asyncOpsPerSecond(async (n) => {
    for (let done = 0; done < n; done += inFlight) await x.exchange(message, inFlight);
  });
}

/** Megabytes (10^6 bytes) of 1 MiB messages echoed per second, one direction counted. */
async function megabytes(x: Exchanger): Promise<number> {
  return (await rate(x, BIG, 1)) * MIB / 1e6;
}

interface Figures {
  seq: number;
  par: number;
  big: number;
}

async function measure(x: Exchanger): Promise<Figures> {
  return {
    seq: await rate(x, SMALL, 1),
    par: await rate(x, SMALL, IN_FLIGHT),
    big: await megabytes(x),
  };
}

/** Runs the WebSocket benchmarks into `report`. */
export async function websocketBench(report: Report): Promise<void> {
  report.header("WebSocket on loopback");

  // Baseline: the runtime's own WebSocket server and the global client.
  const rawServer = await startRawServer();
  const raw = await rawClient(rawServer.url);
  const base = await measure(raw);
  await raw.close();
  await rawServer.close();
  report.add("raw WebSocket echo, sequential", base.seq, "rt/s", 0, "(absolute)");
  report.add(`raw WebSocket echo, ${IN_FLIGHT} in flight`, base.par, "msg/s", 0, "(absolute)");
  report.add("raw WebSocket echo, 1 MiB messages", base.big, "MB/s", 0, "(absolute)");

  const listener = await listenWebSocket();

  // roam's links (websocketLink / the server adapter), echoing without the RPC layers.
  if (report.wants("roam WebSocket link echo")) {
    const [clientLink, serverLink] = await Promise.all([
      connectWebSocket(listener.url),
      listener.accept(),
    ]);
    const echoing = echo(serverLink!);
    const link = linkClient(clientLink);
    const fig = await measure(link);
    await link.close();
    await echoing;
    report.add(
      "roam WebSocket link echo, sequential",
      fig.seq,
      "rt/s",
      base.seq,
      "raw WebSocket echo, sequential",
    );
    report.add(
      `roam WebSocket link echo, ${IN_FLIGHT} in flight`,
      fig.par,
      "msg/s",
      base.par,
      `raw WebSocket echo, ${IN_FLIGHT} in flight`,
    );
    report.add(
      "roam WebSocket link echo, 1 MiB messages",
      fig.big,
      "MB/s",
      base.big,
      "raw WebSocket echo, 1 MiB messages",
    );
  }

  // Full roam sessions.
  const [clientLink, serverLink] = await Promise.all([
    connectWebSocket(listener.url),
    listener.accept(),
  ]);
  const [client, server] = await Promise.all([
    initiate(clientLink),
    accept(serverLink!, {
      services: [implement(Bench, { add: (a, b) => a + b, echo: (bytes) => bytes })],
    }),
  ]);
  const bench = client.client(Bench);

  if (report.wants("roam over WebSocket: unary calls, sequential")) {
    const seq = await asyncOpsPerSecond(async (n) => {
      for (let i = 0; i < n; i++) await bench.add(3, 5);
    });
    report.add(
      "roam over WebSocket: unary calls, sequential",
      seq,
      "calls/s",
      base.seq,
      "raw WebSocket echo, sequential",
    );
  }
  if (report.wants(`roam over WebSocket: unary calls, ${IN_FLIGHT} in flight`)) {
    const batch = Array.from({ length: IN_FLIGHT });
    const par = await asyncOpsPerSecond(async (n) => {
      for (let done = 0; done < n; done += IN_FLIGHT) {
        await Promise.all(batch.map(() => bench.add(3, 5)));
      }
    });
    report.add(
      `roam over WebSocket: unary calls, ${IN_FLIGHT} in flight`,
      par,
      "calls/s",
      base.par,
      `raw WebSocket echo, ${IN_FLIGHT} in flight`,
    );
  }
  if (report.wants("roam over WebSocket: 1 MiB bytes echo")) {
    const calls = await asyncOpsPerSecond(async (n) => {
      for (let i = 0; i < n; i++) await bench.echo(BIG);
    });
    report.add(
      "roam over WebSocket: 1 MiB bytes echo",
      calls * MIB / 1e6,
      "MB/s",
      base.big,
      "raw WebSocket echo, 1 MiB messages",
    );
  }

  await client.close();
  await server.closed;
  await listener.close();
}
