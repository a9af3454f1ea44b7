/**
 * Sessions: the connection table, virtual connections, keepalive,
 * protocol errors and teardown, over one conduit (the handshake that makes
 * a session is in `handshake.ts`).
 *
 * @module
 */

import type { Conduit } from "../conduit/conduit.ts";
import { isPeerClose, isProtocolViolation } from "../link/framing/errors.ts";
import { ConnectionTable } from "./table.ts";
import { type Connection, ConnectionCore, type ConnectionStats } from "../connection/connection.ts";
import type { SessionPort } from "../connection/port.ts";
import { ClosedError, ProtocolError, type RpcError } from "../wire/errors.ts";
import { Pinger } from "./pinger.ts";
import { checkInterceptors, type Interceptor } from "../connection/intercept.ts";
import { Receiver } from "./receiver.ts";
import { Sender } from "./sender.ts";
import {
  checkMs,
  DEFAULTS,
  type OpenConnectionOptions,
  type ResolvedLimits,
  resolveKeepalive,
  resolveLimits,
  SERVICE_KEY,
  type SessionOptions,
} from "./options.ts";
import { metadataEntry, toMetadata } from "../wire/metadata.ts";
import { NO_PROPAGATE } from "../wire/types.ts";
import type { Client, Handlers } from "../connection/api.ts";
import type { MethodSpecs, ServiceDescriptor } from "../identity/service.ts";
import type { ConnectionSettings, Message, Metadata, Parity } from "../wire/types.ts";

/**
 * How long a closing session waits for its link to flush and close before
 * dropping it (a peer that stops reading would otherwise hold it forever).
 */
const LINK_CLOSE_WAIT_MS = 2000;

/**
 * A roam session over one link: the root connection (id 0) plus any
 * virtual connections either side opens. Make one with `initiate` or
 * `accept` (or `connect` / `serve` by URL).
 *
 * @example A session, a call, a virtual connection and a ping
 * ```ts
 * import { accept, implement, initiate, memoryLink, service, t } from "@roam/roam";
 *
 * const Adder = service("Adder", { add: { args: [t.u32, t.u32], returns: t.u32 } });
 * const [a, b] = memoryLink();
 * const [client, server] = await Promise.all([
 *   initiate(a),
 *   accept(b, {
 *     services: [implement(Adder, { add: (x, y) => x + y })],
 *     onConnection: () => ({ accept: true }),
 *   }),
 * ]);
 * console.log(await client.client(Adder).add(2, 3)); // 5
 * await using conn = await client.openConnection();
 * console.log(await client.ping()); // the round-trip time in ms
 * await client.close();
 * console.log(await server.closed); // a ClosedError with code "peer-closed"
 * ```
 */
export interface Session extends AsyncDisposable {
  /** Which side of the handshake this is. */
  readonly role: "initiator" | "acceptor";
  /** The parity of connection ids this side allocates. */
  readonly parity: Parity;
  /** The metadata of the peer's `Hello` / `HelloYourself`. */
  readonly peerMetadata: Metadata;
  /** The root connection (id 0): `session.client()` and `session.serve()` use it. */
  readonly root: Connection;
  /** Virtual connections currently open (the root connection not counted). */
  readonly connectionCount: number;
  /** True once the session has ended. */
  readonly isClosed: boolean;
  /**
   * Resolves when the session has ended, with the reason: undefined after
   * `close()`, else an `RpcError` (`peer-closed`, `link-lost`,
   * `keepalive-timeout`, `protocol-error`, `peer-not-reading`…). Never
   * rejects.
   */
  readonly closed: Promise<RpcError | undefined>;
  /**
   * A typed client on the root connection.
   *
   * @param service The service descriptor.
   * @returns The client.
   */
  client<M extends MethodSpecs>(service: ServiceDescriptor<M>): Client<M>;
  /**
   * Serves a service on the root connection.
   *
   * @param service The service descriptor.
   * @param handlers One function per method.
   * @throws {TypeError} For a missing handler or a method already served.
   */
  serve<M extends MethodSpecs>(service: ServiceDescriptor<M>, handlers: Handlers<M>): void;
  /**
   * Opens a virtual connection. Resolves when the peer accepts it.
   *
   * @param options Metadata, settings, services and an abort signal.
   * @returns The open connection.
   * @throws {ConnectionRejectedError} When the peer rejects it (its `metadata` says why).
   * @throws {ClosedError} When the session ends first.
   */
  openConnection(options?: OpenConnectionOptions): Promise<Connection>;
  /**
   * Opens a virtual connection for a service, by name: the peer's
   * `onConnection` sees the name as `request.service` (it travels as the
   * {@linkcode SERVICE_KEY} metadata entry of `ConnectionOpen`) and accepts
   * the connection serving that service, or rejects it with a reason
   * (`getMetadata(error.metadata, "reason")`). A router in between routes
   * the connection by that name to a backend that serves the service.
   *
   * @param service The service descriptor (or anything with its `name`), or the name.
   * @param options Metadata, settings, services and an abort signal.
   * @returns The open connection; make its client with `connection.client(Service)`.
   * @throws {TypeError} For an empty name, or metadata that names a service already.
   * @throws {ConnectionRejectedError} When the peer rejects it (its `metadata` says why).
   * @throws {ClosedError} When the session ends first.
   */
  open(
    service: string | { readonly name: string },
    options?: OpenConnectionOptions,
  ): Promise<Connection>;
  /**
   * Sends a `Ping` on the root connection and resolves with the round-trip
   * time in milliseconds when the `Pong` arrives.
   *
   * @returns The round-trip time.
   * @throws {ClosedError} When the session ends first.
   */
  ping(): Promise<number>;
  /**
   * A snapshot of the session's counters: messages and bytes each way,
   * bytes waiting to be sent, the last round-trip time, and the sum of its
   * connections' call and channel counters. Counting costs a few
   * increments per message.
   *
   * @returns The counters now.
   */
  stats(): SessionStats;
  /**
   * Closes the session gracefully: new calls fail at once, calls in flight
   * may finish for up to `timeout` ms (default: the `closeTimeout` option),
   * then the link is flushed and closed (dropped after 2 s) and whatever is
   * still pending fails.
   *
   * @param options The deadline.
   */
  close(options?: { timeout?: number }): Promise<void>;
}

/** What a session has done and has in flight (see {@linkcode Session.stats}). */
export interface SessionStats extends ConnectionStats {
  /** Messages sent. */
  readonly messagesOut: number;
  /** Messages received. */
  readonly messagesIn: number;
  /** Bytes sent, counted as messages (without transport framing). */
  readonly bytesOut: number;
  /** Bytes received, counted as messages. */
  readonly bytesIn: number;
  /** Bytes handed to the link and not yet written to the transport. */
  readonly queuedBytes: number;
  /** The last round-trip time measured by a ping, in ms (undefined before the first pong). */
  readonly lastRtt: number | undefined;
  /** Virtual connections open (the root not counted). */
  readonly connections: number;
}

/** The session as the handshake makes it and its connections drive it (internal). */
export class SessionCore implements Session {
  readonly role: "initiator" | "acceptor";
  readonly parity: Parity;
  readonly peerMetadata: Metadata;
  readonly root: ConnectionCore;
  readonly #conduit: Conduit;
  readonly #options: SessionOptions;
  #interceptors: readonly Interceptor[] = [];
  readonly #limits: ResolvedLimits;
  readonly #maxConcurrent: number;
  readonly #table: ConnectionTable;
  readonly #sender: Sender;
  #receiver: Receiver | undefined;
  readonly #pinger: Pinger;
  #state: "open" | "closing" | "closed" = "open";
  #reason: RpcError | undefined;
  #linkClosed: Promise<void> | undefined;
  #resolveClosed!: (reason: RpcError | undefined) => void;
  readonly closed: Promise<RpcError | undefined>;
  /** What connections see of the session. */
  readonly #port: SessionPort = ((session: SessionCore): SessionPort => ({
    get closing(): boolean {
      return session.#state !== "open";
    },
    get interceptors(): readonly Interceptor[] {
      return session.#interceptors;
    },
    get writable(): boolean {
      return session.#sender.writable;
    },
    whenWritable: (f, owed) => session.#sender.whenWritable(f, owed),
    acquire: () => session.#sender.acquire(),
    release: (w) => session.#sender.release(w),
    sendFrom: (w, writable) => session.#sender.send(w, writable),
    violation: (d) => session.#violation(d),
    reportError: (e, where) => session.#reportError(e, where),
  }))(this);

  /**
   * @param conduit The conduit, past the handshake.
   * @param role Which side of the handshake this is.
   * @param parity This side's parity.
   * @param rootLocal This side's settings for the root connection.
   * @param rootPeer The peer's settings for the root connection.
   * @param peerMetadata The peer's handshake metadata.
   * @param options The session's options.
   */
  constructor(
    conduit: Conduit,
    role: "initiator" | "acceptor",
    parity: Parity,
    rootLocal: ConnectionSettings,
    rootPeer: ConnectionSettings,
    peerMetadata: Metadata,
    options: SessionOptions,
  ) {
    this.#conduit = conduit;
    this.role = role;
    this.parity = parity;
    this.peerMetadata = peerMetadata;
    this.#options = options;
    this.#interceptors = checkInterceptors(options.interceptors);
    this.#maxConcurrent = rootLocal.maxConcurrentRequests;
    this.#limits = resolveLimits(options.limits);
    this.#sender = new Sender(conduit, this.#limits, (error) => this.#teardown(error, false));
    this.closed = new Promise((r) => (this.#resolveClosed = r));
    this.root = new ConnectionCore(
      this.#port,
      0,
      rootLocal,
      rootPeer,
      peerMetadata,
      this.#limits,
    );
    this.root.closer = () => this.close();
    this.#table = new ConnectionTable({
      port: this.#port,
      parity,
      limits: this.#limits,
      maxConcurrent: this.#maxConcurrent,
      options,
      state: () => this.#state,
      send: (m) => this.#send(m),
      violation: (d) => this.#violation(d),
      reportError: (e, where) => this.#reportError(e, where),
    }, this.root);
    this.#pinger = new Pinger(
      (nonce) => this.#send({ connectionId: 0, payload: { type: "ping", nonce } }),
      resolveKeepalive(options.keepalive),
      (error) => this.#teardown(error, false),
      this.#sender,
      this.#limits.maxPingRate,
      (d) => this.#violation(d),
    );
    for (const s of options.services ?? []) s.install(this.root);
    conduit.onSendError = (e) =>
      this.#teardown(
        new ClosedError("link-lost", "The link failed while sending", { cause: e }),
        false,
      );
  }

  get connectionCount(): number {
    return this.#table.connections.size - 1;
  }

  get isClosed(): boolean {
    return this.#state === "closed";
  }

  /**
   * A typed client on the root connection.
   *
   * @param service The service descriptor.
   * @returns The client.
   */
  client<M extends MethodSpecs>(service: ServiceDescriptor<M>): Client<M> {
    return this.root.client(service);
  }

  /**
   * Serves a service on the root connection.
   *
   * @param service The service descriptor.
   * @param handlers One function per method.
   */
  serve<M extends MethodSpecs>(service: ServiceDescriptor<M>, handlers: Handlers<M>): void {
    this.root.serve(service, handlers);
  }

  /**
   * Opens a virtual connection. Resolves when the peer accepts it.
   *
   * @param options Metadata, settings, services and an abort signal.
   * @returns The open connection.
   * @throws {ConnectionRejectedError} When the peer rejects it (its `metadata` says why).
   * @throws {ClosedError} When the session ends first.
   */
  openConnection(options: OpenConnectionOptions = {}): Promise<Connection> {
    if (this.#state !== "open") return Promise.reject(this.#closedError());
    return this.#table.open(options);
  }

  open(
    service: string | { readonly name: string },
    options: OpenConnectionOptions = {},
  ): Promise<Connection> {
    const name = typeof service === "string" ? service : service?.name;
    if (typeof name !== "string" || name === "") {
      return Promise.reject(
        new TypeError("Cannot open a connection for a service: expected a service or its name"),
      );
    }
    let metadata: Metadata;
    try {
      metadata = toMetadata(options.metadata);
    } catch (e) {
      return Promise.reject(e);
    }
    if (metadata.some((e) => e.key === SERVICE_KEY)) {
      return Promise.reject(
        new TypeError(`Cannot open a connection for ${name}: its metadata names a service already`),
      );
    }
    return this.openConnection({
      ...options,
      metadata: [metadataEntry(SERVICE_KEY, name, NO_PROPAGATE), ...metadata],
    });
  }

  /**
   * Sends a `Ping` on the root connection and resolves with the round-trip
   * time in milliseconds when the `Pong` arrives.
   *
   * @returns The round-trip time.
   * @throws {ClosedError} When the session ends first.
   */
  ping(): Promise<number> {
    if (this.#state === "closed") return Promise.reject(this.#closedError());
    return this.#pinger.ping();
  }

  async close(options: { timeout?: number } = {}): Promise<void> {
    if (this.#state !== "open") {
      await this.closed;
      return;
    }
    this.#state = "closing";
    const timeout = checkMs(
      "close timeout",
      options.timeout ?? this.#options.closeTimeout ?? DEFAULTS.closeTimeout,
    );
    const deadline = performance.now() + timeout;
    while (this.#state === "closing" && performance.now() < deadline && !this.#table.idle()) {
      await new Promise((r) =>
        setTimeout(r, Math.min(5, Math.max(0, deadline - performance.now())))
      );
    }
    this.#teardown(undefined, true);
    await this.closed;
    await this.#linkClosed; // flushed and closed, or aborted at the deadline
  }

  stats(): SessionStats {
    let callsInFlight = 0;
    let callsCompleted = 0;
    let callsServing = 0;
    let callsServed = 0;
    let channelsOpen = 0;
    for (const c of this.#table.connections.values()) {
      const s = c.stats();
      callsInFlight += s.callsInFlight;
      callsCompleted += s.callsCompleted;
      callsServing += s.callsServing;
      callsServed += s.callsServed;
      channelsOpen += s.channelsOpen;
    }
    const receiver = this.#receiver;
    return {
      messagesOut: this.#sender.messages,
      messagesIn: receiver?.messages ?? 0,
      bytesOut: this.#sender.bytes,
      bytesIn: receiver?.bytes ?? 0,
      queuedBytes: this.#conduit.buffered,
      lastRtt: this.#pinger.lastRtt,
      connections: this.connectionCount,
      callsInFlight,
      callsCompleted,
      callsServing,
      callsServed,
      channelsOpen,
    };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #closedError(): RpcError {
    return this.#reason ?? new ClosedError("session-closed", "The session is closed");
  }

  #violation(description: string): void {
    if (this.#state === "closed") return;
    this.#send({ connectionId: 0, payload: { type: "protocolError", description } });
    this.#teardown(new ProtocolError(description, false), true);
  }

  #reportError(error: unknown, where: string): void {
    const hook = this.#options.onError;
    try {
      if (hook !== undefined) hook(error, where);
      else console.error(`roam: error in ${where}:`, error);
    } catch {
      // An error hook that throws must not break the session.
    }
  }

  #send(message: Message): void {
    this.#sender.sendMessage(message);
  }

  // ------------------------------------------------------------ receiving

  /** Starts the receive loop and keepalive. Called once after the handshake. */
  start(): void {
    this.#pinger.schedule();
    const receiver = this.#receiver = new Receiver({
      limits: this.#limits,
      table: this.#table,
      pinger: this.#pinger,
      closed: () => this.#state === "closed",
      violation: (d) => this.#violation(d),
      teardown: (reason, flush) => this.#teardown(reason, flush),
      reportError: (e, where) => this.#reportError(e, where),
    });
    this.#conduit.listen({
      payload: (bytes) => receiver.payload(bytes),
      payloadAt: (bytes, start) => receiver.payload(bytes, start),
      lent: (bytes, start, end) => receiver.lent(bytes, start, end),
      shared: (prefix, last) => receiver.shared(prefix, last),
      end: () => this.#teardown(new ClosedError("peer-closed", "The peer closed the link"), true),
      error: (e) => {
        if (isProtocolViolation(e)) {
          this.#violation(e.message); // e.g. a frame above the size limit
        } else if (e instanceof ClosedError) {
          this.#teardown(e, false); // the conduit knows why (a stable session lost or expired)
        } else if (isPeerClose(e)) {
          // A deliberate close with a code or a reason (WebSocket): a clean end that says why.
          this.#teardown(new ClosedError("peer-closed", e.message, { cause: e }), true);
        } else {
          this.#teardown(
            new ClosedError("link-lost", `The link failed: ${errorText(e)}`, { cause: e }),
            false,
          );
        }
      },
    });
  }

  // ------------------------------------------------------------ teardown

  /**
   * Lets the link flush and finish closing (a close handshake, the drain
   * after a violation), but not forever: a peer that does not read would
   * otherwise keep the link and its buffers. Aborts it at the deadline.
   */
  async #closeLink(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finished = await Promise.race([
      this.#conduit.close().then(() => true, () => true),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(false), LINK_CLOSE_WAIT_MS))),
    ]);
    clearTimeout(timer);
    if (!finished) {
      this.#conduit.abort(
        new ClosedError(
          "peer-not-reading",
          `The link did not finish closing within ${LINK_CLOSE_WAIT_MS} ms`,
        ),
      );
    }
  }

  #teardown(reason: RpcError | undefined, flush: boolean): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#reason = reason;
    const error = reason ?? new ClosedError("session-closed", "The session was closed");
    this.#sender.stop();
    this.#table.failAll(error, reason === undefined);
    this.#pinger.stop(error);
    this.#conduit.stop();
    if (flush) this.#linkClosed = this.#closeLink();
    else this.#conduit.abort(error);
    this.#resolveClosed(reason);
  }
}

/** A short description of a link failure for a message. */
function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
