/**
 * One direction of an in-memory link: a queue of payloads between a
 * writer and a reader in the same process, read either as a Web Stream or
 * in push mode, where payloads are handed to a sink in batches, one
 * microtask per batch rather than one promise per payload.
 *
 * @module
 */

import { Queue } from "../_util/queue.ts";
import { mustYield, nextMacrotask } from "../_util/turn.ts";
import type { PayloadSink } from "./link.ts";
import { concatTwo, copyOut } from "../_util/bytes.ts";

/** A payload made of a copied prefix and an array shared by reference. */
class SharedPayload {
  readonly prefix: Uint8Array;
  readonly last: Uint8Array;

  constructor(prefix: Uint8Array, last: Uint8Array) {
    this.prefix = prefix;
    this.last = last;
  }

  /** The whole payload in one new array. */
  join(): Uint8Array {
    return concatTwo(this.prefix, this.last);
  }
}

/** The state of one direction. */
export class Pipe {
  readonly #queue = new Queue<Uint8Array | SharedPayload>();
  readonly #highWaterMark: number;
  /** Writers waiting for the queue to fall below the high-water mark. */
  #spaceWaiters: (() => void)[] = [];
  /** The stream's controller while a read waits for the next payload. */
  #waiting: ReadableStreamDefaultController<Uint8Array> | undefined;
  #sink: PayloadSink | undefined;
  #scheduled = false;
  /** Set by the writer: the stream ends once the queue is empty. */
  #ended = false;
  /** Set when the writer aborted or the reader cancelled. */
  #failure: { reason: unknown } | undefined;
  #delivered = false;
  /** Bytes queued (the writer's view of what the reader has not taken yet). */
  #bytes = 0;
  /** One-shot callbacks waiting for the queued bytes to fall to a limit. */
  #low: { readonly limit: number; readonly f: () => void }[] = [];
  /** True while the push sink asked not to be given payloads. */
  #held = false;
  /** Told when the reader cancels, so the writer's side errors. */
  onCancel: ((reason: unknown) => void) | undefined;

  /**
   * Creates a pipe.
   *
   * @param highWaterMark Payloads queued before a stream writer waits.
   */
  constructor(highWaterMark: number) {
    this.#highWaterMark = highWaterMark;
  }

  /** The reading end, as a Web Stream. */
  readonly readable: ReadableStream<Uint8Array> = new ReadableStream<Uint8Array>({
    pull: (controller) => this.#pull(controller),
    cancel: (reason) => {
      this.#delivered = true; // the reader gave up: nothing more goes to a sink
      this.#fail(reason);
      this.onCancel?.(reason);
    },
  }, { highWaterMark: 0 });

  /** The writing end, as a Web Stream. */
  readonly writable: WritableStream<Uint8Array> = new WritableStream<Uint8Array>({
    start: (controller) => {
      this.onCancel = (reason) => controller.error(reason);
    },
    write: (payload): Promise<void> | undefined => {
      this.push(payload);
      if (this.#queue.length < this.#highWaterMark || this.#sink !== undefined) return undefined;
      return new Promise<void>((resolve) => this.#spaceWaiters.push(resolve));
    },
    close: () => this.end(),
    abort: (reason) => this.#fail(reason),
  });

  /** Bytes queued and not yet taken by the reader. */
  get buffered(): number {
    return this.#bytes;
  }

  /** Calls `f` once when at most `limit` bytes are queued (at once if so now), or the pipe failed. */
  whenBelow(limit: number, f: () => void): void {
    if (this.#failure !== undefined || this.#bytes <= limit) f();
    else this.#low.push({ limit, f });
  }

  #progress(): void {
    const low = this.#low;
    if (low.length === 0) return;
    const bytes = this.#bytes;
    const ready = low.filter((w) => bytes <= w.limit);
    if (ready.length === 0) return;
    this.#low = low.filter((w) => bytes > w.limit);
    for (const w of ready) w.f();
  }

  /** Stops handing payloads to the push sink until {@linkcode Pipe.resume}. */
  hold(): void {
    this.#held = true;
  }

  /** Hands payloads to the push sink again. */
  resume(): void {
    if (!this.#held) return;
    this.#held = false;
    if (this.#sink !== undefined) this.#schedule();
  }

  /** Takes the next payload off the queue. */
  #take(): Uint8Array | SharedPayload | undefined {
    const p = this.#queue.shift();
    if (p !== undefined) {
      this.#bytes -= p instanceof SharedPayload ? p.prefix.length + p.last.length : p.length;
    }
    return p;
  }

  /** Queues one payload, never waiting (the layers above bound what they send). */
  push(payload: Uint8Array): void {
    if (this.#ended || this.#failure !== undefined) return;
    this.#bytes += payload.length;
    this.#queue.push(payload);
    if (this.#sink !== undefined) this.#schedule();
    else this.#wake();
  }

  /**
   * Queues one payload made of `prefix[0, length)` (copied now) followed
   * by `last` (kept by reference). A sink with a `shared` method gets the
   * two as they are; a stream reader or another sink gets them joined.
   */
  pushShared(prefix: Uint8Array, length: number, last: Uint8Array): void {
    if (this.#ended || this.#failure !== undefined) return;
    this.#bytes += length + last.length;
    this.#queue.push(new SharedPayload(copyOut(prefix, length), last));
    if (this.#sink !== undefined) this.#schedule();
    else this.#wake();
  }

  /** Ends the stream after the queued payloads. */
  end(): void {
    if (this.#ended || this.#failure !== undefined) return;
    this.#ended = true;
    if (this.#sink !== undefined) this.#schedule();
    else this.#wake();
  }

  /** Switches to push mode: this and every later payload goes to `sink`. */
  receive(sink: PayloadSink): void {
    this.#sink = sink;
    this.#schedule();
  }

  #fail(reason: unknown): void {
    if (this.#failure !== undefined) return;
    this.#failure = { reason };
    this.#queue.drain();
    this.#bytes = 0;
    this.#releaseWriters();
    this.#progress();
    if (this.#sink !== undefined) this.#schedule();
    else this.#wake();
  }

  /** Serves a waiting stream read, if any, from the queue or the end. */
  #wake(): void {
    const c = this.#waiting;
    if (c === undefined) return;
    this.#waiting = undefined;
    this.#pull(c);
  }

  #releaseWriters(): void {
    const waiters = this.#spaceWaiters;
    if (waiters.length === 0) return;
    this.#spaceWaiters = [];
    for (const w of waiters) w();
  }

  #pull(controller: ReadableStreamDefaultController<Uint8Array>): void {
    const next = this.#take();
    if (next !== undefined) {
      controller.enqueue(next instanceof SharedPayload ? next.join() : next);
      if (this.#queue.length < this.#highWaterMark) this.#releaseWriters();
      this.#progress();
      return;
    }
    if (this.#failure !== undefined) {
      controller.error(this.#failure.reason);
      return;
    }
    if (this.#ended) {
      controller.close();
      return;
    }
    this.#waiting = controller; // served by the next push, end or failure
  }

  #schedule(): void {
    if (this.#scheduled || this.#delivered) return;
    if (this.#held && this.#failure === undefined) return;
    this.#scheduled = true;
    queueMicrotask(this.#flush);
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    if (this.#delivered) return; // ended, failed or cancelled by the reader meanwhile
    const sink = this.#sink!;
    if (this.#failure !== undefined) {
      this.#delivered = true;
      sink.error(this.#failure.reason);
      return;
    }
    while (!this.#held) {
      if (this.#queue.length > 0 && mustYield()) {
        // A long burst: go on in the next macrotask, so other work is served meanwhile.
        this.#scheduled = true;
        nextMacrotask(this.#flush);
        this.#releaseWriters();
        this.#progress();
        return;
      }
      const p = this.#take();
      if (p === undefined) break;
      if (!(p instanceof SharedPayload)) sink.payload(p);
      else if (sink.shared !== undefined) sink.shared(p.prefix, p.last);
      else sink.payload(p.join());
      if (this.#failure !== undefined) return this.#flush();
    }
    this.#releaseWriters();
    this.#progress();
    if (this.#held) return;
    if (this.#ended) {
      this.#delivered = true;
      sink.end();
    }
  };
}
