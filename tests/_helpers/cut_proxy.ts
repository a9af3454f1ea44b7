/**
 * A TCP proxy for tests that cuts connections (part of `tests/_helpers/mod.ts`): it
 * forwards every accepted connection to a target port on loopback and,
 * when told to, drops them at once or after a number of further bytes,
 * in the middle of a chunk (so in the middle of a frame or of its length
 * prefix), destroying both sides without forwarding the rest. Uses
 * `node:net`, which Deno and Bun both provide.
 *
 * @module
 */

import net from "node:net";

/** Drops a socket with a reset or a close, discarding what it has not written. */
function drop(socket: net.Socket, how: "reset" | "close"): void {
  const s = socket as net.Socket & { resetAndDestroy?: () => void };
  if (how === "reset" && typeof s.resetAndDestroy === "function" && !s.destroyed) {
    try {
      s.resetAndDestroy();
      return;
    } catch {
      // Not connected yet: a plain destroy does.
    }
  }
  s.destroy();
}

/** One proxied connection: the client's socket and the target's. */
interface Pair {
  readonly client: net.Socket;
  readonly target: net.Socket;
  /** Set once the pair was cut or ended. */
  done: boolean;
}

/** Where a proxy connects: a TCP port on 127.0.0.1, or a Unix socket path. */
export type ProxyTarget = number | { readonly path: string };

/** A cutting proxy listening on 127.0.0.1 (or on a Unix socket path). */
export class CutProxy {
  readonly #server: net.Server;
  readonly #pairs = new Set<Pair>();
  #target: ProxyTarget;
  /** Bytes still forwarded before the next cut, or -1 for no cut planned. */
  #budget = -1;
  #onCut: (() => void) | undefined;
  /** Connections cut so far. */
  cuts = 0;
  /** Bytes forwarded so far, both directions. */
  forwarded = 0;
  /** Connections accepted so far. */
  accepted = 0;

  private constructor(server: net.Server, target: ProxyTarget) {
    this.#server = server;
    this.#target = target;
  }

  /**
   * Starts a proxy to `target`, listening on a free port of 127.0.0.1, or
   * on the Unix socket `listenPath`.
   *
   * @param target Where connections go.
   * @param listenPath A Unix socket path to listen on instead of a port.
   * @returns The proxy, listening.
   */
  static async start(target: ProxyTarget, listenPath?: string): Promise<CutProxy> {
    const server = net.createServer();
    const proxy = new CutProxy(server, target);
    server.on("connection", (socket) => proxy.#accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      if (listenPath !== undefined) server.listen(listenPath, () => resolve());
      else server.listen(0, "127.0.0.1", () => resolve());
    });
    return proxy;
  }

  /** The port clients connect to (a proxy on a port). */
  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  /** Connections open now. */
  get open(): number {
    return this.#pairs.size;
  }

  /** Sends new connections elsewhere (the old ones are left alone). */
  retarget(target: ProxyTarget): void {
    this.#target = target;
  }

  #accept(client: net.Socket): void {
    this.accepted++;
    const to = this.#target;
    const target = typeof to === "number"
      ? net.connect({ host: "127.0.0.1", port: to })
      : net.connect({ path: to.path });
    if (typeof to === "number") {
      client.setNoDelay(true);
      target.setNoDelay(true);
    }
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
        const data = chunk;
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

  /** How the next cut drops connections: a reset (RST), or a close (FIN) without the rest. */
  #how: "reset" | "close" = "reset";

  /** Drops every connection now. */
  #cut(): void {
    this.cuts++;
    for (const pair of [...this.#pairs]) {
      pair.done = true;
      this.#pairs.delete(pair);
      drop(pair.client, this.#how);
      drop(pair.target, this.#how);
    }
    const f = this.#onCut;
    this.#onCut = undefined;
    f?.();
  }

  /**
   * Drops every open connection now.
   *
   * @param how A reset (RST, the default: a network failure) or a close (FIN, a clean end of stream).
   */
  cutNow(how: "reset" | "close" = "reset"): void {
    this.#budget = -1;
    this.#how = how;
    this.#cut();
  }

  /**
   * Drops every open connection once `bytes` more bytes (either direction)
   * have been forwarded, in the middle of the chunk that crosses the mark.
   *
   * @param bytes Bytes to forward first.
   * @param how A reset (RST) or a close (FIN).
   * @param onCut Called after the cut.
   */
  cutAfter(bytes: number, how: "reset" | "close" = "reset", onCut?: () => void): void {
    this.#budget = bytes;
    this.#how = how;
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
