/**
 * TCP and Unix sockets on Deno (`Deno.connect` / `Deno.listen`). Loaded
 * only on Deno, by dynamic import. The few Deno types used are declared
 * here, so that `tsc` without Deno's types (a Bun, Node or browser
 * project) accepts this file.
 *
 * @module
 */

import { PauseGate, type RawSocket, type SocketSink } from "../lib/link/framing/socket.ts";
import type { SocketAddress, SocketRuntime, SocketServer } from "./_sockets.ts";

/** The parts of `Deno.Conn` used here. */
interface DenoConn {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
  setNoDelay?(noDelay?: boolean): void;
}

/** The address of a Deno listener. */
type DenoAddr =
  | { readonly transport: "tcp" | "udp"; readonly hostname: string; readonly port: number }
  | { readonly transport: "unix" | "unixpacket"; readonly path: string };

/** The parts of `Deno.Listener` used here. */
interface DenoListener {
  readonly addr: DenoAddr;
  accept(): Promise<DenoConn>;
  close(): void;
}

type ErrorClass = abstract new (...args: never[]) => Error;

/** The parts of the `Deno` namespace used here. */
interface DenoApi {
  connect(
    options: { hostname: string; port: number; transport: "tcp" } | {
      path: string;
      transport: "unix";
    },
  ): Promise<DenoConn>;
  listen(
    options: { hostname: string; port: number; transport: "tcp" } | {
      path: string;
      transport: "unix";
    },
  ): DenoListener;
  remove(path: string): Promise<void>;
  readonly errors: Readonly<
    Record<
      | "BadResource"
      | "Interrupted"
      | "NotConnected"
      | "ConnectionAborted"
      | "ConnectionReset",
      ErrorClass
    >
  >;
}

const Deno = (globalThis as unknown as { Deno: DenoApi }).Deno;

const READ_SIZE = 16 * 1024;
const MAX_READ_SIZE = 256 * 1024;

function isClosedError(e: unknown): boolean {
  return e instanceof Deno.errors.BadResource || e instanceof Deno.errors.Interrupted;
}

/** How long `accept()` waits after a passing failure before it tries again. */
const ACCEPT_RETRY_MS = 50;

/**
 * True for a failure of `accept()` that passes by itself: a connection
 * aborted before it was taken, or the process out of file descriptors
 * (EMFILE, ENFILE) or memory (ENOMEM, ENOBUFS). Deno reports the latter
 * as plain errors carrying the OS error number.
 */
function isPassing(e: unknown): boolean {
  // A connection reset before it was taken makes Deno's accept fail with
  // ENOTCONN (NotConnected): the listener is fine (a load balancer's
  // health checks do this all the time).
  if (
    e instanceof Deno.errors.ConnectionAborted || e instanceof Deno.errors.ConnectionReset ||
    e instanceof Deno.errors.NotConnected
  ) {
    return true;
  }
  return /\(os error (12|23|24|105)\)/.test(e instanceof Error ? e.message : String(e));
}

/** Adapts a `Deno.Conn` to the framing layer. */
function adapt(conn: DenoConn): RawSocket {
  const gate = new PauseGate();
  let closed = false;
  /** Settles (never rejects) once every write started so far has finished. */
  let chain: Promise<void> = Promise.resolve();
  let writing = 0;
  /** The first write failure: later writes fail with it without touching the socket. */
  let failure: unknown;
  const writeAll = async (chunk: Uint8Array): Promise<void> => {
    if (failure !== undefined) throw failure;
    let off = 0;
    try {
      while (off < chunk.length) off += await conn.write(off === 0 ? chunk : chunk.subarray(off));
    } catch (e) {
      failure ??= e;
      throw e;
    }
  };
  const done = (): void => {
    writing--;
  };
  return {
    reusesChunks: true,
    start(sink: SocketSink) {
      void (async () => {
        let buf = new Uint8Array(READ_SIZE);
        try {
          for (;;) {
            while (gate.paused && !closed) await gate.wait();
            if (closed) return;
            const into = sink.target?.();
            if (into !== undefined) {
              // Part of a large frame: read straight into it.
              const got = await conn.read(into);
              if (got === null) {
                sink.end();
                return;
              }
              sink.filled!(got);
              continue;
            }
            const n = await conn.read(buf);
            if (n === null) {
              sink.end();
              return;
            }
            sink.data(buf.subarray(0, n));
            // A full read means bulk data: read bigger chunks from now on.
            if (n === buf.length && buf.length < MAX_READ_SIZE) {
              buf = new Uint8Array(buf.length * 4);
            }
          }
        } catch (e) {
          if (closed && isClosedError(e)) return;
          try {
            sink.error(e);
          } catch {
            // The sink's own failure must not become an unhandled rejection.
          }
        }
      })();
    },
    pause: () => gate.pause(),
    resume: () => gate.resume(),
    write(chunk) {
      // When idle, start the write now rather than a microtask later.
      const p = writing === 0 ? writeAll(chunk) : chain.then(() => writeAll(chunk));
      writing++;
      // The caller handles `p`; the chain only orders writes, so it must never reject
      // (a rejected promise nobody handles ends a Deno process).
      chain = p.then(done, done);
      return p;
    },
    async closeWrite() {
      await chain;
      if (failure !== undefined) throw failure;
      await conn.closeWrite().catch((e) => {
        if (!isClosedError(e)) throw e;
      });
    },
    close() {
      if (closed) return;
      closed = true;
      gate.release();
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    },
  };
}

async function connect(address: SocketAddress): Promise<RawSocket> {
  if (address.kind === "tcp") {
    const conn = await Deno.connect({
      hostname: address.hostname,
      port: address.port,
      transport: "tcp",
    });
    conn.setNoDelay?.(true);
    return adapt(conn);
  }
  const conn = await Deno.connect({ path: address.path, transport: "unix" });
  return adapt(conn);
}

function listen(address: SocketAddress, options?: { readonly reusePort?: boolean }): SocketServer {
  const reusePort = options?.reusePort === true;
  // Without --unstable-net, Deno ends the process on `reusePort` rather than throwing;
  // `Deno.listenDatagram` exists exactly when that flag is on.
  if (reusePort && typeof (Deno as { listenDatagram?: unknown }).listenDatagram !== "function") {
    throw new TypeError(
      'Cannot listen with reusePort: Deno needs --unstable-net (or "unstable": ["net"] in deno.json)',
    );
  }
  const listener = address.kind === "tcp"
    ? Deno.listen({
      hostname: address.hostname,
      port: address.port,
      transport: "tcp",
      ...(reusePort ? { reusePort } : {}),
    })
    : Deno.listen({ path: address.path, transport: "unix" });
  const addr = listener.addr;
  const bound: SocketAddress = "port" in addr
    ? { kind: "tcp", hostname: addr.hostname, port: addr.port }
    : { kind: "unix", path: addr.path };
  let closed = false;
  return {
    address: bound,
    async accept() {
      let conn: DenoConn;
      for (;;) {
        if (closed) return undefined;
        try {
          conn = await listener.accept();
          break;
        } catch (e) {
          if (closed || isClosedError(e)) return undefined;
          if (!isPassing(e)) throw e;
        }
        // Out of descriptors, say, because peers hold many connections: the
        // connection waits in the backlog until some are closed.
        await new Promise((r) => setTimeout(r, ACCEPT_RETRY_MS));
      }
      if (bound.kind === "tcp") {
        try {
          conn.setNoDelay?.(true);
        } catch {
          // The peer is gone already: reading the connection will say so.
        }
      }
      return adapt(conn);
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        listener.close();
      } catch {
        // Already closed.
      }
      if (bound.kind === "unix") await Deno.remove(bound.path).catch(() => {});
    },
  };
}

/** The Deno socket runtime. */
export const sockets: SocketRuntime = { connect, listen };
