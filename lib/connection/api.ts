/**
 * The typed surface of calls: results of fallible methods, call options,
 * the client type derived from a service, and handler types.
 *
 * @module
 */

import type { Connection } from "./connection.ts";
import type { MetadataInit } from "../wire/metadata.ts";
import type { Schema } from "../postcard/schema.ts";
import type { ArgsOf, MethodSpec, MethodSpecs, ReturnOf } from "../identity/service.ts";
import type { Metadata } from "../wire/types.ts";

/**
 * The outcome of a fallible method: its value, or its user error. Protocol
 * failures (unknown method, cancellation, closed connection) are thrown as
 * {@linkcode RpcError}s instead, so the two never mix.
 */
export type Result<T, E> = { readonly ok: true; readonly value: T } | {
  readonly ok: false;
  readonly error: E;
};

/**
 * Makes a successful {@linkcode Result}.
 *
 * @param value The value.
 * @returns `{ ok: true, value }`.
 *
 * @example Returning from a fallible handler
 * ```ts
 * import { err, ok } from "@roam/roam";
 *
 * function divide(a: bigint, b: bigint) {
 *   return b === 0n ? err({ tag: "DivisionByZero" as const }) : ok(a / b);
 * }
 * ```
 */
export function ok<T>(value: T): { readonly ok: true; readonly value: T } {
  return { ok: true, value };
}

/**
 * Makes a failed {@linkcode Result} carrying a user error.
 *
 * @param error The user error, a value of the method's `error` schema.
 * @returns `{ ok: false, error }`.
 *
 * @example A user error
 * ```ts
 * import { err } from "@roam/roam";
 *
 * const failure = err({ tag: "Overflow" as const });
 * ```
 */
export function err<E>(error: E): { readonly ok: false; readonly error: E } {
  return { ok: false, error };
}

/** What a call resolves with: the value, or a `Result` for a fallible method. */
export type CallReturn<S extends MethodSpec> = S extends { readonly error: Schema<infer E> }
  ? Result<ReturnOf<S>, E>
  : ReturnOf<S>;

/** Options of one call. */
export interface CallOptions {
  /** Aborting sends `Cancel` and rejects the call with the signal's reason. */
  readonly signal?: AbortSignal;
  /** Milliseconds before the call is cancelled and rejected with a `TimeoutError`. */
  readonly timeout?: number;
  /** Request metadata. */
  readonly metadata?: MetadataInit;
}

/** A call's value together with the response metadata. */
export interface CallResult<T> {
  /** What the call returned (a `Result` for a fallible method). */
  readonly value: T;
  /** The response metadata. */
  readonly metadata: Metadata;
}

/**
 * A typed client for a service: one method per service method, taking the
 * positional arguments and optionally {@linkcode CallOptions} last.
 */
export type Client<M extends MethodSpecs> = {
  readonly [K in keyof M & string]: (
    ...args: [...ArgsOf<M[K]>, options?: CallOptions]
  ) => Promise<CallReturn<M[K]>>;
};

/**
 * The value a handler produces: the return value, or a `Result` for a
 * fallible method. A method returning `t.unit` may return nothing (`void`).
 */
export type HandlerReturn<S extends MethodSpec> = S extends { readonly error: Schema<unknown> }
  ? CallReturn<S>
  : [ReturnOf<S>] extends [undefined] ? void
  : CallReturn<S>;

/** What a handler receives after its arguments. */
export interface CallContext {
  /** The request metadata. `SENSITIVE` values are hidden from inspection. */
  readonly metadata: Metadata;
  /** Aborted when the caller cancels, or the connection or session closes. */
  readonly signal: AbortSignal;
  /** The request id. */
  readonly requestId: number;
  /** The method, as `Service.method`. */
  readonly method: string;
  /** The connection the call arrived on; it can call the peer back. */
  readonly connection: Connection;
  /** Sets the metadata sent with the response. */
  setResponseMetadata(metadata: MetadataInit): void;
}

/** One method's implementation: the arguments, then the call context. */
export type Handler<S extends MethodSpec> = (
  ...args: [...ArgsOf<S>, CallContext]
) => HandlerReturn<S> | Promise<HandlerReturn<S>>;

/** The implementation of every method of a service. */
export type Handlers<M extends MethodSpecs> = { readonly [K in keyof M & string]: Handler<M[K]> };
