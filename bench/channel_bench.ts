/**
 * Channel benchmarks: streams of `i32` items and of 64 KiB `bytes` items,
 * both directions, over the memory link and TCP loopback, each beside a
 * baseline measured in the same run without the RPC layers:
 *
 * - memory link: pipelined frames written without waiting and read on the
 *   other side; a bulk echo of 64 KiB payloads, 16 in flight;
 * - TCP: the raw framed echo of `_raw_tcp.ts`, 64 frames in flight, and 64
 *   KiB frames, 16 in flight.
 *
 * Streams use the default credit of 16 items, so the 64 KiB baselines keep
 * 16 payloads in flight as well. On TCP, the 64 KiB figure and its baseline
 * are each the mean over fresh connections (see {@linkcode CONNECTIONS}). The 64 KiB streams run twice on the
 * memory link: with the default copy on send, and on a link made with
 * `shareLargeBytes`, where each item reaches the receiver by reference
 * like the baseline's payloads.
 *
 * @module
 */

import {
  accept,
  channel,
  connect,
  implement,
  initiate,
  type Link,
  memoryLink,
  serve,
  service,
  type Session,
  t,
} from "../mod.ts";
import { encodeMessage } from "../wire.ts";
import { asyncOpsPerSecond, flags, type Report } from "./_harness.ts";
import { frameOf, loadRawTcp } from "./_raw_tcp.ts";
import { echo } from "./_echo.ts";

const ChannelBench = service("ChannelBench", {
  upload: { args: [t.rx(t.i32)], returns: t.u32 },
  download: { args: [t.u32, t.tx(t.i32)], returns: t.unit },
  uploadBytes: { args: [t.rx(t.bytes)], returns: t.u32 },
  downloadBytes: { args: [t.u32, t.tx(t.bytes)], returns: t.unit },
});

const KiB64 = 64 * 1024;
/** `i32` items per stream. */
const ITEMS = flags.quick ? 100_000 : 1_000_000;
/** 64 KiB items per stream (128 MiB, or 12.5 MiB with `--quick`). */
const CHUNKS = flags.quick ? 200 : 2_000;
/**
 * 64 KiB items per stream when they travel by reference: 20,000 (1.3 GB
 * that is never copied, a few tens of milliseconds), so a stream lasts long
 * enough to time.
 */
const SHARED_CHUNKS = flags.quick ? 2_000 : 20_000;
/**
 * Fresh connections each TCP 64 KiB figure and its baseline are averaged
 * over. With BBR congestion control (our VMs' default), pacing puts some
 * loopback connections into a slow state for their whole life (about 600
 * against 1,500+ MB/s for the raw echo itself, with the same code), so a
 * figure taken on one connection of each kind compares two draws of that
 * lottery; the mean over a few compares like with like.
 */
const CONNECTIONS = flags.quick ? 1 : 3;
/** Whole streams are timed: warm up with one, report the median of three. */
const STREAM = { samples: 3, sampleMs: 1, warmupMs: 1 };
/** Shared-bytes streams are short: warm up for 150 ms, report the median of five. */
const SHORT_STREAM = { samples: 5, sampleMs: 1, warmupMs: flags.quick ? 50 : 150 };

const CHUNK = new Uint8Array(KiB64).fill(7);

const impl = implement(ChannelBench, {
  upload: async (rx) => {
    let n = 0;
    for await (const _ of rx) n++;
    return n;
  },
  download: async (n, tx) => {
    for (let i = 0; i < n; i++) await tx.send(i);
    await tx.close();
    return undefined;
  },
  uploadBytes: async (rx) => {
    let n = 0;
    for await (const b of rx) n += b.length;
    return n;
  },
  downloadBytes: async (n, tx) => {
    for (let i = 0; i < n; i++) await tx.send(CHUNK);
    await tx.close();
    return undefined;
  },
});

/** The bytes of one channel item carrying a small `i32`, as a stream sends it. */
const ITEM = encodeMessage({
  connectionId: 0,
  payload: { type: "channel", id: 1, body: { type: "item", item: new Uint8Array([2]) } },
}).slice();

// ------------------------------------------------------------------ streams

async function upload(session: Session, n: number): Promise<void> {
  const [tx, rx] = channel<number>();
  const call = session.client(ChannelBench).upload(rx);
  for (let i = 0; i < n; i++) await tx.send(i);
  await tx.close();
  if (await call !== n) throw new Error("upload lost items");
}

async function download(session: Session, n: number): Promise<void> {
  const [tx, rx] = channel<number>();
  const call = session.client(ChannelBench).download(n, tx);
  let got = 0;
  for await (const _ of rx) got++;
  await call;
  if (got !== n) throw new Error("download lost items");
}

async function uploadBytes(session: Session, n: number): Promise<void> {
  const [tx, rx] = channel<Uint8Array>();
  const call = session.client(ChannelBench).uploadBytes(rx);
  for (let i = 0; i < n; i++) await tx.send(CHUNK);
  await tx.close();
  if (await call !== n * KiB64) throw new Error("uploadBytes lost bytes");
}

async function downloadBytes(session: Session, n: number): Promise<void> {
  const [tx, rx] = channel<Uint8Array>();
  const call = session.client(ChannelBench).downloadBytes(n, tx);
  let got = 0;
  for await (const b of rx) got += b.length;
  await call;
  if (got !== n * KiB64) throw new Error("downloadBytes lost bytes");
}

/** Items per second of whole streams of `count` items. */
async function streamRate(
  fn: (session: Session, n: number) => Promise<void>,
  session: Session,
  count: number,
): Promise<number> {
  const streams = await asyncOpsPerSecond(async (n) => {
    for (let i = 0; i < n; i++) await fn(session, count);
  }, count === SHARED_CHUNKS ? SHORT_STREAM : STREAM);
  return streams * count;
}

/** Runs the two `i32` stream measurements on `session`, reported against `frames`. */
async function itemStreams(
  report: Report,
  where: string,
  session: Session,
  frames: { rate: number; name: string },
): Promise<void> {
  const items: [string, (s: Session, n: number) => Promise<void>][] = [
    [`channel i32 items server→client, ${where}`, download],
    [`channel i32 items client→server, ${where}`, upload],
  ];
  for (const [name, fn] of items) {
    if (!report.wants(name)) continue;
    report.add(name, await streamRate(fn, session, ITEMS), "items/s", frames.rate, frames.name);
  }
}

/**
 * Runs the two 64 KiB stream measurements, reported against `bulk`: each
 * is the mean over `sessions.length` sessions, opened in turn.
 */
async function chunkStreams(
  report: Report,
  where: string,
  sessions: (() => Promise<{ session: Session; close(): Promise<void> }>)[],
  bulk: { rate: number; name: string },
  count: number,
): Promise<void> {
  const chunks: [string, (s: Session, n: number) => Promise<void>][] = [
    [`channel 64 KiB items server→client, ${where}`, downloadBytes],
    [`channel 64 KiB items client→server, ${where}`, uploadBytes],
  ];
  for (const [name, fn] of chunks) {
    if (!report.wants(name)) continue;
    let rate = 0;
    for (const open of sessions) {
      const { session, close } = await open();
      try {
        rate += await streamRate(fn, session, count);
      } finally {
        await close();
      }
    }
    rate /= sessions.length;
    report.add(name, (rate * KiB64) / 1e6, "MB/s", bulk.rate, bulk.name);
  }
}

/** One session that is already open and stays open, for {@linkcode chunkStreams}. */
function kept(session: Session): (() => Promise<{ session: Session; close(): Promise<void> }>)[] {
  return [() => Promise.resolve({ session, close: () => Promise.resolve() })];
}

// ------------------------------------------------------------------ memory link

/** Writes `n` payloads without waiting and reads them all on the other side. */
function pipelined(link: [Link, Link]): (n: number) => Promise<void> {
  const writer = link[0].writable.getWriter();
  const reader = link[1].readable.getReader();
  return async (n) => {
    for (let i = 0; i < n; i++) writer.write(ITEM).catch(() => {});
    for (let i = 0; i < n; i++) await reader.read();
  };
}

async function memoryBaselines(): Promise<{ frames: number; bulk: number }> {
  const frameLink = memoryLink();
  const frames = await asyncOpsPerSecond(pipelined(frameLink));
  await frameLink[0].writable.close().catch(() => {});

  const [a, b] = memoryLink();
  void echo(b);
  const writer = a.writable.getWriter();
  const reader = a.readable.getReader();
  const echoes = await asyncOpsPerSecond(async (n) => {
    for (let done = 0; done < n; done += 16) {
      for (let i = 0; i < 16; i++) writer.write(CHUNK).catch(() => {});
      for (let i = 0; i < 16; i++) await reader.read();
    }
  });
  await writer.close();
  reader.releaseLock();
  return { frames, bulk: (echoes * KiB64) / 1e6 };
}

// ------------------------------------------------------------------ TCP

async function tcpBaselines(): Promise<{ frames: number; bulk: number }> {
  const raw = await loadRawTcp();
  let frames = 0;
  let echoes = 0;
  for (let c = 0; c < CONNECTIONS; c++) {
    const server = await raw.echoServer();
    const client = await raw.connect(server.port);
    try {
      if (c === 0) {
        const frame = frameOf(ITEM);
        frames = await asyncOpsPerSecond(async (n) => {
          for (let i = 0; i < n; i += 64) await client.exchange(frame, 64);
        });
      }
      const big = frameOf(CHUNK);
      echoes += await asyncOpsPerSecond(async (n) => {
        for (let i = 0; i < n; i += 16) await client.exchange(big, 16);
      }, { samples: 3 });
    } finally {
      client.close();
      await server.close();
    }
  }
  return { frames, bulk: (echoes / CONNECTIONS * KiB64) / 1e6 };
}

/** A fresh TCP listener and session for the 64 KiB streams. */
async function tcpSession(): Promise<{ session: Session; close(): Promise<void> }> {
  const listener = await serve("tcp://127.0.0.1:0", { services: [impl] });
  const session = await connect(listener.url);
  return {
    session,
    close: async () => {
      await session.close();
      await listener.close();
    },
  };
}

/** Runs the channel benchmarks into `report`. */
export async function channelBench(report: Report): Promise<void> {
  report.header("channels over the memory link");
  const mem = await memoryBaselines();
  const [a, b] = memoryLink();
  const [client, server] = await Promise.all([initiate(a), accept(b, { services: [impl] })]);
  const memBulk = { rate: mem.bulk, name: "raw memory link 64 KiB echo, 16 in flight" };
  await itemStreams(report, "memory", client, {
    rate: mem.frames,
    name: "raw memory link, frames written without waiting",
  });
  await chunkStreams(
    report,
    "memory",
    kept(client),
    memBulk,
    CHUNKS,
  );
  await client.close();
  await server.closed;

  // The same 64 KiB streams on a link that passes large `bytes` by reference.
  const [sa, sb] = memoryLink({ shareLargeBytes: true });
  const [sharedClient, sharedServer] = await Promise.all([
    initiate(sa),
    accept(sb, { services: [impl] }),
  ]);
  await chunkStreams(
    report,
    "memory, shareLargeBytes",
    kept(sharedClient),
    memBulk,
    SHARED_CHUNKS,
  );
  await sharedClient.close();
  await sharedServer.closed;

  report.header("channels over TCP loopback");
  const tcp = await tcpBaselines();
  const first = await tcpSession();
  await itemStreams(report, "TCP", first.session, {
    rate: tcp.frames,
    name: "raw TCP echo, 64 frames in flight",
  });
  await first.close();
  await chunkStreams(
    report,
    "TCP",
    Array.from({ length: CONNECTIONS }, () => tcpSession),
    {
      rate: tcp.bulk,
      name: CONNECTIONS > 1
        ? `raw TCP 64 KiB echo, 16 in flight (each side: mean of ${CONNECTIONS} connections)`
        : "raw TCP 64 KiB echo, 16 in flight",
    },
    CHUNKS,
  );
}
