/**
 * TCP and Unix sockets on Node (`node:net`). Loaded only on Node, by
 * dynamic import. `node:net` is reached through
 * `process.getBuiltinModule` rather than an import, and the few Node types
 * used are declared here: a bundler building for the browser meets no
 * `node:` import, and `tsc` needs no Node types.
 *
 * @module
 */

import type { RawSocket, SocketSink } from "../lib/link/framing/socket.ts";
import type { SocketAddress, SocketRuntime, SocketServer } from "./_sockets.ts";

/** The parts of Node's `net.Socket` used here. */
interface NodeSocket {
  readonly writableLength: number;
  readonly destroyed: boolean;
  write(chunk: Uint8Array, callback: (error?: Error | null) => void): boolean;
  end(callback?: () => void): void;
  destroy(): void;
  pause(): void;
  resume(): void;
  setNoDelay(noDelay: boolean): void;
  on(event: "data", listener: (chunk: Uint8Array) => void): void;
  on(event: "end" | "connect" | "finish", listener: () => void): void;
  on(event: "close", listener: (hadError: boolean) => void): void;
  on(event: "error", listener: (error: Error) => void): void;
  once(event: "connect", listener: () => void): void;
  once(event: "error", listener: (error: Error) => void): void;
  off(event: "connect", listener: () => void): void;
  off(event: "error", listener: (error: Error) => void): void;
}

/** The parts of Node's `net.Server` used here. */
interface NodeServer {
  listen(options: { host: string; port: number; reusePort?: boolean } | { path: string }): void;
  address(): { address: string; port: number } | string | null;
  close(): void;
  on(event: "connection", listener: (socket: NodeSocket) => void): void;
  on(event: "error", listener: (error: Error) => void): void;
  once(event: "listening", listener: () => void): void;
  once(event: "error", listener: (error: Error) => void): void;
  off(event: "listening", listener: () => void): void;
  off(event: "error", listener: (error: Error) => void): void;
}

/** The parts of `node:net` used here. */
interface NodeNet {
  createConnection(
    options: ({ host: string; port: number } | { path: string }) & { allowHalfOpen: boolean },
  ): NodeSocket;
  createServer(options: { allowHalfOpen: boolean; noDelay?: boolean }): NodeServer;
}

/** The parts of `node:fs` used here. */
interface NodeFs {
  unlink(path: string, callback: (error: Error | null) => void): void;
}

interface NodeProcess {
  getBuiltinModule?(id: string): unknown;
}

function builtin<T>(id: string): T {
  const process = (globalThis as { process?: NodeProcess }).process;
  const module = process?.getBuiltinModule?.(id);
  if (module === undefined) {
    throw new TypeError(
      `Cannot load ${id}: TCP and Unix sockets on Node need Node 22 or later (process.getBuiltinModule)`,
    );
  }
  return module as T;
}

/** Per-socket state: adapts a `net.Socket` to the framing layer. */
class Adapter implements RawSocket {
  /** A chunk is kept by Node until its write callback: reused only after the returned promise. */
  readonly reusesChunks = true;
  readonly #socket: NodeSocket;
  #sink: SocketSink | undefined;
  /** How the reading side ended before `start` (an error is kept until a sink takes it). */
  #earlyEnd: { error?: unknown } | undefined;
  #ended = false;
  #failed: Error | undefined;
  #closed = false;

  constructor(socket: NodeSocket) {
    this.#socket = socket;
    socket.on("data", (chunk) => this.#sink?.data(chunk));
    socket.on("end", () => this.#end());
    socket.on("error", (e) => {
      this.#failed ??= e;
      this.#end(e);
    });
    socket.on("close", () => this.#end());
    // Data waits in the kernel until `start` (the socket is paused).
    socket.pause();
  }

  #end(error?: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    const sink = this.#sink;
    if (sink === undefined) this.#earlyEnd = error === undefined ? {} : { error };
    else if (this.#closed && error === undefined) return;
    else if (error !== undefined) sink.error(error);
    else sink.end();
  }

  start(sink: SocketSink): void {
    this.#sink = sink;
    const early = this.#earlyEnd;
    if (early !== undefined) {
      if (early.error !== undefined) sink.error(early.error);
      else sink.end();
      return;
    }
    this.#socket.resume();
  }

  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    if (this.#sink !== undefined) this.#socket.resume();
  }

  write(chunk: Uint8Array): void | Promise<void> {
    if (this.#failed !== undefined) throw this.#failed;
    if (this.#closed || this.#socket.destroyed) throw new Error("The socket is closed");
    let settle!: (error?: Error | null) => void;
    const promise = new Promise<void>((resolve, reject) => {
      settle = (error) => (error ? reject(error) : resolve());
    });
    promise.catch(() => {}); // a caller may keep only its last promise, or none
    this.#socket.write(chunk, (error) => {
      if (error) this.#failed ??= error;
      settle(error);
    });
    // Written to the system at once: nothing refers to the chunk any more.
    if (this.#socket.writableLength === 0) return;
    return promise;
  }

  closeWrite(): Promise<void> {
    if (this.#failed !== undefined) return Promise.reject(this.#failed);
    if (this.#closed || this.#socket.destroyed) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.#socket.end(() => (this.#failed !== undefined ? reject(this.#failed) : resolve()));
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.destroy();
  }
}

/**
 * Waits for the event `waitFor` listens to, or for an `error` from
 * `emitter`, whichever comes first. `waitFor` returns how to stop listening.
 */
function waitEvent(
  emitter: {
    once(event: "error", listener: (error: Error) => void): void;
    off(event: "error", listener: (error: Error) => void): void;
  },
  waitFor: (ok: () => void) => () => void,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let stop = (): void => {};
    const onError = (e: Error): void => {
      stop();
      reject(e);
    };
    emitter.once("error", onError);
    stop = waitFor(() => {
      emitter.off("error", onError);
      resolve();
    });
  });
}

async function connect(address: SocketAddress): Promise<RawSocket> {
  const net = builtin<NodeNet>("node:net");
  const target = address.kind === "tcp"
    ? { host: address.hostname, port: address.port }
    : { path: address.path };
  // Half-open: the peer's FIN ends only our reading side; we end writing ourselves.
  const socket = net.createConnection({ ...target, allowHalfOpen: true });
  try {
    await waitEvent(socket, (ok) => {
      socket.once("connect", ok);
      return () => socket.off("connect", ok);
    });
  } catch (e) {
    socket.destroy();
    throw e;
  }
  if (address.kind === "tcp") socket.setNoDelay(true);
  return new Adapter(socket);
}

async function listen(
  address: SocketAddress,
  options?: { readonly reusePort?: boolean },
): Promise<SocketServer> {
  const net = builtin<NodeNet>("node:net");
  const server = net.createServer({ allowHalfOpen: true });
  const accepted: Adapter[] = [];
  let waiter: ((a: Adapter | undefined) => void) | undefined;
  let closed = false;
  server.on("connection", (socket) => {
    if (closed) {
      socket.destroy();
      return;
    }
    if (address.kind === "tcp") {
      try {
        socket.setNoDelay(true);
      } catch {
        // The peer is gone already: the socket's events will say so.
      }
    }
    const adapter = new Adapter(socket);
    if (waiter !== undefined) {
      const w = waiter;
      waiter = undefined;
      w(adapter);
    } else accepted.push(adapter);
  });
  await waitEvent(server, (ok) => {
    server.once("listening", ok);
    server.listen(
      address.kind === "tcp"
        ? {
          host: address.hostname,
          port: address.port,
          // Node 22.12+ on Linux; older Node ignores it.
          ...(options?.reusePort === true ? { reusePort: true } : {}),
        }
        : { path: address.path },
    );
    return () => server.off("listening", ok);
  });
  const bound = server.address();
  const addr: SocketAddress = typeof bound === "object" && bound !== null
    ? { kind: "tcp", hostname: bound.address, port: bound.port }
    : address;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    server.close(); // stops listening; connections already accepted stay open
    waiter?.(undefined);
    waiter = undefined;
    for (const a of accepted.splice(0)) a.close();
    if (address.kind === "unix") {
      const fs = builtin<NodeFs>("node:fs");
      await new Promise<void>((r) => fs.unlink(address.path, () => r()));
    }
  };
  // A failure of the listening socket after it was bound (rare) ends accepting.
  server.on("error", () => void close());
  return {
    address: addr,
    accept() {
      if (accepted.length > 0) return Promise.resolve(accepted.shift());
      if (closed) return Promise.resolve(undefined);
      return new Promise((r) => (waiter = r));
    },
    close,
  };
}

/** The Node socket runtime. */
export const sockets: SocketRuntime = { connect, listen };
