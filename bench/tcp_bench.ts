/**
 * TCP loopback benchmarks: roam calls against a raw length-prefixed echo
 * written directly on the runtime's socket API, measured in the same run.
 *
 * @module
 */

import { accept, implement, initiate, service, type Session, t } from "../mod.ts";
import { encodeMessage } from "../wire.ts";
import { connectTcp, listenTcp } from "../transports/tcp.ts";
import { asyncOpsPerSecondPair, flags, type Report } from "./_harness.ts";
import { frameOf, loadRawTcp, type RawTcp } from "./_raw_tcp.ts";

const Bench = service("Bench", {
  add: { args: [t.u32, t.u32], returns: t.u32 },
  echo: { args: [t.bytes], returns: t.bytes },
});

const MiB = 1024 * 1024;

/**
 * Fresh connections the 1 MiB figure and its baseline are averaged over:
 * with BBR congestion control (our VMs' default), pacing puts some
 * loopback connections into a slower state for their whole life, for the
 * raw echo as much as for roam, so one connection of each would compare
 * two draws of that lottery.
 */
const CONNECTIONS = flags.quick ? 1 : 3;

/** A raw echo connection and a roam session on fresh sockets. */
async function openPair(raw: RawTcp) {
  const server = await raw.echoServer();
  const client = await raw.connect(server.port);
  const listener = await listenTcp({ port: 0 });
  const port = (listener.address as { port: number }).port;
  const served = (async (): Promise<Session> =>
    accept((await listener.accept())!, {
      services: [implement(Bench, { add: (a, b) => a + b, echo: (b) => b })],
    }))();
  const session = await initiate(await connectTcp({ port }));
  const serverSession = await served;
  return {
    raw: client,
    roam: session.client(Bench),
    close: async () => {
      client.close();
      await server.close();
      await session.close();
      await serverSession.closed;
      await listener.close();
    },
  };
}

/** The frame of `Bench.add(3, 5)`, as the raw baseline sends it. */
function addFrame(): Uint8Array {
  return frameOf(encodeMessage({
    connectionId: 0,
    payload: {
      type: "request",
      id: 1,
      body: {
        type: "call",
        methodId: Bench.methods.add.id,
        channels: [],
        metadata: [],
        args: new Uint8Array([3, 5]),
      },
    },
  }));
}

/** Runs the TCP benchmarks into `report`. */
export async function tcpBench(report: Report): Promise<void> {
  report.header("TCP loopback");
  const raw = await loadRawTcp();
  const main = await openPair(raw);
  const { roam, raw: client } = main;

  // Each figure alternates samples of roam and of the raw echo.
  const frame = addFrame();
  if (report.wants("TCP unary calls, sequential")) {
    const [seq, rawSeq] = await asyncOpsPerSecondPair(async (n) => {
      for (let i = 0; i < n; i++) await roam.add(3, 5);
    }, async (n) => {
      for (let i = 0; i < n; i++) await client.exchange(frame, 1);
    });
    report.add("TCP unary calls, sequential", seq, "calls/s", rawSeq, "raw TCP echo, sequential");
  }
  if (report.wants("TCP unary calls, 64 in flight")) {
    const batch = Array.from({ length: 64 });
    const [pipe, rawPipe] = await asyncOpsPerSecondPair(async (n) => {
      for (let i = 0; i < n; i += 64) await Promise.all(batch.map(() => roam.add(3, 5)));
    }, async (n) => {
      for (let i = 0; i < n; i += 64) await client.exchange(frame, 64);
    });
    report.add(
      "TCP unary calls, 64 in flight",
      pipe,
      "calls/s",
      rawPipe,
      "raw TCP echo, 64 frames in flight",
    );
  }
  if (report.wants("TCP 1 MiB bytes echo")) {
    // Each side is the mean over fresh connections (see CONNECTIONS); each
    // pair of connections alternates its samples.
    const big = new Uint8Array(MiB).fill(7);
    const bigFrame = frameOf(big);
    let bigRate = 0;
    let rawBig = 0;
    for (let c = 0; c < CONNECTIONS; c++) {
      const pair = await openPair(raw);
      try {
        const [r, b] = await asyncOpsPerSecondPair(async (n) => {
          for (let i = 0; i < n; i++) await pair.roam.echo(big);
        }, async (n) => {
          for (let i = 0; i < n; i++) await pair.raw.exchange(bigFrame, 1);
        }, { samples: flags.quick ? 3 : 5 });
        bigRate += r / CONNECTIONS;
        rawBig += b / CONNECTIONS;
      } finally {
        await pair.close();
      }
    }
    report.add(
      "TCP 1 MiB bytes echo",
      bigRate * MiB / 1e6,
      "MB/s",
      rawBig * MiB / 1e6,
      CONNECTIONS > 1
        ? `raw TCP 1 MiB echo (each side: mean of ${CONNECTIONS} connections)`
        : "raw TCP 1 MiB echo",
    );
  }

  await main.close();
}
