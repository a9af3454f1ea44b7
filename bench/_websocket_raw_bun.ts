/**
 * The raw WebSocket echo server of the WebSocket benchmark, on Bun:
 * `Bun.serve` with a `message` handler echoing each message. Loaded only on
 * Bun; the few Bun types used are declared here.
 *
 * @module
 */

interface BunServerWebSocket {
  send(data: string | Uint8Array, compress?: boolean): number;
}

interface BunServer {
  readonly port: number;
  upgrade(request: Request): boolean;
  stop(closeActiveConnections?: boolean): Promise<void> | void;
}

const Bun = (globalThis as unknown as {
  Bun: {
    serve(options: {
      hostname: string;
      port: number;
      fetch(request: Request, server: BunServer): Response | undefined;
      websocket: { message(ws: BunServerWebSocket, message: string | Uint8Array): void };
    }): BunServer;
  };
}).Bun;

/** A running echo server. */
export interface EchoServer {
  /** Where to connect. */
  readonly url: string;
  /** Stops the server and its connections. */
  close(): Promise<void>;
}

/** Starts the echo server on a free loopback port. */
export function startEchoServer(): EchoServer {
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(request, server) {
      return server.upgrade(request) ? undefined : new Response("upgrade only", { status: 400 });
    },
    websocket: {
      message(ws, message) {
        ws.send(message);
      },
    },
  });
  return {
    url: `ws://127.0.0.1:${server.port}/`,
    close: async () => {
      await server.stop(true);
    },
  };
}
