/**
 * The serving side of a connection: handlers by method id, incoming calls
 * (argument decoding with channel binding, the concurrency bound and its
 * backlog), responses, errors and cancellation.
 *
 * @module
 */

import { IdTable } from "../_util/id_table.ts";
import type { ChannelRegistry } from "./channels.ts";
import { hasChannels } from "./channels.ts";
import { channelInternals, type Rx, type Tx } from "../channel/channel.ts";
import {
  type RoamErrorKind,
  writeErrorResponse,
  writeOk,
  writeResponseHead,
  writeUserError,
} from "../wire/heads.ts";
import { Queue } from "../_util/queue.ts";
import type { Connection } from "./connection.ts";
import type { ConnectionLimits, SessionPort } from "./port.ts";
import { CancelledError, RpcError } from "../wire/errors.ts";
import {
  EMPTY_METADATA,
  ERROR_KEY,
  exposeMetadata,
  metadataEntry,
  type MetadataInit,
  propagatable,
  toMetadata,
} from "../wire/metadata.ts";
import { Info, type Interceptor, runChain } from "./intercept.ts";
import {
  type ForwardHandle,
  type Forwarding,
  forwardingOf,
  type ForwardReply,
  writeRange,
} from "./forward.ts";
import { decodeRange, encodeWith } from "../postcard/codec.ts";
import { DecodeError } from "../postcard/errors.ts";
import type { Schema } from "../postcard/schema.ts";
import type { CallContext, Handler, Handlers } from "./api.ts";
import type {
  MethodDescriptor,
  MethodSpec,
  MethodSpecs,
  ServiceDescriptor,
} from "../identity/service.ts";
import type { Metadata } from "../wire/types.ts";
import type { Writer } from "../postcard/_writer.ts";
import {
  type Fallback,
  type RawCall,
  type RawChannel,
  rawMethod,
  type RawResponse,
} from "./raw.ts";

/** An incoming call, from its arrival to its response (one shape for every kind). */
class Incoming {
  readonly id: number;
  readonly entry: HandlerEntry;
  readonly metadata: Metadata;
  readonly args: unknown[];
  /** The channel ends among the arguments, closed when the handler settles. */
  readonly ends: readonly (Tx<unknown> | Rx<unknown>)[] | undefined;
  controller: AbortController | undefined = undefined;
  /** Set when the call was aborted before its handler asked for a signal. */
  abortReason: unknown = undefined;
  started = false;
  responded = false;
  responseMetadata: Metadata = EMPTY_METADATA;
  /** A call forwarded the shorter way (see `forward.ts`), else undefined. */
  readonly forward: Forwarded | undefined;
  /**
   * True once the call is in the dispatcher's table of running calls: a
   * call whose handler returns at once never is (nothing can reach it
   * meanwhile), one that waits is.
   */
  registered = false;
  /** True once an unregistered call was finished. */
  finished = false;

  constructor(
    id: number,
    entry: HandlerEntry,
    metadata: Metadata,
    args: unknown[],
    ends: readonly (Tx<unknown> | Rx<unknown>)[] | undefined,
    forward: Forwarded | undefined,
  ) {
    this.id = id;
    this.entry = entry;
    this.metadata = metadata;
    this.args = args;
    this.ends = ends;
    this.forward = forward;
  }
}

/** Answers a forwarded call with the response bytes `ret[start, end)` (a dispatcher's). */
type Answer = (
  call: Incoming,
  ret: Uint8Array,
  start: number,
  end: number,
  metadata: Metadata,
) => void;

/**
 * A call a forwarding fallback takes the shorter way: its arguments, its
 * handle on the target, and the reply the target gives (one object per call).
 */
class Forwarded implements ForwardReply {
  readonly #answer: Answer;
  readonly via: Forwarding;
  readonly methodId: bigint;
  /** The arguments are `args[start, end)`; dropped once sent. */
  args: Uint8Array;
  start: number;
  end: number;
  handle: ForwardHandle | undefined = undefined;
  call!: Incoming;

  constructor(
    answer: Answer,
    via: Forwarding,
    methodId: bigint,
    args: Uint8Array,
    start: number,
    end: number,
  ) {
    this.#answer = answer;
    this.via = via;
    this.methodId = methodId;
    this.args = args;
    this.start = start;
    this.end = end;
  }

  done(ret: Uint8Array, start: number, end: number, metadata: Metadata): void {
    this.#answer(this.call, ret, start, end, propagatable(metadata));
  }

  fail(error: unknown): void {
    const r = this.via.failure(error);
    this.#answer(this.call, r.ret, 0, r.ret.length, toMetadata(r.metadata));
  }
}

/** A method's handler. */
interface TypedEntry {
  readonly label: string;
  readonly method: MethodDescriptor;
  /** The handler function, called with `self` as `this`. */
  readonly fn: Handler<MethodSpec>;
  readonly self: object;
}

/**
 * Calls a typed handler with its arguments and its context (without a
 * spread for the usual few arguments).
 */
function callHandler(entry: TypedEntry, args: unknown[], ctx: CallContext): unknown {
  const fn = entry.fn as (...a: unknown[]) => unknown;
  const self = entry.self;
  switch (args.length) {
    case 0:
      return fn.call(self, ctx);
    case 1:
      return fn.call(self, args[0], ctx);
    case 2:
      return fn.call(self, args[0], args[1], ctx);
    case 3:
      return fn.call(self, args[0], args[1], args[2], ctx);
  }
  args.push(ctx);
  return fn.apply(self, args);
}

/** The connection's fallback for one method id (no method: the call stays bytes). */
interface FallbackEntry {
  readonly label: string;
  readonly method: undefined;
  readonly fn: Fallback;
}

/** A method's handler, or the connection's fallback. */
type HandlerEntry = TypedEntry | FallbackEntry;

/** Method ids whose fallback entries a connection keeps, at most. */
const FALLBACK_ENTRIES = 256;

/** What a fallback receives: a call as bytes, its signal made only if asked for (as a handler's). */
class RawIncoming implements RawCall {
  readonly #call: Incoming;
  readonly requestId: number;
  readonly methodId: bigint;
  readonly args: Uint8Array;
  readonly metadata: Metadata;
  readonly channels: readonly RawChannel[];

  constructor(
    call: Incoming,
    methodId: bigint,
    args: Uint8Array,
    channels: readonly RawChannel[],
  ) {
    this.#call = call;
    this.requestId = call.id;
    this.methodId = methodId;
    this.args = args;
    this.metadata = exposeMetadata(call.metadata);
    this.channels = channels;
  }

  get signal(): AbortSignal {
    const call = this.#call;
    if (call.controller === undefined) {
      call.controller = new AbortController();
      if (call.abortReason !== undefined) call.controller.abort(call.abortReason);
    }
    return call.controller.signal;
  }
}

/** What a handler receives after its arguments. */
class Context implements CallContext {
  readonly #call: Incoming;
  readonly connection: Connection;
  #metadata: Metadata | undefined;

  constructor(call: Incoming, connection: Connection) {
    this.#call = call;
    this.connection = connection;
  }

  get metadata(): Metadata {
    return this.#metadata ??= exposeMetadata(this.#call.metadata);
  }

  get signal(): AbortSignal {
    const call = this.#call;
    if (call.controller === undefined) {
      call.controller = new AbortController();
      if (call.abortReason !== undefined) call.controller.abort(call.abortReason);
    }
    return call.controller.signal;
  }

  get requestId(): number {
    return this.#call.id;
  }

  get method(): string {
    return this.#call.entry.label;
  }

  setResponseMetadata(metadata: MetadataInit): void {
    this.#call.responseMetadata = toMetadata(metadata);
  }
}

/**
 * Checks that `handlers` has a function for every method of `service`.
 *
 * @param service The service.
 * @param handlers What should hold its handlers.
 * @throws {TypeError} When `handlers` is not an object or lacks a function.
 */
export function checkHandlers(service: ServiceDescriptor<MethodSpecs>, handlers: unknown): void {
  if (typeof handlers !== "object" || handlers === null) {
    throw new TypeError(
      `Cannot serve ${service.name}: expected an object of handler functions, got ${
        handlers === null ? "null" : typeof handlers
      }`,
    );
  }
  for (const name of Object.keys(service.methods)) {
    if (typeof (handlers as Record<string, unknown>)[name] !== "function") {
      throw new TypeError(`Cannot serve ${service.name}: no handler function for ${name}`);
    }
  }
}

/**
 * The handler of `call` settled (or will never run): the channel ends it
 * received close (a `Tx`) or reset (an `Rx` not read to its end), unless
 * it kept them.
 */
function releaseEnds(call: Incoming): void {
  const ends = call.ends;
  if (ends === undefined) return;
  for (const end of ends) channelInternals.release(end);
}

/** Aborts a call's signal, now or when its handler first asks for it. */
function abortCall(call: Incoming, reason: unknown): void {
  call.forward?.handle?.cancel();
  if (call.controller !== undefined) call.controller.abort(reason);
  else if (call.abortReason === undefined) call.abortReason = reason;
}

const NO_BYTES = new Uint8Array(0);

/** The channels of a raw call that has none. */
const NO_RAW: readonly RawChannel[] = Object.freeze([]);

/** The incoming calls of one connection. */
export class Dispatcher {
  readonly #port: SessionPort;
  readonly #connection: Connection;
  readonly #maxConcurrent: number;
  readonly #limits: ConnectionLimits;
  readonly #channels: () => ChannelRegistry;
  readonly #closed: () => boolean;
  #handlers: Map<bigint, TypedEntry> | undefined;
  /** The method called last and its entry (a map lookup by bigint costs more than a compare). */
  #lastMethodId = -1n;
  #lastEntry: TypedEntry | undefined;
  /** Calls whose handler is running or waiting, by request id (made with the first). */
  #running: IdTable<Incoming> | undefined;
  #active = 0;
  /** Handlers running now without being registered (see `#start`). */
  #inline = 0;
  #backlog: Queue<Incoming> | undefined;
  /** Calls served to the end (stats). */
  completed = 0;
  /** Answers calls for methods not served, raw (see `Connection.serveFallback`). */
  #fallback: Fallback | undefined;
  /** The forwarding behind the fallback, if it is a forwarding fallback (see `forward.ts`). */
  #forwarding: Forwarding | undefined;
  /** The fallback's handler entries by method id (one label each, made once). */
  #fallbackEntries: Map<bigint, FallbackEntry> | undefined;

  /**
   * @param port The session.
   * @param connection The connection (handlers see it in their context).
   * @param maxConcurrent Handlers run at once, at most.
   * @param limits The backlog bound.
   * @param channels The connection's channel table.
   * @param closed True once the connection is closed.
   */
  constructor(
    port: SessionPort,
    connection: Connection,
    maxConcurrent: number,
    limits: ConnectionLimits,
    channels: () => ChannelRegistry,
    closed: () => boolean,
  ) {
    this.#port = port;
    this.#connection = connection;
    this.#maxConcurrent = maxConcurrent;
    this.#limits = limits;
    this.#channels = channels;
    this.#closed = closed;
  }

  /** Incoming calls not yet answered. */
  get busy(): boolean {
    return (this.#running?.size ?? 0) > 0 || this.#inline > 0;
  }

  /** Incoming calls running or waiting to run (stats). */
  get running(): number {
    return (this.#running?.size ?? 0) + this.#inline;
  }

  /** Registers the handlers of a service (see `Connection.serve`). */
  register<M extends MethodSpecs>(service: ServiceDescriptor<M>, handlers: Handlers<M>): void {
    checkHandlers(service, handlers);
    const table = this.#handlers ??= new Map();
    const entries: TypedEntry[] = [];
    for (const name of Object.keys(service.methods)) {
      const method = service.methods[name as keyof M & string] as unknown as MethodDescriptor;
      const fn = (handlers as Record<string, unknown>)[name] as Handler<MethodSpec>;
      if (table.has(method.id)) {
        throw new TypeError(
          `Cannot serve ${service.name}.${name}: its method id is already served`,
        );
      }
      entries.push({
        label: `${method.service}.${method.name}`,
        method,
        fn,
        self: handlers as object,
      });
    }
    for (const e of entries) table.set(e.method.id, e);
  }

  /**
   * Handles an incoming `Call`. Its request id may have either parity
   * (the Rust runtime never checks it, and the upstream TypeScript runtime
   * numbers 1, 2, 3… on both sides); one still in flight is a violation.
   */
  call(
    id: number,
    methodId: bigint,
    channelIds: readonly number[],
    metadata: Metadata,
    args: Uint8Array,
    start: number,
    end: number,
    lent: boolean,
  ): void {
    if (this.#running?.has(id)) {
      this.#port.violation(
        `request id ${id} on connection ${this.#connection.id} is already in flight`,
      );
      return;
    }
    let entry = this.#lastEntry;
    if (methodId !== this.#lastMethodId) {
      entry = this.#handlers?.get(methodId);
      if (entry !== undefined) {
        this.#lastMethodId = methodId;
        this.#lastEntry = entry;
      }
    }
    if (entry === undefined) {
      if (
        this.#forwarding !== undefined && channelIds.length === 0 &&
        this.#port.interceptors.length === 0
      ) {
        // The short way runs no interceptors: with some, forwarding goes through callRaw.
        this.#callForward(id, methodId, metadata, args, start, end, this.#forwarding);
        return;
      }
      if (lent || end !== args.length) {
        // The fallbacks read their bytes up to the end of an array they may keep.
        args = args.slice(start, end);
        start = 0;
      }
      if (this.#fallback !== undefined) {
        this.#callFallback(id, methodId, channelIds, metadata, args, start);
      } else this.#respondError(id, "unknownMethod", EMPTY_METADATA);
      return;
    }
    const method = entry.method;
    let decoded: unknown[];
    const channels = hasChannels(method.args) ? this.#channels().incoming(channelIds) : undefined;
    try {
      decoded = decodeRange(
        method.args,
        args,
        start,
        end,
        channels?.hooks,
        !lent,
        this.#limits.maxDecodedElements,
      ) as unknown[];
    } catch (e) {
      channels?.abandon();
      if (channels?.isViolation(e)) return;
      if (!(e instanceof DecodeError)) throw e;
      this.#respondError(id, "invalidPayload", EMPTY_METADATA);
      return;
    }
    const ends = channels?.ends.length ? channels.ends : undefined;
    this.#admit(new Incoming(id, entry, metadata, decoded, ends, undefined));
  }

  /** Sets the fallback that answers calls for methods not served (see `Connection.serveFallback`). */
  setFallback(fallback: Fallback): void {
    if (typeof fallback !== "function") {
      throw new TypeError(`Cannot serve a fallback: expected a function, got ${typeof fallback}`);
    }
    this.#fallback = fallback;
    this.#forwarding = forwardingOf(fallback);
  }

  /** The fallback's entry for a method id (its label made once). */
  #fallbackEntry(methodId: bigint): FallbackEntry {
    const fallback = this.#fallback!;
    const entries = this.#fallbackEntries ??= new Map();
    let entry = entries.get(methodId);
    if (entry?.fn !== fallback) {
      if (entries.size >= FALLBACK_ENTRIES) entries.clear();
      entry = { label: rawMethod(methodId).label, method: undefined, fn: fallback };
      entries.set(methodId, entry);
    }
    return entry;
  }

  /** A call for a forwarding fallback, taken the shorter way (see `forward.ts`). */
  #callForward(
    id: number,
    methodId: bigint,
    metadata: Metadata,
    args: Uint8Array,
    start: number,
    end: number,
    via: Forwarding,
  ): void {
    // A call that starts now sends its bytes before this returns; one that waits keeps a copy.
    const waits = this.#active >= this.#maxConcurrent;
    if (waits) {
      args = args.slice(start, end);
      start = 0;
      end = args.length;
    }
    const forward = new Forwarded(
      this.#answer ??= (call, ret, start, end, metadata) =>
        this.#forwarded(call, ret, start, end, metadata),
      via,
      methodId,
      args,
      start,
      end,
    );
    const call = new Incoming(id, this.#fallbackEntry(methodId), metadata, [], undefined, forward);
    forward.call = call;
    this.#admit(call);
  }

  #startForward(call: Incoming, f: Forwarded): void {
    const args = f.args;
    f.args = NO_BYTES;
    f.handle = f.via.target.forward(
      f.methodId,
      args,
      f.start,
      f.end,
      propagatable(call.metadata),
      f,
    );
  }

  /** What forwarded calls answer with (see {@linkcode Forwarded}). */
  #answer: Answer | undefined;

  /** Answers a forwarded call with the response bytes `ret[start, end)`, written before this returns. */
  #forwarded(
    call: Incoming,
    ret: Uint8Array,
    start: number,
    end: number,
    metadata: Metadata,
  ): void {
    if (call.responded || this.#closed()) {
      this.#finish(call);
      return;
    }
    const port = this.#port;
    if (!port.writable) {
      const copy = ret.slice(start, end);
      port.whenWritable(() => this.#forwarded(call, copy, 0, copy.length, metadata), true);
      return;
    }
    const w = port.acquire();
    try {
      writeResponseHead(w, this.#connection.id, call.id, metadata);
      writeRange(w, ret, start, end);
      call.responded = true;
      port.sendFrom(w);
    } catch (e) {
      port.release(w);
      this.#handlerFailed(call, e);
      return;
    }
    port.release(w);
    this.#finish(call);
  }

  #callFallback(
    id: number,
    methodId: bigint,
    channelIds: readonly number[],
    metadata: Metadata,
    args: Uint8Array,
    start: number,
  ): void {
    const channels = channelIds.length === 0 ? NO_RAW : this.#channels().rawIncoming(channelIds);
    if (channels === undefined) return; // a violation was reported
    const call = new Incoming(
      id,
      this.#fallbackEntry(methodId),
      metadata,
      [],
      undefined,
      undefined,
    );
    call.args.push(new RawIncoming(call, methodId, args.slice(start), channels));
    this.#admit(call);
  }

  /** Runs a call now, or queues it behind the concurrency bound. */
  #admit(call: Incoming): void {
    if (this.#active >= this.#maxConcurrent) {
      this.#register(call);
      const backlog = this.#backlog ??= new Queue();
      if (backlog.length >= this.#limits.maxQueuedRequests) {
        this.#port.violation(
          `the peer exceeded max_concurrent_requests ${this.#maxConcurrent} on connection ${this.#connection.id} by more than ${this.#limits.maxQueuedRequests} queued calls`,
        );
        return;
      }
      backlog.push(call);
      return;
    }
    this.#start(call);
  }

  /** Puts a call in the table of running calls (cancels and duplicate ids find it there). */
  #register(call: Incoming): void {
    if (call.registered) return;
    call.registered = true;
    (this.#running ??= new IdTable()).set(call.id, call);
  }

  #start(call: Incoming): void {
    if (call.responded) return; // cancelled while queued
    call.started = true;
    this.#active++;
    if (call.forward !== undefined) {
      this.#register(call);
      this.#startForward(call, call.forward);
      return;
    }
    const interceptors = this.#port.interceptors;
    if (interceptors.length > 0) {
      this.#register(call);
      this.#startIntercepted(call, interceptors);
      return;
    }
    // The handler runs unregistered: nothing from the peer is handled
    // before it returns. Only if it returns a promise is the call put in
    // the table, where a cancel or a duplicate id can find it.
    const args = call.args;
    let result: unknown;
    this.#inline++;
    try {
      const entry = call.entry;
      result = entry.method === undefined
        ? entry.fn(args[0] as RawCall)
        : callHandler(entry, args, new Context(call, this.#connection));
    } catch (e) {
      this.#inline--;
      releaseEnds(call);
      this.#handlerFailed(call, e);
      return;
    }
    this.#inline--;
    if (
      result instanceof Promise ||
      (typeof result === "object" && result !== null && "then" in result)
    ) {
      if (!call.finished) this.#register(call);
      (result as Promise<unknown>).then(
        (v) => {
          releaseEnds(call);
          this.#reply(call, v);
        },
        (e) => {
          releaseEnds(call);
          this.#handlerFailed(call, e);
        },
      );
    } else {
      releaseEnds(call);
      this.#reply(call, result);
      // A response that waits for the peer to read keeps the call in the table.
      if (!call.finished) this.#register(call);
    }
  }

  /** Runs a call's handler inside the session's interceptors. */
  #startIntercepted(call: Incoming, interceptors: readonly Interceptor[]): void {
    const entry = call.entry;
    const args = call.args;
    // The signal (an AbortController: costly on some runtimes) is made only when someone asks.
    const raw = entry.method === undefined ? args[0] as RawIncoming : undefined;
    const context = raw === undefined ? new Context(call, this.#connection) : undefined;
    const info = new Info(
      "server",
      entry.label,
      entry.method,
      entry.method?.id ?? raw!.methodId,
      raw !== undefined ? [raw.args] : [...args],
      exposeMetadata(call.metadata),
      this.#connection,
      raw ?? context!,
    );
    const invoke = (): Promise<unknown> =>
      new Promise((resolve) => {
        if (raw !== undefined) resolve((entry as FallbackEntry).fn(raw));
        else resolve(callHandler(entry as TypedEntry, args, context!));
      });
    runChain(interceptors, info, invoke).then(
      (v) => {
        releaseEnds(call);
        if (info.added.length > 0) {
          call.responseMetadata = [...call.responseMetadata, ...info.added];
        }
        this.#reply(call, v);
      },
      (e) => {
        releaseEnds(call);
        if (info.added.length > 0) {
          call.responseMetadata = [...call.responseMetadata, ...info.added];
        }
        if (e instanceof RpcError) this.#rejected(call, e);
        else this.#handlerFailed(call, e);
      },
    );
  }

  /**
   * An interceptor rejected the call with an `RpcError`: the caller is
   * answered `Cancelled` with the reason in its `roam-error` metadata (not
   * reported: a deliberate refusal, not a failure).
   */
  #rejected(call: Incoming, error: RpcError): void {
    this.#finish(call);
    const metadata = [...call.responseMetadata, metadataEntry(ERROR_KEY, error.message)];
    this.#respondError(call.id, "cancelled", metadata, call);
  }

  #handlerFailed(call: Incoming, error: unknown): void {
    if (!call.responded && !this.#closed()) {
      this.#port.reportError(error, `handler of ${call.entry.label} (request ${call.id})`);
    }
    this.#finish(call);
    this.#respondError(call.id, "cancelled", call.responseMetadata, call);
  }

  #reply(call: Incoming, value: unknown): void {
    if (call.responded || this.#closed()) {
      this.#finish(call);
      return;
    }
    const port = this.#port;
    if (!port.writable) {
      // The peer has not read what was sent: the response waits (and the call keeps its slot).
      port.whenWritable(() => this.#reply(call, value), true);
      return;
    }
    const method = call.entry.method;
    const w = port.acquire();
    try {
      if (method === undefined) {
        // The fallback's answer: its bytes as they are.
        const r = value as RawResponse | null;
        if (typeof r !== "object" || r === null || !(r.ret instanceof Uint8Array)) {
          throw new TypeError(
            `Cannot answer ${call.entry.label}: a fallback returns { ret: Uint8Array, metadata? }`,
          );
        }
        writeResponseHead(w, this.#connection.id, call.id, toMetadata(r.metadata));
        w.raw(r.ret);
      } else {
        writeResponseHead(w, this.#connection.id, call.id, call.responseMetadata);
        writeResult(w, method, value);
      }
      call.responded = true;
      port.sendFrom(w, true);
    } catch (e) {
      port.release(w);
      this.#handlerFailed(call, e);
      return;
    }
    port.release(w);
    this.#finish(call);
  }

  /** Forgets a finished incoming call and starts the next queued one. */
  #finish(call: Incoming): void {
    if (call.registered) {
      if (this.#running?.get(call.id) !== call) return;
      this.#running!.delete(call.id);
    } else {
      if (call.finished) return;
      call.finished = true;
      if (this.#closed()) return; // `fail` has reset the counts
    }
    this.completed++;
    if (call.started) this.#active--;
    const backlog = this.#backlog;
    while (
      backlog !== undefined && backlog.length > 0 && !this.#closed() &&
      this.#active < this.#maxConcurrent
    ) {
      this.#start(backlog.shift()!);
    }
  }

  #respondError(id: number, kind: RoamErrorKind, metadata: Metadata, call?: Incoming): void {
    if (this.#closed() || call?.responded) return;
    const port = this.#port;
    if (!port.writable) {
      port.whenWritable(() => this.#respondError(id, kind, metadata, call), true);
      return;
    }
    if (call !== undefined) call.responded = true;
    const w = port.acquire();
    try {
      writeErrorResponse(w, this.#connection.id, id, metadata, kind);
      port.sendFrom(w);
    } finally {
      port.release(w);
    }
  }

  /** Handles an incoming `Cancel`. */
  cancel(id: number): void {
    const call = this.#running?.get(id);
    if (call === undefined) return; // finished already: a harmless race
    abortCall(call, new CancelledError(call.entry.label));
    if (!call.responded) {
      this.#respondError(id, "cancelled", call.responseMetadata, call);
    }
    // A queued call that never started is dropped now, and so is a
    // forwarded one (its target hears the cancel and answers no more); a
    // started one is forgotten when its handler settles.
    if (!call.started || call.forward !== undefined) {
      releaseEnds(call);
      this.#finish(call);
    }
  }

  /** The connection closed: running handlers see their signal aborted; nothing more is sent. */
  fail(error: unknown): void {
    for (const call of this.#running?.values() ?? []) {
      call.responded = true;
      abortCall(call, error);
    }
    this.#running = undefined;
    this.#active = 0;
    this.#backlog = undefined;
  }
}

/** Writes a typed handler's value as the `Result` of a response, with the method's schemas. */
function writeResult(w: Writer, method: MethodDescriptor, value: unknown): void {
  if (method.error === undefined) {
    writeOk(w);
    encodeWith(w, method.returns as Schema<unknown>, value, "return value");
    return;
  }
  const r = value as { ok?: unknown; value?: unknown; error?: unknown } | null;
  if (typeof r !== "object" || r === null || typeof r.ok !== "boolean") {
    throw new TypeError(
      `Cannot encode the result of ${method.service}.${method.name}: a fallible handler returns ok(value) or err(error)`,
    );
  }
  if (r.ok) {
    writeOk(w);
    encodeWith(w, method.returns as Schema<unknown>, r.value, "return value");
  } else {
    writeUserError(w);
    encodeWith(w, method.error as Schema<unknown>, r.error, "error value");
  }
}
