/**
 * Session options and definitions: service implementations, the options
 * of sessions and virtual connections, connection requests and decisions,
 * default limits, and the checks that validate them.
 *
 * @module
 */

import type { Connection } from "./connection.ts";
import type { MetadataInit } from "./metadata.ts";
import type { Handlers } from "./rpc.ts";
import type { MethodSpecs, ServiceDescriptor } from "./service.ts";
import type { ConnectionSettings, Metadata, Parity } from "./wire/types.ts";

/** A service and its handlers, ready to be served (see {@linkcode implement}). */
export interface ServiceImpl {
  /** Registers the handlers on a connection. */
  readonly install: (connection: Connection) => void;
  /** The service name. */
  readonly name: string;
}

/**
 * Pairs a service with its handlers, type-checked, for the `services`
 * options of sessions and accepted connections.
 *
 * @param service The service descriptor.
 * @param handlers One function per method: the arguments, then a context.
 * @returns The implementation.
 *
 * @example Implementing a service
 * ```ts
 * import { implement, service, t } from "@roam/roam";
 *
 * const Adder = service("Adder", { add: { args: [t.u32, t.u32], returns: t.u32 } });
 * const impl = implement(Adder, { add: (a, b) => a + b });
 * ```
 */
export function implement<M extends MethodSpecs>(
  service: ServiceDescriptor<M>,
  handlers: Handlers<M>,
): ServiceImpl {
  return { name: service.name, install: (connection) => connection.serve(service, handlers) };
}

/** A virtual connection the peer asks to open. */
export interface ConnectionRequest {
  /** The connection id the peer chose. */
  readonly id: number;
  /** The peer's metadata for the connection. */
  readonly metadata: Metadata;
  /** The peer's settings for the connection. */
  readonly settings: ConnectionSettings;
}

/** The answer to a {@linkcode ConnectionRequest}. */
export type ConnectionDecision =
  | {
    /** Accept the connection. */
    readonly accept: true;
    /** Services served on the new connection. */
    readonly services?: readonly ServiceImpl[];
    /** Metadata sent back with `ConnectionAccept`. */
    readonly metadata?: MetadataInit;
    /** Requests accepted in flight on the connection (default: the session's). */
    readonly maxConcurrentRequests?: number;
    /** Called with the open connection, e.g. to make clients for calling back. */
    readonly onOpen?: (connection: Connection) => void;
  }
  | {
    /** Reject the connection. */
    readonly accept: false;
    /** The reason, sent with `ConnectionReject`. */
    readonly metadata?: MetadataInit;
  };

/** Limits that keep a session's memory bounded. */
export interface SessionLimits {
  /** Largest message accepted, in bytes (default 16 MiB). */
  readonly maxMessageSize?: number;
  /** Most virtual connections open at once, either side (default 4096). */
  readonly maxConnections?: number;
  /** Incoming calls queued beyond `maxConcurrentRequests` per connection (default 1024). */
  readonly maxQueuedRequests?: number;
  /** Most channels open at once per connection, either direction (default 1024). */
  readonly maxChannels?: number;
  /**
   * Most elements one decoded value may hold: list, set and array elements
   * and map entries of a call's arguments, a response or a channel item,
   * nested ones included (default 1,048,576). Beyond it an incoming call
   * is answered `InvalidPayload`, a response fails the call with
   * `invalid-response`, and an item is a protocol violation, before the
   * elements are allocated: an empty list is one byte on the wire but an
   * object in memory.
   */
  readonly maxDecodedElements?: number;
}

/** Options of a session, either side. */
export interface SessionOptions {
  /** Metadata sent with `Hello` / `HelloYourself`. */
  readonly metadata?: MetadataInit;
  /** Requests accepted in flight per connection (default 64). */
  readonly maxConcurrentRequests?: number;
  /** Milliseconds to wait for the peer's handshake message (default 10000). */
  readonly handshakeTimeout?: number;
  /** Send a `Ping` every `interval` ms; close the session if no `Pong` within `timeout` ms. */
  readonly keepalive?: { readonly interval: number; readonly timeout: number };
  /** Services served on the root connection. */
  readonly services?: readonly ServiceImpl[];
  /** Decides on virtual connections the peer opens. Without it every open is rejected. */
  readonly onConnection?: (
    request: ConnectionRequest,
  ) => ConnectionDecision | Promise<ConnectionDecision>;
  /** Receives errors that are not a caller's, such as a handler that threw (default: `console.error`). */
  readonly onError?: (error: unknown, where: string) => void;
  /** Memory limits. */
  readonly limits?: SessionLimits;
  /** Milliseconds `close()` waits for in-flight calls before closing the link (default 5000). */
  readonly closeTimeout?: number;
  /** Aborting it stops a handshake still in progress (the link is closed). */
  readonly signal?: AbortSignal;
}

/** Options of the initiating side. */
export interface InitiatorOptions extends SessionOptions {
  /** The parity of ids this side allocates (default `"odd"`); the acceptor takes the other. */
  readonly parity?: Parity;
}

/** Options of {@linkcode Session.openConnection}. */
export interface OpenConnectionOptions {
  /** Metadata sent with `ConnectionOpen`. */
  readonly metadata?: MetadataInit;
  /** Requests accepted in flight on the connection (default: the session's). */
  readonly maxConcurrentRequests?: number;
  /** Services served on the new connection. */
  readonly services?: readonly ServiceImpl[];
  /** Aborting stops waiting; a connection accepted later is closed at once. */
  readonly signal?: AbortSignal;
}

/** Default limits and timeouts. */
export const DEFAULTS = {
  maxConcurrentRequests: 64,
  handshakeTimeout: 10_000,
  maxMessageSize: 16 * 1024 * 1024,
  maxConnections: 4096,
  maxQueuedRequests: 1024,
  maxChannels: 1024,
  maxDecodedElements: 1 << 20,
  closeTimeout: 5000,
};

/** @internal */
export function checkU32(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1 || v > 0xffff_ffff) {
    throw new RangeError(`Invalid ${name}: expected an integer from 1 to 4294967295, got ${v}`);
  }
  return v;
}

/** @internal */
export function checkKeepalive(k: SessionOptions["keepalive"]): void {
  if (k === undefined) return;
  if (typeof k !== "object" || k === null) {
    throw new TypeError("Invalid keepalive: expected { interval, timeout }");
  }
  checkMs("keepalive interval", k.interval);
  checkMs("keepalive timeout", k.timeout);
  if (k.interval === 0) throw new RangeError("Invalid keepalive interval: must be above 0 ms");
}

/** @internal */
export function checkMs(name: string, v: number): number {
  if (typeof v !== "number" || !(v >= 0 && v <= 0x7fff_ffff)) {
    throw new RangeError(`Invalid ${name}: expected 0 to 2147483647 milliseconds, got ${v}`);
  }
  return v;
}

/** The other parity. */
export const opposite = (p: Parity): Parity => (p === "odd" ? "even" : "odd");
