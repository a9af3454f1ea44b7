/**
 * A reverse tunnel: an edge process behind NAT dials a relay, and the
 * relay exposes a local TCP port whose connections reach a service beside
 * the edge (a database, an SSH server, a web app) through a byte tunnel
 * carried by roam on the edge's own connection.
 *
 * ```text
 *  client --TCP--> relay :public ==roam session (dialled by the edge)==> edge --TCP--> service
 * ```
 *
 * The edge serves {@linkcode Edge} on the session it dialled; for every
 * connection to its public port the relay calls `Edge.open(tunnel)`, and
 * both sides pump bytes through the tunnel (`tunnel()` / `pumpTunnel`).
 * The tunnel outlives the call, so the edge's handler keeps its ends.
 *
 * Run it:
 *
 * - `deno run -A examples/reverse_tunnel.ts` (or `bun examples/reverse_tunnel.ts`): the
 *   whole thing in one process, an echo server as the service, 1 MiB through it;
 * - `… --relay tcp://0.0.0.0:7000 --public 8080` on the relay, and
 *   `… --edge tcp://relay.example:7000 --target 127.0.0.1:22` on the edge,
 *   then `ssh -p 8080 relay.example` reaches the edge's SSH server.
 *
 * @module
 */

import process from "node:process";
import { parseArgs } from "node:util";
import {
  connect,
  implement,
  pumpTunnel,
  serve,
  service,
  type Session,
  t,
  tunnel,
  TunnelSchema,
} from "../mod.ts";
import { type ByteStream, connectTcpStream, listenTcpStream } from "../transports/tcp.ts";

/** What an edge serves to its relay: a tunnel to the service beside it per call. */
export const Edge = service("Edge", {
  /** Connects to the edge's target and pumps it through `tunnel` until either side ends. */
  open: { args: [TunnelSchema], returns: t.unit },
});

/** Where a TCP service is. */
export interface Target {
  readonly hostname?: string;
  readonly port: number;
}

/** A running edge. */
export interface EdgeHandle extends AsyncDisposable {
  /** The session the edge dialled. */
  readonly session: Session;
  /** Closes the session and every tunnel. */
  close(): Promise<void>;
}

/**
 * Dials the relay at `relay` and serves {@linkcode Edge} on that session:
 * every tunnel the relay opens is connected to `target`.
 *
 * @param relay The relay's control address, e.g. `tcp://relay.example:7000`.
 * @param target The service beside the edge.
 * @param onError Hears of tunnels that could not reach the service (default: `console.error`).
 * @returns The edge.
 */
export async function startEdge(
  relay: string,
  target: Target,
  onError?: (error: unknown, where: string) => void,
): Promise<EdgeHandle> {
  const pumps = new Set<Promise<void>>();
  const edge = implement(Edge, {
    open: async (ends) => {
      const socket = await connectTcpStream(target); // a failure answers the relay's call
      // The tunnel outlives this call: keep both ends past the handler.
      const kept = { tx: ends.tx.keep(), rx: ends.rx.keep() };
      const pump = pumpTunnel(socket, kept).catch(() => {}).finally(() => {
        socket.close();
        pumps.delete(pump);
      });
      pumps.add(pump);
    },
  });
  const session = await connect(relay, {
    services: [edge],
    ...(onError === undefined ? {} : { onError }),
  });
  const close = async (): Promise<void> => {
    await session.close();
    await Promise.all([...pumps]);
  };
  return { session, close, [Symbol.asyncDispose]: close };
}

/** Carries one public connection through a tunnel to `edge`'s service. */
async function through(edge: Session, socket: ByteStream): Promise<void> {
  const { local, remote } = tunnel();
  try {
    await edge.client(Edge).open(remote);
    await pumpTunnel(socket, local);
  } catch {
    // The edge could not reach its service, or went away: the client sees its socket close.
  } finally {
    socket.close();
  }
}

/** A running relay. */
export interface RelayHandle extends AsyncDisposable {
  /** The address edges dial. */
  readonly controlUrl: string;
  /** The public port whose connections go through to an edge's service. */
  readonly publicPort: number;
  /** Edges connected now. */
  readonly edges: number;
  /** Stops both listeners and closes every session and tunnel. */
  close(): Promise<void>;
}

/**
 * Listens for edges on `control`, and for clients on `publicPort`: each
 * client connection goes through a tunnel to the service of the edge that
 * connected last (closed at once while no edge is connected).
 *
 * @param control Where edges dial, e.g. `tcp://0.0.0.0:7000`.
 * @param publicPort The port clients connect to (0 picks one).
 * @param hostname The address of the public port (default `127.0.0.1`).
 * @returns The relay.
 */
export async function startRelay(
  control: string,
  publicPort: number,
  hostname = "127.0.0.1",
): Promise<RelayHandle> {
  const edges: Session[] = [];
  const server = await serve(control, {
    onSession: (session) => {
      edges.push(session);
      void session.closed.then(() => edges.splice(edges.indexOf(session), 1));
    },
  });
  const listener = await listenTcpStream({ hostname, port: publicPort });
  const pumps = new Set<Promise<void>>();
  const loop = (async () => {
    for await (const socket of listener) {
      const edge = edges.at(-1);
      if (edge === undefined) {
        socket.close();
        continue;
      }
      const pump = through(edge, socket);
      void pump.finally(() => pumps.delete(pump));
      pumps.add(pump);
    }
  })();
  const close = async (): Promise<void> => {
    await listener.close();
    await loop;
    await server.close();
    await Promise.all([...pumps]);
  };
  return {
    controlUrl: server.url,
    publicPort: (listener.address as { port: number }).port,
    get edges() {
      return edges.length;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** The whole thing in one process: an echo service beside the edge, 1 MiB through the relay. */
async function demo(): Promise<void> {
  await using echo = await listenTcpStream({ port: 0 });
  const echoing = (async () => {
    for await (const s of echo) void s.readable.pipeTo(s.writable).catch(() => {});
  })();
  await using relay = await startRelay("tcp://127.0.0.1:0", 0);
  await using _edge = await startEdge(relay.controlUrl, {
    port: (echo.address as { port: number }).port,
  });
  console.log(`relay: edges dial ${relay.controlUrl}, clients connect to port ${relay.publicPort}`);

  const sent = Uint8Array.from({ length: 1 << 20 }, (_, i) => (i * 31 + 7) & 0xff);
  const client = await connectTcpStream({ port: relay.publicPort });
  const writing = (async () => {
    const w = client.writable.getWriter();
    await w.write(sent);
    await w.close();
  })();
  const received = new Uint8Array(sent.length);
  let n = 0;
  for await (const chunk of client.readable) {
    received.set(chunk.subarray(0, Math.min(chunk.length, received.length - n)), n);
    n += chunk.length;
  }
  await writing;
  client.close();
  const exact = n === sent.length && received.every((b, i) => b === sent[i]);
  console.log(
    `${n} bytes went to the service beside the edge and came back ${
      exact ? "byte-exact" : "CORRUPTED"
    }`,
  );
  await echo.close();
  await echoing;
  if (!exact) process.exitCode = 1;
}

/** Parses `host:port` (or a bare port). */
function target(text: string): Target {
  const at = text.lastIndexOf(":");
  const port = Number(at < 0 ? text : text.slice(at + 1));
  const hostname = at < 0 ? "127.0.0.1" : text.slice(0, at);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new TypeError(`Invalid target ${JSON.stringify(text)}: expected host:port`);
  }
  return { hostname, port };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      relay: { type: "string" },
      public: { type: "string" },
      edge: { type: "string" },
      target: { type: "string" },
    },
  });
  if (values.relay !== undefined) {
    const relay = await startRelay(values.relay, Number(values.public ?? 0), "0.0.0.0");
    console.log(`relay: edges dial ${relay.controlUrl}; public port ${relay.publicPort}`);
    await new Promise(() => {}); // until the process is stopped
  } else if (values.edge !== undefined) {
    const to = target(values.target ?? "127.0.0.1:22");
    for (;;) {
      try {
        const edge = await startEdge(values.edge, to);
        console.log(`edge: connected to ${values.edge}, forwarding to ${to.hostname}:${to.port}`);
        console.log(`edge: relay gone (${(await edge.session.closed)?.message ?? "closed"})`);
        await edge.close();
      } catch (e) {
        console.error(`edge: cannot reach the relay: ${e instanceof Error ? e.message : e}`);
      }
      await new Promise((r) => setTimeout(r, 1000)); // dial again
    }
  } else {
    await demo();
  }
}

if (import.meta.main) await main();
