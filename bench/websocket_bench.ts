/**
 * WebSocket rows on loopback. Baseline: a raw echo server written directly
 * on the runtime's API (`Deno.serve` + `Deno.upgradeWebSocket`, or
 * `Bun.serve` handlers) with a plain global `WebSocket` client, against the
 * same traffic through roam's WebSocket links (echoing, without the RPC
 * layers) and through full roam sessions. Each row opens fresh servers and
 * connections.
 *
 * @module
 */

import { accept, implement, initiate, service, t } from "../mod.ts";
import { connectWebSocket } from "../transports/websocket.ts";
import { listenWebSocket } from "../transports/websocket_server.ts";
import type { Fixture, Row } from "./_measure.ts";
import { echo, roundTrips } from "./_echo.ts";
import type { EchoServer } from "./_websocket_raw_deno.ts";

const Bench = service("WsBench", {
  add: { args: [t.u32, t.u32], returns: t.u32 },
  echo: { args: [t.bytes], returns: t.bytes },
});

const GROUP = "WebSocket on loopback";
/** About the size of an encoded `add(3, 5)` call. */
const SMALL = new Uint8Array(16).fill(7);
const MiB = 1024 * 1024;
const BIG = new Uint8Array(MiB).fill(42);
const IN_FLIGHT = 64;

async function startRawServer(): Promise<EchoServer> {
  if ("Deno" in globalThis) return (await import("./_websocket_raw_deno.ts")).startEchoServer();
  if ("Bun" in globalThis) return (await import("./_websocket_raw_bun.ts")).startEchoServer();
  throw new TypeError("The WebSocket benchmark needs Deno or Bun");
}

/** A plain global `WebSocket` client of a raw echo server: `run(n)` does `n` rounds of `inFlight`. */
async function rawEcho(message: Uint8Array, inFlight: number) {
  const server = await startRawServer();
  const ws = new WebSocket(server.url);
  ws.binaryType = "arraybuffer";
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error(`Cannot connect to ${server.url}`));
  });
  let received = 0;
  let receivedBytes = 0;
  let target = 0;
  let wake: (() => void) | undefined;
  // Each reply is taken as bytes, as an RPC client must take it (not left unread).
  ws.onmessage = (ev: MessageEvent) => {
    receivedBytes += new Uint8Array(ev.data as ArrayBuffer).length;
    if (++received >= target && wake !== undefined) {
      const w = wake;
      wake = undefined;
      w();
    }
  };
  return {
    run: async (n: number) => {
      for (let b = 0; b < n; b++) {
        await new Promise<void>((resolve) => {
          target = received + inFlight;
          wake = resolve;
          for (let i = 0; i < inFlight; i++) ws.send(message);
        });
      }
      if (receivedBytes !== received * message.length) {
        throw new Error(`The raw echo returned ${receivedBytes} bytes for ${received} messages`);
      }
    },
    close: async () => {
      const closed = new Promise((r) => (ws.onclose = r));
      ws.close();
      await closed;
      await server.close();
    },
  };
}

interface Shape {
  label: string;
  unit: string;
  scale: number;
  inFlight: number;
  message: Uint8Array;
  baseline: string;
}

const SHAPES: Shape[] = [
  {
    label: "sequential",
    unit: "rt/s",
    scale: 1,
    inFlight: 1,
    message: SMALL,
    baseline: "raw WebSocket echo of 16-byte messages, sequential",
  },
  {
    label: `${IN_FLIGHT} in flight`,
    unit: "msg/s",
    scale: IN_FLIGHT,
    inFlight: IN_FLIGHT,
    message: SMALL,
    baseline: `raw WebSocket echo of 16-byte messages, ${IN_FLIGHT} in flight`,
  },
  {
    label: "1 MiB messages",
    unit: "MB/s",
    scale: MiB / 1e6,
    inFlight: 1,
    message: BIG,
    baseline: "raw WebSocket echo of 1 MiB messages, sequential",
  },
];

function linkRow(shape: Shape): Row {
  return {
    name: `WebSocket link: echo, ${shape.label}`,
    group: GROUP,
    unit: shape.unit,
    scale: shape.scale,
    baseline: shape.baseline,
    async open(): Promise<Fixture> {
      const raw = await rawEcho(shape.message, shape.inFlight);
      const listener = await listenWebSocket();
      const [clientLink, serverLink] = await Promise.all([
        connectWebSocket(listener.url),
        listener.accept(),
      ]);
      const echoing = echo(serverLink!);
      const link = roundTrips(clientLink, shape.message, shape.inFlight);
      return {
        subject: link.run,
        baseline: raw.run,
        close: async () => {
          await link.close();
          await echoing;
          await listener.close();
          await raw.close();
        },
      };
    },
  };
}

function sessionRow(shape: Shape): Row {
  const name = shape.message === BIG
    ? "WebSocket: 1 MiB bytes echo calls"
    : `WebSocket: unary calls, ${shape.label}`;
  return {
    name,
    group: GROUP,
    unit: shape.message === BIG ? "MB/s" : "calls/s",
    scale: shape.scale,
    baseline: shape.baseline,
    async open(): Promise<Fixture> {
      const raw = await rawEcho(shape.message, shape.inFlight);
      const listener = await listenWebSocket();
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
      const calls = Array.from({ length: shape.inFlight });
      const subject = shape.message === BIG
        ? async (n: number) => {
          for (let i = 0; i < n; i++) await bench.echo(BIG);
        }
        : shape.inFlight === 1
        ? async (n: number) => {
          for (let i = 0; i < n; i++) await bench.add(3, 5);
        }
        : async (n: number) => {
          for (let i = 0; i < n; i++) await Promise.all(calls.map(() => bench.add(3, 5)));
        };
      return {
        subject,
        baseline: raw.run,
        close: async () => {
          await client.close();
          await server.closed;
          await listener.close();
          await raw.close();
        },
      };
    },
  };
}

/** The WebSocket rows. */
export function websocketRows(): Row[] {
  return [...SHAPES.map(linkRow), ...SHAPES.map(sessionRow)];
}
