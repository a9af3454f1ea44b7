/**
 * Channels: typed streams that travel inside a call's arguments, with
 * credit-based flow control. `channel<T>()` makes a `[tx, rx]` pair; one
 * end goes into the call, the caller keeps the other.
 *
 * @module
 */

import { Queue } from "../_util/queue.ts";
import { mustYield, nextMacrotask } from "../_util/turn.ts";
import { RpcError } from "../wire/errors.ts";
import {
  describeMetadata,
  EMPTY_METADATA,
  type MetadataInit,
  toMetadata,
} from "../wire/metadata.ts";
import type { Schema } from "../postcard/schema.ts";
import type { Metadata } from "../wire/types.ts";

/** The receiver reset the channel: it asks the sender to stop. */
export class ChannelResetError extends RpcError {
  /**
   * Creates the error.
   *
   * @param metadata The receiver's reset metadata (`SENSITIVE` values are
   * readable through `metadata` and never shown).
   */
  constructor(metadata: Metadata = EMPTY_METADATA) {
    const reason = metadata.length > 0 ? ` (${describeMetadata(metadata)})` : "";
    super("cancelled", `The receiver reset the channel${reason}`, { metadata });
    this.name = "ChannelResetError";
  }
}

/** What a bound channel end needs from its connection. */
export interface ChannelHost {
  /** Encodes and sends one item; throws a TypeError/RangeError for a bad value. */
  sendItem(id: number, schema: Schema<unknown>, value: unknown): void;
  /** Sends `Close`. */
  sendClose(id: number, metadata: Metadata): void;
  /** Sends `Reset`. */
  sendReset(id: number, metadata: Metadata): void;
  /** Sends `GrantCredit`. */
  sendGrant(id: number, additional: number): void;
  /** Forgets the channel id. */
  forget(id: number): void;
  /** True while items may be sent without waiting for the link to drain. */
  writable(): boolean;
  /** Calls `f` once the link has drained (never if the connection closes first). */
  whenWritable(f: () => void): void;
}

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
let bindRx: (
  rx: Rx<unknown>,
  host: ChannelHost,
  id: number,
  schema: Schema<unknown>,
  credit: number,
) => void;
let rxItem: (rx: Rx<unknown>, value: unknown) => boolean;
let rxClose: (rx: Rx<unknown>, metadata: Metadata) => void;
let rxRelease: (rx: Rx<unknown>) => void;
let txRelease: (tx: Tx<unknown>) => void;
let rxFail: (rx: Rx<unknown>, error: unknown) => void;
let txPartner: (tx: Tx<unknown>) => Rx<unknown> | undefined;
let setTxPartner: (tx: Tx<unknown>, rx: Rx<unknown>) => void;
let setRxPartner: (rx: Rx<unknown>, tx: Tx<unknown>) => void;
let txBound: (tx: Tx<unknown>) => boolean;
let rxPartner: (rx: Rx<unknown>) => Tx<unknown> | undefined;
let rxBound: (rx: Rx<unknown>) => boolean;

/**
 * The sending end of a channel. `send()` waits for credit, so a fast
 * producer never runs ahead of the receiver by more than the channel's
 * credit.
 *
 * A `Tx` a handler receives is closed when the handler settles, unless it
 * was kept with {@linkcode Tx.keep}; a `Tx` the caller keeps is closed by
 * the caller.
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
  #outstanding = 0;
  #consumed = 0;
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
    bindRx = (rx, host, id, _schema, credit) => rx.#bind(host, id, credit);
    rxItem = (rx, v) => rx.#item(v);
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

  #bind(host: ChannelHost, id: number, credit: number): void {
    this.#host = host;
    this.#id = id;
    this.#initial = credit;
    this.#outstanding = credit;
    this.#partner = undefined;
  }

  /**
   * Takes an item from the wire. Returns false when the sender exceeded
   * its credit (a protocol violation the connection reports).
   */
  #item(value: unknown): boolean {
    if (--this.#outstanding < 0) return false;
    if (this.#state !== "open") return true; // reset locally: drop quietly
    const waiters = this.#waiters;
    if (waiters.length === 0) {
      this.#items.push(value);
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
    this.#consumed++;
    if (this.#consumed >= Math.max(1, this.#initial >> 1) && this.#state === "open") {
      const n = this.#consumed;
      this.#consumed = 0;
      this.#outstanding += n;
      this.#host!.sendGrant(this.#id, n);
    }
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

/**
 * Makes a channel: a `[tx, rx]` pair. Pass one end as a `t.tx(T)` or
 * `t.rx(T)` argument of a call and keep the other:
 *
 * - for `t.rx(T)` (the handler receives), pass `rx` and send with `tx`;
 * - for `t.tx(T)` (the handler sends), pass `tx` and receive with `rx`.
 *
 * @returns The two ends.
 *
 * @example Streaming numbers to a handler
 * ```ts
 * import { accept, channel, implement, initiate, memoryLink, service, t } from "@roam/roam";
 *
 * const Summer = service("Summer", { sum: { args: [t.rx(t.i32)], returns: t.i64 } });
 * const [a, b] = memoryLink();
 * const [client, server] = await Promise.all([
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
 * const result = client.client(Summer).sum(rx);
 * for (let i = 1; i <= 100; i++) await tx.send(i);
 * await tx.close();
 * console.log(await result); // 5050n
 * await client.close();
 * await server.closed;
 * ```
 */
export function channel<T>(): [Tx<T>, Rx<T>] {
  const tx = new Tx<T>();
  const rx = new Rx<T>();
  setTxPartner(tx as Tx<unknown>, rx as Rx<unknown>);
  setRxPartner(rx as Rx<unknown>, tx as Tx<unknown>);
  return [tx, rx];
}

/** Internal operations on channel ends, for the connection layer. */
export const channelInternals = {
  bindTx: (
    tx: Tx<unknown>,
    host: ChannelHost,
    id: number,
    schema: Schema<unknown>,
    credit: number,
  ): void => bindTx(tx, host, id, schema, credit),
  grant: (tx: Tx<unknown>, n: number): void => txGrant(tx, n),
  resetTx: (tx: Tx<unknown>, metadata: Metadata): void => txReset(tx, metadata),
  failTx: (tx: Tx<unknown>, error: unknown): void => txFail(tx, error),
  bindRx: (
    rx: Rx<unknown>,
    host: ChannelHost,
    id: number,
    schema: Schema<unknown>,
    credit: number,
  ): void => bindRx(rx, host, id, schema, credit),
  item: (rx: Rx<unknown>, value: unknown): boolean => rxItem(rx, value),
  closeRx: (rx: Rx<unknown>, metadata: Metadata): void => rxClose(rx, metadata),
  /** The handler that received `end` settled: close or reset it unless it was kept. */
  release: (end: Tx<unknown> | Rx<unknown>): void =>
    end instanceof Tx ? txRelease(end) : rxRelease(end),
  failRx: (rx: Rx<unknown>, error: unknown): void => rxFail(rx, error),
  partner: (end: Tx<unknown> | Rx<unknown>): Tx<unknown> | Rx<unknown> | undefined =>
    end instanceof Tx ? txPartner(end) : rxPartner(end),
  bound: (end: Tx<unknown> | Rx<unknown>): boolean =>
    end instanceof Tx ? txBound(end) : rxBound(end),
};
