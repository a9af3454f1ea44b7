/**
 * The calls a connection makes: request ids (this side's parity), the
 * peer's concurrency limit with a local queue, cancellation by signal or
 * timeout, late responses to cancelled calls, and the decoding of each
 * response with its method's schema.
 *
 * @module
 */

import { IdTable } from "../_util/id_table.ts";
import { Queue } from "../_util/queue.ts";
import type { MethodDescriptor } from "../identity/service.ts";
import { decodeRange, encodeWith } from "../postcard/codec.ts";
import { DecodeError } from "../postcard/errors.ts";
import { Reader } from "../postcard/_reader.ts";
import type { Schema } from "../postcard/schema.ts";
import {
  CancelledError,
  ClosedError,
  InvalidPayloadError,
  RpcError,
  UnknownMethodError,
  withMetadata,
} from "../wire/errors.ts";
import { methodIdBytes, writeCallHead, writeCancel } from "../wire/heads.ts";
import { EMPTY_METADATA, ERROR_KEY, exposeMetadata, toMetadata } from "../wire/metadata.ts";
import { ResultTag, RoamErrorTag } from "../wire/tags.ts";
import type { ConnectionSettings, Metadata } from "../wire/types.ts";
import type { CallOptions } from "./api.ts";
import { type ChannelRegistry, hasChannels, type OutgoingChannels } from "./channels.ts";
import type { SessionPort } from "./port.ts";
import {
  type ForwardHandle,
  type ForwardReply,
  type ForwardTarget,
  writeRange,
} from "./forward.ts";
import type { Connection } from "./connection.ts";
import { Info, runChain } from "./intercept.ts";
import { type RawCallOptions, RawChannel, rawInternals, rawMethod, type RawResult } from "./raw.ts";

interface Pending {
  /** The method whose schemas decode the response; undefined for a raw call. */
  readonly method: MethodDescriptor | undefined;
  /** How the call is named in errors (`Service.method`, or a raw method id). */
  readonly label: string;
  readonly full: boolean;
  resolve(value: unknown): void;
  reject(error: unknown): void;
  cleanup: (() => void) | undefined;
  /** A forwarded call's reply (then `resolve` and `reject` are unused). */
  readonly forward: ForwardReply | undefined;
}

/** What {@linkcode capture} took from the promise made last. */
const captured: {
  resolve: ((value: unknown) => void) | undefined;
  reject: ((error: unknown) => void) | undefined;
} = { resolve: undefined, reject: undefined };

/** One executor for every call's promise (the constructor runs it at once): no closure per call. */
function capture(resolve: (value: unknown) => void, reject: (error: unknown) => void): void {
  captured.resolve = resolve;
  captured.reject = reject;
}

/** A call made here (typed or raw): its promise and how to settle it, in one object. */
class CallPending implements Pending {
  readonly method: MethodDescriptor | undefined;
  readonly full: boolean;
  readonly #rawLabel: string | undefined;
  resolve!: (value: unknown) => void;
  reject!: (error: unknown) => void;
  cleanup: (() => void) | undefined = undefined;
  readonly forward = undefined;
  readonly promise: Promise<unknown>;

  constructor(method: MethodDescriptor | undefined, full: boolean, rawLabel?: string) {
    this.method = method;
    this.full = full;
    this.#rawLabel = rawLabel;
    this.promise = new Promise(capture);
    this.resolve = captured.resolve!;
    this.reject = captured.reject!;
  }

  /** Made only when needed (an error, a timeout): not a string per call. */
  get label(): string {
    const m = this.method;
    return m !== undefined ? labelOf(m) : this.#rawLabel!;
  }
}

const labels = new WeakMap<MethodDescriptor, string>();

/** `Service.method`, made once per method (interceptors see it on every call, errors name it). */
function labelOf(method: MethodDescriptor): string {
  let label = labels.get(method);
  if (label === undefined) {
    label = `${method.service}.${method.name}`;
    labels.set(method, label);
  }
  return label;
}

/** Rejects a pending call, or fails a forwarded one. */
function failPending(p: Pending, error: unknown): void {
  if (p.forward !== undefined) p.forward.fail(error);
  else p.reject(error);
}

interface Queued {
  /** The method id's varint bytes. */
  readonly idBytes: Uint8Array;
  readonly args: Uint8Array;
  readonly channels: OutgoingChannels | undefined;
  /** Channel ids of a raw call (its raw channels are registered already). */
  readonly rawChannels?: readonly number[];
  /** The raw channels themselves, bound once the call is sent. */
  readonly raw?: readonly RawChannel[];
  readonly metadata: Metadata;
  readonly pending: Pending;
  dead: boolean;
}

/** How many late responses to cancelled calls are remembered, at most. */
const CANCELLED_MEMORY = 4096;

const NO_CHANNELS: readonly number[] = Object.freeze([]);

/** Rejects a raw call refused before it is queued: its raw channels go with it. */
function refuseRaw(options: RawCallOptions | undefined, e: unknown): Promise<RawResult> {
  for (const c of options?.channels ?? []) {
    if (c instanceof RawChannel) rawInternals.abandon(c, e);
  }
  return Promise.reject(e);
}

/** A forwarded call in flight: its pending entry and its handle, in one object. */
class ForwardPending implements Pending, ForwardHandle {
  readonly method = undefined;
  readonly label: string;
  readonly full = true;
  cleanup: (() => void) | undefined = undefined;
  readonly forward: ForwardReply;
  /** The request id, once sent. */
  id: number | undefined = undefined;
  /** The call while it waits to be sent. */
  queued: Queued | undefined = undefined;
  readonly #cancel: (p: ForwardPending) => void;

  constructor(label: string, reply: ForwardReply, cancel: (p: ForwardPending) => void) {
    this.label = label;
    this.forward = reply;
    this.#cancel = cancel;
  }

  resolve(): void {}

  reject(): void {}

  cancel(): void {
    this.#cancel(this);
  }
}

/** The handle of a forwarded call that failed at once. */
const NO_HANDLE: ForwardHandle = Object.freeze({ cancel: () => {} });

/** The outgoing calls of one connection. */
export class Outgoing implements ForwardTarget {
  readonly #port: SessionPort;
  readonly #connection: Connection;
  readonly #connectionId: number;
  readonly #peer: ConnectionSettings;
  readonly #maxElements: number;
  readonly #channels: () => ChannelRegistry;
  readonly #closed: () => RpcError | undefined;
  #nextRequestId: number;
  /** Calls sent and not answered, by request id (made with the first call). */
  #pending: IdTable<Pending> | undefined;
  #cancelled: Map<number, true> | undefined;
  #waiting: Queue<Queued> | undefined;
  /** True while a pump of the waiting calls waits for the link to drain. */
  #pumpWaiting = false;
  /** Calls answered (stats). */
  completed = 0;

  /**
   * @param port The session.
   * @param connection The connection (interceptors see it).
   * @param connectionId The connection id.
   * @param local This side's settings (its parity numbers the requests).
   * @param peer The peer's settings (its concurrency limit).
   * @param maxElements Most elements a decoded response may hold.
   * @param channels The connection's channel table.
   * @param closed Why the connection closed, once it has.
   */
  constructor(
    port: SessionPort,
    connection: Connection,
    connectionId: number,
    local: ConnectionSettings,
    peer: ConnectionSettings,
    maxElements: number,
    channels: () => ChannelRegistry,
    closed: () => RpcError | undefined,
  ) {
    this.#port = port;
    this.#connection = connection;
    this.#connectionId = connectionId;
    this.#peer = peer;
    this.#maxElements = maxElements;
    this.#channels = channels;
    this.#closed = closed;
    this.#nextRequestId = local.parity === "odd" ? 1 : 2;
  }

  /** Calls sent and not yet answered (cancelled ones included until their late response). */
  get inFlight(): number {
    return (this.#pending?.size ?? 0) + (this.#cancelled?.size ?? 0);
  }

  /** True when no call is in flight or waiting. */
  get idle(): boolean {
    return (this.#pending?.size ?? 0) === 0 && (this.#waiting?.length ?? 0) === 0;
  }

  /**
   * Makes a call: resolves with its value (with the response metadata when
   * `full`), or rejects with why it failed.
   */
  call(
    method: MethodDescriptor,
    args: unknown[],
    options: CallOptions | undefined,
    full: boolean,
  ): Promise<unknown> {
    const interceptors = this.#port.interceptors;
    if (interceptors.length === 0) return this.#call(method, args, options, full);
    let metadata: Metadata;
    try {
      metadata = toMetadata(options?.metadata);
    } catch (e) {
      return Promise.reject(e);
    }
    const info = new Info(
      "client",
      labelOf(method),
      method,
      method.id,
      args,
      metadata,
      this.#connection,
      options?.signal,
    );
    return runChain(
      interceptors,
      info,
      // Unless an interceptor added metadata, the call goes with its own options as they are.
      () =>
        info.added.length === 0
          ? this.#call(method, args, options, full)
          : this.#call(method, args, { ...options, metadata: info.metadata }, full),
    );
  }

  #call(
    method: MethodDescriptor,
    args: unknown[],
    options: CallOptions | undefined,
    full: boolean,
  ): Promise<unknown> {
    const closed = this.#closed();
    if (closed !== undefined) return Promise.reject(closed);
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
    const pending = new CallPending(method, full);
    const promise = pending.promise;
    const port = this.#port;
    const now = this.inFlight < this.#peer.maxConcurrentRequests && port.writable &&
      (this.#waiting === undefined || this.#waiting.length === 0);
    if (now && !hasChannels(method.args)) {
      // The common case: header and args written once, straight into the message.
      const id = this.#allocate();
      const w = port.acquire();
      try {
        writeCallHead(
          w,
          this.#connectionId,
          id,
          methodIdBytes(method, method.id),
          NO_CHANNELS,
          metadata,
        );
        encodeWith(w, method.args, args, "args");
        (this.#pending ??= new IdTable()).set(id, pending);
        port.sendFrom(w, true);
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
    const channels = hasChannels(method.args) ? this.#channels().outgoing() : undefined;
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
    const queued: Queued = {
      idBytes: methodIdBytes(method, method.id),
      args: bytes,
      channels,
      metadata,
      pending,
      dead: false,
    };
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

  /**
   * Makes a raw call: `args` are the encoded arguments, `channels` raw
   * channels made on this connection; resolves with the response's raw
   * bytes and metadata.
   */
  callRaw(
    methodId: bigint,
    args: Uint8Array,
    options: RawCallOptions | undefined,
  ): Promise<RawResult> {
    const interceptors = this.#port.interceptors;
    if (interceptors.length === 0) return this.#callRaw(methodId, args, options);
    let metadata: Metadata;
    try {
      metadata = toMetadata(options?.metadata);
    } catch (e) {
      return refuseRaw(options, e);
    }
    const info = new Info(
      "client",
      rawLabel(methodId),
      undefined,
      methodId,
      [args],
      metadata,
      this.#connection,
      options?.signal,
    );
    return runChain(
      interceptors,
      info,
      () => this.#callRaw(methodId, args, { ...options, metadata: info.metadata }),
    ) as Promise<RawResult>;
  }

  #callRaw(
    methodId: bigint,
    args: Uint8Array,
    options: RawCallOptions | undefined,
  ): Promise<RawResult> {
    const refuse = (e: unknown): Promise<RawResult> => refuseRaw(options, e);
    const closed = this.#closed();
    if (closed !== undefined) return refuse(closed);
    if (this.#port.closing) {
      return refuse(
        new ClosedError("session-closed", "The session is closing: no new calls"),
      );
    }
    if (typeof methodId !== "bigint" || methodId < 0n || methodId > 0xffff_ffff_ffff_ffffn) {
      return refuse(
        new RangeError(`Cannot call method ${String(methodId)}: a method id is a u64 bigint`),
      );
    }
    if (!(args instanceof Uint8Array)) {
      return refuse(new TypeError("Cannot make a raw call: args must be a Uint8Array"));
    }
    const signal = options?.signal;
    if (signal?.aborted) return refuse(signal.reason);
    const timeout = options?.timeout;
    if (timeout !== undefined && !(timeout >= 0 && timeout <= 0x7fff_ffff)) {
      return refuse(
        new RangeError(`Invalid timeout: expected 0 to 2147483647 milliseconds, got ${timeout}`),
      );
    }
    let metadata = EMPTY_METADATA;
    try {
      if (options?.metadata !== undefined) metadata = toMetadata(options.metadata);
    } catch (e) {
      return refuse(e);
    }
    const given = options?.channels;
    const raw = given === undefined || given.length === 0 ? undefined : given;
    const rawChannels = raw === undefined ? NO_CHANNELS : raw.map((c) => c.id);
    const { idBytes, label } = rawMethod(methodId);
    const pending = new CallPending(undefined, true, label);
    const promise = pending.promise;
    const now = this.inFlight < this.#peer.maxConcurrentRequests && this.#port.writable &&
      (this.#waiting === undefined || this.#waiting.length === 0);
    const queued: Queued = {
      idBytes,
      // Sent now, the bytes are written before this returns; a queued call keeps a copy.
      args: now ? args : args.slice(),
      channels: undefined,
      rawChannels,
      ...(raw === undefined ? {} : { raw }),
      metadata,
      pending,
      dead: false,
    };
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
      if (!this.#port.writable) this.#pumpWhenWritable();
    }
    return promise as Promise<RawResult>;
  }

  /**
   * Forwards a call as bytes (see `forward.ts`): `args[start, end)` are read
   * before this returns, or copied if the call waits; `reply` hears the
   * response's bytes, readable only during its `done`, or the failure.
   */
  forward(
    methodId: bigint,
    args: Uint8Array,
    start: number,
    end: number,
    metadata: Metadata,
    reply: ForwardReply,
  ): ForwardHandle {
    const closed = this.#closed();
    if (closed !== undefined || this.#port.closing) {
      reply.fail(
        closed ?? new ClosedError("session-closed", "The session is closing: no new calls"),
      );
      return NO_HANDLE;
    }
    const { idBytes, label } = rawMethod(methodId);
    const pending = new ForwardPending(
      label,
      reply,
      this.#cancelForwardFn ??= (p) => this.#cancelForward(p),
    );
    const port = this.#port;
    if (
      this.inFlight < this.#peer.maxConcurrentRequests && port.writable &&
      (this.#waiting === undefined || this.#waiting.length === 0)
    ) {
      // Sent now: the head and the arguments' bytes written once, straight into the message.
      const id = this.#allocate();
      const w = port.acquire();
      try {
        writeCallHead(w, this.#connectionId, id, idBytes, NO_CHANNELS, metadata);
        writeRange(w, args, start, end);
        (this.#pending ??= new IdTable()).set(id, pending);
        port.sendFrom(w);
      } finally {
        port.release(w);
      }
      pending.id = id;
      return pending;
    }
    const queued: Queued = {
      idBytes,
      args: args.slice(start, end),
      channels: undefined,
      rawChannels: NO_CHANNELS,
      metadata,
      pending,
      dead: false,
    };
    pending.queued = queued;
    (queued as { onSent?: (n: number) => void }).onSent = (n: number) => (pending.id = n);
    (this.#waiting ??= new Queue()).push(queued);
    if (!port.writable) this.#pumpWhenWritable();
    return pending;
  }

  #cancelForwardFn: ((p: ForwardPending) => void) | undefined;

  /** Cancels a forwarded call (see {@linkcode ForwardPending}). */
  #cancelForward(p: ForwardPending): void {
    const id = p.id;
    if (id === undefined) {
      if (p.queued !== undefined) p.queued.dead = true;
    } else if (this.#pending?.get(id) === p) {
      this.#pending!.delete(id);
      this.#rememberCancelled(id);
      this.#sendCancel(id);
    }
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

  /** Sends a call whose args are already encoded; binds its channels. */
  #sendQueued(q: Queued): number {
    const id = this.#allocate();
    const port = this.#port;
    const w = port.acquire();
    try {
      writeCallHead(
        w,
        this.#connectionId,
        id,
        q.idBytes,
        q.rawChannels ?? q.channels?.ids ?? NO_CHANNELS,
        q.metadata,
      );
      w.raw(q.args);
      (this.#pending ??= new IdTable()).set(id, q.pending);
      port.sendFrom(w);
    } finally {
      port.release(w);
    }
    q.channels?.commit();
    if (q.raw !== undefined) { for (const c of q.raw) rawInternals.bind(c); }
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
    options: { readonly signal?: AbortSignal; readonly timeout?: number },
  ): void {
    let id = sentId;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const signal = options.signal;
    const abort = (reason: unknown): void => {
      pending.cleanup?.();
      if (queued !== undefined && !queued.dead && id === undefined) {
        queued.dead = true;
        if (queued.raw !== undefined) {
          for (const c of queued.raw) rawInternals.abandon(c, reason);
        }
      } else if (id !== undefined && this.#pending?.get(id) === pending) {
        this.#pending!.delete(id);
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
        abort(new DOMException(`${pending.label} timed out after ${ms} ms`, "TimeoutError"));
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
    const cancelled = this.#cancelled ??= new Map();
    cancelled.set(id, true);
    if (cancelled.size > CANCELLED_MEMORY) {
      // Forget the oldest: its response will be treated as unknown if it ever comes.
      const oldest = cancelled.keys().next().value as number;
      cancelled.delete(oldest);
    }
  }

  #sendCancel(id: number): void {
    if (this.#closed() !== undefined) return;
    const port = this.#port;
    const w = port.acquire();
    try {
      writeCancel(w, this.#connectionId, id);
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
      this.#closed() === undefined
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
   * fast path calls this directly, without a view). When `lent`, `ret` is
   * valid only during the call: nothing keeps it.
   */
  response(
    id: number,
    metadata: Metadata,
    ret: Uint8Array,
    start: number,
    end: number,
    lent: boolean,
  ): void {
    const pending = this.#pending?.take(id);
    if (pending === undefined) {
      if (this.#cancelled?.delete(id)) {
        this.#pump();
        return; // a late response to a cancelled call
      }
      this.#port.violation(`response to unknown request ${id} on connection ${this.#connectionId}`);
      return;
    }
    this.completed++;
    pending.cleanup?.();
    if (pending.forward !== undefined) {
      // A forwarded call: its caller writes the bytes on at once, or copies them.
      pending.forward.done(ret, start, end, metadata);
      this.#pump();
      return;
    }
    if (pending.method === undefined) {
      // A raw call: the caller gets the bytes (a copy) and decodes them if it wants.
      pending.resolve({ ret: ret.slice(start, end), metadata: exposeMetadata(metadata) });
      this.#pump();
      return;
    }
    let value: unknown;
    try {
      value = decodeReturn(pending.method, ret, start, end, !lent, metadata, this.#maxElements);
    } catch (e) {
      pending.reject(e);
      this.#pump();
      return;
    }
    pending.resolve(pending.full ? { value, metadata: exposeMetadata(metadata) } : value);
    this.#pump();
  }

  /** The connection closed: every pending and queued call fails with `error`. */
  fail(error: RpcError): void {
    for (const p of this.#pending?.values() ?? []) {
      p.cleanup?.();
      failPending(p, error);
    }
    this.#pending = undefined;
    this.#cancelled?.clear();
    const waiting = this.#waiting?.drain() ?? [];
    for (const q of waiting) {
      if (q.dead) continue;
      q.pending.cleanup?.();
      failPending(q.pending, error);
    }
  }
}

/**
 * Decodes the `Result<T, RoamError<E>>` response payload `ret[start, end)`,
 * with at most `max` elements (`bytes` values borrowed from `ret` when
 * `borrow`): the value (`{ ok, value | error }` for a
 * fallible method); throws the call's error for a `RoamError`, or an
 * `RpcError` for bytes that do not decode.
 */
function decodeReturn(
  method: MethodDescriptor,
  ret: Uint8Array,
  start: number,
  end: number,
  borrow: boolean,
  metadata: Metadata,
  max: number,
): unknown {
  try {
    const tag = start < end ? ret[start] : undefined;
    if (tag === ResultTag.Ok) {
      const value = decodeRange(method.returns, ret, start + 1, end, undefined, borrow, max);
      return method.error === undefined ? value : { ok: true, value };
    }
    const name = labelOf(method);
    const r = new Reader(ret, start, end);
    r.u8("Result");
    if (tag !== ResultTag.Err) r.fail("Result", `invalid tag ${tag}`, start);
    const index = r.varint32("RoamError");
    switch (index) {
      case RoamErrorTag.User: {
        const schema = method.error as Schema<unknown> | undefined;
        if (schema === undefined) {
          return r.fail("RoamError", "a user error for an infallible method", start + 1);
        }
        const error = decodeRange(schema, ret, r.pos, end, undefined, borrow, max);
        return { ok: false, error };
      }
      case RoamErrorTag.UnknownMethod:
        throw withMetadata(new UnknownMethodError(name), metadata);
      case RoamErrorTag.InvalidPayload:
        throw withMetadata(new InvalidPayloadError(name), metadata);
      case RoamErrorTag.Cancelled:
        throw withMetadata(new CancelledError(name, reasonOf(metadata)), metadata);
    }
    return r.fail("RoamError", `unknown variant index ${index}`, start + 1);
  } catch (e) {
    if (e instanceof DecodeError) {
      throw new RpcError(
        "invalid-response",
        `Cannot decode the response of ${labelOf(method)}: ${e.message}`,
        { cause: e },
      );
    }
    throw e;
  }
}

/** How a raw call is named in messages. */
export function rawLabel(methodId: bigint): string {
  return rawMethod(methodId).label;
}

/** The reason a peer gave for a `Cancelled` answer, if any. */
function reasonOf(metadata: Metadata): string | undefined {
  for (const e of metadata) if (e.key === ERROR_KEY && typeof e.value === "string") return e.value;
  return undefined;
}
