/**
 * A WebSocket server for roam on Deno (`Deno.serve` +
 * `Deno.upgradeWebSocket`) and Bun (`Bun.serve` with WebSocket handlers);
 * each runtime loads only its own code. One path is upgraded to roam links
 * (wire-spec §3.2: one payload per binary message); every other request
 * goes to an ordinary `fetch` handler, so roam can share a port with an
 * HTTP application.
 *
 * @example A server and a client on loopback
 * ```ts
 * import { listenWebSocket } from "@roam/roam/transports/websocket_server";
 * import { connectWebSocket } from "@roam/roam/transports/websocket";
 * import { accept, initiate } from "@roam/roam";
 *
 * const listener = await listenWebSocket({ path: "/roam" });
 * const [clientLink, serverLink] = await Promise.all([
 *   connectWebSocket(listener.url),
 *   listener.accept(),
 * ]);
 * const [client, server] = await Promise.all([initiate(clientLink), accept(serverLink!)]);
 * await client.close();
 * await server.closed;
 * await listener.close();
 * ```
 *
 * @module
 */

import { checkPort } from "./_sockets.ts";
import type { WebSocketLink } from "./websocket.ts";
import type { ServerRuntime } from "./_websocket_adapter.ts";

/** Links upgraded but not yet taken by `accept()`; further upgrades get 503. */
const MAX_BACKLOG = 128;
const DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024;

/** Options for {@linkcode listenWebSocket}. */
export interface WebSocketListenOptions {
  /** Address to bind (default `127.0.0.1`). */
  readonly hostname?: string;
  /** Port; 0 (the default) picks a free one, reported by `listener.address`. */
  readonly port?: number;
  /**
   * The one path upgraded to roam links (default `/`). The query string is
   * ignored. A request to it that is not a WebSocket upgrade gets 426.
   */
  readonly path?: string;
  /**
   * Handles every request to another path, so the port can serve ordinary
   * HTTP routes too. Default: 404.
   */
  readonly fetch?: (request: Request) => Response | Promise<Response>;
  /**
   * Largest message accepted from a client, in bytes (default 16 MiB). A
   * larger one is a protocol violation.
   */
  readonly maxMessageSize?: number;
}

/**
 * A WebSocket server accepting roam links. Iterate it with `for await`, or
 * call `accept()`.
 */
export interface WebSocketListener extends AsyncIterable<WebSocketLink>, AsyncDisposable {
  /** The bound address (the real port when 0 was asked for). */
  readonly address: { readonly hostname: string; readonly port: number };
  /** The URL clients connect to, e.g. `ws://127.0.0.1:8080/roam`. */
  readonly url: string;
  /**
   * The next accepted link, or undefined once the listener is closed. Its
   * `close(code, reason)` closes the connection with a code of your own.
   */
  accept(): Promise<WebSocketLink | undefined>;
  /**
   * Stops the HTTP server and closes every WebSocket connection it
   * accepted (peers see a Close frame with code 1001, a graceful end of
   * stream), on both runtimes: close sessions first to finish their calls.
   * Idempotent.
   */
  close(): Promise<void>;
}

let loaded: Promise<ServerRuntime> | undefined;

function loadRuntime(): Promise<ServerRuntime> {
  return loaded ??= (async (): Promise<ServerRuntime> => {
    if ("Deno" in globalThis) return await import("./websocket_server_deno.ts");
    if ("Bun" in globalThis) return await import("./websocket_server_bun.ts");
    throw new TypeError(
      "A WebSocket server needs Deno or Bun (Node has no built-in one: serve TCP or a Unix socket there)",
    );
  })();
}

/** True for a request asking for a WebSocket upgrade. */
function isUpgrade(request: Request): boolean {
  const upgrade = request.headers.get("upgrade");
  if (upgrade === null) return false;
  return upgrade.split(",").some((v) => v.trim().toLowerCase() === "websocket");
}

function plain(status: number, text: string, headers: Record<string, string> = {}): Response {
  return new Response(`${text}\n`, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}

/** Drops a link that will never be accepted. */
function discard(link: WebSocketLink): void {
  link.writable.abort().catch(() => {});
  link.readable.cancel().catch(() => {});
}

/**
 * Starts a WebSocket server whose upgraded connections are roam links.
 * Requests to other paths go to `options.fetch`.
 *
 * @param options Address, port, roam path, other routes and the message size limit.
 * @returns The listener, once it is bound.
 * @throws {TypeError} For a bad `hostname`, `path` or `fetch`, or when not on Deno or Bun.
 * @throws {RangeError} For an invalid port or `maxMessageSize`.
 * @throws {Error} When the address cannot be bound (the runtime's error, e.g. address in use).
 *
 * @example Sharing the port with an HTTP route
 * ```ts
 * import { listenWebSocket } from "@roam/roam/transports/websocket_server";
 * import { accept } from "@roam/roam";
 *
 * const listener = await listenWebSocket({
 *   path: "/roam",
 *   fetch: (request) =>
 *     new URL(request.url).pathname === "/health"
 *       ? new Response("ok")
 *       : new Response("not found", { status: 404 }),
 * });
 * const health = await fetch(`http://127.0.0.1:${listener.address.port}/health`);
 * console.log(await health.text()); // "ok"
 * void (async () => {
 *   for await (const link of listener) {
 *     accept(link).then((session) => session.closed, () => {});
 *   }
 * })();
 * await listener.close();
 * ```
 */
export async function listenWebSocket(
  options: WebSocketListenOptions = {},
): Promise<WebSocketListener> {
  const hostname = options.hostname ?? "127.0.0.1";
  if (typeof hostname !== "string" || hostname === "") {
    throw new TypeError(`Invalid hostname: expected a non-empty string, got ${String(hostname)}`);
  }
  const port = checkPort(options.port ?? 0, true);
  const path = options.path ?? "/";
  if (typeof path !== "string" || !path.startsWith("/") || /[?#]/.test(path)) {
    throw new TypeError(
      `Invalid path: expected an absolute path without query or fragment, got ${String(path)}`,
    );
  }
  const fetchHandler = options.fetch;
  if (fetchHandler !== undefined && typeof fetchHandler !== "function") {
    throw new TypeError("Invalid fetch option: expected a function");
  }
  const maxMessageSize = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
  if (
    typeof maxMessageSize !== "number" || !Number.isSafeInteger(maxMessageSize) ||
    maxMessageSize < 1
  ) {
    throw new RangeError(
      `Invalid maxMessageSize: expected a positive integer number of bytes, got ${
        String(maxMessageSize)
      }`,
    );
  }
  // The path as the runtime's URL parser normalises it (percent-encoding, dot segments).
  const roamPath = new URL(path, "http://localhost").pathname;

  const backlog: WebSocketLink[] = [];
  const waiters: ((link: WebSocketLink | undefined) => void)[] = [];
  let closed = false;

  const route = (request: Request): Response | Promise<Response> | undefined => {
    if (new URL(request.url).pathname !== roamPath) {
      return fetchHandler !== undefined ? fetchHandler(request) : plain(404, "Not Found");
    }
    if (!isUpgrade(request)) {
      return plain(426, "Upgrade Required: this path speaks roam over WebSocket", {
        upgrade: "websocket",
        connection: "Upgrade",
      });
    }
    if (closed) return plain(503, "Service Unavailable: the server is closing");
    if (backlog.length >= MAX_BACKLOG) {
      return plain(503, "Service Unavailable: too many connections waiting to be accepted");
    }
    return undefined;
  };
  const deliver = (link: WebSocketLink): void => {
    if (closed) discard(link);
    else if (waiters.length > 0) waiters.shift()!(link);
    else backlog.push(link);
  };

  const runtime = await loadRuntime();
  const server = runtime.serve({ hostname, port, maxMessageSize, route, deliver });
  const address = { hostname: server.hostname, port: server.port };
  const host = address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname;
  const url = `ws://${host}:${address.port}${roamPath}`;

  const accept = (): Promise<WebSocketLink | undefined> => {
    const link = backlog.shift();
    if (link !== undefined) return Promise.resolve(link);
    if (closed) return Promise.resolve(undefined);
    return new Promise((r) => waiters.push(r));
  };
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    closing ??= (async () => {
      closed = true;
      for (const w of waiters.splice(0)) w(undefined);
      for (const link of backlog.splice(0)) discard(link);
      await server.close();
    })();

  return {
    address,
    url,
    accept,
    close,
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const link = await accept();
        if (link === undefined) return;
        yield link;
      }
    },
    [Symbol.asyncDispose]: close,
  };
}
