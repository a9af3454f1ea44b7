/**
 * One-line helpers: `connect(url)` gives a session, `serve(url, options)`
 * listens and runs a session (as acceptor) on every accepted link.
 *
 * Addresses: `tcp://host:port`, `unix:/path/to.sock`, `ws://host:port/path`
 * and `wss://…` (connect only). Port 0 picks a free port; the server
 * reports the real address in `url`.
 *
 * @example Serving and calling over TCP
 * ```ts
 * import { connect, implement, serve, service, t } from "@roam/roam";
 *
 * const Adder = service("Adder", { add: { args: [t.u32, t.u32], returns: t.u32 } });
 * const server = await serve("tcp://127.0.0.1:0", {
 *   services: [implement(Adder, { add: (a, b) => a + b })],
 * });
 * const session = await connect(server.url);
 * console.log(await session.client(Adder).add(2, 3)); // 5
 * await session.close();
 * await server.close();
 * ```
 *
 * @module
 */

import { ResumeRegistry, type ResumeRegistryOptions } from "../conduit/registry.ts";
import type { LinkFactory } from "../conduit/stable.ts";
import type { Link } from "../link/link.ts";
import { accept, initiate } from "../session/handshake.ts";
import type { Session } from "../session/session.ts";
import { reconnecting, type ReconnectingClient, type ReconnectOptions } from "./reconnect.ts";
import type { InitiatorOptions, SessionOptions } from "../session/options.ts";

/** Options of {@linkcode connect}. */
export interface ConnectOptions extends InitiatorOptions {
  /** Largest frame accepted from the peer on stream transports (default 16 MiB). */
  readonly maxFrameSize?: number;
}

/** Options of {@linkcode serve}. */
export interface ServeOptions extends SessionOptions {
  /** Largest frame accepted from a peer on stream transports (default 16 MiB). */
  readonly maxFrameSize?: number;
  /** Called with each established session. */
  readonly onSession?: (session: Session) => void;
  /** WebSocket servers only: answers every HTTP request that is not the roam upgrade path. */
  readonly fetch?: (request: Request) => Response | Promise<Response>;
  /**
   * `tcp:` only: share the port with other servers that set it too, in
   * this process or others, the kernel spreading connections over them
   * (Linux; on Deno, `--unstable-net`). See `cluster()`.
   */
  readonly reusePort?: boolean;
  /**
   * With `conduit: "stable"`: how long a session whose link dropped waits
   * for its client, and how many may wait (the server's
   * {@linkcode ResumeRegistry}; ignored when `stable.registry` is given).
   */
  readonly resume?: ResumeRegistryOptions;
}

/** A running server. */
export interface Server extends AsyncDisposable {
  /** The bound address, e.g. `tcp://127.0.0.1:40123`. */
  readonly url: string;
  /** The sessions currently open. */
  readonly sessions: ReadonlySet<Session>;
  /**
   * Stops accepting. Unless `sessions` is false, also closes every open
   * session gracefully and waits for them.
   */
  close(options?: { sessions?: boolean }): Promise<void>;
}

/** How long the accept loop of `serve` waits after `accept()` failed before it tries again. */
const ACCEPT_RETRY_MS = 50;

interface LinkSource {
  readonly url: string;
  accept(): Promise<Link | undefined>;
  close(): Promise<void>;
}

/**
 * Parses an address (internal).
 *
 * @param address The address.
 * @returns The URL.
 */
export function parse(address: string | URL): URL {
  try {
    return new URL(address);
  } catch {
    throw new TypeError(
      `Invalid address ${JSON.stringify(String(address))}: expected tcp://, unix:, ws:// or wss://`,
    );
  }
}

function tcpParts(url: URL): { hostname: string; port: number } {
  const hostname = url.hostname.replace(/^\[|\]$/g, "") || "127.0.0.1";
  const port = url.port === "" ? NaN : Number(url.port);
  if (!Number.isInteger(port)) {
    throw new TypeError(`Invalid address ${url.href}: a port is required`);
  }
  return { hostname, port };
}

/**
 * Opens a link to a `tcp:`, `unix:`, `ws:` or `wss:` URL (internal: the
 * reconnecting client makes its links with it).
 *
 * @param url The address.
 * @param options The frame size limit.
 * @returns The link.
 */
export async function openLink(url: URL, options: ConnectOptions): Promise<Link> {
  const framing = options.maxFrameSize === undefined ? {} : { maxFrameSize: options.maxFrameSize };
  switch (url.protocol) {
    case "tcp:": {
      const { connectTcp } = await import("../../transports/tcp.ts");
      return connectTcp({ ...tcpParts(url), ...framing });
    }
    case "unix:": {
      const { connectUnix } = await import("../../transports/unix.ts");
      return connectUnix({ path: decodeURIComponent(url.pathname), ...framing });
    }
    case "ws:":
    case "wss:": {
      const { connectWebSocket } = await import("../../transports/websocket.ts");
      return connectWebSocket(
        url,
        options.maxFrameSize === undefined ? {} : { maxMessageSize: options.maxFrameSize },
      );
    }
  }
  throw new TypeError(
    `Unsupported address scheme ${url.protocol} in ${url.href}: expected tcp:, unix:, ws: or wss:`,
  );
}

async function listenOn(url: URL, options: ServeOptions): Promise<LinkSource> {
  if (options.reusePort === true && url.protocol !== "tcp:") {
    throw new TypeError(`Cannot serve on ${url.href} with reusePort: it is for tcp: addresses`);
  }
  const framing = options.maxFrameSize === undefined ? {} : { maxFrameSize: options.maxFrameSize };
  switch (url.protocol) {
    case "tcp:": {
      const { listenTcp } = await import("../../transports/tcp.ts");
      const reuse = options.reusePort === true ? { reusePort: true } : {};
      const l = await listenTcp({ ...tcpParts(url), ...framing, ...reuse });
      const a = l.address as { hostname: string; port: number };
      const host = a.hostname.includes(":") ? `[${a.hostname}]` : a.hostname;
      return { url: `tcp://${host}:${a.port}`, accept: () => l.accept(), close: () => l.close() };
    }
    case "unix:": {
      const { listenUnix } = await import("../../transports/unix.ts");
      const path = decodeURIComponent(url.pathname);
      const l = await listenUnix({ path, ...framing });
      return { url: `unix:${path}`, accept: () => l.accept(), close: () => l.close() };
    }
    case "ws:": {
      const { listenWebSocket } = await import("../../transports/websocket_server.ts");
      const l = await listenWebSocket({
        ...tcpParts(url),
        path: url.pathname || "/",
        ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
        ...(options.maxFrameSize === undefined ? {} : { maxMessageSize: options.maxFrameSize }),
      });
      return { url: l.url, accept: () => l.accept(), close: () => l.close() };
    }
  }
  throw new TypeError(`Cannot serve on ${url.href}: expected a tcp:, unix: or ws: address`);
}

/**
 * Connects to a roam server and completes the handshake.
 *
 * With `conduit: "stable"`, a dropped link is replaced by a new one to
 * the same address and the session resumes (unless `stable.relink` says
 * otherwise).
 *
 * @param address `tcp://host:port`, `unix:/path`, `ws://…` or `wss://…`.
 * @param options Session options, plus the frame size limit.
 * @returns The session.
 * @throws {TypeError} For an address that cannot be parsed or has an unknown scheme.
 * @throws {Error} When the connection fails: the message names the address and the
 * reason (`Cannot connect to tcp://127.0.0.1:1: connection refused`), with the
 * runtime's error as `cause`.
 * @throws {HandshakeError} When the handshake fails.
 *
 * @example Calling a server by its URL
 * ```ts
 * import { connect, service, t } from "@roam/roam";
 *
 * const Adder = service("Adder", { add: { args: [t.u32, t.u32], returns: t.u32 } });
 *
 * export async function add(url: string, a: number, b: number): Promise<number> {
 *   const session = await connect(url); // "tcp://127.0.0.1:4000", "unix:/run/app.sock", "ws://…"
 *   try {
 *     return await session.client(Adder).add(a, b);
 *   } finally {
 *     await session.close();
 *   }
 * }
 * ```
 */
export async function connect(
  address: string | URL,
  options: ConnectOptions = {},
): Promise<Session> {
  const url = parse(address);
  const link = await openLink(url, options);
  if (options.conduit !== "stable" || options.stable?.relink !== undefined) {
    return await initiate(link, options);
  }
  return await initiate(link, {
    ...options,
    stable: { ...options.stable, relink: () => openLink(url, options) },
  });
}

/**
 * Makes a client that reconnects: a session to `target` now, and a new one
 * whenever it ends, by `options.retry`, until `close()`. Calls made while
 * it reconnects wait for the next session (or fail at once, by
 * `whileDisconnected`); calls in flight when a bare session's link dies
 * fail at once, since they may have run. With `conduit: "stable"`, a
 * dropped link is first resumed within the same session.
 *
 * @param target A `tcp:`, `unix:`, `ws:` or `wss:` URL, or a function that makes a link.
 * @param options Session options for every session, the retry policy, and what calls do while disconnected.
 * @returns The client; it starts connecting at once.
 * @throws {TypeError} For an address that cannot be parsed or an invalid option.
 * @throws {RangeError} For a retry policy out of range.
 *
 * @example A client that waits out its server's restarts
 * ```ts
 * import { reconnect, type ReconnectEvent, service, t } from "@roam/roam";
 *
 * const Adder = service("Adder", { add: { args: [t.u32, t.u32], returns: t.u32 } });
 *
 * export async function addForever(url: string): Promise<void> {
 *   await using client = reconnect(url, {
 *     retry: { initialDelay: 50, maxDelay: 2_000 },
 *     whileDisconnected: "wait",
 *   });
 *   client.addEventListener("state", (e) => console.error((e as ReconnectEvent).state));
 *   const adder = client.client(Adder);
 *   for (let i = 0;; i++) console.log(await adder.add(i, 1, { timeout: 10_000 }));
 * }
 * ```
 */
export function reconnect(
  target: string | URL | LinkFactory,
  options: ReconnectOptions = {},
): ReconnectingClient {
  if (typeof target === "function") return reconnecting(target, options);
  const url = parse(target);
  return reconnecting(() => openLink(url, options), options);
}

/**
 * Listens on `address` and runs a session on every accepted link, serving
 * `options.services` on each session's root connection. A handshake that
 * fails closes only that link; it is reported to `options.onError`. With
 * `conduit: "stable"`, every link goes through one
 * {@linkcode ResumeRegistry} (made from `options.resume`), so a client
 * whose link dropped resumes its session on a new link.
 *
 * @param address `tcp://host:port`, `unix:/path` or `ws://host:port/path`.
 * @param options Session options for every session, plus `onSession`.
 * @returns The server.
 * @throws {TypeError} For an address that cannot be parsed or served.
 * @throws {Error} When the address cannot be bound: the message names it and the reason
 * (`Cannot listen on tcp://127.0.0.1:80: address already in use`), with the runtime's
 * error as `cause`.
 *
 * @example Serving on TCP until told to stop
 * ```ts
 * import { implement, serve, service, t } from "@roam/roam";
 *
 * const Adder = service("Adder", { add: { args: [t.u32, t.u32], returns: t.u32 } });
 *
 * export async function run(signal: AbortSignal): Promise<void> {
 *   await using server = await serve("tcp://127.0.0.1:0", {
 *     services: [implement(Adder, { add: (a, b) => a + b })],
 *     onSession: (session) => console.error("a client connected", session.peerMetadata),
 *   });
 *   console.error(`listening on ${server.url}`);
 *   await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
 * }
 * ```
 */
export async function serve(address: string | URL, options: ServeOptions = {}): Promise<Server> {
  const stable = options.conduit === "stable" && options.stable?.registry === undefined
    ? { stable: { ...options.stable, registry: new ResumeRegistry(options.resume) } }
    : {};
  const source = await listenOn(parse(address), options);
  const sessions = new Set<Session>();
  const handshakes = new Set<Promise<void>>();
  const stopping = new AbortController();
  const sessionOptions: ServeOptions = {
    ...options,
    ...stable,
    signal: options.signal === undefined
      ? stopping.signal
      : AbortSignal.any([options.signal, stopping.signal]),
  };
  let stopped = false;
  /** Reports an error; nothing thrown by the hook escapes (it would end a Deno process). */
  const report = (e: unknown, where: string): void => {
    try {
      if (options.onError !== undefined) options.onError(e, where);
      else console.error(`roam: ${where}:`, e);
    } catch {
      // An error hook that throws must not stop the server.
    }
  };
  const loop = (async () => {
    for (;;) {
      let link: Link | undefined;
      try {
        link = await source.accept();
      } catch (e) {
        if (stopped) return;
        report(e, "accepting a connection");
        // Out of file descriptors, say: let the condition pass rather than spin on it.
        await new Promise((r) => setTimeout(r, ACCEPT_RETRY_MS));
        continue;
      }
      if (link === undefined) return;
      const h = accept(link, sessionOptions).then((session) => {
        if (sessions.has(session)) return; // a link that resumed a stable session
        if (stopped) {
          void session.close();
          return;
        }
        sessions.add(session);
        void session.closed.then(() => sessions.delete(session));
        try {
          options.onSession?.(session);
        } catch (e) {
          report(e, "the onSession hook");
        }
      }, (e) => {
        if (!stopping.signal.aborted) report(e, "a session handshake");
      });
      handshakes.add(h);
      void h.finally(() => handshakes.delete(h));
    }
  })();
  const close = async (opts: { sessions?: boolean } = {}): Promise<void> => {
    if (!stopped) {
      stopped = true;
      stopping.abort(); // handshakes still in progress end now
      await source.close();
      await loop;
    }
    await Promise.all([...handshakes]);
    if (opts.sessions !== false) await Promise.all([...sessions].map((s) => s.close()));
  };
  return { url: source.url, sessions, close, [Symbol.asyncDispose]: () => close() };
}
