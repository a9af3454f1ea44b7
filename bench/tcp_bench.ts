/**
 * TCP loopback benchmarks: roam calls against a raw length-prefixed echo
 * written directly on the runtime's socket API, measured in the same run.
 *
 * @module
 */

import { accept, encodeMessage, implement, initiate, service, type Session, t } from "../mod.ts";
import { connectTcp, listenTcp } from "../transports/tcp.ts";
import { asyncOpsPerSecond, type Report } from "./_harness.ts";
import { frameOf, loadRawTcp } from "./_raw_tcp.ts";

const Bench = service("Bench", {
  add: { args: [t.u32, t.u32], returns: t.u32 },
  echo: { args: [t.bytes], returns: t.bytes },
});

const MiB = 1024 * 1024;

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
  const server = await raw.echoServer();
  const client = await raw.connect(server.port);
  const frame = addFrame();
  const rawSeq = await asyncOpsPerSecond(async (n) => {
    for (let i = 0; i < n; i++) await client.exchange(frame, 1);
  });
  const rawPipe = await asyncOpsPerSecond(async (n) => {
    for (let i = 0; i < n; i += 64) await client.exchange(frame, 64);
  });
  const bigFrame = frameOf(new Uint8Array(MiB).fill(7));
  const rawBig = await asyncOpsPerSecond(async (n) => {
    for (let i = 0; i < n; i++) await client.exchange(bigFrame, 1);
  }, { samples: 3 });
  client.close();
  await server.close();

  const listener = await listenTcp({ port: 0 });
  const port = (listener.address as { port: number }).port;
  const served = (async (): Promise<Session> =>
    accept((await listener.accept())!, {
      services: [implement(Bench, { add: (a, b) => a + b, echo: (b) => b })],
    }))();
  const session = await initiate(await connectTcp({ port }));
  const roam = session.client(Bench);
  const serverSession = await served;

  const seq = await asyncOpsPerSecond(async (n) => {
    for (let i = 0; i < n; i++) await roam.add(3, 5);
  });
  report.add("TCP unary calls, sequential", seq, "calls/s", rawSeq, "raw TCP echo, sequential");
  const batch = Array.from({ length: 64 });
  const pipe = await asyncOpsPerSecond(async (n) => {
    for (let i = 0; i < n; i += 64) await Promise.all(batch.map(() => roam.add(3, 5)));
  });
  report.add(
    "TCP unary calls, 64 in flight",
    pipe,
    "calls/s",
    rawPipe,
    "raw TCP echo, 64 frames in flight",
  );
  const big = new Uint8Array(MiB).fill(7);
  const bigRate = await asyncOpsPerSecond(async (n) => {
    for (let i = 0; i < n; i++) await roam.echo(big);
  }, { samples: 3 });
  report.add(
    "TCP 1 MiB bytes echo",
    bigRate * MiB / 1e6,
    "MB/s",
    rawBig * MiB / 1e6,
    "raw TCP 1 MiB echo",
  );

  await session.close();
  await serverSession.closed;
  await listener.close();
}
