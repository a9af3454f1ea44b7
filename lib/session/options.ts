/**
 * Session options and definitions: service implementations, the options
 * of sessions and virtual connections, connection requests and decisions,
 * default limits, and the checks that validate them.
 *
 * @module
 */

import type { RetryPolicy } from "../_util/retry.ts";
import type { ResumeRegistry } from "../conduit/registry.ts";
import type { LinkFactory } from "../conduit/stable.ts";
import type { Connection } from "../connection/connection.ts";
import type { Interceptor } from "../connection/intercept.ts";
import { checkHandlers } from "../connection/incoming.ts";
import { getMetadata, type MetadataInit } from "../wire/metadata.ts";
import type { Handlers } from "../connection/api.ts";
import type { MethodSpecs, ServiceDescriptor } from "../identity/service.ts";
import type { ConnectionSettings, Metadata, Parity } from "../wire/types.ts";

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
 * @throws {TypeError} When `handlers` lacks a function for a method.
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
  checkHandlers(service as ServiceDescriptor<MethodSpecs>, handlers);
  return { name: service.name, install: (connection) => connection.serve(service, handlers) };
}

/**
 * The metadata key that names the service a virtual connection is opened
 * for (`Session.open` sets it on `ConnectionOpen`, flagged `NO_PROPAGATE`
 * since each hop names the service itself; the acceptor sees it as
 * `ConnectionRequest.service`). Its value is the service name as given to
 * `service()`, a string.
 */
export const SERVICE_KEY = "roam-service";

/**
 * The service a connection request names, if any.
 *
 * @internal
 */
export function serviceOf(metadata: Metadata): string | undefined {
  const name = getMetadata(metadata, SERVICE_KEY);
  return typeof name === "string" ? name : undefined;
}

/** A virtual connection the peer asks to open. */
export interface ConnectionRequest {
  /** The connection id the peer chose. */
  readonly id: number;
  /**
   * The service the peer opened the connection for (`session.open(service)`,
   * the {@linkcode SERVICE_KEY} metadata entry), or undefined when it
   * named none.
   */
  readonly service: string | undefined;
  /** The peer's metadata for the connection ({@linkcode SERVICE_KEY} included). */
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
   * Bytes buffered for sending above which senders wait: `Tx.send`,
   * responses, pongs and new calls (default 1 MiB). While replies the peer
   * asked for keep waiting, the session stops reading from the peer, so a
   * peer that does not read is slowed down through its transport.
   */
  readonly sendHighWaterMark?: number;
  /**
   * Bytes sent while the send buffer is above `sendHighWaterMark` (control
   * messages that do not wait) past which the session is closed with a
   * `ClosedError` whose code is `peer-not-reading` (default 16 MiB).
   */
  readonly maxSendOverflow?: number;
  /**
   * Pings a peer may send per second, in bursts of as many (default 1000):
   * faster is a protocol violation. Keepalive needs a ping every few
   * seconds; this stops a peer from flooding pings to make this side work.
   */
  readonly maxPingRate?: number;
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
  /**
   * The receive window of every channel this side receives on, in items
   * (default 256): the receiver grants credit beyond the schema's initial
   * credit (grants are additive) so that a stream over a network link is
   * not held to one round trip per few items, up to this many items
   * granted or buffered, and up to `receiveWindowBytes` of them by their
   * average size. 0 turns the window off: a receiver grants only its
   * schema's credit back, half at a time.
   */
  readonly receiveWindowItems?: number;
  /**
   * The bytes a channel's receive window aims at (default 1 MiB), from the
   * average encoded size of its items: a channel of 64 KiB items keeps its
   * schema's credit, one of `i32`s grows to `receiveWindowItems`.
   */
  readonly receiveWindowBytes?: number;
}

/** Options of a session, either side. */
export interface SessionOptions {
  /** Metadata sent with `Hello` / `HelloYourself`. */
  readonly metadata?: MetadataInit;
  /** Requests accepted in flight per connection (default 64). */
  readonly maxConcurrentRequests?: number;
  /** Milliseconds to wait for the peer's handshake message (default 10000). */
  readonly handshakeTimeout?: number;
  /**
   * Liveness: send a `Ping` after `interval` ms without one, and close the
   * session (`keepalive-timeout`) if no `Pong` comes within `timeout` ms.
   * On by default (`{ interval: 30000, timeout: 30000 }`), so a peer that
   * vanishes without closing its link does not hold the session forever;
   * `false` turns it off.
   */
  readonly keepalive?: { readonly interval: number; readonly timeout: number } | false;
  /** Services served on the root connection. */
  readonly services?: readonly ServiceImpl[];
  /**
   * Code that runs around every call this session makes and serves, on
   * every connection, in order, and sees every channel item (see
   * {@linkcode Interceptor}).
   */
  readonly interceptors?: readonly Interceptor[];
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
  /**
   * The conduit under the session, the same on both sides: `"bare"` (the
   * default, and what a Rust peer uses) sends each message as one link
   * payload; `"stable"` numbers and acknowledges messages and keeps what
   * the peer has not acknowledged, so the session survives a dropped link
   * by resuming on a new one (wire-spec §5; see `stable`).
   */
  readonly conduit?: "bare" | "stable";
  /** The stable conduit's options (with `conduit: "stable"`). */
  readonly stable?: StableOptions;
}

/** Options of the stable conduit (`conduit: "stable"`). */
export interface StableOptions {
  /**
   * Initiator: makes a new link to the server to resume on when the link
   * drops. Without it, a dropped link ends the session (`link-lost`).
   * `connect(url)` makes new links to the same URL.
   */
  readonly relink?: LinkFactory;
  /**
   * Initiator: how to retry `relink` and the resume after a drop (default:
   * at once, then from 100 ms doubling up to 2 s, for up to 30 s).
   */
  readonly retry?: RetryPolicy;
  /**
   * Acceptor, required: the registry that admits every new link, starting
   * sessions and resuming them (`serve(url)` makes one).
   */
  readonly registry?: ResumeRegistry;
}

/** Options of the initiating side. */
export interface InitiatorOptions extends SessionOptions {
  /** The parity of ids this side allocates (default `"odd"`); the acceptor takes the other. */
  readonly parity?: Parity;
}

/** Options of `Session.openConnection` and `Session.open`. */
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
  sendHighWaterMark: 1024 * 1024,
  maxSendOverflow: 16 * 1024 * 1024,
  maxPingRate: 1000,
  maxDecodedElements: 1 << 20,
  receiveWindowItems: 256,
  receiveWindowBytes: 1024 * 1024,
  closeTimeout: 5000,
};

/** Every limit of a session, the defaults filled in. */
export type ResolvedLimits = Required<SessionLimits>;

/**
 * Checks the `limits` option and fills in the defaults.
 *
 * @internal
 */
export function resolveLimits(limits: SessionLimits | undefined): ResolvedLimits {
  if (limits !== undefined && (typeof limits !== "object" || limits === null)) {
    throw new TypeError("Invalid limits: expected an object");
  }
  const pick = (name: keyof SessionLimits, max = Number.MAX_SAFE_INTEGER, min = 1): number => {
    const v = limits?.[name] ?? DEFAULTS[name];
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max) {
      throw new RangeError(
        `Invalid limits.${name}: expected an integer from ${min} to ${max}, got ${String(v)}`,
      );
    }
    return v;
  };
  return {
    maxMessageSize: pick("maxMessageSize"),
    maxConnections: pick("maxConnections"),
    maxQueuedRequests: pick("maxQueuedRequests"),
    maxChannels: pick("maxChannels"),
    sendHighWaterMark: pick("sendHighWaterMark"),
    maxSendOverflow: pick("maxSendOverflow"),
    maxPingRate: pick("maxPingRate"),
    maxDecodedElements: pick("maxDecodedElements", 0xffff_ffff),
    receiveWindowItems: pick("receiveWindowItems", 0xffff_ffff, 0),
    receiveWindowBytes: pick("receiveWindowBytes"),
  };
}

/** @internal */
export function checkU32(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1 || v > 0xffff_ffff) {
    throw new RangeError(`Invalid ${name}: expected an integer from 1 to 4294967295, got ${v}`);
  }
  return v;
}

/** The keepalive of a session that does not say otherwise. */
export const DEFAULT_KEEPALIVE: { readonly interval: number; readonly timeout: number } = Object
  .freeze({ interval: 30_000, timeout: 30_000 });

/**
 * Checks the `keepalive` option and fills in the default; undefined when
 * keepalive is off.
 *
 * @internal
 */
export function resolveKeepalive(
  k: SessionOptions["keepalive"],
): { readonly interval: number; readonly timeout: number } | undefined {
  if (k === undefined) return DEFAULT_KEEPALIVE;
  if (k === false) return undefined;
  if (typeof k !== "object" || k === null) {
    throw new TypeError("Invalid keepalive: expected { interval, timeout } or false");
  }
  checkMs("keepalive interval", k.interval);
  checkMs("keepalive timeout", k.timeout);
  if (k.interval === 0) throw new RangeError("Invalid keepalive interval: must be above 0 ms");
  return { interval: k.interval, timeout: k.timeout };
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
