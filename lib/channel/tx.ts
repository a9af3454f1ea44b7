/**
 * The sending end of a channel: `send()` waits for credit and for the link
 * to drain, and never holds the event loop; `close()`, `reset` by the
 * receiver, a `WritableStream` view.
 *
 * @module
 */

import { Queue } from "../_util/queue.ts";
import { mustYield, nextMacrotask } from "../_util/turn.ts";
import type { Schema } from "../postcard/schema.ts";
import { EMPTY_METADATA, type MetadataInit, toMetadata } from "../wire/metadata.ts";
import type { Metadata } from "../wire/types.ts";
import { type ChannelHost, ChannelResetError } from "./host.ts";
import type { Rx } from "./rx.ts";

interface PendingSend {
  readonly value: unknown;
  resolve(): void;
  reject(e: unknown): void;
  dead: boolean;
  cleanup: (() => void) | undefined;
}

/** Options of {@linkcode Tx.send}. */
export interface SendOptions {
  /** Aborting stops waiting for credit; the item is not sent. */
  readonly signal?: AbortSignal;
}

function once(signal: AbortSignal | undefined, f: () => void): (() => void) | undefined {
  if (signal === undefined) return undefined;
  signal.addEventListener("abort", f, { once: true });
  return () => signal.removeEventListener("abort", f);
}

let bindTx: (
  tx: Tx<unknown>,
  host: ChannelHost,
  id: number,
  schema: Schema<unknown>,
  credit: number,
) => void;
let txGrant: (tx: Tx<unknown>, n: number) => void;
let txReset: (tx: Tx<unknown>, metadata: Metadata) => void;
let txFail: (tx: Tx<unknown>, error: unknown) => void;
let txRelease: (tx: Tx<unknown>) => void;
let txPartner: (tx: Tx<unknown>) => Rx<unknown> | undefined;
let setTxPartner: (tx: Tx<unknown>, rx: Rx<unknown>) => void;
let txBound: (tx: Tx<unknown>) => boolean;

/**
 * The sending end of a channel. `send()` waits for credit, so a fast
 * producer never runs ahead of the receiver by more than the channel's
 * credit.
 *
 * A `Tx` a handler receives is closed when the handler settles, unless it
 * was kept with {@linkcode Tx.keep}; a `Tx` the caller keeps is closed by
 * the caller.
 *
 * @example Sending a stream to the server
 * ```ts
 * import { accept, channel, implement, initiate, memoryLink, service, t } from "@roam/roam";
 *
 * const Summer = service("Summer", { sum: { args: [t.rx(t.i32)], returns: t.i64 } });
 * const [a, b] = memoryLink();
 * const [client] = await Promise.all([
 *   initiate(a),
 *   accept(b, {
 *     services: [implement(Summer, {
 *       sum: async (rx) => {
 *         let total = 0n;
 *         for await (const n of rx) total += BigInt(n);
 *         return total;
 *       },
 *     })],
 *   }),
 * ]);
 * const [tx, rx] = channel<number>();
 * const total = client.client(Summer).sum(rx);
 * for (const n of [1, 2, 3]) await tx.send(n); // waits for credit
 * await tx.close();
 * console.log(await total); // 6n
 * await client.close();
 * ```
 */
export class Tx<T> {
  #partner: Rx<T> | undefined;
  #host: ChannelHost | undefined;
  #id = 0;
  #schema: Schema<unknown> | undefined;
  #credit = 0;
  #queue = new Queue<PendingSend>();
  /** Queued sends not yet sent nor abandoned. */
  #live = 0;
  /** True while a pump waits for the link to drain, or for the next macrotask. */
  #pumpScheduled = false;
  #state: "open" | "closing" | "closed" | "reset" | "failed" = "open";
  #error: unknown;
  #closeMetadata: Metadata = EMPTY_METADATA;
  #closeWaiters: { resolve(): void; reject(e: unknown): void }[] = [];
  readonly #abort = new AbortController();
  #writable: WritableStream<T> | undefined;
  /** 1 when kept past its handler, 2 once released when its handler settled. */
  #lifetime: 0 | 1 | 2 = 0;

  /** Use {@linkcode channel} to make channel ends. */
  constructor() {}

  static {
    txPartner = (tx) => tx.#partner as Rx<unknown> | undefined;
    setTxPartner = (tx, rx) => (tx.#partner = rx);
    txBound = (tx) => tx.#host !== undefined;
    bindTx = (tx, host, id, schema, credit) => tx.#bind(host, id, schema, credit);
    txGrant = (tx, n) => tx.#grant(n);
    txReset = (tx, m) => tx.#reset(m);
    txFail = (tx, e) => tx.#fail(e);
    txRelease = (tx) => tx.#release();
  }

  /** The channel id once bound, else 0. */
  get id(): number {
    return this.#id;
  }

  /** Items that may be sent now without waiting for more credit. */
  get credit(): number {
    return this.#credit;
  }

  /**
   * Aborted when the channel can take no more items: the receiver reset it
   * (the reason is a {@linkcode ChannelResetError}), or its connection closed.
   */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  #bind(host: ChannelHost, id: number, schema: Schema<unknown>, credit: number): void {
    this.#host = host;
    this.#id = id;
    this.#schema = schema;
    this.#credit = credit;
    this.#partner = undefined;
    this.#pump();
  }

  #terminalError(): unknown {
    switch (this.#state) {
      case "closing":
      case "closed":
        return new TypeError("Cannot send on a closed channel");
      case "reset":
      case "failed":
        return this.#error;
    }
    return undefined;
  }

  /**
   * Sends one item, waiting for credit if the receiver has not granted
   * enough. Items go out in the order `send` was called.
   *
   * @param value The item.
   * @param options A signal to stop waiting.
   * @returns Resolves when the item has been handed to the connection.
   * @throws {TypeError} After `close()`, or for a value that does not fit the item schema.
   * @throws {ChannelResetError} When the receiver reset the channel.
   */
  send(value: T, options?: SendOptions): Promise<void> {
    const bad = this.#terminalError();
    if (bad !== undefined) return Promise.reject(bad);
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const host = this.#host;
    if (
      host !== undefined && this.#credit > 0 && this.#live === 0 && host.writable() &&
      !mustYield()
    ) {
      try {
        this.#credit--;
        host.sendItem(this.#id, this.#schema!, value);
      } catch (e) {
        this.#credit++;
        return Promise.reject(e);
      }
      return Promise.resolve();
    }
    const queued = new Promise<void>((resolve, reject) => {
      const entry: PendingSend = { value, resolve, reject, dead: false, cleanup: undefined };
      entry.cleanup = once(signal, () => {
        if (entry.dead) return;
        entry.dead = true;
        this.#live--;
        reject(signal!.reason);
        if (this.#state === "closing" && this.#live === 0 && this.#host !== undefined) {
          this.#finishClose();
        }
      });
      this.#live++;
      this.#queue.push(entry);
    });
    // With credit in hand, the item waits for the link to drain or for the next turn.
    if (host !== undefined && this.#credit > 0) this.#pump();
    return queued;
  }

  /**
   * Continues pumping later: when the link has drained, or in the next
   * macrotask, so a sender with plenty of credit never holds the event loop.
   */
  #pumpLater(host: ChannelHost, drained: boolean): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    const again = (): void => {
      this.#pumpScheduled = false;
      if (this.#state === "open" || this.#state === "closing") this.#pump();
    };
    if (drained) host.whenWritable(again);
    else nextMacrotask(again);
  }

  #pump(): void {
    const host = this.#host;
    if (host === undefined || this.#pumpScheduled) return;
    const queue = this.#queue;
    while (queue.length > 0 && this.#credit > 0) {
      if (!queue.peek()!.dead) {
        if (!host.writable()) return this.#pumpLater(host, true);
        if (mustYield()) return this.#pumpLater(host, false);
      }
      const entry = queue.shift()!;
      if (entry.dead) continue;
      entry.dead = true;
      this.#live--;
      entry.cleanup?.();
      try {
        this.#credit--;
        host.sendItem(this.#id, this.#schema!, entry.value);
        entry.resolve();
      } catch (e) {
        this.#credit++;
        entry.reject(e);
      }
    }
    if (this.#state === "closing" && this.#live === 0) this.#finishClose();
  }

  #grant(n: number): void {
    this.#credit += n;
    if (this.#state === "open" || this.#state === "closing") this.#pump();
  }

  /**
   * Closes the channel after the items already passed to `send` have gone
   * out. The receiver sees the end of the stream.
   *
   * @param metadata Metadata for the receiver.
   * @returns Resolves when `Close` has been sent.
   */
  close(metadata?: MetadataInit): Promise<void> {
    if (this.#state === "closed") return Promise.resolve();
    if (this.#state === "reset" || this.#state === "failed") return Promise.resolve();
    let m: Metadata;
    try {
      m = toMetadata(metadata);
    } catch (e) {
      return Promise.reject(e);
    }
    const done = new Promise<void>((resolve, reject) =>
      this.#closeWaiters.push({ resolve, reject })
    );
    if (this.#state === "open") {
      this.#state = "closing";
      this.#closeMetadata = m;
      if (this.#host !== undefined && this.#live === 0) this.#finishClose();
    }
    return done;
  }

  #finishClose(): void {
    this.#state = "closed";
    this.#host!.sendClose(this.#id, this.#closeMetadata);
    this.#host!.forget(this.#id);
    for (const w of this.#closeWaiters.splice(0)) w.resolve();
  }

  #reset(metadata: Metadata): void {
    if (this.#state === "closed" || this.#state === "failed" || this.#state === "reset") return;
    this.#end("reset", new ChannelResetError(metadata));
  }

  #fail(error: unknown): void {
    if (this.#state === "closed" || this.#state === "failed" || this.#state === "reset") return;
    this.#end("failed", error);
  }

  #end(state: "reset" | "failed", error: unknown): void {
    this.#state = state;
    this.#error = error;
    for (const e of this.#queue.drain()) {
      if (e.dead) continue;
      e.dead = true;
      e.cleanup?.();
      e.reject(error);
    }
    this.#live = 0;
    // A close that was waiting completes: the channel is over either way.
    for (const w of this.#closeWaiters.splice(0)) w.resolve();
    this.#abort.abort(error);
  }

  /**
   * Keeps this end open past the handler that received it. A `Tx` a
   * handler receives is closed when the handler settles (its promise
   * resolves or rejects), after the items already passed to `send`, so a
   * forgotten `close()` never leaves the caller waiting; call `keep()`
   * before then to go on sending afterwards, and `close()` it yourself. On
   * an end made by {@linkcode channel} (the caller's side) it changes
   * nothing.
   *
   * @returns This end.
   * @throws {TypeError} When its handler has settled already.
   *
   * @example Sending after the handler returned
   * ```ts
   * import { implement, service, t } from "@roam/roam";
   *
   * const Ticker = service("Ticker", { start: { args: [t.u32, t.tx(t.u32)], returns: t.unit } });
   * const impl = implement(Ticker, {
   *   start: (n, ticks) => {
   *     const kept = ticks.keep();
   *     void (async () => {
   *       for (let i = 0; i < n; i++) await kept.send(i);
   *       await kept.close();
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

  /** Its handler settled: close unless kept. */
  #release(): void {
    if (this.#lifetime !== 0) return;
    this.#lifetime = 2;
    if (this.#state === "open") void this.close();
  }

  /** A `WritableStream` view: writing sends, closing closes. */
  get writable(): WritableStream<T> {
    return this.#writable ??= new WritableStream<T>({
      write: (value) => this.send(value),
      close: () => this.close(),
      abort: () => this.close(),
    }, { highWaterMark: 1 });
  }

  /** Closes the channel when used with `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Internal operations on a `Tx`, for `channel()` and the connection layer. */
export const txInternals = {
  bind: (
    tx: Tx<unknown>,
    host: ChannelHost,
    id: number,
    schema: Schema<unknown>,
    credit: number,
  ): void => bindTx(tx, host, id, schema, credit),
  grant: (tx: Tx<unknown>, n: number): void => txGrant(tx, n),
  reset: (tx: Tx<unknown>, metadata: Metadata): void => txReset(tx, metadata),
  fail: (tx: Tx<unknown>, error: unknown): void => txFail(tx, error),
  release: (tx: Tx<unknown>): void => txRelease(tx),
  partner: (tx: Tx<unknown>): Rx<unknown> | undefined => txPartner(tx),
  pair: (tx: Tx<unknown>, rx: Rx<unknown>): void => setTxPartner(tx, rx),
  bound: (tx: Tx<unknown>): boolean => txBound(tx),
};
