/**
 * Conduits turn encoded session messages into link payloads and back. The
 * bare conduit is the identity: one message per payload (wire-spec §3.4).
 *
 * @module
 */

import {
  directFlow,
  directReceive,
  directSend,
  directSendCopy,
  directSendParts,
  directSendShared,
  type Link,
  type LinkFlow,
  type PayloadSink,
} from "../link/link.ts";
import { copyOut } from "../_util/bytes.ts";
import { Queue } from "../_util/queue.ts";
import { mustYield, nextMacrotask } from "../_util/turn.ts";

/**
 * What a message waiting in a link's writable stream costs beyond its
 * bytes (the chunk's view, the queue entry, the write's promise), counted
 * toward `buffered` so that many tiny messages are bounded too.
 */
const MESSAGE_OVERHEAD = 1024;

/**
 * A message pipe under a session. `send` never blocks: the session keeps
 * memory bounded by looking at `buffered` before it sends, waiting with
 * `whenBelow`, and pausing the peer with `pause` (read back-pressure).
 */
export interface Conduit {
  /** Bytes sent and not yet written to the transport. */
  readonly buffered: number;
  /** Calls `f` once when at most `limit` bytes are buffered (at once if so now), or the link failed. */
  whenBelow(limit: number, f: () => void): void;
  /** Stops delivering incoming messages to the `listen` sink until `resume()`. */
  pause(): void;
  /** Delivers incoming messages again. */
  resume(): void;
  /** Queues one encoded message for the peer; the conduit owns it from now on. */
  send(message: Uint8Array): void;
  /** Queues the message in `bytes[0, length)`; `bytes` may be reused as soon as this returns. */
  sendCopy(bytes: Uint8Array, length: number): void;
  /**
   * Queues one message given as `parts` (`total` bytes in all); every part
   * may be changed as soon as this returns. Undefined when the link has no
   * better way than joining them (the caller then joins them itself).
   */
  readonly sendParts: ((parts: readonly Uint8Array[], total: number) => void) | undefined;
  /**
   * Queues one message made of `prefix[0, length)` (copied at once)
   * followed by `last`, which is passed to the peer by reference. Undefined
   * unless the link was created to share large `bytes` values.
   */
  readonly sendShared:
    | ((prefix: Uint8Array, length: number, last: Uint8Array) => void)
    | undefined;
  /** Resolves with the next message; `done` is true at a graceful end of stream. */
  recv(): Promise<ReadableStreamReadResult<Uint8Array>>;
  /**
   * Delivers every later message to `sink` as it arrives (after the
   * handshake's `recv` calls). Used instead of `recv` from then on.
   */
  listen(sink: PayloadSink): void;
  /** Stops delivering to the `listen` sink (the session ended). */
  stop(): void;
  /** Flushes what was sent, then ends the stream gracefully. */
  close(): Promise<void>;
  /** Drops the link at once. */
  abort(reason: unknown): void;
  /** Called once when sending fails (the link broke). */
  onSendError: ((error: unknown) => void) | undefined;
}

/** A conduit that sends each message as one link payload. */
export class BareConduit implements Conduit {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #direct: ((payload: Uint8Array) => void) | undefined;
  readonly #receive: ((sink: PayloadSink) => void) | undefined;
  readonly #directCopy: ((bytes: Uint8Array, length: number) => void) | undefined;
  /** The link's own flow control, when it has one. */
  readonly #flow: LinkFlow | undefined;
  /**
   * Without a link flow: bytes written whose write has not completed, each
   * message counted with {@linkcode MESSAGE_OVERHEAD} more for what queuing
   * it costs (a flood of tiny messages costs far more than its bytes).
   */
  #pending = 0;
  /** The counted sizes of the writes not yet completed, in order (writes complete in order). */
  readonly #sizes = new Queue<number>();
  #low: { readonly limit: number; readonly f: () => void }[] = [];
  /** Without a link flow: set while the `listen` loop must not read. */
  #paused = false;
  #wakeReader: (() => void) | undefined;
  #failed = false;
  #closed = false;
  #aborted = false;
  #stopped = false;
  /** Called once when sending fails (the link broke). */
  onSendError: ((error: unknown) => void) | undefined = undefined;
  readonly sendParts: ((parts: readonly Uint8Array[], total: number) => void) | undefined;
  readonly sendShared:
    | ((prefix: Uint8Array, length: number, last: Uint8Array) => void)
    | undefined;
  readonly #fail = (e: unknown): void => {
    if (this.#failed || this.#closed) return;
    this.#failed = true;
    this.#pending = 0;
    this.#sizes.drain();
    this.#progress();
    this.onSendError?.(e);
  };

  /**
   * Wraps a link.
   *
   * @param link The link; the conduit takes its reader and writer.
   */
  constructor(link: Link) {
    this.#reader = link.readable.getReader();
    this.#writer = link.writable.getWriter();
    this.#direct = (link as { [directSend]?: (payload: Uint8Array) => void })[directSend];
    this.#receive = (link as { [directReceive]?: (sink: PayloadSink) => void })[directReceive];
    this.#directCopy =
      (link as { [directSendCopy]?: (b: Uint8Array, n: number) => void })[directSendCopy];
    this.#flow = (link as { [directFlow]?: LinkFlow })[directFlow];
    const parts = (link as {
      [directSendParts]?: (parts: readonly Uint8Array[], total: number) => void;
    })[directSendParts];
    this.sendParts = parts === undefined ? undefined : (p, total) => {
      if (!this.#failed && !this.#closed) parts(p, total);
    };
    const shared = (link as {
      [directSendShared]?: (prefix: Uint8Array, length: number, last: Uint8Array) => void;
    })[directSendShared];
    this.sendShared = shared === undefined ? undefined : (prefix, length, last) => {
      if (!this.#failed && !this.#closed) shared(prefix, length, last);
    };
    // Observe the writer's end so a broken link never becomes an unhandled rejection.
    this.#writer.closed.catch(this.#fail);
  }

  get buffered(): number {
    return this.#flow !== undefined ? this.#flow.buffered() : this.#pending;
  }

  whenBelow(limit: number, f: () => void): void {
    if (this.#flow !== undefined) this.#flow.whenBelow(limit, f);
    else if (this.#failed || this.#pending <= limit) f();
    else this.#low.push({ limit, f });
  }

  #progress(): void {
    const low = this.#low;
    if (low.length === 0) return;
    const pending = this.#pending;
    const ready = low.filter((w) => pending <= w.limit);
    if (ready.length === 0) return;
    this.#low = low.filter((w) => pending > w.limit);
    for (const w of ready) w.f();
  }

  pause(): void {
    if (this.#flow !== undefined) this.#flow.pause();
    else this.#paused = true;
  }

  resume(): void {
    if (this.#flow !== undefined) {
      this.#flow.resume();
      return;
    }
    this.#paused = false;
    const wake = this.#wakeReader;
    this.#wakeReader = undefined;
    wake?.();
  }

  send(message: Uint8Array): void {
    if (this.#failed || this.#closed) return;
    if (this.#direct !== undefined) {
      this.#direct(message);
      return;
    }
    const n = message.length + MESSAGE_OVERHEAD;
    this.#pending += n;
    this.#sizes.push(n);
    this.#writer.write(message).then(this.#written, this.#fail);
  }

  /** One write completed (the oldest: a stream's writes complete in order). */
  readonly #written = (): void => {
    this.#pending -= this.#sizes.shift() ?? 0;
    this.#progress();
  };

  recv(): Promise<ReadableStreamReadResult<Uint8Array>> {
    return this.#reader.read();
  }

  listen(sink: PayloadSink): void {
    if (this.#receive !== undefined) {
      this.#receive(sink);
      return;
    }
    void (async () => {
      for (;;) {
        while (this.#paused && !this.#stopped) {
          await new Promise<void>((r) => (this.#wakeReader = r));
        }
        if (this.#stopped) return;
        let r: ReadableStreamReadResult<Uint8Array>;
        try {
          r = await this.#reader.read();
        } catch (e) {
          sink.error(e);
          return;
        }
        if (r.done) {
          sink.end();
          return;
        }
        sink.payload(r.value);
        if (this.#stopped) return;
        // A long burst of queued messages must not hold the event loop.
        if (mustYield()) await new Promise<void>((r) => nextMacrotask(r));
      }
    })();
  }

  /** Stops a `listen` loop after the current message (the session ended). */
  stop(): void {
    this.#stopped = true;
    const wake = this.#wakeReader;
    this.#wakeReader = undefined;
    wake?.();
  }

  sendCopy(bytes: Uint8Array, length: number): void {
    if (this.#failed || this.#closed) return;
    if (this.#directCopy !== undefined) this.#directCopy(bytes, length);
    else this.send(copyOut(bytes, length));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      if (!this.#failed) await this.#writer.close();
    } catch {
      // The link already failed; nothing left to flush.
    }
    this.#reader.cancel().catch(() => {});
  }

  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#closed = true;
    this.#writer.abort(reason).catch(() => {});
    this.#reader.cancel(reason).catch(() => {});
  }
}
