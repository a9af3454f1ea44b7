/**
 * The sending side of a session: writers for messages, and back-pressure.
 * Senders that must wait (channel items, responses, pongs, calls) queue
 * here until the conduit's send buffer drains; when too many replies the
 * peer asked for are waiting, reading from the peer stops; bytes sent
 * without waiting while the buffer is full count toward the session's
 * overflow limit.
 *
 * @module
 */

import { Queue } from "../_util/queue.ts";
import type { Conduit } from "../conduit/conduit.ts";
import { Writer } from "../postcard/_writer.ts";
import { writeMessage } from "../wire/encode.ts";
import { ClosedError } from "../wire/errors.ts";
import type { Message } from "../wire/types.ts";
import type { ResolvedLimits } from "./options.ts";

/** Replies owed to the peer (waiting for the send buffer to drain) past which reading stops. */
const OWED_BEFORE_PAUSE = 32;

interface Waiter {
  readonly f: () => void;
  readonly owed: boolean;
}

/** The sending side of one session. */
export class Sender {
  readonly #conduit: Conduit;
  readonly #limits: ResolvedLimits;
  readonly #overflowed: (error: ClosedError) => void;
  readonly #writer = new Writer(1024);
  #stopped = false;
  /** Senders waiting for the send buffer to drain, in order. */
  readonly #waiters = new Queue<Waiter>();
  /** How many of the waiters are replies owed to the peer. */
  #owed = 0;
  /** True while a drain callback is registered with the conduit. */
  #watching = false;
  /** True while reading from the peer is paused because replies are owed. */
  #readPaused = false;
  /** Bytes sent while the send buffer was above its high-water mark, since it last drained. */
  #overflow = 0;
  /** Messages sent (stats). */
  messages = 0;
  /** Bytes sent, as messages (stats). */
  bytes = 0;

  /**
   * @param conduit Where messages go.
   * @param limits The session's limits (`sendHighWaterMark`, `maxSendOverflow`).
   * @param overflowed Ends the session when the peer does not read past the limit.
   */
  constructor(conduit: Conduit, limits: ResolvedLimits, overflowed: (error: ClosedError) => void) {
    this.#conduit = conduit;
    this.#limits = limits;
    this.#overflowed = overflowed;
    // Large `bytes` values go to a link that writes parts, or shares them,
    // without being copied into the message first.
    this.#writer.gather = conduit.gathers;
  }

  /** True while a sender need not wait: the send buffer is at or below its high-water mark. */
  get writable(): boolean {
    return this.#conduit.buffered <= this.#limits.sendHighWaterMark;
  }

  /** True when nobody waits to send (a new sender may go ahead of no one). */
  get clear(): boolean {
    return this.#waiters.length === 0;
  }

  /** A writer for one message; give it back with `release` after `send`. */
  acquire(): Writer {
    const w = this.#writer;
    if (w.busy) {
      const extra = new Writer(256);
      extra.gather = w.gather;
      return extra;
    }
    w.busy = true;
    w.rewind(0, 0);
    return w;
  }

  /** Returns a writer taken with `acquire`. */
  release(w: Writer): void {
    w.busy = false;
    w.reset();
  }

  /**
   * Sends the message written in `w`. `writable`: the caller found
   * `writable` true and has not yielded or sent since (the buffer is not
   * read again).
   */
  send(w: Writer, writable = false): void {
    if (this.#stopped) return;
    const conduit = this.#conduit;
    const over = !writable && conduit.buffered > this.#limits.sendHighWaterMark;
    const size = w.segmentCount > 0 ? w.size : w.pos;
    conduit.send(w);
    this.messages++;
    this.bytes += size;
    if (over) this.#overdrawn(size);
  }

  /** Encodes and sends one message. */
  sendMessage(message: Message): void {
    const w = this.acquire();
    try {
      writeMessage(w, message);
      this.send(w);
    } finally {
      this.release(w);
    }
  }

  /**
   * Accounts for a message sent while the send buffer was above its
   * high-water mark (one that does not wait, such as a grant or a close):
   * past `maxSendOverflow` such bytes, the peer is not reading.
   */
  #overdrawn(size: number): void {
    this.#overflow += size;
    const max = this.#limits.maxSendOverflow;
    if (this.#overflow > max) {
      this.#overflowed(
        new ClosedError(
          "peer-not-reading",
          `The peer did not read: ${this.#conduit.buffered} bytes were waiting to be sent, ${this.#overflow} of them beyond the send high-water mark (limits.maxSendOverflow is ${max})`,
        ),
      );
      return;
    }
    this.#watch();
  }

  /**
   * Calls `f` once the send buffer has drained (in order with other
   * waiters), or never if the session ends first. `owed` marks a reply the
   * peer asked for: while many are owed, reading from the peer stops.
   */
  whenWritable(f: () => void, owed: boolean): void {
    if (this.#stopped) return;
    this.#waiters.push({ f, owed });
    if (owed && ++this.#owed > OWED_BEFORE_PAUSE && !this.#readPaused) {
      // The peer keeps asking and does not read the answers: stop reading it.
      this.#readPaused = true;
      this.#conduit.pause();
    }
    this.#watch();
  }

  /** Asks the conduit for a call when the send buffer has drained to half the high-water mark. */
  #watch(): void {
    if (this.#watching) return;
    this.#watching = true;
    this.#conduit.whenBelow(this.#limits.sendHighWaterMark >> 1, this.#drained);
  }

  /** The send buffer drained: wake waiters in order while it stays below the high-water mark. */
  readonly #drained = (): void => {
    this.#watching = false;
    if (this.#stopped) return;
    this.#overflow = 0;
    const waiters = this.#waiters;
    const hwm = this.#limits.sendHighWaterMark;
    while (waiters.length > 0) {
      if (this.#conduit.buffered > hwm) {
        this.#watch();
        return;
      }
      const w = waiters.shift()!;
      if (w.owed) this.#owed--;
      w.f();
      if (this.#stopped) return;
    }
    if (this.#readPaused) {
      this.#readPaused = false;
      this.#conduit.resume();
    }
  };

  /** The session ended: nothing more is sent, and the waiters are dropped. */
  stop(): void {
    this.#stopped = true;
    this.#waiters.drain();
    this.#owed = 0;
  }
}
