/**
 * TCP loopback rows: roam calls against the raw batched echo of
 * `_raw_tcp.ts`, on fresh sockets for each row.
 *
 * @module
 */

import { accept, implement, initiate, service, t } from "../mod.ts";
import { encodeMessage } from "../wire.ts";
import { connectTcp, listenTcp } from "../transports/tcp.ts";
import type { Row } from "./_measure.ts";
import { exchange, frameOf, loadRawTcp, type RawStream, repeatFrame } from "./_raw_tcp.ts";
import { MiniClient, miniServer } from "./_mini_rpc.ts";

const Bench = service("Bench", {
  add: { args: [t.u32, t.u32], returns: t.u32 },
  echo: { args: [t.bytes], returns: t.bytes },
});

const GROUP = "TCP loopback";
const MiB = 1024 * 1024;
const IN_FLIGHT = 64;

/** A raw echo connection and a roam session on fresh sockets. */
async function openPair() {
  const raw = await loadRawTcp();
  const server = await raw.echoServer();
  const client = await raw.connect(server.port);
  const listener = await listenTcp({ port: 0 });
  const port = (listener.address as { port: number }).port;
  const served = (async () =>
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

/** The minimal RPC of `_mini_rpc.ts` on raw sockets: a server adding its two arguments, and a client. */
async function openMini() {
  const raw = await loadRawTcp();
  const server = await raw.answerServer(() => miniServer((a, b) => a + b).answer);
  const to: { stream?: RawStream } = {};
  const client = new MiniClient((bytes) => to.stream!.write(bytes));
  const stream = to.stream = await raw.connectStream(server.port, (chunk) => client.feed(chunk));
  if (await client.call(3, 5) !== 8) throw new Error("The minimal RPC answered wrong");
  return {
    client,
    close: () => {
      stream.close();
      void server.close();
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

/**
 * The TCP rows.
 *
 * @param quick Whether `--quick` was given.
 * @returns The rows.
 */
export function tcpRows(quick: boolean): Row[] {
  return [
    {
      name: "TCP: unary calls, sequential",
      group: GROUP,
      unit: "calls/s",
      baseline: "raw TCP echo of the request frame, sequential",
      async open() {
        const pair = await openPair();
        const frame = addFrame();
        return {
          subject: async (n) => {
            for (let i = 0; i < n; i++) await pair.roam.add(3, 5);
          },
          baseline: async (n) => {
            for (let i = 0; i < n; i++) await exchange(pair.raw, frame, 1);
          },
          close: pair.close,
        };
      },
    },
    {
      name: `TCP: unary calls, ${IN_FLIGHT} in flight`,
      group: GROUP,
      unit: "calls/s",
      scale: IN_FLIGHT,
      baseline: `raw TCP echo, ${IN_FLIGHT} frames in flight, one write per batch both ways`,
      references: [
        `a minimal promise-per-call RPC over the same raw sockets (${IN_FLIGHT} in flight; no limits, cancellation or metadata)`,
      ],
      async open() {
        const pair = await openPair();
        const mini = await openMini();
        const batch = repeatFrame(addFrame(), IN_FLIGHT);
        const calls = Array.from({ length: IN_FLIGHT });
        return {
          subject: async (n) => {
            for (let i = 0; i < n; i++) await Promise.all(calls.map(() => pair.roam.add(3, 5)));
          },
          baseline: async (n) => {
            for (let i = 0; i < n; i++) await exchange(pair.raw, batch, IN_FLIGHT);
          },
          references: [async (n) => {
            for (let i = 0; i < n; i++) await Promise.all(calls.map(() => mini.client.call(3, 5)));
          }],
          close: async () => {
            mini.close();
            await pair.close();
          },
        };
      },
    },
    {
      name: "TCP: 1 MiB bytes echo",
      group: GROUP,
      unit: "MB/s",
      scale: MiB / 1e6,
      // With BBR congestion control (these VMs' default), pacing puts some
      // loopback connections into a slower state for their whole life, for
      // the raw echo as much as for roam: samples are pooled over fresh
      // connections, so that the spread shows it rather than one draw.
      rounds: quick ? 1 : 3,
      batchMs: 20,
      baseline: "raw TCP 1 MiB echo, client assembling each reply into a new array",
      async open() {
        const pair = await openPair();
        const big = new Uint8Array(MiB).fill(7);
        const bigFrame = frameOf(big);
        if ((await pair.roam.echo(big)).length !== MiB) throw new Error("The echo lost bytes");
        return {
          subject: async (n) => {
            for (let i = 0; i < n; i++) await pair.roam.echo(big);
          },
          baseline: async (n) => {
            for (let i = 0; i < n; i++) await exchange(pair.raw, bigFrame, 1);
          },
          close: pair.close,
        };
      },
    },
  ];
}
