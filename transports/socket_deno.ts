/**
 * TCP and Unix sockets on Deno (`Deno.connect` / `Deno.listen`). Loaded
 * only on Deno, by dynamic import.
 *
 * @module
 */

import { PauseGate, type RawSocket, type SocketSink } from "../lib/link/framing/socket.ts";
import type { SocketAddress, SocketRuntime, SocketServer } from "./_sockets.ts";

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
function adapt(conn: Deno.Conn): RawSocket {
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
    conn.setNoDelay(true);
    return adapt(conn);
  }
  const conn = await Deno.connect({ path: address.path, transport: "unix" });
  return adapt(conn);
}

function listen(address: SocketAddress): SocketServer {
  const listener = address.kind === "tcp"
    ? Deno.listen({ hostname: address.hostname, port: address.port, transport: "tcp" })
    : Deno.listen({ path: address.path, transport: "unix" });
  const addr = listener.addr;
  const bound: SocketAddress = addr.transport === "tcp"
    ? { kind: "tcp", hostname: addr.hostname, port: addr.port }
    : { kind: "unix", path: (addr as Deno.UnixAddr).path };
  let closed = false;
  return {
    address: bound,
    async accept() {
      let conn: Deno.Conn;
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
          (conn as Deno.TcpConn).setNoDelay(true);
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
