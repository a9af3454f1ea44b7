/**
 * Unix domain socket links: length-prefixed frames over a socket file, on
 * Deno and Bun. The listener removes its socket file when closed.
 *
 * @example A server and a client on a socket file
 * ```ts
 * import { connectUnix, listenUnix } from "@roam/roam/transports/unix";
 *
 * const path = `/tmp/roam-doc-${Date.now()}.sock`;
 * const listener = await listenUnix({ path });
 * const [client, server] = await Promise.all([connectUnix({ path }), listener.accept()]);
 * await client.writable.close();
 * await server!.writable.close();
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
  framedListener,
  type Listener,
  loadSockets,
} from "./_sockets.ts";
import type { ByteListener } from "./tcp.ts";

export type { ByteStream, Listener, SocketAddress } from "./_sockets.ts";
export type { ByteListener } from "./tcp.ts";

/** A socket file path, plus framing options. */
export interface UnixOptions extends FramingOptions {
  /** The socket file path. */
  readonly path: string;
}

function checkPath(path: string): string {
  if (typeof path !== "string" || path.length === 0) {
    throw new TypeError("Invalid Unix socket path: expected a non-empty string");
  }
  return path;
}

/**
 * Connects to a Unix socket and returns a framed link.
 *
 * @param options The path and frame size limit.
 * @returns The link.
 * @throws {TypeError} For an empty path.
 */
export async function connectUnix(options: UnixOptions): Promise<Link> {
  const path = checkPath(options.path);
  const sockets = await loadSockets();
  return socketLink(await sockets.connect({ kind: "unix", path }), options);
}

/**
 * Listens on a Unix socket file; each accepted connection is a framed link.
 * Fails if the file already exists.
 *
 * @param options The path and frame size limit.
 * @returns The listener.
 * @throws {TypeError} For an empty path.
 */
export async function listenUnix(options: UnixOptions): Promise<Listener> {
  const path = checkPath(options.path);
  const sockets = await loadSockets();
  return framedListener(sockets.listen({ kind: "unix", path }), options);
}

/**
 * Connects to a Unix socket and returns the raw, unframed byte streams
 * (for example to relay a connection byte for byte).
 *
 * @param options The socket file path.
 * @returns The byte streams.
 * @throws {TypeError} For an empty path.
 *
 * @example Relaying bytes to a Unix socket
 * ```ts
 * import { connectUnixStream } from "@roam/roam/transports/unix";
 *
 * const socket = await connectUnixStream({ path: "/run/app.sock" });
 * const writer = socket.writable.getWriter();
 * await writer.write(new TextEncoder().encode("hello"));
 * socket.close();
 * ```
 */
export async function connectUnixStream(options: { path: string }): Promise<ByteStream> {
  const path = checkPath(options.path);
  const sockets = await loadSockets();
  return byteStream(await sockets.connect({ kind: "unix", path }));
}

/**
 * Listens on a Unix socket file and yields accepted connections as raw
 * byte streams. Fails if the file already exists; removes it when closed.
 *
 * @param options The socket file path.
 * @returns The listener.
 * @throws {TypeError} For an empty path.
 *
 * @example Accepting raw connections
 * ```ts
 * import { connectUnixStream, listenUnixStream } from "@roam/roam/transports/unix";
 *
 * const path = `/tmp/roam-doc-${Date.now()}.sock`;
 * const listener = await listenUnixStream({ path });
 * const [client, server] = await Promise.all([connectUnixStream({ path }), listener.accept()]);
 * client.close();
 * server?.close();
 * await listener.close();
 * ```
 */
export async function listenUnixStream(options: { path: string }): Promise<ByteListener> {
  const path = checkPath(options.path);
  const sockets = await loadSockets();
  return acceptingOf(sockets.listen({ kind: "unix", path }), byteStream);
}
