/**
 * Conduits turn encoded session messages into link payloads and back
 * (wire-spec §3.4, §5). The session talks to its conduit only through
 * {@linkcode Conduit}: the bare conduit sends each message as one payload;
 * the stable conduit (resume and replay over fresh links) lands beside it.
 *
 * @module
 */

import type { Writer } from "../postcard/_writer.ts";
import type { PayloadRead, PayloadSink } from "../link/link.ts";

/** Where a conduit delivers the messages it receives. */
export interface MessageSink extends PayloadSink {
  /**
   * Optional: one message, `p[start, p.length)` (a conduit whose frames
   * carry a header hands the message over in place, without a view).
   * Without it, such a conduit calls `payload` with a view.
   */
  payloadAt?(p: Uint8Array, start: number): void;
}

/**
 * A message pipe under a session. `send` never blocks: the session keeps
 * memory bounded by looking at `buffered` before it sends, waiting with
 * `whenBelow`, and pausing the peer with `pause` (read back-pressure).
 */
export interface Conduit {
  /**
   * Sends the message written in `w` (its bytes `[0, w.pos)` and any large
   * arrays it gathered, see `Writer.gather`). The conduit takes what it
   * needs: `w` may be rewound and reused as soon as this returns.
   */
  send(w: Writer): void;
  /** True when the conduit takes large arrays by reference: the session's writers gather them. */
  readonly gathers: boolean;
  /** Bytes sent and not yet written to the transport. */
  readonly buffered: number;
  /** Calls `f` once when at most `limit` bytes are buffered (at once if so now), or the link failed. */
  whenBelow(limit: number, f: () => void): void;
  /** Stops delivering incoming messages to the `listen` sink until `resume()`. */
  pause(): void;
  /** Delivers incoming messages again. */
  resume(): void;
  /** Resolves with the next message; `done` is true at a graceful end of stream. */
  recv(): Promise<PayloadRead>;
  /**
   * Delivers every later message to `sink` as it arrives (after the
   * handshake's `recv` calls). Used instead of `recv` from then on.
   */
  listen(sink: MessageSink): void;
  /** Stops delivering to the `listen` sink (the session ended). */
  stop(): void;
  /** Flushes what was sent, then ends the stream gracefully. */
  close(): Promise<void>;
  /** Drops the link at once. */
  abort(reason: unknown): void;
  /** Called once when sending fails (the link broke). */
  onSendError: ((error: unknown) => void) | undefined;
}
