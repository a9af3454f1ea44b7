/**
 * TCP links: length-prefixed frames over a TCP connection, with
 * `TCP_NODELAY` on. Works on Deno (`Deno.connect` / `Deno.listen`) and Bun
 * (`Bun.connect` / `Bun.listen`); each runtime loads only its own code.
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

import type { FramingOptions } from "../lib/framing.ts";
import { socketLink } from "../lib/framing.ts";
import type { Link } from "../lib/link.ts";
import { checkPort, framedListener, type Listener, loadSockets } from "./_sockets.ts";

export type { Listener, SocketAddress } from "./_sockets.ts";

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
}

/**
 * Connects to a TCP server and returns a framed link.
 *
 * @param options Host, port and frame size limit.
 * @returns The link.
 * @throws {RangeError} For an invalid port.
 */
export async function connectTcp(options: TcpConnectOptions): Promise<Link> {
  const port = checkPort(options.port, false);
  const sockets = await loadSockets();
  const socket = await sockets.connect({
    kind: "tcp",
    hostname: options.hostname ?? "127.0.0.1",
    port,
  });
  return socketLink(socket, options);
}

/**
 * Listens for TCP connections; each accepted connection is a framed link.
 *
 * @param options Address, port and frame size limit.
 * @returns The listener.
 * @throws {RangeError} For an invalid port.
 */
export async function listenTcp(options: TcpListenOptions = {}): Promise<Listener> {
  const port = checkPort(options.port ?? 0, true);
  const sockets = await loadSockets();
  return framedListener(
    sockets.listen({ kind: "tcp", hostname: options.hostname ?? "127.0.0.1", port }),
    options,
  );
}
