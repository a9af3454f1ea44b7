/**
 * Session and RPC benchmarks over the memory link, each beside a baseline
 * measured in the same run: the raw memory link echoing the same request
 * bytes without the RPC layers, and a bare `TransformStream` ping-pong.
 *
 * @module
 */

import { accept, implement, initiate, type Link, memoryLink, service, t } from "../mod.ts";
import { encodeMessage } from "../wire.ts";
import { asyncOpsPerSecond, type Report } from "./_harness.ts";
import { echo } from "./_echo.ts";

const Adder = service("Adder", { add: { args: [t.u32, t.u32], returns: t.u32 } });

/** The bytes of `Adder.add(3, 5)` as a call on the root connection. */
const REQUEST = encodeMessage({
  connectionId: 0,
  payload: {
    type: "request",
    id: 1,
    body: {
      type: "call",
      methodId: Adder.methods.add.id,
      channels: [],
      metadata: [],
      args: new Uint8Array([3, 5]),
    },
  },
});

/** A bare TransformStream ping-pong: one stream each way, the far end echoes. */
function transformPair(): Link {
  const there = new TransformStream<Uint8Array, Uint8Array>();
  const back = new TransformStream<Uint8Array, Uint8Array>();
  void echo({ readable: there.readable, writable: back.writable });
  return { readable: back.readable, writable: there.writable };
}

function roundTrips(link: Link, inFlight: number): {
  run: (n: number) => Promise<void>;
  close: () => Promise<void>;
} {
  const reader = link.readable.getReader();
  const writer = link.writable.getWriter();
  return {
    run: async (n) => {
      for (let done = 0; done < n; done += inFlight) {
        for (let i = 0; i < inFlight; i++) writer.write(REQUEST).catch(() => {});
        for (let i = 0; i < inFlight; i++) await reader.read();
      }
    },
    close: async () => {
      await writer.close();
      reader.releaseLock();
    },
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

/** Runs the session benchmarks into `report`. */
export async function sessionBench(report: Report): Promise<void> {
  report.header("session over the memory link");

  // Baselines.
  const ts = roundTrips(transformPair(), 1);
  const tsRate = await asyncOpsPerSecond(ts.run);
  await ts.close();

  const [rawA, rawB] = memoryLink();
  void echo(rawB);
  const raw = roundTrips(rawA, 1);
  const rawRate = await asyncOpsPerSecond(raw.run);
  await raw.close();

  const [pipeA, pipeB] = memoryLink();
  void echo(pipeB);
  const pipe = roundTrips(pipeA, 64);
  const pipeRate = await asyncOpsPerSecond(pipe.run);
  await pipe.close();

  report.add(
    "raw memory link echo, sequential",
    rawRate,
    "rt/s",
    tsRate,
    "TransformStream ping-pong",
  );

  // RPC.
  const [a, b] = memoryLink();
  const [client, server] = await Promise.all([
    initiate(a),
    accept(b, { services: [implement(Adder, { add: (x, y) => x + y })] }),
  ]);
  const adder = client.client(Adder);

  if (report.wants("unary calls, sequential")) {
    const seq = await asyncOpsPerSecond(async (n) => {
      for (let i = 0; i < n; i++) await adder.add(3, 5);
    });
    report.add(
      "unary calls, sequential",
      seq,
      "calls/s",
      rawRate,
      "raw memory link echo, sequential",
    );

    const latencies: number[] = [];
    for (let i = 0; i < 20_000; i++) {
      const t0 = performance.now();
      await adder.add(3, 5);
      latencies.push(performance.now() - t0);
    }
    latencies.sort((x, y) => x - y);
    const rawLat: number[] = [];
    const [la, lb] = memoryLink();
    void echo(lb);
    const lr = roundTrips(la, 1);
    for (let i = 0; i < 20_000; i++) {
      const t0 = performance.now();
      await lr.run(1);
      rawLat.push(performance.now() - t0);
    }
    await lr.close();
    rawLat.sort((x, y) => x - y);
    report.add(
      "unary call latency p50",
      percentile(latencies, 0.5) * 1000,
      "µs",
      percentile(rawLat, 0.5) * 1000,
      "raw echo p50",
    );
    report.add(
      "unary call latency p99",
      percentile(latencies, 0.99) * 1000,
      "µs",
      percentile(rawLat, 0.99) * 1000,
      "raw echo p99",
    );
  }

  if (report.wants("unary calls, 64 in flight")) {
    const batch = Array.from({ length: 64 });
    const par = await asyncOpsPerSecond(async (n) => {
      for (let done = 0; done < n; done += 64) await Promise.all(batch.map(() => adder.add(3, 5)));
    });
    report.add(
      "unary calls, 64 in flight",
      par,
      "calls/s",
      pipeRate,
      "raw memory link echo, 64 in flight",
    );
  }

  await client.close();
  await server.closed;

  if (report.wants("heap per 10,000 virtual connections")) {
    const [ca, cb] = memoryLink({ highWaterMark: 1024 });
    const limits = { maxConnections: 20_000 };
    const [opener, acceptor] = await Promise.all([
      initiate(ca, { limits }),
      accept(cb, { limits, onConnection: () => ({ accept: true }) }),
    ]);
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const before = heapUsed();
    const conns = [];
    for (let i = 0; i < 10_000; i += 500) {
      conns.push(...await Promise.all(Array.from({ length: 500 }, () => opener.openConnection())));
    }
    gc?.();
    const after = heapUsed();
    const mb = (after - before) / (1024 * 1024);
    report.add("heap for 10,000 virtual connections (both sides)", mb, "MiB", 0, "(absolute)");
    await opener.close();
    await acceptor.closed;
    void conns;
  }
}

function heapUsed(): number {
  const d = (globalThis as { Deno?: { memoryUsage(): { heapUsed: number } } }).Deno;
  if (d !== undefined) return d.memoryUsage().heapUsed;
  const p = (globalThis as { process?: { memoryUsage(): { heapUsed: number } } }).process;
  return p?.memoryUsage().heapUsed ?? 0;
}
