/**
 * Interceptors: code that runs around every call, on the calling side and
 * on the serving side, and sees every channel item. An interceptor reads
 * and adds metadata, sees the arguments, the outcome and how long the call
 * took, and may reject a call; interceptors compose in order, the first
 * outermost.
 *
 * @module
 */

import type { MethodDescriptor } from "../identity/service.ts";
import { type MetadataInit, toMetadata } from "../wire/metadata.ts";
import type { Metadata, MetadataEntry } from "../wire/types.ts";
import type { Connection } from "./connection.ts";

/** One call, as an interceptor sees it. */
export interface CallInfo {
  /** `"client"` for a call this side makes, `"server"` for one it serves. */
  readonly side: "client" | "server";
  /** The method, as `Service.method` (a raw call: `method 0x…`). */
  readonly method: string;
  /** The method's descriptor (undefined for a raw call or a fallback). */
  readonly descriptor: MethodDescriptor | undefined;
  /** The method id. */
  readonly methodId: bigint;
  /** The arguments (the encoded bytes, as one `Uint8Array`, for a raw call or a fallback). */
  readonly args: readonly unknown[];
  /**
   * The request metadata. On the client side, entries added with
   * {@linkcode CallInfo.addMetadata} before `next()` go with the call.
   */
  readonly metadata: Metadata;
  /**
   * Adds metadata: on the client side to the request (before `next()`), on
   * the server side to the response.
   */
  addMetadata(metadata: MetadataInit): void;
  /** The connection the call is on. */
  readonly connection: Connection;
  /** Aborted when the call is cancelled (on the server side: by the caller or a closing connection). */
  readonly signal: AbortSignal | undefined;
}

/** One channel item, as an interceptor sees it. */
export interface ItemInfo {
  /** `"sent"` by this side, or `"received"` from the peer. */
  readonly direction: "sent" | "received";
  /** The channel id. */
  readonly channelId: number;
  /** The item's value. */
  readonly value: unknown;
  /** The connection the channel is on. */
  readonly connection: Connection;
}

/**
 * Runs around calls and sees channel items. `call` receives the call and
 * `next`, which runs the rest of the chain and the call itself and
 * resolves with its outcome (the value; a `Result` for a fallible method)
 * or rejects with its error: return (or transform) it, or throw to reject
 * the call. On the serving side, a thrown `RpcError` rejects the call
 * deliberately: the caller gets a `CancelledError` whose message and
 * `metadata` (`roam-error`) carry its message; anything else thrown is
 * reported like a failing handler. A serving-side interceptor of a
 * fallible method may also return `err(e)` without calling `next`.
 *
 * @example An auth check, a logger and a metrics counter
 * ```ts
 * import { getMetadata, type Interceptor, RpcError } from "@roam/roam";
 *
 * const auth: Interceptor = {
 *   call(info, next) {
 *     if (info.side === "server" && getMetadata(info.metadata, "token") !== "let-me-in") {
 *       throw new RpcError("cancelled", `${info.method}: not authorised`);
 *     }
 *     return next();
 *   },
 * };
 * const logger: Interceptor = {
 *   async call(info, next) {
 *     const start = performance.now();
 *     try {
 *       return await next();
 *     } finally {
 *       console.log(`${info.side} ${info.method} ${(performance.now() - start).toFixed(1)} ms`);
 *     }
 *   },
 * };
 * const counts = new Map<string, number>();
 * const metrics: Interceptor = {
 *   call(info, next) {
 *     counts.set(info.method, (counts.get(info.method) ?? 0) + 1);
 *     return next();
 *   },
 *   item(info) {
 *     counts.set(`items ${info.direction}`, (counts.get(`items ${info.direction}`) ?? 0) + 1);
 *   },
 * };
 * // accept(link, { interceptors: [auth, logger, metrics], services: [...] })
 * ```
 */
export interface Interceptor {
  /** Runs around every call (optional). */
  call?(info: CallInfo, next: () => Promise<unknown>): unknown;
  /** Sees every channel item, sent or received (optional; keep it cheap). */
  item?(info: ItemInfo): void;
}

/**
 * Checks a list of interceptors.
 *
 * @internal
 */
export function checkInterceptors(list: unknown): readonly Interceptor[] {
  if (list === undefined) return [];
  if (!Array.isArray(list)) {
    throw new TypeError("Invalid interceptors: expected an array of interceptor objects");
  }
  for (const [i, x] of list.entries()) {
    if (typeof x !== "object" || x === null) {
      throw new TypeError(`Invalid interceptors[${i}]: expected an object`);
    }
    const { call, item } = x as Interceptor;
    if (
      (call !== undefined && typeof call !== "function") ||
      (item !== undefined && typeof item !== "function")
    ) {
      throw new TypeError(`Invalid interceptors[${i}]: call and item must be functions`);
    }
  }
  return list as Interceptor[];
}

/** A {@linkcode CallInfo} whose added metadata is collected. */
export class Info implements CallInfo {
  readonly side: "client" | "server";
  readonly method: string;
  readonly descriptor: MethodDescriptor | undefined;
  readonly methodId: bigint;
  readonly args: readonly unknown[];
  readonly connection: Connection;
  readonly #signal: AbortSignal | undefined;
  /** Gives the signal when first asked for (a served call's, made only if someone wants it). */
  readonly #signalSource: { readonly signal: AbortSignal } | undefined;
  #metadata: Metadata;
  /** Entries added by interceptors. */
  added: MetadataEntry[] = [];

  constructor(
    side: "client" | "server",
    method: string,
    descriptor: MethodDescriptor | undefined,
    methodId: bigint,
    args: readonly unknown[],
    metadata: Metadata,
    connection: Connection,
    signal: AbortSignal | { readonly signal: AbortSignal } | undefined,
  ) {
    this.side = side;
    this.method = method;
    this.descriptor = descriptor;
    this.methodId = methodId;
    this.args = args;
    this.#metadata = metadata;
    this.connection = connection;
    if (signal === undefined || signal instanceof AbortSignal) this.#signal = signal;
    else this.#signalSource = signal;
  }

  get signal(): AbortSignal | undefined {
    return this.#signalSource !== undefined ? this.#signalSource.signal : this.#signal;
  }

  get metadata(): Metadata {
    return this.side === "client" && this.added.length > 0
      ? [...this.#metadata, ...this.added]
      : this.#metadata;
  }

  addMetadata(metadata: MetadataInit): void {
    this.added.push(...toMetadata(metadata));
  }
}

/**
 * Runs `info` through the interceptors that have a `call`, in order, the
 * last one calling `last`.
 *
 * @internal
 */
export function runChain(
  interceptors: readonly Interceptor[],
  info: CallInfo,
  last: () => Promise<unknown>,
): Promise<unknown> {
  const step = (i: number): Promise<unknown> => {
    for (; i < interceptors.length; i++) {
      const call = interceptors[i]!.call;
      if (call === undefined) continue;
      const at = i;
      let called = false;
      try {
        return Promise.resolve(
          call.call(interceptors[at], info, () => {
            if (called) {
              return Promise.reject(new TypeError("next() called twice by an interceptor"));
            }
            called = true;
            return step(at + 1);
          }),
        );
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return last();
  };
  return step(0);
}

/**
 * Tells every interceptor with an `item` about a channel item; an
 * interceptor that throws is reported, not allowed to break the channel.
 *
 * @internal
 */
export function observeItem(
  interceptors: readonly Interceptor[],
  info: ItemInfo,
  report: (e: unknown) => void,
): void {
  for (const x of interceptors) {
    if (x.item === undefined) continue;
    try {
      x.item(info);
    } catch (e) {
      report(e);
    }
  }
}
