/**
 * Errors a caller can catch. Every failure of a call that is not the
 * method's own user error is an {@linkcode RpcError} with a `code`; user
 * errors of fallible methods are returned as values, never thrown.
 *
 * @module
 */

import { describeMetadata, EMPTY_METADATA, exposeMetadata } from "./metadata.ts";
import type { Metadata } from "./types.ts";

let setMetadata: (e: RpcError, metadata: Metadata) => void;

/** Why a call or session failed. */
export type RpcErrorCode =
  /** The peer does not implement the method (`RoamError::UnknownMethod`). */
  | "unknown-method"
  /** The peer could not decode the arguments (`RoamError::InvalidPayload`). */
  | "invalid-payload"
  /** The call was cancelled or its handler failed (`RoamError::Cancelled`). */
  | "cancelled"
  /** The response could not be decoded with the method's schema. */
  | "invalid-response"
  /** The connection was closed before the call completed. */
  | "connection-closed"
  /** The session ended before the call completed. */
  | "session-closed"
  /** A protocol violation tore the session down. */
  | "protocol-error"
  /** The handshake failed or timed out. */
  | "handshake-failed"
  /** The peer rejected a virtual connection. */
  | "connection-rejected"
  /** The peer stopped answering keepalive pings. */
  | "keepalive-timeout"
  /** The peer ended the link gracefully (end of stream at a message boundary, a clean close). */
  | "peer-closed"
  /** The link broke: an I/O error, a reset, an end of stream in the middle of a message. */
  | "link-lost"
  /** The peer did not read what this side had to send, past the session's limit. */
  | "peer-not-reading"
  /** A stable session could not resume: the server no longer knows it (it restarted, or the session expired). */
  | "session-lost";

/**
 * The base class of every RPC failure.
 *
 * @example Telling errors apart
 * ```ts
 * import { RpcError } from "@roam/roam";
 *
 * function explain(e: unknown): string {
 *   if (e instanceof RpcError) return `${e.code}: ${e.message}`;
 *   return String(e);
 * }
 * ```
 */
export class RpcError extends Error {
  /** The failure's code. */
  readonly code: RpcErrorCode;
  #metadata: Metadata;

  static {
    setMetadata = (e, m) => (e.#metadata = exposeMetadata(m));
  }

  /**
   * Creates an error.
   *
   * @param code The failure's code.
   * @param message What happened.
   * @param options The underlying cause, if any, and the peer's metadata.
   */
  constructor(code: RpcErrorCode, message: string, options?: RpcErrorOptions) {
    super(
      message,
      options !== undefined && "cause" in options ? { cause: options.cause } : undefined,
    );
    this.name = "RpcError";
    this.code = code;
    this.#metadata = exposeMetadata(options?.metadata ?? EMPTY_METADATA);
  }

  /**
   * The metadata the peer sent with this failure: its error response, its
   * channel `Reset`, its `ConnectionReject` or its `ConnectionClose`; empty
   * otherwise. `SENSITIVE` values are readable here and never shown when
   * the error or the list is printed.
   */
  get metadata(): Metadata {
    return this.#metadata;
  }
}

/**
 * Gives `error` the metadata of the peer's error response (internal: the
 * connection layer uses it for the errors of failed calls).
 *
 * @param error The error.
 * @param metadata The response metadata.
 * @returns The error.
 */
export function withMetadata<E extends RpcError>(error: E, metadata: Metadata): E {
  if (metadata.length > 0) setMetadata(error, metadata);
  return error;
}

/** Options of {@linkcode RpcError}. */
export interface RpcErrorOptions {
  /** The underlying cause. */
  readonly cause?: unknown;
  /** The metadata the peer sent with the failure. */
  readonly metadata?: Metadata;
}

/**
 * The peer has no handler for the method.
 *
 * @example Calling a method the peer does not serve
 * ```ts
 * import { initiate, memoryLink, accept, service, t, UnknownMethodError } from "@roam/roam";
 *
 * const Missing = service("Missing", { nothing: { args: [], returns: t.unit } });
 * const [a, b] = memoryLink();
 * const [client] = await Promise.all([initiate(a), accept(b)]);
 * try {
 *   await client.client(Missing).nothing();
 * } catch (e) {
 *   console.log(e instanceof UnknownMethodError, (e as UnknownMethodError).code); // true "unknown-method"
 * }
 * await client.close();
 * ```
 */
export class UnknownMethodError extends RpcError {
  /**
   * Creates the error.
   *
   * @param method The method, as `Service.method`.
   */
  constructor(method: string) {
    super("unknown-method", `The peer does not implement ${method}`);
    this.name = "UnknownMethodError";
  }
}

/**
 * The peer could not decode the call's arguments.
 *
 * @example Telling a schema mismatch from other failures
 * ```ts
 * import { InvalidPayloadError, RpcError } from "@roam/roam";
 *
 * export function describe(e: unknown): string {
 *   if (e instanceof InvalidPayloadError) return "the peer's schema differs from ours";
 *   if (e instanceof RpcError) return `the call failed: ${e.code}`;
 *   return String(e);
 * }
 * ```
 */
export class InvalidPayloadError extends RpcError {
  /**
   * Creates the error.
   *
   * @param method The method, as `Service.method`.
   */
  constructor(method: string) {
    super("invalid-payload", `The peer could not decode the arguments of ${method}`);
    this.name = "InvalidPayloadError";
  }
}

/**
 * The call was cancelled on the serving side, or its handler failed (roam
 * v7 reports a failed handler as `Cancelled`).
 *
 * @example A handler that throws
 * ```ts
 * import { accept, CancelledError, implement, initiate, memoryLink, service, t } from "@roam/roam";
 *
 * const Fails = service("Fails", { run: { args: [], returns: t.unit } });
 * const [a, b] = memoryLink();
 * const [client] = await Promise.all([
 *   initiate(a),
 *   accept(b, {
 *     services: [implement(Fails, { run: () => { throw new Error("boom"); } })],
 *     onError: () => {},
 *   }),
 * ]);
 * const e = await client.client(Fails).run().catch((e: unknown) => e);
 * console.log(e instanceof CancelledError); // true
 * await client.close();
 * ```
 */
export class CancelledError extends RpcError {
  /**
   * Creates the error.
   *
   * @param method The method, as `Service.method`.
   * @param reason Why, when the peer said (its `roam-error` response metadata).
   */
  constructor(method: string, reason?: string) {
    super(
      "cancelled",
      reason === undefined
        ? `${method} was cancelled by the peer or its handler failed`
        : `${method} failed on the peer: ${reason}`,
    );
    this.name = "CancelledError";
  }
}

/**
 * A connection or session ended while something was pending on it.
 *
 * @example Why a session ended
 * ```ts
 * import { ClosedError, type Session } from "@roam/roam";
 *
 * export async function watch(session: Session): Promise<void> {
 *   const reason = await session.closed; // never rejects
 *   if (reason instanceof ClosedError && reason.code === "keepalive-timeout") {
 *     console.error("the peer stopped answering pings");
 *   }
 * }
 * ```
 */
export class ClosedError extends RpcError {
  /**
   * Creates the error.
   *
   * @param code Why it closed: `connection-closed` (a connection was
   * closed), `session-closed` (this side closed the session),
   * `peer-closed` (the peer ended the link gracefully), `link-lost` (the
   * link broke), `protocol-error`, `keepalive-timeout`,
   * `peer-not-reading` or `session-lost` (a stable session the server no
   * longer knows).
   * @param message Why it closed, in words.
   * @param options The underlying cause, if any, and the metadata of the peer's `ConnectionClose`.
   */
  constructor(
    code: ClosedErrorCode,
    message: string,
    options?: RpcErrorOptions,
  ) {
    super(code, message, options);
    this.name = "ClosedError";
  }
}

/** The codes of a {@linkcode ClosedError}. */
export type ClosedErrorCode =
  | "connection-closed"
  | "session-closed"
  | "peer-closed"
  | "link-lost"
  | "protocol-error"
  | "keepalive-timeout"
  | "peer-not-reading"
  | "session-lost";

/**
 * A protocol violation, by either side, that tore the session down.
 *
 * @example Who broke the protocol
 * ```ts
 * import { ProtocolError, type Session } from "@roam/roam";
 *
 * export async function report(session: Session): Promise<void> {
 *   const reason = await session.closed;
 *   if (reason instanceof ProtocolError) {
 *     console.error(reason.remote ? "the peer found us at fault:" : "the peer misbehaved:", reason.message);
 *   }
 * }
 * ```
 */
export class ProtocolError extends ClosedError {
  /** True when the peer reported the violation, false when this side found it. */
  readonly remote: boolean;

  /**
   * Creates the error.
   *
   * @param description What was violated.
   * @param remote Whether the peer reported it.
   */
  constructor(description: string, remote: boolean) {
    super(
      "protocol-error",
      remote
        ? `The peer reported a protocol error: ${description}`
        : `Protocol error: ${description}`,
    );
    this.name = "ProtocolError";
    this.remote = remote;
  }
}

/**
 * The handshake failed: wrong version, wrong first message, or timeout.
 *
 * @example A peer that never says hello
 * ```ts
 * import { HandshakeError, initiate, memoryLink } from "@roam/roam";
 *
 * const [a] = memoryLink(); // nobody accepts on the other end
 * const e = await initiate(a, { handshakeTimeout: 100 }).catch((e: unknown) => e);
 * console.log(e instanceof HandshakeError); // true
 * ```
 */
export class HandshakeError extends RpcError {
  /**
   * Creates the error.
   *
   * @param message What went wrong.
   * @param options The underlying cause, if any.
   */
  constructor(message: string, options?: { cause?: unknown }) {
    super("handshake-failed", message, options);
    this.name = "HandshakeError";
  }
}

/**
 * The peer rejected a virtual connection; `metadata` carries its reason.
 *
 * @example A virtual connection refused by the peer
 * ```ts
 * import { accept, ConnectionRejectedError, getMetadata, initiate, memoryLink } from "@roam/roam";
 *
 * const [a, b] = memoryLink();
 * const [client] = await Promise.all([
 *   initiate(a),
 *   accept(b, { onConnection: () => ({ accept: false, metadata: { reason: "full" } }) }),
 * ]);
 * const e = await client.openConnection().catch((e: unknown) => e);
 * if (e instanceof ConnectionRejectedError) console.log(getMetadata(e.metadata, "reason")); // "full"
 * await client.close();
 * ```
 */
export class ConnectionRejectedError extends RpcError {
  /**
   * Creates the error.
   *
   * @param metadata The peer's rejection metadata.
   */
  constructor(metadata: Metadata = EMPTY_METADATA) {
    const reason = metadata.length > 0 ? ` (${describeMetadata(metadata)})` : "";
    super("connection-rejected", `The peer rejected the connection${reason}`, { metadata });
    this.name = "ConnectionRejectedError";
  }
}
