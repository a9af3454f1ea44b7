/**
 * Links: the bottom layer. A link moves whole payloads between two peers,
 * in order, with message boundaries, backpressure and graceful close, as a
 * pair of Web Streams.
 *
 * @module
 */

import { Pipe } from "./pipe.ts";

/**
 * A bidirectional, message-oriented connection to one peer.
 *
 * - `readable` yields each payload the peer sent, in order; it closes when
 *   the peer closes its side, and errors when the link fails.
 * - `writable` takes payloads to send. Closing it is a graceful end of
 *   stream for the peer; aborting it is a failure. A payload written to a
 *   link belongs to the link: the writer must not change it afterwards.
 *
 * Every transport (memory, TCP, Unix sockets, WebSocket, stdio,
 * MessagePort) provides this shape.
 */
export interface Link {
  /** Payloads from the peer. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Payloads to the peer. */
  readonly writable: WritableStream<Uint8Array>;
}

/**
 * A link may also carry a function under this key that takes a payload
 * exactly like `writable.getWriter().write()`, minus the per-write promise.
 * The conduit uses it on the hot path when present; links without it are
 * written through their `writable`. Failures still surface on `writable`.
 */
export const directSend: unique symbol = Symbol("roam.link.directSend");

/**
 * A link may also carry a function under this key that sends
 * `bytes[0, length)` and copies them before returning, so the caller may
 * reuse `bytes` at once (no allocation per message on the caller's side).
 */
export const directSendCopy: unique symbol = Symbol("roam.link.directSendCopy");

/**
 * A link may also carry a function under this key that sends one payload
 * given as `parts` (`total` bytes in all, in order) and has written or
 * copied every part before returning, so the caller may change them at
 * once. A socket link writes large parts straight to the socket when it
 * can, so a large `bytes` value is not first copied into a message buffer.
 */
export const directSendParts: unique symbol = Symbol("roam.link.directSendParts");

/**
 * A link may also carry a function under this key that sends one payload
 * made of `prefix[0, length)` followed by `last`. The prefix is copied
 * before returning; `last` is passed on by reference, and the peer's
 * session may hand that very array to its application. Only links created
 * to share large `bytes` values offer it (see
 * {@linkcode MemoryLinkOptions.shareLargeBytes}).
 */
export const directSendShared: unique symbol = Symbol("roam.link.directSendShared");

/**
 * Flow control a link may offer under {@linkcode directFlow}: how much it
 * has buffered for sending, a wake-up when that falls, and a way to stop
 * taking payloads from the peer (read back-pressure, which a byte-stream
 * transport passes on to the peer by not reading its socket).
 */
export interface LinkFlow {
  /** Bytes accepted for sending and not yet written to the transport. */
  buffered(): number;
  /** Calls `f` once when at most `limit` bytes are buffered (at once if so now), or the link failed. */
  whenBelow(limit: number, f: () => void): void;
  /** Stops delivering received payloads until `resume()`. */
  pause(): void;
  /** Delivers received payloads again. */
  resume(): void;
}

/** A link may carry a {@linkcode LinkFlow} under this key. */
export const directFlow: unique symbol = Symbol("roam.link.directFlow");

/** Where a link in push mode delivers what it receives. */
export interface PayloadSink {
  /** One payload. */
  payload(p: Uint8Array): void;
  /**
   * Optional: one payload made of `prefix` followed by `last`, where `last`
   * is an array the sender shared by reference. A sink without this method
   * receives such payloads joined into one array.
   */
  shared?(prefix: Uint8Array, last: Uint8Array): void;
  /** A graceful end of stream. */
  end(): void;
  /** The link failed. */
  error(e: unknown): void;
}

/**
 * A link may also carry a function under this key that switches it to push
 * mode: from then on every payload (including any still buffered) goes to
 * the sink as it arrives, with no promise per payload, and `readable` is
 * no longer fed. Links without it are read through their `readable`.
 */
export const directReceive: unique symbol = Symbol("roam.link.directReceive");

/** Options for {@linkcode memoryLink}. */
export interface MemoryLinkOptions {
  /**
   * Payloads buffered in each direction before a writer waits (the
   * backpressure threshold). Default 64.
   */
  readonly highWaterMark?: number;
  /**
   * When true, a session sending a `bytes` value of 64 KiB or more as the
   * last thing in a message (a `Tx<Uint8Array>` item, for one) passes the
   * array itself to the peer instead of copying it into the message: the
   * receiving side gets the very array that was sent. Moving large buffers
   * between two sessions in one process then costs no copy, but the
   * sender must not change an array after sending it, as with a Web
   * Streams write. Default false: every value is copied when sent.
   */
  readonly shareLargeBytes?: boolean;
}

/**
 * Creates two connected in-memory links: what one writes, the other reads.
 * Payloads are passed by reference, without copying or framing. Sessions
 * on a memory link use its push mode: payloads are handed over in batches,
 * one microtask per batch, rather than one stream read per payload. With
 * `shareLargeBytes`, large `bytes` values sent by a session travel by
 * reference too (see {@linkcode MemoryLinkOptions.shareLargeBytes}).
 *
 * @param options Buffering and sharing options.
 * @returns The two ends.
 * @throws {RangeError} When `highWaterMark` is not a positive integer.
 * @throws {TypeError} When `shareLargeBytes` is not a boolean.
 *
 * @example A pair of links
 * ```ts
 * import { memoryLink } from "@roam/roam";
 *
 * const [a, b] = memoryLink();
 * const writer = a.writable.getWriter();
 * await writer.write(new Uint8Array([1, 2, 3]));
 * const reader = b.readable.getReader();
 * const { value } = await reader.read(); // Uint8Array [1, 2, 3]
 * await writer.close();
 * ```
 *
 * @example Two sessions in one process that pass large byte arrays by reference
 * ```ts
 * import { accept, initiate, memoryLink } from "@roam/roam";
 *
 * const [a, b] = memoryLink({ shareLargeBytes: true });
 * const [client, server] = await Promise.all([initiate(a), accept(b)]);
 * // A 64 KiB or larger `Tx<Uint8Array>` item sent by `client` now reaches
 * // `server`'s `Rx` as the very array sent: do not change it after sending.
 * await client.close();
 * await server.closed;
 * ```
 */
export function memoryLink(options: MemoryLinkOptions = {}): [Link, Link] {
  const hwm = options.highWaterMark ?? 64;
  if (!Number.isInteger(hwm) || hwm < 1) {
    throw new RangeError(
      `Cannot create a memory link: highWaterMark must be a positive integer, got ${hwm}`,
    );
  }
  const share = options.shareLargeBytes ?? false;
  if (typeof share !== "boolean") {
    throw new TypeError(
      `Cannot create a memory link: shareLargeBytes must be a boolean, got ${typeof share}`,
    );
  }
  const ab = new Pipe(hwm);
  const ba = new Pipe(hwm);
  const end = (inbound: Pipe, outbound: Pipe): Link =>
    ({
      readable: inbound.readable,
      writable: outbound.writable,
      [directSend]: (payload: Uint8Array) => outbound.push(payload),
      [directReceive]: (sink: PayloadSink) => inbound.receive(sink),
      [directFlow]: {
        buffered: () => outbound.buffered,
        whenBelow: (limit, f) => outbound.whenBelow(limit, f),
        pause: () => inbound.hold(),
        resume: () => inbound.resume(),
      } satisfies LinkFlow,
      ...(share
        ? {
          [directSendShared]: (prefix: Uint8Array, length: number, last: Uint8Array) =>
            outbound.pushShared(prefix, length, last),
        }
        : {}),
    }) as Link;
  return [end(ba, ab), end(ab, ba)];
}
