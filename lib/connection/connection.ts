/**
 * A connection: the calls in flight in both directions on one connection
 * id, with cancellation, metadata and concurrency limits.
 *
 * @module
 */

import { methodIdBytes, writeCallHead, writeCancel } from "../wire/heads.ts";
import { ResultTag, RoamErrorTag } from "../wire/tags.ts";
import { ChannelRegistry, hasChannels, type OutgoingChannels } from "./channels.ts";
import { Queue } from "../_util/queue.ts";
import { Dispatcher } from "./incoming.ts";
import {
  CancelledError,
  ClosedError,
  InvalidPayloadError,
  RpcError,
  UnknownMethodError,
  withMetadata,
} from "../wire/errors.ts";
import { EMPTY_METADATA, exposeMetadata, type MetadataInit, toMetadata } from "../wire/metadata.ts";
import { decodeRange, encodeWith } from "../postcard/codec.ts";
import { DecodeError } from "../postcard/errors.ts";
import { Reader } from "../postcard/_reader.ts";
import type { Writer } from "../postcard/_writer.ts";
import type { CallOptions, CallResult, CallReturn, Client, Handlers } from "./api.ts";
import type {
  ArgsOf,
  MethodDescriptor,
  MethodSpec,
  MethodSpecs,
  ServiceDescriptor,
} from "../identity/service.ts";
import type { Schema } from "../postcard/schema.ts";
import type { ChannelBody, ConnectionSettings, Metadata, RequestBody } from "../wire/types.ts";

/** What a connection needs from its session. */
export interface SessionPort {
  /** True once the session is closing or closed: no new calls. */
  readonly closing: boolean;
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
  /** Sends the message written in `w[0, w.pos)`. */
  sendFrom(w: Writer): void;
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
}

interface Pending {
  readonly method: MethodDescriptor;
  readonly full: boolean;
  resolve(value: unknown): void;
  reject(error: unknown): void;
  cleanup: (() => void) | undefined;
}

interface Queued {
  readonly method: MethodDescriptor;
  readonly args: Uint8Array;
  readonly channels: OutgoingChannels | undefined;
  readonly metadata: Metadata;
  readonly pending: Pending;
  dead: boolean;
}

/** How many late responses to cancelled calls are remembered, at most. */
const CANCELLED_MEMORY = 4096;

/**
 * One connection of a session: the root connection (id 0) or a virtual
 * connection. Make typed clients with {@linkcode Connection.client} and
 * serve services with {@linkcode Connection.serve}.
 */
export class Connection {
  /** The connection id; 0 is the root connection. */
  readonly id: number;
  /** Metadata the peer sent when the connection was opened or accepted. */
  readonly peerMetadata: Metadata;
  readonly #port: SessionPort;
  readonly #local: ConnectionSettings;
  readonly #peer: ConnectionSettings;
  readonly #limits: ConnectionLimits;
  #nextRequestId: number;
  readonly #pending = new Map<number, Pending>();
  readonly #cancelled = new Map<number, true>();
  #waiting: Queue<Queued> | undefined;
  /** True while a pump of the waiting calls waits for the link to drain. */
  #pumpWaiting = false;
  readonly #serving: Dispatcher;
  #closed: RpcError | undefined;
  #channels: ChannelRegistry | undefined;
  #closedPromise: Promise<RpcError | undefined> | undefined;
  #resolveClosed: ((e: RpcError | undefined) => void) | undefined;
  /** Called once when the connection closes (used by the session). */
  onClose: (() => void) | undefined = undefined;
  /** Closes this connection (set by the session: virtual connections send `ConnectionClose`). */
  closer: ((metadata: Metadata) => Promise<void>) | undefined = undefined;

  /**
   * Made by the session; not constructed directly.
   *
   * @param port The session side.
   * @param id The connection id.
   * @param local This side's settings.
   * @param peer The peer's settings.
   * @param peerMetadata The peer's open or accept metadata.
   * @param limits Limits.
   */
  constructor(
    port: SessionPort,
    id: number,
    local: ConnectionSettings,
    peer: ConnectionSettings,
    peerMetadata: Metadata,
    limits: ConnectionLimits,
  ) {
    this.#port = port;
    this.id = id;
    this.#local = local;
    this.#peer = peer;
    this.peerMetadata = peerMetadata;
    this.#limits = limits;
    this.#nextRequestId = local.parity === "odd" ? 1 : 2;
    this.#serving = new Dispatcher(
      port,
      this,
      local.maxConcurrentRequests,
      limits,
      () => this.#registry(),
      () => this.#closed !== undefined,
    );
  }

  /** This side's settings for the connection. */
  get settings(): ConnectionSettings {
    return this.#local;
  }

  /** The peer's settings for the connection. */
  get peerSettings(): ConnectionSettings {
    return this.#peer;
  }

  /** Calls sent and not yet answered (cancelled ones included until their late response). */
  get inFlight(): number {
    return this.#pending.size + this.#cancelled.size;
  }

  /** True once the connection is closed. */
  get isClosed(): boolean {
    return this.#closed !== undefined;
  }

  /** Resolves when the connection closes, with the reason (undefined for a plain close). */
  get closed(): Promise<RpcError | undefined> {
    return this.#closedPromise ??= this.#closed !== undefined
      ? Promise.resolve(this.#closed)
      : new Promise((r) => (this.#resolveClosed = r));
  }

  /**
   * Returns a typed client for `service` on this connection.
   *
   * @param service The service descriptor.
   * @returns An object with one method per service method.
   */
  client<M extends MethodSpecs>(service: ServiceDescriptor<M>): Client<M> {
    const client: Record<string, unknown> = {};
    for (const name of Object.keys(service.methods)) {
      const method = service.methods[name as keyof M & string] as unknown as MethodDescriptor;
      const arity = method.args.items.length;
      client[name] = (...a: unknown[]) => {
        let options: CallOptions | undefined;
        if (a.length === arity + 1 && isOptions(a[arity])) {
          options = a.pop() as CallOptions | undefined;
        } else if (a.length !== arity) {
          return Promise.reject(badArgumentCount(method, arity, a));
        }
        return this.#call(method, a, options, false);
      };
    }
    return Object.freeze(client) as Client<M>;
  }

  /**
   * Calls a method and resolves with its value and the response metadata.
   *
   * @param method The method descriptor (`Service.methods.name`).
   * @param args The arguments, as a tuple.
   * @param options Cancellation, timeout and request metadata.
   * @returns The value (a `Result` for a fallible method) and response metadata.
   */
  call<S extends MethodSpec>(
    method: MethodDescriptor<S>,
    args: ArgsOf<S>,
    options?: CallOptions,
  ): Promise<CallResult<CallReturn<S>>> {
    return this.#call(
      method as unknown as MethodDescriptor,
      args as unknown[],
      options,
      true,
    ) as Promise<
      CallResult<CallReturn<S>>
    >;
  }

  /**
   * Serves a service on this connection: calls to its methods run the
   * given handlers. Serving two services with a method id in common is an
   * error.
   *
   * @param service The service descriptor.
   * @param handlers One function per method.
   * @throws {TypeError} For a missing handler or a method already served.
   */
  serve<M extends MethodSpecs>(service: ServiceDescriptor<M>, handlers: Handlers<M>): void {
    this.#serving.register(service, handlers);
  }

  /**
   * Closes the connection. For a virtual connection this sends
   * `ConnectionClose`; closing the root connection closes the session.
   * Pending calls fail and running handlers see their signal aborted.
   *
   * @param metadata Metadata for the peer.
   */
  async close(metadata?: MetadataInit): Promise<void> {
    if (this.#closed !== undefined) return;
    await this.closer?.(toMetadata(metadata));
  }

  /** Closes the connection when used with `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ------------------------------------------------------------ calls out

  #call(
    method: MethodDescriptor,
    args: unknown[],
    options: CallOptions | undefined,
    full: boolean,
  ): Promise<unknown> {
    if (this.#closed !== undefined) return Promise.reject(this.#closed);
    if (this.#port.closing) {
      return Promise.reject(
        new ClosedError("session-closed", "The session is closing: no new calls"),
      );
    }
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const timeout = options?.timeout;
    if (timeout !== undefined && !(timeout >= 0 && timeout <= 0x7fff_ffff)) {
      return Promise.reject(
        new RangeError(`Invalid timeout: expected 0 to 2147483647 milliseconds, got ${timeout}`),
      );
    }
    let metadata = EMPTY_METADATA;
    if (options?.metadata !== undefined) {
      try {
        metadata = toMetadata(options.metadata);
      } catch (e) {
        return Promise.reject(e);
      }
    }
    let resolve!: (v: unknown) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<unknown>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const pending: Pending = { method, full, resolve, reject, cleanup: undefined };
    const port = this.#port;
    const now = this.inFlight < this.#peer.maxConcurrentRequests && port.writable &&
      (this.#waiting === undefined || this.#waiting.length === 0);
    if (now && !hasChannels(method.args)) {
      // The common case: header and args written once, straight into the message.
      const id = this.#allocate();
      const w = port.acquire();
      try {
        writeCallHead(w, this.id, id, methodIdBytes(method, method.id), NO_CHANNELS, metadata);
        encodeWith(w, method.args, args, "args");
        this.#pending.set(id, pending);
        port.sendFrom(w);
      } catch (e) {
        this.#nextRequestId -= 2; // nothing was sent: the id is free again
        return Promise.reject(e);
      } finally {
        port.release(w);
      }
      if (signal !== undefined || timeout !== undefined) {
        this.#watch(pending, id, undefined, options!);
      }
      return promise;
    }
    // Channels (their ids precede the args on the wire) or over the peer's
    // limit: encode the args first, so bad args fail at once.
    const channels = hasChannels(method.args) ? this.#registry().outgoing() : undefined;
    const w = port.acquire();
    let bytes: Uint8Array;
    try {
      encodeWith(w, method.args, args, "args", channels?.hooks);
      bytes = w.copy();
    } catch (e) {
      channels?.rollback();
      return Promise.reject(e);
    } finally {
      port.release(w);
    }
    const queued: Queued = { method, args: bytes, channels, metadata, pending, dead: false };
    if (now) {
      const id = this.#sendQueued(queued);
      if (signal !== undefined || timeout !== undefined) {
        this.#watch(pending, id, undefined, options!);
      }
    } else {
      (this.#waiting ??= new Queue()).push(queued);
      if (signal !== undefined || timeout !== undefined) {
        this.#watch(pending, undefined, queued, options!);
      }
      if (!port.writable) this.#pumpWhenWritable();
    }
    return promise;
  }

  /** Sends queued calls once the link has drained. */
  #pumpWhenWritable(): void {
    if (this.#pumpWaiting) return;
    this.#pumpWaiting = true;
    this.#port.whenWritable(() => {
      this.#pumpWaiting = false;
      this.#pump();
    }, false);
  }

  #registry(): ChannelRegistry {
    return this.#channels ??= new ChannelRegistry(
      this.#port,
      this.id,
      this.#local.parity,
      this.#limits.maxChannels,
      this.#limits.maxDecodedElements,
    );
  }

  /** Sends a call whose args are already encoded; binds its channels. */
  #sendQueued(q: Queued): number {
    const id = this.#allocate();
    const port = this.#port;
    const w = port.acquire();
    try {
      writeCallHead(
        w,
        this.id,
        id,
        methodIdBytes(q.method, q.method.id),
        q.channels?.ids ?? NO_CHANNELS,
        q.metadata,
      );
      w.raw(q.args);
      this.#pending.set(id, q.pending);
      port.sendFrom(w);
    } finally {
      port.release(w);
    }
    q.channels?.commit();
    return id;
  }

  #allocate(): number {
    const id = this.#nextRequestId;
    this.#nextRequestId += 2;
    return id;
  }

  /** Arms the signal and timeout of a call. */
  #watch(
    pending: Pending,
    sentId: number | undefined,
    queued: Queued | undefined,
    options: CallOptions,
  ): void {
    let id = sentId;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const signal = options.signal;
    const abort = (reason: unknown): void => {
      pending.cleanup?.();
      if (queued !== undefined && !queued.dead && id === undefined) {
        queued.dead = true;
      } else if (id !== undefined && this.#pending.get(id) === pending) {
        this.#pending.delete(id);
        this.#rememberCancelled(id);
        this.#sendCancel(id);
      } else {
        return; // already settled
      }
      pending.reject(reason);
    };
    const onAbort = (): void => abort(signal!.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    if (options.timeout !== undefined) {
      const ms = options.timeout;
      timer = setTimeout(() => {
        const m = pending.method;
        abort(new DOMException(`${m.service}.${m.name} timed out after ${ms} ms`, "TimeoutError"));
      }, ms);
    }
    pending.cleanup = () => {
      pending.cleanup = undefined;
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    if (queued !== undefined) {
      // Learn the id once the queued call is sent.
      (queued as { onSent?: (n: number) => void }).onSent = (n: number) => (id = n);
    }
  }

  #rememberCancelled(id: number): void {
    this.#cancelled.set(id, true);
    if (this.#cancelled.size > CANCELLED_MEMORY) {
      // Forget the oldest: its response will be treated as unknown if it ever comes.
      const oldest = this.#cancelled.keys().next().value as number;
      this.#cancelled.delete(oldest);
    }
  }

  #sendCancel(id: number): void {
    if (this.#closed !== undefined) return;
    const port = this.#port;
    const w = port.acquire();
    try {
      writeCancel(w, this.id, id);
      port.sendFrom(w);
    } finally {
      port.release(w);
    }
  }

  /** Sends queued calls while the peer has room. */
  #pump(): void {
    const waiting = this.#waiting;
    if (waiting === undefined) return;
    while (
      waiting.length > 0 && this.inFlight < this.#peer.maxConcurrentRequests &&
      this.#closed === undefined
    ) {
      if (!this.#port.writable) {
        this.#pumpWhenWritable();
        return;
      }
      const q = waiting.shift()!;
      if (q.dead) {
        q.channels?.rollback();
        continue;
      }
      const id = this.#sendQueued(q);
      (q as { onSent?: (n: number) => void }).onSent?.(id);
    }
  }

  /**
   * Handles a `Response` whose result is `ret[start, end)` (the session's
   * fast path calls this directly, without a view).
   */
  handleResponse(id: number, metadata: Metadata, ret: Uint8Array, start: number): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) {
      if (this.#cancelled.delete(id)) {
        this.#pump();
        return; // a late response to a cancelled call
      }
      this.#port.violation(`response to unknown request ${id} on connection ${this.id}`);
      return;
    }
    this.#pending.delete(id);
    pending.cleanup?.();
    let outcome: { ok: boolean; value: unknown };
    try {
      outcome = decodeReturn(pending.method, ret, start, metadata, this.#limits.maxDecodedElements);
    } catch (e) {
      pending.reject(e);
      this.#pump();
      return;
    }
    if (!outcome.ok) pending.reject(outcome.value);
    else if (pending.full) {
      pending.resolve({ value: outcome.value, metadata: exposeMetadata(metadata) });
    } else pending.resolve(outcome.value);
    this.#pump();
  }

  // ------------------------------------------------------------ calls in

  /** Handles a `RequestMessage` for this connection. */
  handleRequest(id: number, body: RequestBody): void {
    switch (body.type) {
      case "call":
        this.handleCall(id, body.methodId, body.channels, body.metadata, body.args, 0);
        return;
      case "response":
        this.handleResponse(id, body.metadata, body.ret, 0);
        return;
      case "cancel":
        this.#serving.cancel(id);
        return;
    }
  }

  /**
   * Handles a `Call` whose arguments are `args[start, end)` (the session's
   * fast path calls this directly, without a view).
   */
  handleCall(
    id: number,
    methodId: bigint,
    channelIds: readonly number[],
    metadata: Metadata,
    args: Uint8Array,
    start: number,
  ): void {
    this.#serving.call(id, methodId, channelIds, metadata, args, start);
  }

  /** Handles a `ChannelMessage` for this connection. */
  handleChannel(id: number, body: ChannelBody): void {
    this.#registry().handle(id, body);
  }

  /**
   * Handles a channel `Item` whose encoded value is `bytes[start, end)`
   * (the session's fast path calls this directly, without a view).
   */
  handleItem(id: number, bytes: Uint8Array, start: number): void {
    this.#registry().handleItem(id, bytes, start);
  }

  /**
   * Handles a channel `Item` whose encoded value is `prefix[start, end)`
   * followed by `last`, an array the peer shared by reference.
   */
  handleSharedItem(id: number, prefix: Uint8Array, start: number, last: Uint8Array): void {
    this.#registry().handleSharedItem(id, prefix, start, last);
  }

  // ------------------------------------------------------------ teardown

  /**
   * Marks the connection closed: pending and queued calls fail with
   * `error`, running handlers see their signal aborted, nothing more is sent.
   * Called by the session.
   */
  fail(error: RpcError): void {
    if (this.#closed !== undefined) return;
    this.#closed = error;
    for (const p of this.#pending.values()) {
      p.cleanup?.();
      p.reject(error);
    }
    this.#pending.clear();
    this.#cancelled.clear();
    const waiting = this.#waiting?.drain() ?? [];
    for (const q of waiting) {
      if (q.dead) continue;
      q.pending.cleanup?.();
      q.pending.reject(error);
    }
    this.#serving.fail(error);
    this.#channels?.failAll(error);
    this.#resolveClosed?.(error);
    this.onClose?.();
  }

  /** True when nothing is in flight in either direction. */
  get idle(): boolean {
    return this.#pending.size === 0 && !this.#serving.busy &&
      (this.#waiting?.length ?? 0) === 0;
  }
}

const NO_CHANNELS: readonly number[] = Object.freeze([]);

/** True for what may stand in the call options position: undefined or a plain object. */
function isOptions(v: unknown): boolean {
  if (v === undefined) return true;
  if (typeof v !== "object" || v === null) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** The TypeError for a client method called with too few or too many arguments. */
function badArgumentCount(method: MethodDescriptor, arity: number, a: unknown[]): TypeError {
  const plural = (n: number): string => `${n} argument${n === 1 ? "" : "s"}`;
  const extra = a.length === arity + 1
    ? ` (the last one is neither call options nor undefined)`
    : "";
  return new TypeError(
    `Cannot call ${method.service}.${method.name}: expected ${
      plural(arity)
    } and optional call options, got ${plural(a.length)}${extra}`,
  );
}

/** Decodes the `Result<T, RoamError<E>>` response payload `ret[start, end)`, with at most `max` elements. */
function decodeReturn(
  method: MethodDescriptor,
  ret: Uint8Array,
  start: number,
  metadata: Metadata,
  max: number,
): { ok: boolean; value: unknown } {
  const name = `${method.service}.${method.name}`;
  try {
    const tag = ret[start];
    if (tag === ResultTag.Ok) {
      const value = decodeRange(method.returns, ret, start + 1, ret.length, undefined, true, max);
      return { ok: true, value: method.error === undefined ? value : { ok: true, value } };
    }
    const r = new Reader(ret, start);
    r.u8("Result");
    if (tag !== ResultTag.Err) r.fail("Result", `invalid tag ${tag}`, start);
    const index = r.varint32("RoamError");
    switch (index) {
      case RoamErrorTag.User: {
        const schema = method.error as Schema<unknown> | undefined;
        if (schema === undefined) {
          return r.fail("RoamError", "a user error for an infallible method", start + 1);
        }
        const error = decodeRange(schema, ret, r.pos, ret.length, undefined, true, max);
        return { ok: true, value: { ok: false, error } };
      }
      case RoamErrorTag.UnknownMethod:
        return { ok: false, value: withMetadata(new UnknownMethodError(name), metadata) };
      case RoamErrorTag.InvalidPayload:
        return { ok: false, value: withMetadata(new InvalidPayloadError(name), metadata) };
      case RoamErrorTag.Cancelled:
        return { ok: false, value: withMetadata(new CancelledError(name), metadata) };
    }
    return r.fail("RoamError", `unknown variant index ${index}`, start + 1);
  } catch (e) {
    if (e instanceof DecodeError) {
      throw new RpcError(
        "invalid-response",
        `Cannot decode the response of ${name}: ${e.message}`,
        { cause: e },
      );
    }
    throw e;
  }
}
