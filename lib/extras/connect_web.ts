/**
 * `connect(url)` for the browser entry (`@roam/roam/browser`): WebSocket
 * addresses only. Nothing here reaches the code for TCP, Unix sockets,
 * stdio or servers, so a bundler building for the browser meets none of
 * it, not even behind a dynamic import.
 *
 * @example Calling a server from a page
 * ```ts
 * import { connect, service, t } from "@roam/roam/browser";
 *
 * const Echo = service("Echo", { echo: { args: [t.string], returns: t.string } });
 *
 * export async function echo(text: string): Promise<string> {
 *   const session = await connect("wss://example.com/roam");
 *   try {
 *     return await session.client(Echo).echo(text);
 *   } finally {
 *     await session.close();
 *   }
 * }
 * ```
 *
 * @module
 */

import { connectWebSocket } from "../../transports/websocket.ts";
import type { LinkFactory } from "../conduit/stable.ts";
import type { Link } from "../link/link.ts";
import { initiate } from "../session/handshake.ts";
import type { Session } from "../session/session.ts";
import { reconnecting, type ReconnectingClient, type ReconnectOptions } from "./reconnect.ts";
import type { ConnectOptions } from "./serve.ts";

function webUrl(address: string | URL): URL {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new TypeError(
      `Invalid address ${JSON.stringify(String(address))}: expected a ws:// or wss:// URL`,
    );
  }
  if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    throw new TypeError(
      `Cannot connect to ${url.href}: the browser entry speaks ws: and wss: only (tcp: and unix: need Deno, Bun or Node and @roam/roam)`,
    );
  }
  return url;
}

function openWeb(url: URL, options: ConnectOptions): Promise<Link> {
  return connectWebSocket(
    url,
    options.maxFrameSize === undefined ? {} : { maxMessageSize: options.maxFrameSize },
  );
}

/**
 * Connects to a roam server over WebSocket and completes the handshake:
 * the browser entry's `connect`, which takes `ws://` and `wss://`
 * addresses only (`@roam/roam`'s `connect` also takes `tcp://` and
 * `unix:` on Deno, Bun and Node).
 *
 * @param address A `ws://` or `wss://` URL.
 * @param options Session options, plus the largest message accepted
 * (`maxFrameSize`, default 16 MiB).
 * @returns The session.
 * @throws {TypeError} For an address that cannot be parsed or is not `ws:` or `wss:`.
 * @throws {Error} When the WebSocket cannot connect (the message names the URL).
 * @throws {HandshakeError} When the handshake fails.
 *
 * @example Connecting to the page's own server
 * ```ts
 * import { connect } from "@roam/roam/browser";
 *
 * export async function fromPage(): Promise<number> {
 *   const url = new URL("/roam", location.href.replace(/^http/, "ws"));
 *   const session = await connect(url);
 *   const rtt = await session.ping();
 *   await session.close();
 *   return rtt;
 * }
 * ```
 */
export async function connect(
  address: string | URL,
  options: ConnectOptions = {},
): Promise<Session> {
  const url = webUrl(address);
  const link = await openWeb(url, options);
  if (options.conduit !== "stable" || options.stable?.relink !== undefined) {
    return await initiate(link, options);
  }
  return await initiate(link, {
    ...options,
    stable: { ...options.stable, relink: () => openWeb(url, options) },
  });
}

/**
 * The browser entry's `reconnect`: a client that makes a session to a
 * `ws://` or `wss://` URL (or over links from a function of yours) and a
 * new one whenever it ends, by `options.retry`, until `close()`. It
 * behaves as `@roam/roam`'s `reconnect`, which also takes `tcp://` and
 * `unix:` addresses.
 *
 * @param target A `ws://` or `wss://` URL, or a function that makes a link.
 * @param options Session options, the retry policy, what calls do while disconnected.
 * @returns The client; it starts connecting at once.
 * @throws {TypeError} For an address that is not `ws:` or `wss:`, or an invalid option.
 * @throws {RangeError} For a retry policy out of range.
 *
 * @example A page that stays connected
 * ```ts
 * import { reconnect, service, t } from "@roam/roam/browser";
 *
 * const Clock = service("Clock", { now: { args: [], returns: t.u64 } });
 *
 * export function clock(): () => Promise<bigint> {
 *   const client = reconnect("wss://example.com/roam", { retry: { maxDelay: 10_000 } });
 *   return () => client.client(Clock).now({ timeout: 5_000 });
 * }
 * ```
 */
export function reconnect(
  target: string | URL | LinkFactory,
  options: ReconnectOptions = {},
): ReconnectingClient {
  if (typeof target === "function") return reconnecting(target, options);
  const url = webUrl(target);
  return reconnecting(() => openWeb(url, options), options);
}
