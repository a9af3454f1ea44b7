/**
 * Pings on a session's root connection: round-trip times for `ping()` and
 * the optional keepalive that ends a session whose peer stops answering.
 *
 * @module
 */

import { ClosedError, type RpcError } from "../wire/errors.ts";

interface PendingPing {
  readonly start: number;
  resolve(rtt: number): void;
  reject(e: unknown): void;
}

/** Largest nonce this side sends (pongs above it are not ours). */
const MAX_NONCE = 0x1f_ffff_ffff_ffffn;

/** The pings of one session. */
export class Pinger {
  readonly #sendPing: (nonce: bigint) => void;
  readonly #keepalive: { readonly interval: number; readonly timeout: number } | undefined;
  readonly #onTimeout: (error: RpcError) => void;
  readonly #pings = new Map<number, PendingPing>();
  #nonce = 0;
  #keepaliveTimer: ReturnType<typeof setTimeout> | undefined;
  #pongTimer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  /**
   * Makes the pinger of a session.
   *
   * @param sendPing Sends a `Ping` with this nonce on the root connection.
   * @param keepalive How often to ping, and how long to wait for the pong; none when undefined.
   * @param onTimeout Ends the session when a keepalive pong is late.
   */
  constructor(
    sendPing: (nonce: bigint) => void,
    keepalive: { readonly interval: number; readonly timeout: number } | undefined,
    onTimeout: (error: RpcError) => void,
  ) {
    this.#sendPing = sendPing;
    this.#keepalive = keepalive;
    this.#onTimeout = onTimeout;
  }

  /**
   * Sends a ping.
   *
   * @returns The round-trip time in milliseconds, when the pong arrives.
   */
  ping(): Promise<number> {
    return new Promise((resolve, reject) => {
      const nonce = ++this.#nonce;
      this.#pings.set(nonce, { start: performance.now(), resolve, reject });
      this.#sendPing(BigInt(nonce));
    });
  }

  /**
   * Settles the ping a pong answers; a late or unsolicited pong is ignored.
   *
   * @param nonce The pong's nonce.
   */
  onPong(nonce: bigint): void {
    if (nonce > MAX_NONCE) return;
    const n = Number(nonce);
    const ping = this.#pings.get(n);
    if (ping === undefined) return;
    this.#pings.delete(n);
    ping.resolve(performance.now() - ping.start);
  }

  /** Schedules the next keepalive ping, if keepalive is on. */
  schedule(): void {
    const k = this.#keepalive;
    if (k === undefined || this.#stopped) return;
    this.#keepaliveTimer = setTimeout(() => {
      this.#keepaliveTimer = undefined;
      if (this.#stopped) return;
      this.#pongTimer = setTimeout(() => {
        this.#pongTimer = undefined;
        this.#onTimeout(
          new ClosedError(
            "keepalive-timeout",
            `The peer did not answer a keepalive ping within ${k.timeout} ms`,
          ),
        );
      }, k.timeout);
      this.ping().then(() => {
        if (this.#pongTimer !== undefined) clearTimeout(this.#pongTimer);
        this.#pongTimer = undefined;
        this.schedule();
      }, () => {});
    }, k.interval);
  }

  /**
   * Stops the keepalive and fails the pings still waiting for a pong.
   *
   * @param error Why the session ended.
   */
  stop(error: RpcError): void {
    this.#stopped = true;
    if (this.#keepaliveTimer !== undefined) clearTimeout(this.#keepaliveTimer);
    if (this.#pongTimer !== undefined) clearTimeout(this.#pongTimer);
    this.#keepaliveTimer = this.#pongTimer = undefined;
    for (const p of this.#pings.values()) p.reject(error);
    this.#pings.clear();
  }
}
