/**
 * What a connection needs from its session, and its limits: the only way
 * the connection layer reaches the session above it.
 *
 * @module
 */

import type { Writer } from "../postcard/_writer.ts";
import type { Interceptor } from "./intercept.ts";

/** What a connection needs from its session. */
export interface SessionPort {
  /** True once the session is closing or closed: no new calls. */
  readonly closing: boolean;
  /** The session's interceptors (empty: nothing to run). */
  readonly interceptors: readonly Interceptor[];
  /**
   * True while a sender need not wait: the link's outgoing buffer is at or
   * below the session's `sendHighWaterMark`.
   */
  readonly writable: boolean;
  /**
   * Calls `f` once the link's outgoing buffer has drained (in order with
   * other waiters), or never if the session ends first. `owed` marks a
   * reply the peer asked for (a response, a pong): while many are owed the
   * session stops reading from the peer.
   */
  whenWritable(f: () => void, owed: boolean): void;
  /** A writer for one message; give it back with `release` after `send`. */
  acquire(): Writer;
  /** Returns a writer taken with `acquire`. */
  release(w: Writer): void;
  /**
   * Sends the message written in `w[0, w.pos)`. `writable`: the caller
   * found `writable` true and has not yielded or sent since (the send then
   * cannot be beyond the high-water mark, which is not checked again).
   */
  sendFrom(w: Writer, writable?: boolean): void;
  /** Tears the session down for a protocol violation. */
  violation(description: string): void;
  /** Reports an error that is not the caller's (a failing handler). */
  reportError(error: unknown, where: string): void;
}

/** Limits of one connection. */
export interface ConnectionLimits {
  /** Incoming calls queued beyond `maxConcurrentRequests` before it is a violation. */
  readonly maxQueuedRequests: number;
  /** Most channels open at once on the connection. */
  readonly maxChannels: number;
  /** Most elements one decoded value may hold (arguments, response, item). */
  readonly maxDecodedElements: number;
  /** Items a channel receiver lets its sender run ahead, at most. */
  readonly receiveWindowItems: number;
  /** Bytes a channel receiver aims to let its sender run ahead. */
  readonly receiveWindowBytes: number;
}
