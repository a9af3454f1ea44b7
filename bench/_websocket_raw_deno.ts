/**
 * The raw WebSocket echo server of the WebSocket benchmark, on Deno:
 * `Deno.serve` + `Deno.upgradeWebSocket`, echoing each message as it comes.
 * Loaded only on Deno.
 *
 * @module
 */

/** A running echo server. */
export interface EchoServer {
  /** Where to connect. */
  readonly url: string;
  /** Stops the server and its connections. */
  close(): Promise<void>;
}

/** Starts the echo server on a free loopback port. */
export function startEchoServer(): EchoServer {
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
    handler(request) {
      const { socket, response } = Deno.upgradeWebSocket(request);
      socket.binaryType = "arraybuffer";
      socket.onmessage = (e) => socket.send(e.data as ArrayBuffer);
      return response;
    },
  });
  const { port } = server.addr as Deno.NetAddr;
  return { url: `ws://127.0.0.1:${port}/`, close: () => server.shutdown() };
}
