/**
 * In-memory links: two connected ends in one process, for tests, workers
 * sharing a process, and sessions that talk to themselves.
 *
 * @module
 */

import type { Link, LinkFlow } from "./link.ts";
import { Pipe } from "./pipe.ts";

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
  const end = (inbound: Pipe, outbound: Pipe): Link => {
    const flow: LinkFlow = {
      buffered: () => outbound.buffered,
      whenBelow: (limit, f) => outbound.whenBelow(limit, f),
      pause: () => inbound.hold(),
      resume: () => inbound.resume(),
    };
    return {
      readable: inbound.readable,
      writable: outbound.writable,
      direct: {
        send: (payload) => outbound.push(payload),
        receive: (sink) => inbound.receive(sink),
        flow,
        ...(share
          ? {
            sendShared: (prefix: Uint8Array, length: number, last: Uint8Array) =>
              outbound.pushShared(prefix, length, last),
          }
          : {}),
      },
    };
  };
  return [end(ba, ab), end(ab, ba)];
}
