/**
 * A TCP proxy for tests that cuts connections (not a test file): it
 * forwards every accepted connection to a target port on loopback and,
 * when told to, drops them at once or after a number of further bytes,
 * in the middle of a chunk (so in the middle of a frame or of its length
 * prefix), destroying both sides without forwarding the rest. Uses
 * `node:net`, which Deno and Bun both provide.
 *
 * @module
 */

import net from "node:net";

/** One proxied connection: the client's socket and the target's. */
interface Pair {
  readonly client: net.Socket;
  readonly target: net.Socket;
  /** Set once the pair was cut or ended. */
  done: boolean;
}

/** A cutting TCP proxy on 127.0.0.1. */
export class CutProxy {
  readonly #server: net.Server;
  readonly #pairs = new Set<Pair>();
  #targetPort: number;
  /** Bytes still forwarded before the next cut, or -1 for no cut planned. */
  #budget = -1;
  #onCut: (() => void) | undefined;
  /** Connections cut so far. */
  cuts = 0;
  /** Bytes forwarded so far, both directions. */
  forwarded = 0;
  /** Connections accepted so far. */
  accepted = 0;

  private constructor(server: net.Server, targetPort: number) {
    this.#server = server;
    this.#targetPort = targetPort;
  }

  /**
   * Starts a proxy to `targetPort` on 127.0.0.1.
   *
   * @param targetPort Where connections go.
   * @returns The proxy, listening.
   */
  static async start(targetPort: number): Promise<CutProxy> {
    const server = net.createServer();
    const proxy = new CutProxy(server, targetPort);
    server.on("connection", (socket) => proxy.#accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    return proxy;
  }

  /** The port clients connect to. */
  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  /** Connections open now. */
  get open(): number {
    return this.#pairs.size;
  }

  /** Sends new connections to another port (the old ones are left alone). */
  retarget(port: number): void {
    this.#targetPort = port;
  }

  #accept(client: net.Socket): void {
    this.accepted++;
    client.setNoDelay(true);
    const target = net.connect({ host: "127.0.0.1", port: this.#targetPort });
    target.setNoDelay(true);
    const pair: Pair = { client, target, done: false };
    this.#pairs.add(pair);
    const end = (): void => {
      if (pair.done) return;
      pair.done = true;
      this.#pairs.delete(pair);
      client.destroy();
      target.destroy();
    };
    const forward = (from: net.Socket, to: net.Socket): void => {
      from.on("data", (chunk: Uint8Array) => {
        if (pair.done) return;
        let data = chunk;
        const budget = this.#budget;
        if (budget >= 0 && data.length >= budget) {
          // Cut here: forward what fits the budget (part of the chunk), drop the rest.
          if (budget > 0) to.write(data.subarray(0, budget));
          this.forwarded += budget;
          this.#budget = -1;
          this.#cut();
          return;
        }
        if (budget >= 0) this.#budget = budget - data.length;
        this.forwarded += data.length;
        data = chunk;
        if (!to.write(data)) {
          from.pause();
          to.once("drain", () => from.resume());
        }
      });
      from.on("end", () => to.end());
      from.on("error", end);
      from.on("close", end);
    };
    forward(client, target);
    forward(target, client);
  }

  /** Drops every connection now. */
  #cut(): void {
    this.cuts++;
    for (const pair of [...this.#pairs]) {
      pair.done = true;
      this.#pairs.delete(pair);
      pair.client.destroy();
      pair.target.destroy();
    }
    const f = this.#onCut;
    this.#onCut = undefined;
    f?.();
  }

  /** Drops every open connection now. */
  cutNow(): void {
    this.#budget = -1;
    this.#cut();
  }

  /**
   * Drops every open connection once `bytes` more bytes (either direction)
   * have been forwarded, in the middle of the chunk that crosses the mark.
   *
   * @param bytes Bytes to forward first.
   * @param onCut Called after the cut.
   */
  cutAfter(bytes: number, onCut?: () => void): void {
    this.#budget = bytes;
    this.#onCut = onCut;
  }

  /** Stops listening and drops every connection. */
  async close(): Promise<void> {
    this.#budget = -1;
    for (const pair of [...this.#pairs]) {
      pair.done = true;
      pair.client.destroy();
      pair.target.destroy();
    }
    this.#pairs.clear();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
