/**
 * Stable conduit rows: calls over a stable session against the same calls
 * over a bare session (both TCP loopback, alternated in the same run), and
 * what a dropped link costs: the time from the cut (a reset, by a proxy
 * between client and server) to the first call completed on the new
 * link, for a stable session resuming (with what it had to replay) and,
 * for reference, for a reconnecting client making a new bare session.
 *
 * @module
 */

import {
  accept,
  connect,
  implement,
  initiate,
  reconnect,
  ResumeRegistry,
  serve,
  service,
  type Session,
  t,
} from "../mod.ts";
import { connectTcp, listenTcp } from "../transports/tcp.ts";
import { conduitOf } from "../lib/session/handshake.ts";
import type { StableConduit } from "../lib/conduit/stable.ts";
import { CutProxy } from "../tests/_helpers/cut_proxy.ts";
import type { Row } from "./_measure.ts";

const Bench = service("Bench", {
  add: { args: [t.u32, t.u32], returns: t.u32 },
  echo: { args: [t.bytes], returns: t.bytes },
});
const impl = implement(Bench, { add: (a, b) => a + b, echo: (b) => b });
const clientOf = (s: Session) => s.client(Bench);
type BenchClient = ReturnType<typeof clientOf>;

const GROUP = "stable conduit (TCP loopback)";
const IN_FLIGHT = 64;
/** Cuts per sample of a recovery row (the sample is their median). */
const CUTS = 10;
/** What is in flight at a cut in the "busy" recovery rows: 16 echoes of 64 KiB. */
const BUSY_CALLS = 16;
const BUSY_SIZE = 64 * 1024;

/** A session pair of the given conduit on fresh TCP sockets. */
async function tcpPair(conduit: "bare" | "stable") {
  const listener = await listenTcp({ port: 0 });
  const port = (listener.address as { port: number }).port;
  const options = { conduit, keepalive: false as const };
  const registry = conduit === "stable" ? { stable: { registry: new ResumeRegistry() } } : {};
  const served =
    (async () =>
      accept((await listener.accept())!, { ...options, ...registry, services: [impl] }))();
  const session = await initiate(await connectTcp({ port }), options);
  const server = await served;
  return {
    bench: session.client(Bench),
    close: async () => {
      await session.close();
      await server.closed;
      await listener.close();
    },
  };
}

/** Both pairs, for a row that alternates them. */
async function bothPairs() {
  const [stable, bare] = await Promise.all([tcpPair("stable"), tcpPair("bare")]);
  return {
    stable: stable.bench,
    bare: bare.bench,
    close: async () => {
      await stable.close();
      await bare.close();
    },
  };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Starts the calls in flight at a cut ("busy" rows); resolves when they are all done. */
function busy(bench: BenchClient, on: boolean): Promise<unknown> {
  if (!on) return Promise.resolve();
  const big = new Uint8Array(BUSY_SIZE).fill(1);
  return Promise.allSettled(Array.from({ length: BUSY_CALLS }, () => bench.echo(big)));
}

/** Bytes the last resume re-sent, both sides. */
function replayed(client: Session, server: Iterable<Session>): number {
  let bytes = (conduitOf(client) as StableConduit).lastReplayBytes;
  for (const s of server) {
    bytes += (conduitOf(s) as StableConduit | undefined)?.lastReplayBytes ?? 0;
  }
  return bytes;
}

/** Replay sizes seen by the last sample of each stable recovery row, for the companion rows. */
const replays = new Map<boolean, number[]>();

/** One sample: the median time over {@linkcode CUTS} cuts, from the cut to the first call done. */
async function stableRecovery(loaded: boolean): Promise<number> {
  const server = await serve("tcp://127.0.0.1:0", {
    conduit: "stable",
    keepalive: false,
    services: [impl],
  });
  const proxy = await CutProxy.start(Number(new URL(server.url).port));
  const session = await connect(`tcp://127.0.0.1:${proxy.port}`, {
    conduit: "stable",
    keepalive: false,
    stable: { retry: { initialDelay: 1 } },
  });
  const bench = clientOf(session);
  const times: number[] = [];
  const sizes: number[] = [];
  try {
    await bench.add(1, 1);
    for (let i = 0; i < CUTS; i++) {
      const inFlight = busy(bench, loaded);
      await new Promise((r) => setTimeout(r, 1));
      proxy.cutNow("reset");
      const t0 = performance.now();
      await bench.add(3, 5);
      times.push(performance.now() - t0);
      await inFlight;
      sizes.push(replayed(session, server.sessions));
    }
  } finally {
    await session.close();
    await proxy.close();
    await server.close();
  }
  replays.set(loaded, sizes);
  return median(times);
}

/** One sample for a reconnecting client on a bare session: cut, new session, first call. */
async function bareRecovery(): Promise<number> {
  const server = await serve("tcp://127.0.0.1:0", { keepalive: false, services: [impl] });
  const proxy = await CutProxy.start(Number(new URL(server.url).port));
  const client = reconnect(`tcp://127.0.0.1:${proxy.port}`, {
    keepalive: false,
    retry: { initialDelay: 1 },
  });
  const bench = client.client(Bench);
  const times: number[] = [];
  try {
    await bench.add(1, 1);
    for (let i = 0; i < CUTS; i++) {
      const before = client.session;
      proxy.cutNow("reset");
      const t0 = performance.now();
      // Until the client notices, a call can still go to the dead session: retry it.
      for (;;) {
        try {
          await bench.add(3, 5);
          if (client.session !== before) break;
        } catch {
          // Failed on the dead session; the next one waits for the new session.
        }
      }
      times.push(performance.now() - t0);
    }
  } finally {
    await client.close();
    await proxy.close();
    await server.close();
  }
  return median(times);
}

/**
 * The stable conduit rows.
 *
 * @returns The rows.
 */
export function stableRows(): Row[] {
  return [
    {
      name: "stable: unary calls, sequential",
      group: GROUP,
      unit: "calls/s",
      baseline: "the same calls over a bare session (TCP)",
      async open() {
        const pair = await bothPairs();
        return {
          subject: async (n) => {
            for (let i = 0; i < n; i++) await pair.stable.add(3, 5);
          },
          baseline: async (n) => {
            for (let i = 0; i < n; i++) await pair.bare.add(3, 5);
          },
          close: pair.close,
        };
      },
    },
    {
      name: `stable: unary calls, ${IN_FLIGHT} in flight`,
      group: GROUP,
      unit: "calls/s",
      scale: IN_FLIGHT,
      baseline: `the same calls over a bare session (TCP), ${IN_FLIGHT} in flight`,
      async open() {
        const pair = await bothPairs();
        const calls = Array.from({ length: IN_FLIGHT });
        return {
          subject: async (n) => {
            for (let i = 0; i < n; i++) await Promise.all(calls.map(() => pair.stable.add(3, 5)));
          },
          baseline: async (n) => {
            for (let i = 0; i < n; i++) await Promise.all(calls.map(() => pair.bare.add(3, 5)));
          },
          close: pair.close,
        };
      },
    },
    {
      kind: "value",
      name: "stable: cut link to first call done, idle",
      group: GROUP,
      unit: "ms",
      measure: () => stableRecovery(false),
    },
    {
      kind: "value",
      name: "stable: bytes replayed at those cuts, idle",
      group: GROUP,
      unit: "KiB",
      measure: () => Promise.resolve(median(replays.get(false) ?? [0]) / 1024),
    },
    {
      kind: "value",
      name: `stable: cut link to first call done, ${BUSY_CALLS} x 64 KiB in flight`,
      group: GROUP,
      unit: "ms",
      measure: () => stableRecovery(true),
    },
    {
      kind: "value",
      name: `stable: bytes replayed at those cuts, ${BUSY_CALLS} x 64 KiB in flight`,
      group: GROUP,
      unit: "KiB",
      measure: () => Promise.resolve(median(replays.get(true) ?? [0]) / 1024),
    },
    {
      kind: "value",
      name: "bare + reconnect(): cut link to first call done on a new session",
      group: GROUP,
      unit: "ms",
      measure: bareRecovery,
    },
  ];
}
