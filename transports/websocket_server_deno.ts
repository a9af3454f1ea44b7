/**
 * The WebSocket server on Deno: `Deno.serve` + `Deno.upgradeWebSocket`.
 * The upgraded socket is a standard `WebSocket`, adapted by
 * `websocketLink`. Loaded only on Deno, by dynamic import.
 *
 * @module
 */

import { websocketLink } from "./websocket.ts";
import type { ServerConfig, ServerHandle } from "./_websocket_adapter.ts";

/** The parts of the `Deno` namespace used here (declared so `tsc` needs no Deno types). */
interface DenoApi {
  serve(options: {
    hostname: string;
    port: number;
    onListen(): void;
    handler(request: Request): Response | Promise<Response>;
  }): { readonly addr: { hostname: string; port: number }; shutdown(): Promise<void> };
  upgradeWebSocket(request: Request): { socket: WebSocket; response: Response };
}

const Deno = (globalThis as unknown as { Deno: DenoApi }).Deno;

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
  const addr = server.addr;
  return {
    hostname: addr.hostname,
    port: addr.port,
    async close() {
      // Shutting down also closes the upgraded WebSockets (code 1001).
      await server.shutdown();
    },
  };
}
