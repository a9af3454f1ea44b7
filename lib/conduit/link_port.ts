/**
 * One link as the stable conduit drives it: its fast path (the link's own
 * or one built on its streams), every payload pushed to one handler that
 * the owner may swap (the link handshake first, then frames), a single
 * "down" report for whichever side fails first, and close and abort.
 *
 * @module
 */

import { copyRange } from "../_util/bytes.ts";
import type { DirectLink, Link, LinkFlow, PayloadReader, PayloadWriter } from "../link/link.ts";
import { streamsDirect } from "../link/streams.ts";

/** Where a port delivers what its link receives. */
export interface PortHandler {
  /** One payload. */
  payload(p: Uint8Array): void;
  /**
   * Optional: one payload, `bytes[start, end)`, lent for this call only
   * (see `PayloadSink.lent`). Without it, such a payload is copied for
   * `payload`.
   */
  lent?(bytes: Uint8Array, start: number, end: number): void;
  /**
   * The link is down: `error` is undefined for a graceful end of stream,
   * else why it failed (reading or writing). Called once.
   */
  down(error: unknown): void;
}

/** A link in push mode with one swappable handler. */
export class LinkPort {
  readonly #reader: PayloadReader;
  readonly #writer: PayloadWriter;
  readonly #direct: DirectLink;
  readonly #stopStreams: (() => void) | undefined;
  #started = false;
  #down = false;
  #closing = false;
  /** Receives the link's payloads and its end. */
  handler: PortHandler;

  /**
   * Takes the link's reader and writer; `start` begins receiving.
   *
   * @param link The link.
   * @param handler The first handler.
   */
  constructor(link: Link, handler: PortHandler) {
    this.handler = handler;
    this.#reader = link.readable.getReader();
    this.#writer = link.writable.getWriter();
    const failed = (e: unknown): void => this.#fail(e);
    if (link.direct !== undefined) {
      this.#direct = link.direct;
    } else {
      const direct = streamsDirect(this.#reader, this.#writer, failed);
      this.#direct = direct;
      this.#stopStreams = direct.stop;
    }
    // Observe the writer's end, so a broken link never becomes an unhandled rejection.
    this.#writer.closed.catch(failed);
  }

  /** Starts delivering payloads (and the link's end) to the handler. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    const failed = (e: unknown): void => this.#fail(e);
    this.#direct.receive({
      payload: (p) => {
        if (!this.#down) this.handler.payload(p);
      },
      lent: (bytes, start, end) => {
        if (this.#down) return;
        const h = this.handler;
        if (h.lent !== undefined) h.lent(bytes, start, end);
        else h.payload(copyRange(bytes, start, end - start));
      },
      end: () => this.#fail(undefined),
      error: failed,
    });
  }

  /** The link's flow control. */
  get flow(): LinkFlow {
    return this.#direct.flow;
  }

  /** True once the link was reported down (or closed or aborted by the owner). */
  get isDown(): boolean {
    return this.#down;
  }

  #fail(e: unknown): void {
    if (this.#down) return;
    this.#down = true;
    this.handler.down(e);
  }

  /** Sends a payload nobody else holds (the link takes it). */
  sendOwned(p: Uint8Array): void {
    if (!this.#down) this.#direct.send(p);
  }

  /**
   * Sends a copy of `buf[off, off + size)`: the caller keeps `buf` (for
   * replay) and the link owns what it sends.
   */
  sendRange(buf: Uint8Array, off: number, size: number): void {
    if (this.#down) return;
    const d = this.#direct;
    if (d.sendCopy !== undefined) d.sendCopy(buf, size, off);
    else d.send(copyRange(buf, off, size));
  }

  /** Flushes what was sent, then ends the stream gracefully; never rejects. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#down = true;
    try {
      await this.#writer.close();
    } catch {
      // The link already failed; nothing left to flush.
    }
    this.#stopStreams?.();
    this.#reader.cancel().catch(() => {});
  }

  /** Drops the link at once. */
  abort(reason: unknown): void {
    this.#down = true;
    if (this.#closing) {
      // Closing already: make it quick.
      this.#writer.abort(reason).catch(() => {});
      return;
    }
    this.#closing = true;
    this.#stopStreams?.();
    this.#writer.abort(reason).catch(() => {});
    this.#reader.cancel(reason).catch(() => {});
  }
}
