/**
 * Session and RPC rows over the memory link. Baselines: the raw memory
 * link echoing the same request bytes without the RPC layers, and for the
 * link itself a bare `TransformStream` ping-pong.
 *
 * @module
 */

import {
  accept,
  implement,
  initiate,
  type Interceptor,
  type Link,
  memoryLink,
  service,
  t,
} from "../mod.ts";
import { encodeMessage } from "../wire.ts";
import type { Row } from "./_measure.ts";
import { echo, roundTrips } from "./_echo.ts";

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
}).slice();

const GROUP = "session over the memory link";
const IN_FLIGHT = 64;

/** A bare TransformStream ping-pong: one stream each way, the far end echoes. */
function transformPair(): Link {
  const there = new TransformStream<Uint8Array, Uint8Array>();
  const back = new TransformStream<Uint8Array, Uint8Array>();
  void echo({ readable: there.readable, writable: back.writable });
  return { readable: back.readable, writable: there.writable };
}

/** A raw memory link whose far end echoes, used `inFlight` payloads at a time through its streams. */
function rawEcho(inFlight: number): ReturnType<typeof roundTrips> {
  const [a, b] = memoryLink();
  void echo(b);
  return roundTrips(a, REQUEST, inFlight);
}

/**
 * A raw memory link whose far end echoes, used `inFlight` payloads at a
 * time through its push API, as a session uses it: what moving the bytes
 * costs with no work per call (a reference, not a baseline).
 */
function pushEcho(inFlight: number): ReturnType<typeof roundTrips> {
  const [a, b] = memoryLink();
  // Both ends on the link's push API, as a session uses it (not its streams): the far end
  // sends back each payload it gets; this end sends each request as a new array, as a
  // client builds each message, and counts the replies.
  const far = b.direct!;
  const near = a.direct!;
  const ignore = (): void => {};
  far.receive({ payload: (p) => far.send(p), end: ignore, error: ignore });
  let got = 0;
  let want = 0;
  let wake: (() => void) | undefined;
  near.receive({
    payload: () => {
      if (++got >= want && wake !== undefined) {
        const w = wake;
        wake = undefined;
        w();
      }
    },
    end: ignore,
    error: ignore,
  });
  return {
    run: async (n) => {
      for (let i = 0; i < n; i++) {
        await new Promise<void>((resolve) => {
          want = got + inFlight;
          wake = resolve;
          for (let j = 0; j < inFlight; j++) near.send(REQUEST.slice());
        });
      }
    },
    close: async () => {
      await a.writable.close().catch(() => {});
      await b.writable.close().catch(() => {});
    },
  };
}

/** An interceptor that does nothing but pass the call on (its cost is the chain's). */
const PASS_THROUGH: Interceptor = { call: (_info, next) => next() };

/**
 * Opens a client and a server session on a memory link, and the client's
 * `Adder`; with `interceptors`, both sides run them around every call.
 */
async function adderSessions(interceptors: Interceptor[] = []) {
  const [a, b] = memoryLink();
  const [client, server] = await Promise.all([
    initiate(a, { interceptors }),
    accept(b, { services: [implement(Adder, { add: (x, y) => x + y })], interceptors }),
  ]);
  return {
    adder: client.client(Adder),
    close: async () => {
      await client.close();
      await server.closed;
    },
  };
}

function heapUsed(): number {
  const d = (globalThis as { Deno?: { memoryUsage(): { heapUsed: number } } }).Deno;
  if (d !== undefined) return d.memoryUsage().heapUsed;
  const p = (globalThis as { process?: { memoryUsage(): { heapUsed: number } } }).process;
  return p?.memoryUsage().heapUsed ?? 0;
}

/**
 * Runs a full collection, so that heap figures count live objects only.
 *
 * @throws {Error} When the runtime offers no way to (Deno without `--v8-flags=--expose-gc`).
 */
function collectGarbage(): void {
  const g = globalThis as { gc?: () => void; Bun?: { gc(force: boolean): void } };
  if (g.Bun !== undefined) g.Bun.gc(true);
  else if (g.gc !== undefined) g.gc();
  else {
    throw new Error(
      "Cannot measure the heap without collecting garbage first: run Deno with " +
        "--v8-flags=--expose-gc (deno task bench does)",
    );
  }
}

/** Heap in MiB that 10,000 virtual connections hold, both sides of one session. */
async function heapFor10kConnections(): Promise<number> {
  const [ca, cb] = memoryLink({ highWaterMark: 1024 });
  const limits = { maxConnections: 20_000 };
  const [opener, acceptor] = await Promise.all([
    initiate(ca, { limits }),
    accept(cb, { limits, onConnection: () => ({ accept: true }) }),
  ]);
  collectGarbage();
  const before = heapUsed();
  const conns = [];
  for (let i = 0; i < 10_000; i += 500) {
    conns.push(...await Promise.all(Array.from({ length: 500 }, () => opener.openConnection())));
  }
  collectGarbage();
  const after = heapUsed();
  await opener.close();
  await acceptor.closed;
  conns.length = 0;
  return (after - before) / (1024 * 1024);
}

/** The session rows. */
export function sessionRows(): Row[] {
  return [
    {
      name: "memory link echo, sequential",
      group: GROUP,
      unit: "rt/s",
      baseline: "TransformStream ping-pong, sequential",
      open() {
        const raw = rawEcho(1);
        const ts = roundTrips(transformPair(), REQUEST, 1);
        return {
          subject: raw.run,
          baseline: ts.run,
          close: async () => {
            await raw.close();
            await ts.close();
          },
        };
      },
    },
    {
      name: "memory: unary calls, sequential",
      group: GROUP,
      unit: "calls/s",
      baseline: "raw memory link echo of the request bytes through its streams, sequential",
      references: [
        "the same echo through the link's push API, as a session uses it (no work per call)",
      ],
      async open() {
        const s = await adderSessions();
        const raw = rawEcho(1);
        const push = pushEcho(1);
        return {
          subject: async (n) => {
            for (let i = 0; i < n; i++) await s.adder.add(3, 5);
          },
          baseline: raw.run,
          references: [push.run],
          close: async () => {
            await push.close();
            await raw.close();
            await s.close();
          },
        };
      },
    },
    {
      name: `memory: unary calls, ${IN_FLIGHT} in flight`,
      group: GROUP,
      unit: "calls/s",
      scale: IN_FLIGHT,
      baseline:
        `raw memory link echo of the request bytes through its streams, ${IN_FLIGHT} in flight`,
      references: [
        `the same echo through the link's push API, as a session uses it (no work per call)`,
      ],
      async open() {
        const s = await adderSessions();
        const raw = rawEcho(IN_FLIGHT);
        const push = pushEcho(IN_FLIGHT);
        const batch = Array.from({ length: IN_FLIGHT });
        return {
          subject: async (n) => {
            for (let i = 0; i < n; i++) await Promise.all(batch.map(() => s.adder.add(3, 5)));
          },
          baseline: raw.run,
          references: [push.run],
          close: async () => {
            await push.close();
            await raw.close();
            await s.close();
          },
        };
      },
    },
    {
      name: `memory: unary calls, ${IN_FLIGHT} in flight, a pass-through interceptor each side`,
      group: GROUP,
      unit: "calls/s",
      scale: IN_FLIGHT,
      baseline: `the same calls without interceptors (stats are counted in both)`,
      async open() {
        const plain = await adderSessions();
        const intercepted = await adderSessions([PASS_THROUGH]);
        const batch = Array.from({ length: IN_FLIGHT });
        const run = (adder: typeof plain.adder) => async (n: number) => {
          for (let i = 0; i < n; i++) await Promise.all(batch.map(() => adder.add(3, 5)));
        };
        return {
          subject: run(intercepted.adder),
          baseline: run(plain.adder),
          close: async () => {
            await intercepted.close();
            await plain.close();
          },
        };
      },
    },
    {
      kind: "value",
      name: "memory: heap for 10,000 virtual connections",
      group: GROUP,
      unit: "MiB",
      measure: heapFor10kConnections,
    },
  ];
}
