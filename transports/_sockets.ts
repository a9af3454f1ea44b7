/**
 * Runtime-neutral socket plumbing shared by the TCP and Unix socket
 * transports: addresses, the runtime adapter interface, the loader that
 * picks Deno's or Bun's adapter, and the `Listener` type.
 *
 * @module
 */

import type { FramingOptions } from "../lib/link/framing/errors.ts";
import type { RawSocket } from "../lib/link/framing/socket.ts";
import { socketLink } from "../lib/link/framing/socket_link.ts";
import type { Link } from "../lib/link/link.ts";

/** A TCP or Unix socket address. */
export type SocketAddress =
  | { readonly kind: "tcp"; readonly hostname: string; readonly port: number }
  | { readonly kind: "unix"; readonly path: string };

/** A listening socket of the runtime. */
export interface SocketServer {
  /** The bound address (the real port when 0 was asked for). */
  readonly address: SocketAddress;
  /** The next accepted socket, or undefined once closed. */
  accept(): Promise<RawSocket | undefined>;
  /** Stops listening. */
  close(): Promise<void>;
}

/** What each runtime's socket module provides. */
export interface SocketRuntime {
  /** Connects. */
  connect(address: SocketAddress): Promise<RawSocket>;
  /** Listens (Node binds asynchronously; `reusePort`: TCP only, see `TcpListenOptions.reusePort`). */
  listen(
    address: SocketAddress,
    options?: { readonly reusePort?: boolean },
  ): SocketServer | Promise<SocketServer>;
}

let loaded: Promise<SocketRuntime> | undefined;

/** True on Node (Deno and Bun have `process.versions.node` too: test them first). */
export function isNode(): boolean {
  const process = (globalThis as { process?: { versions?: { node?: unknown } } }).process;
  return typeof process?.versions?.node === "string";
}

/** Loads the socket adapter of the running runtime (Deno, Bun or Node). */
export function loadSockets(): Promise<SocketRuntime> {
  return loaded ??= (async () => {
    if ("Deno" in globalThis) return (await import("./socket_deno.ts")).sockets;
    if ("Bun" in globalThis) return (await import("./socket_bun.ts")).sockets;
    if (isNode()) return (await import("./socket_node.ts")).sockets;
    throw new TypeError(
      "TCP and Unix sockets need Deno, Bun or Node; in a browser, use the WebSocket transport",
    );
  })();
}

/** The address as a URL: `tcp://127.0.0.1:80`, `tcp://[::1]:80`, `unix:/path/to.sock`. */
export function addressUrl(address: SocketAddress): string {
  if (address.kind === "unix") return `unix:${address.path}`;
  const host = address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname;
  return `tcp://${host}:${address.port}`;
}

/** Plain words for the system error codes a socket operation commonly meets. */
const REASONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset by the peer",
  ECONNABORTED: "connection aborted",
  EADDRINUSE: "address already in use",
  EADDRNOTAVAIL: "address not available",
  EACCES: "permission denied",
  EPERM: "permission denied",
  ENOENT: "no such file or directory",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host name lookup failed",
  ETIMEDOUT: "timed out",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  EMFILE: "too many open files",
};

/** Why a socket operation failed, in words: from the error's system code, else its message. */
export function socketReason(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === "string" && code in REASONS) return REASONS[code]!;
  const message = e instanceof Error ? e.message : String(e);
  // Deno appends "(os error N)"; the number says nothing more than the words.
  return message.replace(/\s*\(os error \d+\)$/, "") || "unknown error";
}

function failure(action: string, address: SocketAddress, e: unknown): Error {
  return new Error(`Cannot ${action} ${addressUrl(address)}: ${socketReason(e)}`, { cause: e });
}

/**
 * Connects with the running runtime's sockets. A failure says what was
 * tried and where, with the runtime's error as its `cause`.
 */
export async function connectSocket(address: SocketAddress): Promise<RawSocket> {
  const sockets = await loadSockets();
  try {
    return await sockets.connect(address);
  } catch (e) {
    throw failure("connect to", address, e);
  }
}

/**
 * Listens with the running runtime's sockets. A failure says what was
 * tried and where, with the runtime's error as its `cause`.
 */
export async function listenSocket(
  address: SocketAddress,
  options?: { readonly reusePort?: boolean },
): Promise<SocketServer> {
  const sockets = await loadSockets();
  try {
    return await sockets.listen(address, options);
  } catch (e) {
    // A misuse (reusePort without the runtime's support) keeps its own message.
    if (e instanceof TypeError) throw e;
    throw failure("listen on", address, e);
  }
}

/**
 * A listener: yields a link for each accepted connection until closed.
 * Iterate it with `for await`, or call `accept()`.
 */
export interface Listener extends AsyncIterable<Link>, AsyncDisposable {
  /** The bound address. */
  readonly address: SocketAddress;
  /** The next accepted link, or undefined once the listener is closed. */
  accept(): Promise<Link | undefined>;
  /** Stops accepting. Links already accepted stay open. */
  close(): Promise<void>;
}

/** A socket server whose accepted sockets come out wrapped by `wrap`. */
export interface Accepting<T> extends AsyncIterable<T>, AsyncDisposable {
  /** The bound address. */
  readonly address: SocketAddress;
  /** The next accepted connection, or undefined once closed. */
  accept(): Promise<T | undefined>;
  /** Stops accepting. */
  close(): Promise<void>;
}

/** Wraps a runtime socket server; each accepted socket goes through `wrap`. */
export function acceptingOf<T>(server: SocketServer, wrap: (socket: RawSocket) => T): Accepting<T> {
  const accept = async (): Promise<T | undefined> => {
    const socket = await server.accept();
    return socket === undefined ? undefined : wrap(socket);
  };
  return {
    address: server.address,
    accept,
    close: () => server.close(),
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const next = await accept();
        if (next === undefined) return;
        yield next;
      }
    },
    [Symbol.asyncDispose]: () => server.close(),
  };
}

/** Wraps a runtime socket server as a {@linkcode Listener} of framed links. */
export function framedListener(server: SocketServer, options: FramingOptions): Listener {
  return acceptingOf(server, (socket) => socketLink(socket, options));
}

/** Checks a port number. */
export function checkPort(port: number, allowZero: boolean): number {
  if (!Number.isInteger(port) || port < (allowZero ? 0 : 1) || port > 65535) {
    throw new RangeError(
      `Invalid port: expected an integer from ${allowZero ? 0 : 1} to 65535, got ${port}`,
    );
  }
  return port;
}

/** An unframed byte stream over a socket (a raw TCP connection). */
export interface ByteStream extends AsyncDisposable {
  /** Bytes from the peer. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Bytes to the peer; closing it half-closes the socket. */
  readonly writable: WritableStream<Uint8Array>;
  /** Closes both directions at once. */
  close(): void;
}

/** Wraps a raw socket as unframed byte streams. */
export function byteStream(socket: RawSocket): ByteStream {
  let readDone = false;
  let writeDone = false;
  let closed = false;
  const close = (): void => {
    if (!closed) {
      closed = true;
      socket.close();
    }
  };
  const finish = (): void => {
    if (readDone && writeDone) close();
  };
  let paused = false;
  const readable = new ReadableStream<Uint8Array>({
    start(controller) {
      socket.start({
        data(chunk) {
          if (readDone) return;
          controller.enqueue(new Uint8Array(chunk)); // a plain copy, even of a Bun `Buffer`
          if (!paused && (controller.desiredSize ?? 1) <= 0) {
            paused = true;
            socket.pause();
          }
        },
        end() {
          if (readDone) return;
          readDone = true;
          controller.close();
          finish();
        },
        error(e) {
          if (readDone) return;
          readDone = true;
          controller.error(e);
          finish();
        },
      });
    },
    pull() {
      if (paused) {
        paused = false;
        socket.resume();
      }
    },
    cancel() {
      readDone = true;
      finish();
    },
  }, { highWaterMark: 16 });
  const writable = new WritableStream<Uint8Array>({
    write: (chunk) => socket.write(chunk.slice()),
    async close() {
      await socket.closeWrite();
      writeDone = true;
      finish();
    },
    abort() {
      readDone = writeDone = true;
      close();
    },
  });
  return { readable, writable, close, [Symbol.asyncDispose]: () => Promise.resolve(close()) };
}
