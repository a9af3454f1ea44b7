/**
 * Pings, both ways: this side's pings on the root connection (round-trip
 * times for `ping()`, and the keepalive that ends a session whose peer
 * stops answering), and the answers to the peer's pings, at most
 * `limits.maxPingRate` a second, each pong waiting like any reply while
 * the peer does not read.
 *
 * @module
 */

import { ClosedError, type RpcError } from "../wire/errors.ts";
import { isCanonicalU64, writePong } from "../wire/heads.ts";
import type { Sender } from "./sender.ts";

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
  readonly #sender: Sender;
  readonly #maxRate: number;
  readonly #violation: (description: string) => void;
  /** Pings the peer may still send now (see `limits.maxPingRate`). */
  #tokens: number;
  #refilled = performance.now();
  readonly #pings = new Map<number, PendingPing>();
  /** The last round-trip time measured, in ms (stats). */
  lastRtt: number | undefined = undefined;
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
   * @param sender Sends the pongs.
   * @param maxRate Pings the peer may send a second (and in a burst).
   * @param violation Ends the session for a peer that pings faster.
   */
  constructor(
    sendPing: (nonce: bigint) => void,
    keepalive: { readonly interval: number; readonly timeout: number } | undefined,
    onTimeout: (error: RpcError) => void,
    sender: Sender,
    maxRate: number,
    violation: (description: string) => void,
  ) {
    this.#sendPing = sendPing;
    this.#keepalive = keepalive;
    this.#onTimeout = onTimeout;
    this.#sender = sender;
    this.#maxRate = maxRate;
    this.#tokens = maxRate;
    this.#violation = violation;
  }

  /**
   * Answers the peer's `Ping` whose nonce is the canonical varint
   * `bytes[start, end)` with a `Pong` carrying the same bytes (no bigint,
   * no `Message`: a flood of pings costs little).
   *
   * @returns False, having done nothing, when the nonce is not a canonical
   * u64 varint (the full decoder then reports it).
   */
  answerBytes(cid: number, bytes: Uint8Array, start: number): boolean {
    if (!isCanonicalU64(bytes, start)) return false;
    if (!this.#allowed()) return true;
    const pong = (): void => {
      const sender = this.#sender;
      const w = sender.acquire();
      try {
        writePong(w, cid, bytes, start);
        sender.send(w);
      } finally {
        sender.release(w);
      }
    };
    const sender = this.#sender;
    if (sender.writable && sender.clear) pong();
    else sender.whenWritable(pong, true);
    return true;
  }

  /** Answers the peer's `Ping` with this nonce. */
  answer(cid: number, nonce: bigint): void {
    if (!this.#allowed()) return;
    const sender = this.#sender;
    const pong = (): void =>
      sender.sendMessage({ connectionId: cid, payload: { type: "pong", nonce } });
    if (sender.writable && sender.clear) pong();
    else sender.whenWritable(pong, true);
  }

  /**
   * Counts a ping against the rate (a bucket of `maxRate` pings, refilled
   * at `maxRate` a second); a peer that floods pings is a protocol
   * violation. Returns false when the session was torn down.
   */
  #allowed(): boolean {
    const rate = this.#maxRate;
    const now = performance.now();
    this.#tokens = Math.min(rate, this.#tokens + (now - this.#refilled) * rate / 1000);
    this.#refilled = now;
    if (this.#tokens >= 1) {
      this.#tokens--;
      return true;
    }
    this.#violation(`the peer sent pings faster than ${rate} a second (limits.maxPingRate)`);
    return false;
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
    const rtt = performance.now() - ping.start;
    this.lastRtt = rtt;
    ping.resolve(rtt);
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
