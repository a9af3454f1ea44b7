/**
 * TCP and Unix sockets on Bun (`Bun.connect` / `Bun.listen`). Loaded only
 * on Bun, by dynamic import. The few Bun types used are declared here.
 *
 * @module
 */

import type { RawSocket, SocketSink } from "../lib/link/framing/socket.ts";
import type { SocketAddress, SocketRuntime, SocketServer } from "./_sockets.ts";

/** The parts of Bun's `Socket` used here. */
interface BunSocket {
  data: Adapter;
  write(data: Uint8Array, byteOffset?: number, byteLength?: number): number;
  pause(): void;
  resume(): void;
  setNoDelay(on: boolean): boolean;
  shutdown(halfClose?: boolean): void;
  end(): void;
  terminate(): void;
}

interface BunHandlers {
  open?(s: BunSocket): void;
  data(s: BunSocket, d: Uint8Array): void;
  drain(s: BunSocket): void;
  end(s: BunSocket): void;
  close(s: BunSocket, error?: Error): void;
  error(s: BunSocket, error: Error): void;
  connectError?(s: BunSocket, error: Error): void;
}

interface BunListener {
  readonly port: number;
  readonly hostname: string;
  stop(closeActive?: boolean): void;
}

interface BunApi {
  file(path: string): { unlink(): Promise<void> };
  connect(options: {
    hostname?: string;
    port?: number;
    unix?: string;
    socket: BunHandlers;
    data?: Adapter;
    allowHalfOpen?: boolean;
  }): Promise<BunSocket>;
  listen(
    options: {
      hostname?: string;
      port?: number;
      unix?: string;
      socket: BunHandlers;
      allowHalfOpen?: boolean;
      reusePort?: boolean;
    },
  ): BunListener;
}

const Bun = (globalThis as unknown as { Bun: BunApi }).Bun;

/** Per-socket state, attached as `socket.data`. */
class Adapter implements RawSocket {
  /** Bun copies what it writes; what it cannot write yet is kept as a view until drained. */
  readonly reusesChunks = true;
  socket: BunSocket | undefined;
  #sink: SocketSink | undefined;
  /** Bytes received before `start` (a server socket can get data at once). */
  #early: Uint8Array[] = [];
  #earlyEnd: { error?: unknown } | undefined;
  #backlog: Uint8Array[] = [];
  #drained: (() => void) | undefined;
  #drainPromise: Promise<void> | undefined;
  #failed: Error | undefined;
  #ended = false;
  #closed = false;

  start(sink: SocketSink): void {
    this.#sink = sink;
    for (const chunk of this.#early) sink.data(chunk);
    this.#early = [];
    const end = this.#earlyEnd;
    if (end !== undefined) {
      if (end.error !== undefined) sink.error(end.error);
      else sink.end();
    }
  }

  onData(d: Uint8Array): void {
    // Bun hands over a Node `Buffer`; the frame decoder copies out of it
    // into plain arrays, so it is passed on as it is (reading its `.buffer`
    // is costly in JavaScriptCore).
    if (this.#sink === undefined) this.#early.push(new Uint8Array(d));
    else this.#sink.data(d);
  }

  onEnd(error?: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    if (error !== undefined) {
      this.#failed = error instanceof Error ? error : new Error(String(error));
    }
    const failure = this.#failed ??
      (this.#closed
        ? undefined
        : this.#backlog.length > 0
        ? new Error("The socket closed with unsent data")
        : undefined);
    if (failure !== undefined) this.#releaseWaiters();
    if (this.#sink === undefined) this.#earlyEnd = error === undefined ? {} : { error };
    else if (error !== undefined) this.#sink.error(error);
    else this.#sink.end();
  }

  onDrain(): void {
    const s = this.socket;
    if (s === undefined) return;
    while (this.#backlog.length > 0) {
      const piece = this.#backlog[0]!;
      const n = s.write(piece);
      if (n < 0) {
        this.#failed = new Error("The socket is closed");
        this.#releaseWaiters();
        return;
      }
      if (n < piece.length) {
        this.#backlog[0] = piece.subarray(n);
        return;
      }
      this.#backlog.shift();
    }
    this.#releaseWaiters();
  }

  #releaseWaiters(): void {
    const r = this.#drained;
    this.#drained = undefined;
    this.#drainPromise = undefined;
    r?.();
  }

  pause(): void {
    this.socket?.pause();
  }

  resume(): void {
    this.socket?.resume();
  }

  write(chunk: Uint8Array): void | Promise<void> {
    return this.writeRange(chunk, chunk.length);
  }

  writeRange(buf: Uint8Array, length: number): void | Promise<void> {
    if (this.#failed !== undefined) throw this.#failed;
    const s = this.socket;
    if (s === undefined || this.#closed) throw new Error("The socket is closed");
    if (this.#backlog.length === 0) {
      const n = s.write(buf, 0, length);
      if (n < 0) throw new Error("The socket is closed");
      if (n === length) return;
      this.#backlog.push(buf.subarray(n, length));
    } else {
      this.#backlog.push(length === buf.length ? buf : buf.subarray(0, length));
    }
    return this.#drainPromise ??= new Promise<void>((r) => (this.#drained = r)).then(() => {
      if (this.#failed !== undefined) throw this.#failed;
    });
  }

  writeNow(buf: Uint8Array, start: number, length: number): number {
    if (this.#failed !== undefined) throw this.#failed;
    const s = this.socket;
    if (s === undefined || this.#closed) throw new Error("The socket is closed");
    if (this.#backlog.length > 0) return 0;
    const n = s.write(buf, start, length);
    if (n < 0) throw new Error("The socket is closed");
    return n;
  }

  async closeWrite(): Promise<void> {
    while (this.#drainPromise !== undefined) await this.#drainPromise;
    if (this.#failed !== undefined) throw this.#failed;
    this.socket?.shutdown(); // the write side only (despite its name, `shutdown(true)` closes both)
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.socket?.end();
  }

  /** A callback threw: the error goes to the reader (if it can take it) and the socket is dropped. */
  crashed(e: unknown): void {
    this.#failed ??= e instanceof Error ? e : new Error(String(e));
    this.#releaseWaiters();
    if (!this.#ended) {
      this.#ended = true;
      try {
        if (this.#sink === undefined) this.#earlyEnd = { error: e };
        else this.#sink.error(e);
      } catch {
        // The reader failed too: nothing more to tell it.
      }
    }
    this.#closed = true;
    try {
      this.socket?.terminate();
    } catch {
      // Already closed.
    }
  }
}

/**
 * Runs a socket callback's work so that nothing it throws escapes into
 * Bun's event loop: the connection is dropped instead.
 */
function guarded(s: BunSocket, work: (a: Adapter) => void): void {
  const adapter = s.data;
  try {
    work(adapter);
  } catch (e) {
    adapter.crashed(e);
  }
}

const handlers: BunHandlers = {
  data: (s, d) => guarded(s, (a) => a.onData(d)),
  drain: (s) => guarded(s, (a) => a.onDrain()),
  end: (s) => guarded(s, (a) => a.onEnd()),
  close: (s, error) => guarded(s, (a) => a.onEnd(error)),
  error: (s, error) => guarded(s, (a) => a.onEnd(error)),
};

async function connect(address: SocketAddress): Promise<RawSocket> {
  const adapter = new Adapter();
  const target = address.kind === "tcp"
    ? { hostname: address.hostname, port: address.port }
    : { unix: address.path };
  // Half-open: the peer's FIN ends only our reading side; we end writing ourselves.
  const socket = await Bun.connect({
    ...target,
    socket: handlers,
    data: adapter,
    allowHalfOpen: true,
  });
  adapter.socket = socket;
  if (address.kind === "tcp") socket.setNoDelay(true);
  return adapter;
}

function listen(address: SocketAddress, options?: { readonly reusePort?: boolean }): SocketServer {
  const accepted: Adapter[] = [];
  let waiter: ((a: Adapter | undefined) => void) | undefined;
  let closed = false;
  const server = Bun.listen({
    ...(address.kind === "tcp"
      ? { hostname: address.hostname, port: address.port }
      : { unix: address.path }),
    ...(options?.reusePort === true ? { reusePort: true } : {}),
    allowHalfOpen: true,
    socket: {
      ...handlers,
      open(s) {
        const adapter = new Adapter();
        adapter.socket = s;
        s.data = adapter;
        if (address.kind === "tcp") {
          try {
            s.setNoDelay(true);
          } catch {
            // The peer is gone already: the socket's handlers will say so.
          }
        }
        if (closed) {
          s.end();
          return;
        }
        if (waiter !== undefined) {
          const w = waiter;
          waiter = undefined;
          w(adapter);
        } else accepted.push(adapter);
      },
    },
  });
  const bound: SocketAddress = address.kind === "tcp"
    ? { kind: "tcp", hostname: server.hostname, port: server.port }
    : address;
  return {
    address: bound,
    accept() {
      if (accepted.length > 0) return Promise.resolve(accepted.shift());
      if (closed) return Promise.resolve(undefined);
      return new Promise((r) => (waiter = r));
    },
    async close() {
      if (closed) return;
      closed = true;
      server.stop(false);
      waiter?.(undefined);
      waiter = undefined;
      for (const a of accepted.splice(0)) a.close();
      if (address.kind === "unix") await Bun.file(address.path).unlink().catch(() => {});
    },
  };
}

/** The Bun socket runtime. */
export const sockets: SocketRuntime = { connect, listen };
