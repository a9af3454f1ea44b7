/**
 * The WebSocket server on Deno: `Deno.serve` + `Deno.upgradeWebSocket`.
 * The upgraded socket is a standard `WebSocket`, adapted by
 * `websocketLink`. Loaded only on Deno, by dynamic import.
 *
 * @module
 */

import type { Link } from "../lib/link.ts";
import { websocketLink } from "./websocket.ts";

/** What the runtime-neutral server gives the adapter. */
export interface ServerConfig {
  /** Address to bind. */
  readonly hostname: string;
  /** Port (0 picks a free one). */
  readonly port: number;
  /** Largest message accepted. */
  readonly maxMessageSize: number;
  /** Answers a request, or returns undefined to upgrade it to a roam link. */
  route(request: Request): Response | Promise<Response> | undefined;
  /** Takes each new link. */
  deliver(link: Link): void;
}

/** A running server. */
export interface ServerHandle {
  /** The bound address. */
  readonly hostname: string;
  /** The bound port. */
  readonly port: number;
  /** Stops the server; its WebSocket connections are closed with code 1001. */
  close(): Promise<void>;
}

/**
 * Starts the server.
 *
 * @param config Address, routing and the link sink.
 * @returns The running server.
 */
export function serve(config: ServerConfig): ServerHandle {
  const server = Deno.serve({
    hostname: config.hostname,
    port: config.port,
    onListen() {},
    handler(request) {
      const routed = config.route(request);
      if (routed !== undefined) return routed;
      let upgraded: { socket: WebSocket; response: Response };
      try {
        upgraded = Deno.upgradeWebSocket(request);
      } catch (e) {
        return new Response(`Bad Request: ${(e as Error).message}\n`, { status: 400 });
      }
      config.deliver(websocketLink(upgraded.socket, { maxMessageSize: config.maxMessageSize }));
      return upgraded.response;
    },
  });
  const addr = server.addr as Deno.NetAddr;
  return {
    hostname: addr.hostname,
    port: addr.port,
    async close() {
      // Shutting down also closes the upgraded WebSockets (code 1001).
      await server.shutdown();
    },
  };
}
