/**
 * Proxying and scale-out rows.
 *
 * - One proxy hop over TCP against the same traffic direct over TCP,
 *   sampled in turn in the same run: 64 calls in flight, and channel `i32`
 *   items each way. The backend and the proxy (`proxy()` between each
 *   session it accepts and one it opens to the backend) run in processes
 *   of their own, as deployed; the client runs here. The same rows run
 *   again with all three parts in this process, so that their ratios are
 *   what the hop costs in CPU, every part sharing one thread (a hop
 *   doubles the messages, and each message is a socket write).
 * - A server of `cluster()` workers, one per core, sharing a port with
 *   `reusePort`, against the same server as one worker process: 64 calls
 *   in flight spread over 8 connections, the connections balanced over
 *   the workers. The client runs in this process and takes a core of its
 *   own, so on a 2-core machine the workers share what is left.
 *
 * @module
 */

import {
  accept,
  channel,
  type Cluster,
  cluster,
  connect,
  initiate,
  proxy,
  serve,
  type Session,
} from "../mod.ts";
import { connectTcp, listenTcp, listenTcpStream } from "../transports/tcp.ts";
import type { Fixture, Row } from "./_measure.ts";
import { Pid } from "./_cluster_worker.ts";
import { ProxyBench as Bench, proxyBenchImpl as impl } from "./_proxy_child.ts";

const GROUP = "proxy and scale-out";
const IN_FLIGHT = 64;
/** How long one stream should take once warm, in ms. */
const STREAM_MS = 50;

interface Pair {
  /** A session straight to the backend. */
  direct: Session;
  /** A session to the proxy, which forwards to the backend. */
  proxied: Session;
  close(): Promise<void>;
}

/** A TCP session pair: `initiate` on one end of a fresh connection, `accept` on the other. */
async function tcpPair(options: Parameters<typeof accept>[1] = {}) {
  const listener = await listenTcp({ port: 0 });
  const port = (listener.address as { port: number }).port;
  const [client, server] = await Promise.all([
    connectTcp({ port }).then((l) => initiate(l)),
    listener.accept().then((l) => accept(l!, options)),
  ]);
  await listener.close();
  return { client, server };
}

/** A backend, a session to it direct, and one through a proxy hop; all over TCP, all here. */
async function inProcessPair(): Promise<Pair> {
  const backend = await serve("tcp://127.0.0.1:0", { services: [impl] });
  const direct = await connect(backend.url);
  const upstream = await connect(backend.url); // the proxy's session to the backend
  const front = await tcpPair(); // client <-> proxy
  const hop = proxy(front.server.root, upstream.root);
  return {
    direct,
    proxied: front.client,
    close: async () => {
      await front.client.close();
      await hop.close();
      await upstream.close();
      await direct.close();
      await backend.close();
    },
  };
}

/** A port nothing listens on now. */
async function freePort(): Promise<number> {
  const probe = await listenTcpStream({ port: 0 });
  const port = (probe.address as { port: number }).port;
  await probe.close();
  return port;
}

/** Connects to a server that may still be starting. */
async function connectSoon(port: number): Promise<Session> {
  for (let tries = 0;; tries++) {
    try {
      return await connect(`tcp://127.0.0.1:${port}`);
    } catch (e) {
      if (tries > 500) throw e;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** A backend process, a session to it direct, and one through a proxy process. */
async function processPair(): Promise<Pair> {
  const script = new URL("./_proxy_child.ts", import.meta.url);
  const [backendPort, proxyPort] = [await freePort(), await freePort()];
  const children: Cluster[] = [];
  try {
    children.push(await cluster({ workers: 1, script, args: ["backend", `${backendPort}`] }));
    const direct = await connectSoon(backendPort);
    children.push(
      await cluster({ workers: 1, script, args: ["proxy", `${proxyPort}`, `${backendPort}`] }),
    );
    const proxied = await connectSoon(proxyPort);
    return {
      direct,
      proxied,
      close: async () => {
        await proxied.close();
        await direct.close();
        for (const c of children.reverse()) await c.close();
      },
    };
  } catch (e) {
    for (const c of children) await c.close();
    throw e;
  }
}

const calls = Array.from({ length: IN_FLIGHT });

async function upload(session: Session, n: number): Promise<void> {
  const [tx, rx] = channel<number>();
  const call = session.client(Bench).upload(rx);
  for (let i = 0; i < n; i++) await tx.send(i);
  await tx.close();
  if (await call !== n) throw new Error("The upload lost items");
}

async function download(session: Session, n: number): Promise<void> {
  const [tx, rx] = channel<number>();
  const call = session.client(Bench).download(n, tx);
  let got = 0;
  for await (const _ of rx) got++;
  await call;
  if (got !== n) throw new Error("The download lost items");
}

/** 64 calls in flight through the proxy, against 64 direct. */
function callsFixture(p: Pair): Fixture {
  const via = p.proxied.client(Bench);
  const direct = p.direct.client(Bench);
  return {
    subject: async (n) => {
      for (let i = 0; i < n; i++) await Promise.all(calls.map(() => via.add(3, 5)));
    },
    baseline: async (n) => {
      for (let i = 0; i < n; i++) await Promise.all(calls.map(() => direct.add(3, 5)));
    },
    close: p.close,
  };
}

function proxyRows(): Row[] {
  const streams = [["server→client", download], ["client→server", upload]] as const;
  return [
    {
      name: `proxy: unary calls, ${IN_FLIGHT} in flight, one hop over TCP`,
      group: GROUP,
      unit: "calls/s",
      scale: IN_FLIGHT,
      baseline: `the same calls direct to the backend process, ${IN_FLIGHT} in flight`,
      open: async () => callsFixture(await processPair()),
    },
    ...streams.map(([dir, fn]): Row => ({
      name: `proxy: channel i32 items, ${dir}, one hop over TCP`,
      group: GROUP,
      unit: "items/s",
      batchMs: STREAM_MS,
      baseline: "the same stream direct to the backend process",
      async open(): Promise<Fixture> {
        const p = await processPair();
        return {
          subject: (n) => fn(p.proxied, n),
          baseline: (n) => fn(p.direct, n),
          close: p.close,
        };
      },
    })),
    {
      name: `proxy in this process: unary calls, ${IN_FLIGHT} in flight, one hop over TCP`,
      group: GROUP,
      unit: "calls/s",
      scale: IN_FLIGHT,
      baseline: `the same calls direct, backend in this process too`,
      open: async () => callsFixture(await inProcessPair()),
    },
    ...streams.map(([dir, fn]): Row => ({
      name: `proxy in this process: channel i32 items, ${dir}, one hop over TCP`,
      group: GROUP,
      unit: "items/s",
      batchMs: STREAM_MS,
      baseline: "the same stream direct, backend in this process too",
      async open(): Promise<Fixture> {
        const p = await inProcessPair();
        return {
          subject: (n) => fn(p.proxied, n),
          baseline: (n) => fn(p.direct, n),
          close: p.close,
        };
      },
    })),
  ];
}

/** Connections per server, and the calls in flight over them in all. */
const CONNECTIONS = 8;

/** A cluster on a free port, and `CONNECTIONS` sessions to it spread evenly over its workers. */
async function openCluster(
  workers: number,
): Promise<{ sessions: Session[]; close(): Promise<void> }> {
  const port = await freePort();
  const script = new URL("./_cluster_worker.ts", import.meta.url);
  const c: Cluster = await cluster({ workers, script, args: [String(port)], restart: false });
  const sessions: Session[] = [];
  const perWorker = new Map<number, number>();
  const quota = Math.ceil(CONNECTIONS / workers);
  try {
    for (let tries = 0; sessions.length < CONNECTIONS; tries++) {
      if (tries > 2000) throw new Error("Cannot spread the connections over the workers");
      let s: Session;
      try {
        s = await connect(`tcp://127.0.0.1:${port}`);
      } catch {
        await new Promise((r) => setTimeout(r, 20)); // the workers are starting
        continue;
      }
      const pid = await s.client(Pid).pid();
      const n = perWorker.get(pid) ?? 0;
      if (n < quota) {
        perWorker.set(pid, n + 1);
        sessions.push(s);
      } else await s.close();
    }
  } catch (e) {
    await Promise.all(sessions.map((s) => s.close()));
    await c.close();
    throw e;
  }
  return {
    sessions,
    close: async () => {
      await Promise.all(sessions.map((s) => s.close()));
      await c.close();
    },
  };
}

function clusterRows(): Row[] {
  const cores = Math.max(2, globalThis.navigator?.hardwareConcurrency ?? 2);
  const kinds = [
    ["add(3, 5)", (s: Session) => s.client(Pid).add(3, 5)],
    ["spin(20000), about 20 µs of server CPU", (s: Session) => s.client(Pid).spin(20_000)],
  ] as const;
  return kinds.map(([what, call]): Row => ({
    name:
      `cluster: ${what}, ${IN_FLIGHT} in flight over ${CONNECTIONS} connections, ${cores} workers`,
    group: GROUP,
    unit: "calls/s",
    scale: IN_FLIGHT,
    baseline: "the same server as one worker process",
    async open(): Promise<Fixture> {
      const [many, one] = await Promise.all([openCluster(cores), openCluster(1)]);
      const spread = (sessions: Session[]) => async (n: number) => {
        for (let i = 0; i < n; i++) {
          await Promise.all(calls.map((_, j) => call(sessions[j % sessions.length]!)));
        }
      };
      return {
        subject: spread(many.sessions),
        baseline: spread(one.sessions),
        close: async () => {
          await many.close();
          await one.close();
        },
      };
    },
  }));
}

/**
 * The proxy and scale-out rows.
 *
 * @returns The rows.
 */
export function scaleRows(): Row[] {
  return [...proxyRows(), ...clusterRows()];
}
