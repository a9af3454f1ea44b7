/**
 * Forwarding calls from one connection to another as bytes, inside the
 * connection layer: a fallback made by {@linkcode forwardingFallback} is
 * an ordinary `Fallback` (calling it forwards the call through `callRaw`),
 * and a connection that serves it recognizes it and takes a shorter way
 * for each call without channels: the call's bytes go to the target as
 * they are received and the response's bytes come back as they are
 * received, without copies, promises or abort signals per call. The proxy
 * stays a user of connections: it serves a fallback, and the connection
 * decides how to run it.
 *
 * @module
 */

import type { Connection } from "./connection.ts";
import type { Fallback, RawResponse } from "./raw.ts";
import type { Metadata } from "../wire/types.ts";
import type { Writer } from "../postcard/_writer.ts";

/** Hears how a forwarded call ends (internal). */
export interface ForwardReply {
  /**
   * The response: its `ret` bytes are `ret[start, end)`, readable only
   * during this call.
   */
  done(ret: Uint8Array, start: number, end: number, metadata: Metadata): void;
  /** The call could not be made, or its connection closed first. */
  fail(error: unknown): void;
}

/** A forwarded call in flight (internal). */
export interface ForwardHandle {
  /** Cancels the call: sends `Cancel`, or drops it if it waits to be sent; `reply` hears nothing more. */
  cancel(): void;
}

/** A connection's outgoing side, as a forwarding fallback reaches it (internal). */
export interface ForwardTarget {
  /**
   * Sends a call whose arguments are `args[start, end)` (read before this
   * returns; copied if the call has to wait).
   */
  forward(
    methodId: bigint,
    args: Uint8Array,
    start: number,
    end: number,
    metadata: Metadata,
    reply: ForwardReply,
  ): ForwardHandle;
}

/** What a connection serving a forwarding fallback needs to take the shorter way (internal). */
export interface Forwarding {
  /** Where calls go. */
  readonly target: ForwardTarget;
  /** The response to a call the target could not take or complete. */
  readonly failure: (error: unknown) => RawResponse;
}

/**
 * Writes `bytes[start, end)` into `w` by copy, never by reference: the
 * bytes may be lent (valid only until the caller returns). Forwarded
 * bytes are written this way so that no copy of them is made first.
 *
 * @internal
 */
export function writeRange(w: Writer, bytes: Uint8Array, start: number, end: number): void {
  const n = end - start;
  w.ensure(n);
  const buf = w.buf;
  let pos = w.pos;
  if (n < 32) {
    for (let i = start; i < end; i++) buf[pos++] = bytes[i]!;
  } else {
    buf.set(bytes.subarray(start, end), pos);
    pos += n;
  }
  w.pos = pos;
}

let targetOf: (connection: Connection) => ForwardTarget | undefined = () => undefined;
const forwardings = new WeakMap<Fallback, Forwarding>();

/**
 * Tells forwarding fallbacks how to reach a connection's outgoing side
 * (called once, by the connection class of this library; a connection it
 * does not know gives `undefined`).
 *
 * @internal
 */
export function registerForwardTargets(
  lookup: (connection: Connection) => ForwardTarget | undefined,
): void {
  targetOf = lookup;
}

/**
 * A fallback that forwards every call to `target`: it is `fallback` (which
 * must do the same through `callRaw`), marked so that a connection of
 * this library forwards calls without channels the shorter way. Forwarded
 * calls carry their metadata minus `NO_PROPAGATE` entries, both ways; a
 * call the target cannot take or complete is answered with
 * `failure(error)`; cancelling a call cancels it on the target.
 *
 * @param target Where calls go.
 * @param fallback The same forwarding through `callRaw`, for calls with channels.
 * @param failure The response to a call the target could not take or complete.
 * @returns The fallback to serve.
 * @internal
 */
export function forwardingFallback(
  target: Connection,
  fallback: Fallback,
  failure: (error: unknown) => RawResponse,
): Fallback {
  const to = targetOf(target);
  if (to === undefined) return fallback; // another implementation of Connection
  const marked: Fallback = (call) => fallback(call);
  forwardings.set(marked, { target: to, failure });
  return marked;
}

/**
 * The forwarding behind a fallback made by {@linkcode forwardingFallback}, if it is one.
 *
 * @internal
 */
export function forwardingOf(fallback: Fallback): Forwarding | undefined {
  return forwardings.get(fallback);
}
