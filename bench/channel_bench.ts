/**
 * Channel rows: streams of `i32` items and of 64 KiB `bytes` items, both
 * directions, over the memory link and TCP loopback. Each sample is whole
 * streams (one call each), sized to last about 50 ms once warm.
 *
 * Baselines:
 * - on the memory link, the same link carrying a raw one-way stream of the
 *   same payloads (the bytes of an `i32` item message, or the 64 KiB
 *   array), written as fast as its back-pressure allows and read on the
 *   other side;
 * - over TCP, the same library's rate on the memory link, sampled in turn
 *   with it; a raw one-way framed TCP stream (`_raw_tcp.ts`) is sampled
 *   beside them for reference.
 *
 * Streams use the schema's default credit. The 64 KiB rows run on a memory
 * link with the default copy on send, and on one made with
 * `shareLargeBytes`, where each item reaches the receiver by reference as
 * the raw baseline's payloads do.
 *
 * @module
 */

import {
  accept,
  channel,
  connect,
  implement,
  initiate,
  memoryLink,
  type MemoryLinkOptions,
  serve,
  service,
  type Session,
  t,
} from "../mod.ts";
import { encodeMessage } from "../wire.ts";
import type { Fixture, Row, Run } from "./_measure.ts";
import { frameOf, loadRawTcp, repeatFrame, stream } from "./_raw_tcp.ts";

const ChannelBench = service("ChannelBench", {
  upload: { args: [t.rx(t.i32)], returns: t.u32 },
  download: { args: [t.u32, t.tx(t.i32)], returns: t.unit },
  uploadBytes: { args: [t.rx(t.bytes)], returns: t.u32 },
  downloadBytes: { args: [t.u32, t.tx(t.bytes)], returns: t.unit },
});

const GROUP = "channels";
const KiB64 = 64 * 1024;
const CHUNK = new Uint8Array(KiB64).fill(7);
/** How long one stream should take once warm, in ms. */
const STREAM_MS = 50;

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
    for await (const b of rx) {
      if (b.length !== KiB64) throw new Error("An upload item lost bytes");
      n++;
    }
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

type Stream = (session: Session, n: number) => Promise<void>;

const upload: Stream = async (session, n) => {
  const [tx, rx] = channel<number>();
  const call = session.client(ChannelBench).upload(rx);
  for (let i = 0; i < n; i++) await tx.send(i);
  await tx.close();
  if (await call !== n) throw new Error("The upload lost items");
};

const download: Stream = async (session, n) => {
  const [tx, rx] = channel<number>();
  const call = session.client(ChannelBench).download(n, tx);
  let got = 0;
  for await (const _ of rx) got++;
  await call;
  if (got !== n) throw new Error("The download lost items");
};

const uploadBytes: Stream = async (session, n) => {
  const [tx, rx] = channel<Uint8Array>();
  const call = session.client(ChannelBench).uploadBytes(rx);
  for (let i = 0; i < n; i++) await tx.send(CHUNK);
  await tx.close();
  if (await call !== n) throw new Error("The upload lost items");
};

const downloadBytes: Stream = async (session, n) => {
  const [tx, rx] = channel<Uint8Array>();
  const call = session.client(ChannelBench).downloadBytes(n, tx);
  let got = 0;
  for await (const b of rx) got += b.length;
  await call;
  if (got !== n * KiB64) throw new Error("The download lost bytes");
};

interface Opened {
  session: Session;
  close(): Promise<void>;
}

/** A client and a server session on a memory link. */
async function memorySession(options: MemoryLinkOptions = {}): Promise<Opened> {
  const [a, b] = memoryLink(options);
  const [client, server] = await Promise.all([initiate(a), accept(b, { services: [impl] })]);
  return {
    session: client,
    close: async () => {
      await client.close();
      await server.closed;
    },
  };
}

/** A TCP listener and a client session on a fresh connection. */
async function tcpSession(): Promise<Opened> {
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

/**
 * A raw one-way stream of `payload` on a memory link: `run(n)` moves `n`
 * of them, each a fresh copy when `copy` is set.
 */
function rawMemoryStream(payload: Uint8Array, copy: boolean): { run: Run; close(): Promise<void> } {
  const [a, b] = memoryLink();
  const writer = a.writable.getWriter();
  const reader = b.readable.getReader();
  return {
    run: async (n) => {
      const reading = (async () => {
        for (let i = 0; i < n; i++) {
          if ((await reader.read()).done) throw new Error("Cannot read: the link closed");
        }
      })();
      for (let i = 0; i < n; i++) {
        if (writer.desiredSize! <= 0) await writer.ready;
        writer.write(copy ? payload.slice() : payload).catch(() => {});
      }
      await reading;
    },
    close: async () => {
      await writer.close().catch(() => {});
      reader.releaseLock();
    },
  };
}

/** A raw one-way framed TCP stream of `payload`: `run(n)` sends `n` frames, 64 KiB a write. */
async function rawTcpStream(payload: Uint8Array): Promise<{ run: Run; close(): Promise<void> }> {
  const raw = await loadRawTcp();
  const server = await raw.sinkServer();
  const client = await raw.connect(server.port);
  const frame = frameOf(payload);
  const perBatch = Math.max(1, Math.floor(KiB64 / frame.length));
  const batch = repeatFrame(frame, perBatch);
  return {
    run: (n) => stream(client, batch, perBatch, n),
    close: async () => {
      client.close();
      await server.close();
    },
  };
}

// ------------------------------------------------------------------ rows

interface Kind {
  /** `i32` or `64 KiB`. */
  label: string;
  unit: string;
  scale: number;
  /** What the raw streams carry. */
  payload: Uint8Array;
  down: Stream;
  up: Stream;
}

const KINDS: Kind[] = [
  { label: "i32", unit: "items/s", scale: 1, payload: ITEM, down: download, up: upload },
  {
    label: "64 KiB",
    unit: "MB/s",
    scale: KiB64 / 1e6,
    payload: CHUNK,
    down: downloadBytes,
    up: uploadBytes,
  },
];

const DIRECTIONS = [["server→client", "down"], ["client→server", "up"]] as const;

function memoryRow(kind: Kind, dir: (typeof DIRECTIONS)[number], share: boolean): Row {
  const where = share ? "memory, shareLargeBytes" : "memory";
  // A session copies a 64 KiB item into its message unless the link shares
  // large bytes: the baseline copies each array in the first case only.
  const copy = kind.label !== "i32" && !share;
  return {
    name: `${where}: channel ${kind.label} items, ${dir[0]}`,
    group: GROUP,
    unit: kind.unit,
    scale: kind.scale,
    batchMs: STREAM_MS,
    baseline: kind.label === "i32"
      ? "raw memory link, one-way stream of the same item message bytes"
      : copy
      ? "raw memory link, one-way stream of 64 KiB arrays, each copied before it is written"
      : "raw memory link, one-way stream of the same 64 KiB array, passed by reference",
    async open(): Promise<Fixture> {
      const s = await memorySession(share ? { shareLargeBytes: true } : {});
      const raw = rawMemoryStream(kind.payload, copy);
      const fn = kind[dir[1]];
      return {
        subject: (n) => fn(s.session, n),
        baseline: raw.run,
        close: async () => {
          await raw.close();
          await s.close();
        },
      };
    },
  };
}

function tcpRow(kind: Kind, dir: (typeof DIRECTIONS)[number], quick: boolean): Row {
  const big = kind.label !== "i32";
  return {
    name: `TCP: channel ${kind.label} items, ${dir[0]}`,
    group: GROUP,
    unit: kind.unit,
    scale: kind.scale,
    batchMs: STREAM_MS,
    // Fresh connections, samples pooled: see the 1 MiB echo in tcp_bench.ts.
    rounds: big && !quick ? 3 : 1,
    baseline: `the same channel stream over the memory link`,
    references: [
      `raw TCP one-way framed stream (64 KiB a write; each frame received into its own array)`,
    ],
    async open(): Promise<Fixture> {
      const tcp = await tcpSession();
      const mem = await memorySession();
      const raw = await rawTcpStream(kind.payload);
      const fn = kind[dir[1]];
      return {
        subject: (n) => fn(tcp.session, n),
        baseline: (n) => fn(mem.session, n),
        references: [raw.run],
        close: async () => {
          await raw.close();
          await mem.close();
          await tcp.close();
        },
      };
    },
  };
}

/**
 * The channel rows.
 *
 * @param quick Whether `--quick` was given.
 * @returns The rows.
 */
export function channelRows(quick: boolean): Row[] {
  const rows: Row[] = [];
  for (const kind of KINDS) for (const dir of DIRECTIONS) rows.push(memoryRow(kind, dir, false));
  for (const dir of DIRECTIONS) rows.push(memoryRow(KINDS[1]!, dir, true));
  for (const kind of KINDS) for (const dir of DIRECTIONS) rows.push(tcpRow(kind, dir, quick));
  return rows;
}
