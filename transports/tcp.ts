/**
 * TCP links: length-prefixed frames over a TCP connection, with
 * `TCP_NODELAY` on. Works on Deno (`Deno.connect` / `Deno.listen`), Bun
 * (`Bun.connect` / `Bun.listen`) and Node (`node:net`); each runtime loads
 * only its own code.
 *
 * @example A server and a client on loopback
 * ```ts
 * import { connectTcp, listenTcp } from "@roam/roam/transports/tcp";
 * import { accept, initiate } from "@roam/roam";
 *
 * const listener = await listenTcp({ port: 0 });
 * const { port } = listener.address as { port: number };
 * const [client, serverLink] = await Promise.all([connectTcp({ port }), listener.accept()]);
 * const [a, b] = await Promise.all([initiate(client), accept(serverLink!)]);
 * await a.close();
 * await b.closed;
 * await listener.close();
 * ```
 *
 * @module
 */

import type { FramingOptions } from "../lib/link/framing/errors.ts";
import { socketLink } from "../lib/link/framing/socket_link.ts";
import type { Link } from "../lib/link/link.ts";
import {
  acceptingOf,
  type ByteStream,
  byteStream,
  checkPort,
  connectSocket,
  framedListener,
  type Listener,
  listenSocket,
  type SocketAddress,
} from "./_sockets.ts";

export type { ByteStream, Listener, SocketAddress } from "./_sockets.ts";

/** Where to connect. */
export interface TcpConnectOptions extends FramingOptions {
  /** Host name or address (default `127.0.0.1`). */
  readonly hostname?: string;
  /** Port. */
  readonly port: number;
}

/** Where to listen. */
export interface TcpListenOptions extends FramingOptions {
  /** Address to bind (default `127.0.0.1`). */
  readonly hostname?: string;
  /** Port; 0 (the default) picks a free one, reported by `listener.address`. */
  readonly port?: number;
  /**
   * Share the port with other listeners that set it too, in this process
   * or others (`SO_REUSEPORT`): the kernel spreads new connections over
   * them, so several processes serve one port (see `cluster()`). Linux
   * only; on Deno it needs `--unstable-net` (else a `TypeError`).
   */
  readonly reusePort?: boolean;
}

/**
 * Connects to a TCP server and returns a framed link.
 *
 * @param options Host, port and frame size limit.
 * @returns The link.
 * @throws {RangeError} For an invalid port.
 * @throws {Error} When it fails: the message names the operation, the address and the
 * reason (`Cannot connect to tcp://127.0.0.1:1: connection refused`); the runtime's
 * error is the `cause`.
 *
 * @example A session over TCP
 * ```ts
 * import { initiate } from "@roam/roam";
 * import { connectTcp } from "@roam/roam/transports/tcp";
 *
 * export async function open(port: number) {
 *   return await initiate(await connectTcp({ hostname: "127.0.0.1", port }));
 * }
 * ```
 */
export async function connectTcp(options: TcpConnectOptions): Promise<Link> {
  const port = checkPort(options.port, false);
  const socket = await connectSocket({
    kind: "tcp",
    hostname: options.hostname ?? "127.0.0.1",
    port,
  });
  return socketLink(socket, options);
}

/**
 * Listens for TCP connections; each accepted connection is a framed link.
 *
 * @param options Address, port, frame size limit and port sharing.
 * @returns The listener.
 * @throws {RangeError} For an invalid port.
 * @throws {Error} When it fails: the message names the operation, the address and the
 * reason (`Cannot listen on tcp://127.0.0.1:80: address already in use`); the runtime's
 * error is the `cause`.
 * @throws {TypeError} For `reusePort` on Deno without `--unstable-net`.
 *
 * @example Accepting sessions on TCP
 * ```ts
 * import { accept, implement, service, t } from "@roam/roam";
 * import { listenTcp } from "@roam/roam/transports/tcp";
 *
 * const Echo = service("Echo", { echo: { args: [t.string], returns: t.string } });
 * const listener = await listenTcp({ port: 0 });
 * console.log(listener.address); // { kind: "tcp", hostname: "127.0.0.1", port: … }
 * void (async () => {
 *   for await (const link of listener) {
 *     // A handshake fails when a peer misbehaves: handle it, or Deno ends the process.
 *     accept(link, { services: [implement(Echo, { echo: (s) => s })] }).catch(() => {});
 *   }
 * })();
 * await listener.close();
 * ```
 */
export async function listenTcp(options: TcpListenOptions = {}): Promise<Listener> {
  const port = checkPort(options.port ?? 0, true);
  return framedListener(
    await listenSocket(
      { kind: "tcp", hostname: options.hostname ?? "127.0.0.1", port },
      options.reusePort === true ? { reusePort: true } : undefined,
    ),
    options,
  );
}

/**
 * Connects to any TCP server and returns the raw, unframed byte streams
 * (for example to carry a plain TCP connection through a byte tunnel).
 *
 * @param options Host and port.
 * @returns The byte streams.
 * @throws {RangeError} For an invalid port.
 * @throws {Error} When it fails: the message names the operation, the address and the
 * reason (`Cannot connect to tcp://127.0.0.1:1: connection refused`); the runtime's
 * error is the `cause`.
 *
 * @example Talking to a plain TCP service
 * ```ts
 * import { connectTcpStream } from "@roam/roam/transports/tcp";
 *
 * export async function greet(port: number): Promise<void> {
 *   const socket = await connectTcpStream({ port });
 *   const writer = socket.writable.getWriter();
 *   await writer.write(new TextEncoder().encode("hello\n"));
 *   await writer.close(); // half-closes: the peer sees the end, and can still answer
 *   for await (const chunk of socket.readable) console.log(new TextDecoder().decode(chunk));
 * }
 * ```
 */
export async function connectTcpStream(
  options: { hostname?: string; port: number },
): Promise<ByteStream> {
  const port = checkPort(options.port, false);
  return byteStream(
    await connectSocket({ kind: "tcp", hostname: options.hostname ?? "127.0.0.1", port }),
  );
}

/** A listener of raw TCP byte streams. */
export interface ByteListener extends AsyncIterable<ByteStream>, AsyncDisposable {
  /** The bound address. */
  readonly address: SocketAddress;
  /** The next accepted connection, or undefined once closed. */
  accept(): Promise<ByteStream | undefined>;
  /** Stops accepting. */
  close(): Promise<void>;
}

/**
 * Listens for plain TCP connections and yields them as raw byte streams.
 *
 * @param options Address and port (0 picks a free one).
 * @returns The listener.
 * @throws {RangeError} For an invalid port.
 * @throws {Error} When it fails: the message names the operation, the address and the
 * reason (`Cannot listen on tcp://127.0.0.1:80: address already in use`); the runtime's
 * error is the `cause`.
 *
 * @example An echo server on raw TCP
 * ```ts
 * import { listenTcpStream } from "@roam/roam/transports/tcp";
 *
 * const listener = await listenTcpStream({ port: 0 });
 * void (async () => {
 *   for await (const socket of listener) {
 *     socket.readable.pipeTo(socket.writable).catch(() => {});
 *   }
 * })();
 * await listener.close();
 * ```
 */
export async function listenTcpStream(
  options: { hostname?: string; port?: number } = {},
): Promise<ByteListener> {
  const port = checkPort(options.port ?? 0, true);
  const server = await listenSocket({
    kind: "tcp",
    hostname: options.hostname ?? "127.0.0.1",
    port,
  });
  return acceptingOf(server, byteStream);
}
