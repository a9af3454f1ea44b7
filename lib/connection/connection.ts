/**
 * A connection: the calls in flight in both directions on one connection
 * id. {@linkcode Connection} is what users see (typed clients, serving,
 * close); {@linkcode ConnectionCore} is what the session drives: it routes
 * each incoming message to the outgoing calls, the serving side or the
 * channel table.
 *
 * @module
 */

import type {
  ArgsOf,
  MethodDescriptor,
  MethodSpec,
  MethodSpecs,
  ServiceDescriptor,
} from "../identity/service.ts";
import type { RpcError } from "../wire/errors.ts";
import { type MetadataInit, toMetadata } from "../wire/metadata.ts";
import type { ChannelBody, ConnectionSettings, Metadata, RequestBody } from "../wire/types.ts";
import type { CallOptions, CallResult, CallReturn, Client, Handlers } from "./api.ts";
import { ChannelRegistry } from "./channels.ts";
import { Dispatcher } from "./incoming.ts";
import { Outgoing } from "./outgoing.ts";
import type { ConnectionLimits, SessionPort } from "./port.ts";
import type { Fallback, RawCallOptions, RawChannel, RawResult } from "./raw.ts";
import { registerForwardTargets } from "./forward.ts";

/**
 * One connection of a session: the root connection (id 0) or a virtual
 * connection. Make typed clients with {@linkcode Connection.client} and
 * serve services with {@linkcode Connection.serve}. Connections are made
 * by sessions (`session.root`, `session.openConnection()`, `onConnection`).
 *
 * @example Calling and serving on a virtual connection
 * ```ts
 * import { accept, implement, initiate, memoryLink, service, t } from "@roam/roam";
 *
 * const Echo = service("Echo", { echo: { args: [t.string], returns: t.string } });
 * const [a, b] = memoryLink();
 * const [client, server] = await Promise.all([
 *   initiate(a),
 *   accept(b, {
 *     onConnection: () => ({ accept: true, services: [implement(Echo, { echo: (s) => s })] }),
 *   }),
 * ]);
 * await using conn = await client.openConnection({ metadata: { tenant: "a" } });
 * console.log(await conn.client(Echo).echo("hi")); // "hi"
 * const { value, metadata } = await conn.call(Echo.methods.echo, ["again"]);
 * await client.close();
 * await server.closed;
 * ```
 */
export interface Connection extends AsyncDisposable {
  /** The connection id; 0 is the root connection. */
  readonly id: number;
  /** Metadata the peer sent when the connection was opened or accepted. */
  readonly peerMetadata: Metadata;
  /** This side's settings for the connection. */
  readonly settings: ConnectionSettings;
  /** The peer's settings for the connection. */
  readonly peerSettings: ConnectionSettings;
  /** Calls sent and not yet answered (cancelled ones included until their late response). */
  readonly inFlight: number;
  /** True once the connection is closed. */
  readonly isClosed: boolean;
  /**
   * Resolves when the connection closes, with the reason: undefined for a
   * plain close by this side, else an `RpcError` (for a `ConnectionClose`
   * from the peer, a `ClosedError` whose `metadata` is the peer's).
   */
  readonly closed: Promise<RpcError | undefined>;
  /**
   * Returns a typed client for `service` on this connection: one method
   * per service method, taking the arguments and optional call options.
   *
   * @param service The service descriptor.
   * @returns An object with one method per service method.
   */
  client<M extends MethodSpecs>(service: ServiceDescriptor<M>): Client<M>;
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
  ): Promise<CallResult<CallReturn<S>>>;
  /**
   * Serves a service on this connection: calls to its methods run the
   * given handlers. Serving two services with a method id in common is an
   * error.
   *
   * @param service The service descriptor.
   * @param handlers One function per method.
   * @throws {TypeError} For a missing handler or a method already served.
   */
  serve<M extends MethodSpecs>(service: ServiceDescriptor<M>, handlers: Handlers<M>): void;
  /**
   * Calls a method by id with arguments already encoded, and resolves with
   * the response's raw bytes (the method's `Result`, wire-spec §2.7) and
   * metadata: for code that knows no schema, such as a proxy.
   *
   * @param methodId The method id.
   * @param args The encoded arguments (copied).
   * @param options Metadata, raw channels for the call's channel list, a signal and a timeout.
   * @returns The raw response.
   * @throws {RangeError} For a method id that is not a u64, or a bad timeout.
   * @throws {RpcError} When the connection or session closes first.
   */
  callRaw(methodId: bigint, args: Uint8Array, options?: RawCallOptions): Promise<RawResult>;
  /**
   * Answers, raw, every call for a method this connection does not serve
   * (instead of `UnknownMethod`): the fallback gets the method id, the
   * metadata, the argument bytes and the call's channels as raw channels,
   * and returns the response's `ret` bytes.
   *
   * @param fallback The fallback.
   * @throws {TypeError} When `fallback` is not a function.
   */
  serveFallback(fallback: Fallback): void;
  /**
   * Makes a raw channel with an id of this side's parity, to pass to
   * `callRaw` in its `channels`.
   *
   * @returns The channel.
   * @throws {RangeError} When the connection has `maxChannels` channels open.
   */
  rawChannel(): RawChannel;
  /**
   * A snapshot of the connection's counters: calls in flight and done each
   * way, channels open. Counting costs a few increments per call.
   *
   * @returns The counters now.
   */
  stats(): ConnectionStats;
  /**
   * Closes the connection. For a virtual connection this sends
   * `ConnectionClose`; closing the root connection closes the session.
   * Pending calls fail and running handlers see their signal aborted.
   *
   * @param metadata Metadata for the peer.
   */
  close(metadata?: MetadataInit): Promise<void>;
}

/** What a connection has done and has in flight (see {@linkcode Connection.stats}). */
export interface ConnectionStats {
  /** Calls this side made that are not answered yet. */
  readonly callsInFlight: number;
  /** Calls this side made that were answered (or failed by the peer's answer). */
  readonly callsCompleted: number;
  /** Calls from the peer running or waiting to run. */
  readonly callsServing: number;
  /** Calls from the peer answered. */
  readonly callsServed: number;
  /** Channels open on the connection, either direction. */
  readonly channelsOpen: number;
}

/** The connection as its session drives it (internal). */
export class ConnectionCore implements Connection {
  readonly id: number;
  readonly peerMetadata: Metadata;
  readonly settings: ConnectionSettings;
  readonly peerSettings: ConnectionSettings;
  readonly #port: SessionPort;
  readonly #limits: ConnectionLimits;
  readonly #outgoing: Outgoing;
  readonly #serving: Dispatcher;
  #channels: ChannelRegistry | undefined;
  #closed: RpcError | undefined;
  /** What `closed` resolves to (undefined after this side's own close). */
  #reason: RpcError | undefined;
  #closedPromise: Promise<RpcError | undefined> | undefined;

  static {
    // Forwarding fallbacks reach a connection's outgoing side through this, not a table per connection.
    registerForwardTargets((c) => #outgoing in c ? (c as ConnectionCore).#outgoing : undefined);
  }
  #resolveClosed: ((e: RpcError | undefined) => void) | undefined;
  /** Called once when the connection closes (set by the session). */
  onClose: (() => void) | undefined = undefined;
  /** Closes this connection (set by the session: virtual connections send `ConnectionClose`). */
  closer: ((metadata: Metadata) => Promise<void>) | undefined = undefined;

  /**
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
    this.settings = local;
    this.peerSettings = peer;
    this.peerMetadata = peerMetadata;
    this.#limits = limits;
    const channels = (): ChannelRegistry => this.#registry();
    this.#outgoing = new Outgoing(
      port,
      this,
      id,
      local,
      peer,
      limits.maxDecodedElements,
      channels,
      () => this.#closed,
    );
    this.#serving = new Dispatcher(
      port,
      this,
      local.maxConcurrentRequests,
      limits,
      channels,
      () => this.#closed !== undefined,
    );
  }

  get inFlight(): number {
    return this.#outgoing.inFlight;
  }

  get isClosed(): boolean {
    return this.#closed !== undefined;
  }

  get closed(): Promise<RpcError | undefined> {
    return this.#closedPromise ??= this.#closed !== undefined
      ? Promise.resolve(this.#reason)
      : new Promise((r) => (this.#resolveClosed = r));
  }

  client<M extends MethodSpecs>(service: ServiceDescriptor<M>): Client<M> {
    const client: Record<string, unknown> = {};
    const outgoing = this.#outgoing;
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
        return outgoing.call(method, a, options, false);
      };
    }
    return Object.freeze(client) as Client<M>;
  }

  call<S extends MethodSpec>(
    method: MethodDescriptor<S>,
    args: ArgsOf<S>,
    options?: CallOptions,
  ): Promise<CallResult<CallReturn<S>>> {
    return this.#outgoing.call(
      method as unknown as MethodDescriptor,
      args as unknown[],
      options,
      true,
    ) as Promise<CallResult<CallReturn<S>>>;
  }

  serve<M extends MethodSpecs>(service: ServiceDescriptor<M>, handlers: Handlers<M>): void {
    this.#serving.register(service, handlers);
  }

  callRaw(methodId: bigint, args: Uint8Array, options?: RawCallOptions): Promise<RawResult> {
    return this.#outgoing.callRaw(methodId, args, options);
  }

  serveFallback(fallback: Fallback): void {
    this.#serving.setFallback(fallback);
  }

  stats(): ConnectionStats {
    return {
      callsInFlight: this.#outgoing.inFlight,
      callsCompleted: this.#outgoing.completed,
      callsServing: this.#serving.running,
      callsServed: this.#serving.completed,
      channelsOpen: this.#channels?.size ?? 0,
    };
  }

  rawChannel(): RawChannel {
    if (this.#closed !== undefined) throw this.#closed;
    return this.#registry().rawOutgoing();
  }

  async close(metadata?: MetadataInit): Promise<void> {
    if (this.#closed !== undefined) return;
    await this.closer?.(toMetadata(metadata));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #registry(): ChannelRegistry {
    return this.#channels ??= new ChannelRegistry(
      this.#port,
      this,
      this.id,
      this.settings.parity,
      this.#limits.maxChannels,
      this.#limits.maxDecodedElements,
      { items: this.#limits.receiveWindowItems, bytes: this.#limits.receiveWindowBytes },
    );
  }

  // ------------------------------------------------------------ from the session

  /** Handles a `RequestMessage` for this connection. */
  handleRequest(id: number, body: RequestBody): void {
    switch (body.type) {
      case "call":
        this.handleCall(
          id,
          body.methodId,
          body.channels,
          body.metadata,
          body.args,
          0,
          body.args.length,
          false,
        );
        return;
      case "response":
        this.handleResponse(id, body.metadata, body.ret, 0, body.ret.length, false);
        return;
      case "cancel":
        this.#serving.cancel(id);
        return;
    }
  }

  /**
   * Handles a `Response` whose result is `ret[start, end)` (the session's
   * fast path calls this directly, without a view). When `lent`, `ret` is
   * valid only during the call: nothing keeps it.
   */
  handleResponse(
    id: number,
    metadata: Metadata,
    ret: Uint8Array,
    start: number,
    end: number,
    lent: boolean,
  ): void {
    this.#outgoing.response(id, metadata, ret, start, end, lent);
  }

  /**
   * Handles a `Call` whose arguments are `args[start, end)` (the session's
   * fast path calls this directly, without a view). When `lent`, `args` is
   * valid only during the call: nothing keeps it.
   */
  handleCall(
    id: number,
    methodId: bigint,
    channelIds: readonly number[],
    metadata: Metadata,
    args: Uint8Array,
    start: number,
    end: number,
    lent: boolean,
  ): void {
    this.#serving.call(id, methodId, channelIds, metadata, args, start, end, lent);
  }

  /** Handles a `ChannelMessage` for this connection. */
  handleChannel(id: number, body: ChannelBody): void {
    this.#registry().handle(id, body);
  }

  /**
   * Handles a channel `Item` whose encoded value is `bytes[start, end)`
   * (the session's fast path calls this directly, without a view). When
   * `lent`, `bytes` is valid only during the call: nothing keeps it.
   */
  handleItem(id: number, bytes: Uint8Array, start: number, end: number, lent: boolean): void {
    this.#registry().handleItem(id, bytes, start, end, lent);
  }

  /**
   * Handles a channel `Item` whose encoded value is `prefix[start, end)`
   * followed by `last`, an array the peer shared by reference.
   */
  handleSharedItem(id: number, prefix: Uint8Array, start: number, last: Uint8Array): void {
    this.#registry().handleSharedItem(id, prefix, start, last);
  }

  /**
   * Marks the connection closed: pending and queued calls fail with
   * `error`, running handlers see their signal aborted, nothing more is sent.
   *
   * @param error What pending calls and channels fail with.
   * @param byThisSide True when this side closed it: `closed` resolves to undefined, else to `error`.
   */
  fail(error: RpcError, byThisSide = false): void {
    if (this.#closed !== undefined) return;
    const reason = byThisSide ? undefined : error;
    this.#closed = error;
    this.#reason = reason;
    this.#outgoing.fail(error);
    this.#serving.fail(error);
    this.#channels?.failAll(error);
    this.#resolveClosed?.(reason);
    this.onClose?.();
  }

  /** True when nothing is in flight in either direction. */
  get idle(): boolean {
    return this.#outgoing.idle && !this.#serving.busy;
  }
}

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
