/**
 * The bare conduit: each session message is one link payload (wire-spec
 * §3.4), sent through the link's fast path ({@linkcode DirectLink}), or
 * through its streams for a link that has none.
 *
 * @module
 */

import { copyOut } from "../_util/bytes.ts";
import type {
  DirectLink,
  Link,
  PayloadRead,
  PayloadReader,
  PayloadSink,
  PayloadWriter,
} from "../link/link.ts";
import { streamsDirect } from "../link/streams.ts";
import type { Writer } from "../postcard/_writer.ts";
import type { Conduit } from "./conduit.ts";

/** Messages above this size are handed to the link without a copy. */
const HANDOFF_SIZE = 64 * 1024;

/** A conduit that sends each message as one link payload. */
export class BareConduit implements Conduit {
  readonly #reader: PayloadReader;
  readonly #writer: PayloadWriter;
  readonly #direct: DirectLink;
  readonly #stopStreams: (() => void) | undefined;
  #failed = false;
  #closed = false;
  #aborted = false;
  /** Called once when sending fails (the link broke). */
  onSendError: ((error: unknown) => void) | undefined = undefined;
  readonly gathers: boolean;
  readonly #fail = (e: unknown): void => {
    if (this.#failed || this.#closed) return;
    this.#failed = true;
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
    if (link.direct !== undefined) {
      this.#direct = link.direct;
    } else {
      const direct = streamsDirect(this.#reader, this.#writer, this.#fail);
      this.#direct = direct;
      this.#stopStreams = direct.stop;
    }
    this.gathers = this.#direct.sendParts !== undefined || this.#direct.sendShared !== undefined;
    // Observe the writer's end so a broken link never becomes an unhandled rejection.
    this.#writer.closed.catch(this.#fail);
  }

  send(w: Writer): void {
    if (this.#failed || this.#closed) return;
    const d = this.#direct;
    if (w.segmentCount > 0) {
      // Large arrays kept by reference: a link that writes parts takes them
      // as they are; one that shares takes the array that ends the message.
      if (d.sendParts !== undefined) d.sendParts(w.parts(), w.size);
      else {
        const last = w.lastSegment;
        if (last !== undefined && d.sendShared !== undefined) d.sendShared(w.buf, w.pos, last);
        else d.send(w.handOff());
      }
    } else if (w.pos > HANDOFF_SIZE) d.send(w.handOff());
    else if (d.sendCopy !== undefined) d.sendCopy(w.buf, w.pos);
    else d.send(copyOut(w.buf, w.pos));
  }

  get buffered(): number {
    return this.#direct.flow.buffered();
  }

  whenBelow(limit: number, f: () => void): void {
    this.#direct.flow.whenBelow(limit, f);
  }

  pause(): void {
    this.#direct.flow.pause();
  }

  resume(): void {
    this.#direct.flow.resume();
  }

  recv(): Promise<PayloadRead> {
    return this.#reader.read();
  }

  listen(sink: PayloadSink): void {
    this.#direct.receive(sink);
  }

  /** Stops delivering to the `listen` sink (the session ended). */
  stop(): void {
    this.#stopStreams?.();
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
