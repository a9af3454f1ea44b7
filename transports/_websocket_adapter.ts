/**
 * The contract between the runtime-neutral WebSocket server
 * (`websocket_server.ts`) and its runtime adapters
 * (`websocket_server_deno.ts`, `websocket_server_bun.ts`).
 *
 * @module
 */

import type { WebSocketLink } from "./websocket.ts";

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
  deliver(link: WebSocketLink): void;
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

/** What each runtime adapter module exports. */
export interface ServerRuntime {
  /** Starts a server. */
  serve(config: ServerConfig): ServerHandle;
}
