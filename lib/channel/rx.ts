/**
 * The receiving end of a channel: `recv()` (cancel-safe), `for await`, a
 * `ReadableStream` view; credit is granted back as items are consumed.
 *
 * @module
 */

import { Queue } from "../_util/queue.ts";
import type { Schema } from "../postcard/schema.ts";
import { type MetadataInit, toMetadata } from "../wire/metadata.ts";
import type { Metadata } from "../wire/types.ts";
import type { ChannelHost, ReceiveWindow } from "./host.ts";
import type { Tx } from "./tx.ts";

let bindRx: (
  rx: Rx<unknown>,
  host: ChannelHost,
  id: number,
  schema: Schema<unknown>,
  credit: number,
  window: ReceiveWindow,
) => void;
let rxItem: (rx: Rx<unknown>, value: unknown, size: number) => boolean;
let rxClose: (rx: Rx<unknown>, metadata: Metadata) => void;
let rxRelease: (rx: Rx<unknown>) => void;
let rxFail: (rx: Rx<unknown>, error: unknown) => void;
let rxPartner: (rx: Rx<unknown>) => Tx<unknown> | undefined;
let setRxPartner: (rx: Rx<unknown>, tx: Tx<unknown>) => void;
let rxBound: (rx: Rx<unknown>) => boolean;

/** Options of {@linkcode Rx.recv}. */
export interface ReceiveOptions {
  /**
   * Aborting stops waiting: the receive rejects with the signal's reason
   * and takes no item, which stays for the next receive.
   */
  readonly signal?: AbortSignal;
}

/** A receive waiting for an item. */
interface Waiter {
  resolve(r: IteratorResult<unknown, undefined>): void;
  reject(e: unknown): void;
  /** Removes the abort listener, if any. */
  cleanup: (() => void) | undefined;
}

/**
 * The receiving end of a channel: `recv()`, `for await`, or `readable`.
 * Credit is granted back to the sender as items are consumed.
 *
 * An `Rx` has one consumer. Receives are cancel-safe: an aborted receive
 * takes no item, and receives waiting together share the next one (see
 * {@linkcode Rx.recv}).
 *
 * An `Rx` a handler receives is reset when the handler settles, unless it
 * was read to its end or kept with {@linkcode Rx.keep}.
 */
export class Rx<T> {
  #partner: Tx<T> | undefined;
  #host: ChannelHost | undefined;
  #id = 0;
  #initial = 0;
  /** Items the sender may still send (credit granted and not used). */
  #outstanding = 0;
  /** The receive window now: credit plus buffered items this side aims to keep, at most. */
  #target = 0;
  /** The window's bounds (see `SessionLimits.receiveWindowItems` / `receiveWindowBytes`). */
  #windowItems = 0;
  #windowBytes = 0;
  /** The average encoded size of the items received, in bytes (0 before the first). */
  #avgSize = 0;
  #items = new Queue<unknown>();
  /** The receives waiting now: they share the next item. */
  #waiters: Waiter[] = [];
  #state: "open" | "closed" | "reset" | "failed" = "open";
  #error: unknown;
  #closeMetadata: Metadata | undefined;
  #readable: ReadableStream<T> | undefined;
  /** 1 when kept past its handler, 2 once released when its handler settled. */
  #lifetime: 0 | 1 | 2 = 0;

  /** Use {@linkcode channel} to make channel ends. */
  constructor() {}

  static {
    rxPartner = (rx) => rx.#partner as Tx<unknown> | undefined;
    setRxPartner = (rx, tx) => (rx.#partner = tx);
    rxBound = (rx) => rx.#host !== undefined;
    bindRx = (rx, host, id, _schema, credit, window) => rx.#bind(host, id, credit, window);
    rxItem = (rx, v, size) => rx.#item(v, size);
    rxClose = (rx, m) => rx.#closeFromPeer(m);
    rxFail = (rx, e) => rx.#fail(e);
    rxRelease = (rx) => rx.#release();
  }

  /** The channel id once bound, else 0. */
  get id(): number {
    return this.#id;
  }

  /** Items received and not yet consumed. */
  get buffered(): number {
    return this.#items.length;
  }

  /**
   * The metadata of the sender's `Close`, once the sender closed the
   * channel (before the last items are read, too); undefined while it is
   * open, and after a reset or a failure. `SENSITIVE` values are readable
   * here and never shown when the list is printed.
   */
  get closeMetadata(): Metadata | undefined {
    return this.#closeMetadata;
  }

  #bind(host: ChannelHost, id: number, credit: number, window: ReceiveWindow): void {
    this.#host = host;
    this.#id = id;
    this.#initial = credit;
    this.#outstanding = credit;
    this.#target = credit;
    this.#windowItems = Math.max(credit, window.items);
    this.#windowBytes = window.bytes;
    this.#partner = undefined;
  }

  /**
   * Grants the sender what keeps credit plus buffered items at the window,
   * once at least half a window is missing: the window starts at the
   * schema's credit and grows, once item sizes are known, to what fits the
   * byte bound (at most the item bound), so a stream over a network link
   * is not throttled to a round trip per few items.
   */
  #topUp(): void {
    if (this.#state !== "open") return;
    const target = this.#target;
    const room = target - this.#outstanding - this.#items.length;
    if (room >= Math.max(1, target >> 1)) {
      this.#outstanding += room;
      this.#host!.sendGrant(this.#id, room);
    }
  }

  /**
   * Takes an item from the wire. Returns false when the sender exceeded
   * its credit (a protocol violation the connection reports).
   */
  #item(value: unknown, size: number): boolean {
    if (--this.#outstanding < 0) return false;
    if (this.#state !== "open") return true; // reset locally: drop quietly
    const avg = this.#avgSize = this.#avgSize === 0 ? size : this.#avgSize * 0.875 + size * 0.125;
    this.#target = Math.min(
      this.#windowItems,
      Math.max(this.#initial, Math.floor(this.#windowBytes / Math.max(1, avg))),
    );
    const waiters = this.#waiters;
    if (waiters.length === 0) {
      this.#items.push(value);
      if (this.#target > this.#initial) this.#topUp(); // the window grew: grant at once
      return true;
    }
    this.#consume();
    if (waiters.length === 1) {
      const w = waiters.pop()!;
      w.cleanup?.();
      w.resolve({ done: false, value });
      return true;
    }
    // Receives waiting together share the item: at most one of them is still
    // awaited (an Rx has one consumer), and it must not miss it.
    for (const w of waiters.splice(0)) {
      w.cleanup?.();
      w.resolve({ done: false, value });
    }
    return true;
  }

  #consume(): void {
    this.#topUp();
  }

  /** Settles every waiting receive with `done`. */
  #wakeDone(): void {
    for (const w of this.#waiters.splice(0)) {
      w.cleanup?.();
      w.resolve({ done: true, value: undefined });
    }
  }

  #closeFromPeer(metadata: Metadata): void {
    if (this.#state === "open") {
      this.#state = "closed";
      this.#closeMetadata = metadata;
    }
    this.#host?.forget(this.#id);
    if (this.#items.length === 0) this.#wakeDone();
  }

  #fail(error: unknown): void {
    if (this.#state !== "open" && this.#state !== "closed") return;
    this.#state = "failed";
    this.#error = error;
    this.#closeMetadata = undefined;
    // Items already received stay readable; the error comes after them.
    for (const w of this.#waiters.splice(0)) {
      w.cleanup?.();
      w.reject(error);
    }
  }

  /**
   * Receives the next item. Waits while the channel is not yet bound to a
   * call, or no item has arrived.
   *
   * Cancel-safe: a receive takes an item only when it resolves with it.
   * One aborted by its `signal` rejects with the signal's reason and takes
   * nothing. Receives that wait at the same time (a `recv()` that lost a
   * `Promise.race`, then the next `recv()` or `for await`) share the next
   * item: each resolves with it and it is consumed once, so the receive
   * still awaited gets it. A `recv()` left waiting while nothing else
   * receives cannot know it was abandoned and takes the next item when it
   * arrives: to stop waiting for good, abort its signal.
   *
   * @param options A signal to stop waiting.
   * @returns `{ done: false, value }`, or `{ done: true }` after the sender
   * closed (see {@linkcode Rx.closeMetadata}) or this end was reset.
   * @throws {RpcError} When the connection or session closed.
   * @throws {unknown} The signal's reason, when it aborts first.
   *
   * @example A receive with a deadline that never loses an item
   * ```ts
   * import type { Rx } from "@roam/roam";
   *
   * async function nextWithin(rx: Rx<number>, ms: number): Promise<number | "timeout" | "end"> {
   *   try {
   *     const r = await rx.recv({ signal: AbortSignal.timeout(ms) });
   *     return r.done ? "end" : r.value;
   *   } catch (e) {
   *     if (e instanceof DOMException && e.name === "TimeoutError") return "timeout";
   *     throw e;
   *   }
   * }
   * ```
   */
  recv(options?: ReceiveOptions): Promise<IteratorResult<T, undefined>> {
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#items.length > 0) {
      const value = this.#items.shift() as T;
      if (this.#state === "open") this.#consume();
      if (this.#items.length === 0 && this.#state === "closed") this.#wakeDone();
      return Promise.resolve({ done: false, value });
    }
    switch (this.#state) {
      case "closed":
      case "reset":
        return Promise.resolve({ done: true, value: undefined });
      case "failed":
        return Promise.reject(this.#error);
    }
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        resolve: resolve as Waiter["resolve"],
        reject,
        cleanup: undefined,
      };
      if (signal !== undefined) {
        const onAbort = (): void => {
          const i = this.#waiters.indexOf(w);
          if (i < 0) return; // settled already
          this.#waiters.splice(i, 1);
          reject(signal.reason);
        };
        signal.addEventListener("abort", onAbort, { once: true });
        w.cleanup = () => signal.removeEventListener("abort", onAbort);
      }
      this.#waiters.push(w);
    });
  }

  /**
   * Asks the sender to stop. Items already buffered are dropped, and
   * `recv()` reports the end of the stream.
   *
   * @param metadata Metadata for the sender.
   */
  reset(metadata?: MetadataInit): void {
    if (this.#state !== "open") return;
    const m = toMetadata(metadata);
    this.#state = "reset";
    this.#items.drain();
    this.#wakeDone();
    if (this.#host !== undefined) this.#host.sendReset(this.#id, m);
    else this.#partner = undefined;
  }

  /**
   * Keeps this end past the handler that received it. An `Rx` a handler
   * receives is reset when the handler settles (its promise resolves or
   * rejects) unless the sender closed it and every item was read; call
   * `keep()` before then to go on receiving afterwards, and read it to its
   * end or `reset()` it yourself. On an end made by {@linkcode channel}
   * (the caller's side) it changes nothing.
   *
   * @returns This end.
   * @throws {TypeError} When its handler has settled already.
   *
   * @example Receiving after the handler returned
   * ```ts
   * import { implement, service, t } from "@roam/roam";
   *
   * const Log = service("Log", { follow: { args: [t.rx(t.string)], returns: t.unit } });
   * const impl = implement(Log, {
   *   follow: (lines) => {
   *     const kept = lines.keep();
   *     void (async () => {
   *       for await (const line of kept) console.log(line);
   *     })();
   *   },
   * });
   * ```
   */
  keep(): this {
    if (this.#lifetime === 2) {
      throw new TypeError("Cannot keep a channel end: the handler that received it has settled");
    }
    this.#lifetime = 1;
    return this;
  }

  /** Its handler settled: reset unless kept or read to the end. */
  #release(): void {
    if (this.#lifetime !== 0) return;
    this.#lifetime = 2;
    if (this.#state === "open") this.reset();
    else if (this.#state === "closed") this.#items.drain();
  }

  /** Iterates the items until the sender closes. Breaking out resets the channel. */
  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    let finished = false;
    try {
      for (;;) {
        const r = await this.recv();
        if (r.done) {
          finished = true;
          return;
        }
        yield r.value;
      }
    } finally {
      if (!finished) this.reset();
    }
  }

  /** A `ReadableStream` view; cancelling it resets the channel. */
  get readable(): ReadableStream<T> {
    return this.#readable ??= new ReadableStream<T>({
      pull: async (controller) => {
        const r = await this.recv();
        if (r.done) controller.close();
        else controller.enqueue(r.value);
      },
      cancel: () => this.reset(),
    }, { highWaterMark: 0 });
  }
}

/** Internal operations on an `Rx`, for `channel()` and the connection layer. */
export const rxInternals = {
  bind: (
    rx: Rx<unknown>,
    host: ChannelHost,
    id: number,
    schema: Schema<unknown>,
    credit: number,
    window: ReceiveWindow,
  ): void => bindRx(rx, host, id, schema, credit, window),
  item: (rx: Rx<unknown>, value: unknown, size: number): boolean => rxItem(rx, value, size),
  close: (rx: Rx<unknown>, metadata: Metadata): void => rxClose(rx, metadata),
  release: (rx: Rx<unknown>): void => rxRelease(rx),
  fail: (rx: Rx<unknown>, error: unknown): void => rxFail(rx, error),
  partner: (rx: Rx<unknown>): Tx<unknown> | undefined => rxPartner(rx),
  pair: (rx: Rx<unknown>, tx: Tx<unknown>): void => setRxPartner(rx, tx),
  bound: (rx: Rx<unknown>): boolean => rxBound(rx),
};
