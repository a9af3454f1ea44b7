/**
 * The sending half of a link over a standard `WebSocket`: what it has
 * buffered, counted as `bufferedAmount` plus a fixed overhead for every
 * message sent since the buffer was last seen empty (many small messages
 * cost the runtime far more than their bytes), and wake-ups when that
 * falls. The standard API has no drain event, so waiters poll: in the
 * next macrotask for the first 2 ms of a wait, or while the buffer keeps
 * shrinking (on loopback a runtime flushes even 1 MiB within a turn or
 * two, and a timer would cost 1 to 4 ms), then with timers backing off to
 * 16 ms (a slow network, or a peer that does not read).
 *
 * @module
 */

import { nextMacrotask } from "../lib/_util/turn.ts";

/** What a message in the socket's send buffer is counted as beyond its bytes. */
export const SEND_OVERHEAD = 1024;

const CONNECTING = 0;
const OPEN = 1;
/** How long a wait polls in every macrotask before it backs off to timers. */
const SPIN_MS = 2;
/** Longest pause between two looks at a buffer that does not shrink. */
const MAX_BACKOFF_MS = 16;

/** Counts what a `WebSocket` holds for sending and wakes waiters as it drains. */
export class SendBuffer {
  readonly #ws: WebSocket;
  /** Messages sent since `bufferedAmount` was last seen 0 (at least as many as it holds). */
  #queued = 0;
  /** Bytes (with overhead) of messages held until the socket opens. */
  #early = 0;
  #waiters: { readonly limit: number; readonly f: () => void }[] = [];
  #polling = false;
  /** When the current wait began. */
  #since = 0;
  #lastSeen = Number.POSITIVE_INFINITY;
  #backoff = 0;

  /**
   * The socket's state as last seen (`open()` and `closed()` keep it),
   * so the hot path need not ask the socket each time.
   */
  #state: number;

  /** @param ws The socket. */
  constructor(ws: WebSocket) {
    this.#ws = ws;
    this.#state = ws.readyState;
  }

  /** True while the socket is open (as far as its events have said). */
  get open(): boolean {
    return this.#state === OPEN;
  }

  /** True while the socket is connecting. */
  get connecting(): boolean {
    return this.#state === CONNECTING;
  }

  /** Bytes buffered for sending, with the overhead of each message. */
  get buffered(): number {
    if (this.#state === CONNECTING) return this.#early;
    const bytes = this.#ws.bufferedAmount;
    if (bytes === 0) {
      this.#queued = 0;
      return 0;
    }
    return bytes + this.#queued * SEND_OVERHEAD;
  }

  /** Counts a message held until the socket opens. */
  holdEarly(size: number): void {
    this.#early += size + SEND_OVERHEAD;
  }

  /** The socket opened (the messages held until then are sent next). */
  opened(): void {
    this.#state = this.#ws.readyState;
    this.#early = 0;
  }

  /**
   * Sends one payload on the open socket, which copies it before
   * returning (the standard `send` takes a copy of a view's bytes).
   *
   * @returns The buffered amount after it, with overheads.
   */
  send(payload: Uint8Array): number {
    const before = this.#ws.bufferedAmount;
    if (before === 0) this.#queued = 0;
    this.sendQuick(payload);
    return before + payload.length + this.#queued * SEND_OVERHEAD;
  }

  /**
   * Sends one payload without looking at the buffer first: for a caller
   * that reads `buffered` before each send, as a session does.
   */
  sendQuick(payload: Uint8Array): void {
    try {
      this.#ws.send(payload as Uint8Array<ArrayBuffer>);
    } catch (e) {
      // `send` takes views of an `ArrayBuffer` only: a view of shared memory goes as a copy.
      if (payload.buffer instanceof ArrayBuffer) throw e;
      this.#ws.send(payload.slice());
    }
    this.#queued++;
  }

  /** Calls `f` once at most `limit` bytes are buffered (at once if so now), or the socket is closing or closed. */
  whenBelow(limit: number, f: () => void): void {
    if (!this.#live() || this.buffered <= limit) {
      f();
      return;
    }
    this.#waiters.push({ limit, f });
    if (!this.#polling) {
      this.#since = performance.now();
      this.#lastSeen = Number.POSITIVE_INFINITY;
      this.#backoff = 0;
      this.#schedule(this.buffered);
    }
  }

  /**
   * Resolves once at most `limit` bytes are buffered, the socket is no
   * longer open, or `ms` have passed.
   */
  below(limit: number, ms = Number.POSITIVE_INFINITY): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      this.whenBelow(limit, () => {
        clearTimeout(timer);
        resolve();
      });
      if (Number.isFinite(ms)) timer = setTimeout(resolve, Math.max(0, ms));
    });
  }

  /** The socket closed: every waiter is called. */
  closed(): void {
    this.#state = this.#ws.readyState;
    this.#wake();
  }

  #live(): boolean {
    const state = this.#ws.readyState;
    this.#state = state;
    return state === OPEN || state === CONNECTING;
  }

  #schedule(now: number): void {
    this.#polling = true;
    if (now < this.#lastSeen || performance.now() - this.#since < SPIN_MS) {
      this.#backoff = 0;
      nextMacrotask(this.#poll);
    } else {
      this.#backoff = Math.min(MAX_BACKOFF_MS, this.#backoff * 2 || 1);
      setTimeout(this.#poll, this.#backoff);
    }
    this.#lastSeen = now;
  }

  readonly #poll = (): void => {
    this.#polling = false;
    this.#wake();
    if (this.#waiters.length > 0 && !this.#polling) this.#schedule(this.buffered);
  };

  /** Calls the waiters whose limit is reached (all of them once the socket is not live). */
  #wake(): void {
    if (this.#waiters.length === 0) return;
    const live = this.#live();
    const now = live ? this.buffered : 0;
    const ready = this.#waiters.filter((w) => now <= w.limit);
    if (ready.length === 0) return;
    this.#waiters = this.#waiters.filter((w) => now > w.limit);
    for (const w of ready) w.f();
  }
}
