/**
 * Sessions: the connection table, virtual connections, keepalive,
 * protocol errors and teardown, over one conduit (the handshake that makes
 * a session is in `handshake.ts`).
 *
 * @module
 */

import type { Conduit } from "./conduit.ts";
import { isProtocolViolation } from "./framing.ts";
import { Connection, type SessionPort } from "./connection.ts";
import { ClosedError, ConnectionRejectedError, ProtocolError, type RpcError } from "./errors.ts";
import { EMPTY_METADATA, exposeMetadata, toMetadata } from "./metadata.ts";
import { concatTwo, Writer } from "./postcard/_writer.ts";
import { Reader } from "./postcard/_reader.ts";
import { DecodeError } from "./postcard/errors.ts";
import {
  checkMs,
  checkU32,
  type ConnectionRequest,
  DEFAULTS,
  type OpenConnectionOptions,
  opposite,
  type ServiceImpl,
  type SessionLimits,
  type SessionOptions,
} from "./session_options.ts";
import type { Client, Handlers } from "./rpc.ts";
import type { MethodSpecs, ServiceDescriptor } from "./service.ts";
import { decodeMessage, writeMessage } from "./wire/message.ts";
import type {
  ConnectionSettings,
  Message,
  MessagePayload,
  Metadata,
  Parity,
} from "./wire/types.ts";

interface PendingOpen {
  readonly local: ConnectionSettings;
  readonly services: readonly ServiceImpl[];
  resolve(c: Connection): void;
  reject(e: unknown): void;
  abandoned: boolean;
}

interface PendingPing {
  readonly start: number;
  resolve(rtt: number): void;
  reject(e: unknown): void;
}

const NO_IDS: readonly number[] = Object.freeze([]);

/** How long `close()` waits for the link itself to finish closing. */
const LINK_CLOSE_WAIT_MS = 500;

/** Messages above this size are handed to the link without a copy. */
const HANDOFF_SIZE = 64 * 1024;

/**
 * A roam session over one link: the root connection (id 0) plus any
 * virtual connections either side opens. Make one with {@linkcode initiate}
 * or {@linkcode accept}.
 */
export class Session {
  /** Which side of the handshake this is. */
  readonly role: "initiator" | "acceptor";
  /** The parity of connection ids this side allocates. */
  readonly parity: Parity;
  /** The metadata of the peer's `Hello` / `HelloYourself`. */
  readonly peerMetadata: Metadata;
  /** The root connection. */
  readonly root: Connection;
  readonly #conduit: Conduit;
  readonly #options: SessionOptions;
  readonly #limits: Required<SessionLimits>;
  readonly #maxConcurrent: number;
  readonly #writer = new Writer(1024);
  readonly #connections = new Map<number, Connection>();
  readonly #pendingOpens = new Map<number, PendingOpen>();
  readonly #incomingOpens = new Set<number>();
  #nextConnectionId: number;
  #maxPeerConnectionId = 0;
  readonly #peerParityBit: number;
  readonly #pings = new Map<number, PendingPing>();
  #nonce = 0;
  #keepaliveTimer: ReturnType<typeof setTimeout> | undefined;
  #pongTimer: ReturnType<typeof setTimeout> | undefined;
  #state: "open" | "closing" | "closed" = "open";
  #reason: RpcError | undefined;
  #linkClosed: Promise<void> | undefined;
  #resolveClosed!: (reason: RpcError | undefined) => void;
  /** Resolves when the session has ended: undefined after `close()`, else the reason. */
  readonly closed: Promise<RpcError | undefined>;
  /** What connections see of the session. */
  readonly #port: SessionPort = ((session: Session): SessionPort => ({
    get closing(): boolean {
      return session.#closing;
    },
    acquire: () => session.#acquire(),
    release: (w) => session.#release(w),
    sendFrom: (w) => session.#sendFrom(w),
    violation: (d) => session.#violation(d),
    reportError: (e, where) => session.#reportError(e, where),
  }))(this);

  /** Made by {@linkcode initiate} and {@linkcode accept}; not constructed directly. */
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
    // Large `bytes` values go to a link that writes parts, or shares them,
    // without being copied into the message first.
    this.#writer.gather = conduit.sendParts !== undefined || conduit.sendShared !== undefined;
    this.role = role;
    this.parity = parity;
    this.peerMetadata = peerMetadata;
    this.#options = options;
    this.#maxConcurrent = rootLocal.maxConcurrentRequests;
    this.#limits = {
      maxMessageSize: options.limits?.maxMessageSize ?? DEFAULTS.maxMessageSize,
      maxConnections: options.limits?.maxConnections ?? DEFAULTS.maxConnections,
      maxQueuedRequests: options.limits?.maxQueuedRequests ?? DEFAULTS.maxQueuedRequests,
      maxChannels: options.limits?.maxChannels ?? DEFAULTS.maxChannels,
    };
    this.#nextConnectionId = parity === "odd" ? 1 : 2;
    this.#peerParityBit = parity === "odd" ? 0 : 1;
    this.closed = new Promise((r) => (this.#resolveClosed = r));
    this.root = new Connection(this.#port, 0, rootLocal, rootPeer, peerMetadata, this.#limits);
    this.root.closer = () => this.close();
    this.#connections.set(0, this.root);
    for (const s of options.services ?? []) s.install(this.root);
    conduit.onSendError = (e) =>
      this.#teardown(
        new ClosedError("session-closed", "The link failed while sending", { cause: e }),
        false,
      );
  }

  /** Virtual connections currently open (the root connection not counted). */
  get connectionCount(): number {
    return this.#connections.size - 1;
  }

  /** True once the session has ended. */
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
    if (options.signal?.aborted) return Promise.reject(options.signal.reason);
    let metadata: Metadata;
    let local: ConnectionSettings;
    try {
      metadata = toMetadata(options.metadata);
      local = {
        parity: this.parity,
        maxConcurrentRequests: checkU32(
          "maxConcurrentRequests",
          options.maxConcurrentRequests ?? this.#maxConcurrent,
        ),
      };
    } catch (e) {
      return Promise.reject(e);
    }
    if (this.#connections.size - 1 + this.#pendingOpens.size >= this.#limits.maxConnections) {
      return Promise.reject(
        new RangeError(
          `Cannot open a connection: the limit of ${this.#limits.maxConnections} is reached`,
        ),
      );
    }
    const id = this.#nextConnectionId;
    this.#nextConnectionId += 2;
    return new Promise<Connection>((resolve, reject) => {
      const pending: PendingOpen = {
        local,
        services: options.services ?? [],
        resolve,
        reject,
        abandoned: false,
      };
      this.#pendingOpens.set(id, pending);
      const signal = options.signal;
      if (signal !== undefined) {
        const onAbort = (): void => {
          pending.abandoned = true;
          reject(signal.reason);
        };
        signal.addEventListener("abort", onAbort, { once: true });
        const done = (): void => signal.removeEventListener("abort", onAbort);
        pending.resolve = (c) => {
          done();
          resolve(c);
        };
        pending.reject = (e) => {
          done();
          reject(e);
        };
      }
      this.#send({
        connectionId: id,
        payload: { type: "connectionOpen", settings: local, metadata },
      });
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
    return new Promise((resolve, reject) => {
      const nonce = ++this.#nonce;
      this.#pings.set(nonce, { start: performance.now(), resolve, reject });
      this.#send({ connectionId: 0, payload: { type: "ping", nonce: BigInt(nonce) } });
    });
  }

  /**
   * Closes the session gracefully: new calls fail at once, calls in flight
   * may finish for up to `timeout` ms (default: the `closeTimeout` option),
   * then the link is closed and whatever is still pending fails.
   *
   * @param options The deadline.
   */
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
    while (this.#state === "closing" && performance.now() < deadline && !this.#idle()) {
      await new Promise((r) =>
        setTimeout(r, Math.min(5, Math.max(0, deadline - performance.now())))
      );
    }
    this.#teardown(undefined, true);
    await this.closed;
    // Let the link finish closing (flush, close handshake), but not forever.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finished = await Promise.race([
      this.#linkClosed?.then(() => true),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(false), LINK_CLOSE_WAIT_MS))),
    ]);
    clearTimeout(timer);
    if (finished === false) {
      this.#conduit.abort(new ClosedError("session-closed", "The link did not close in time"));
    }
  }

  /** Closes the session when used with `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #idle(): boolean {
    for (const c of this.#connections.values()) if (!c.idle) return false;
    return this.#pendingOpens.size === 0;
  }

  #closedError(): RpcError {
    return this.#reason ?? new ClosedError("session-closed", "The session is closed");
  }

  // ------------------------------------------------------------ SessionPort

  get #closing(): boolean {
    return this.#state !== "open";
  }

  #acquire(): Writer {
    const w = this.#writer;
    if (w.busy) {
      const extra = new Writer(256);
      extra.gather = w.gather;
      return extra;
    }
    w.busy = true;
    w.rewind(0, 0);
    return w;
  }

  #release(w: Writer): void {
    w.busy = false;
    w.reset();
  }

  #sendFrom(w: Writer): void {
    if (this.#state === "closed") return;
    if (w.segmentCount > 0) this.#sendGathered(w);
    else if (w.pos > HANDOFF_SIZE) this.#conduit.send(w.handOff());
    else this.#conduit.sendCopy(w.buf, w.pos);
  }

  /** Sends a message holding large arrays kept by reference (see `Writer.gather`). */
  #sendGathered(w: Writer): void {
    const conduit = this.#conduit;
    if (conduit.sendParts !== undefined) {
      conduit.sendParts(w.parts(), w.size);
      return;
    }
    // A link that shares large values takes one array that ends the message.
    const last = w.lastSegment;
    if (last !== undefined) conduit.sendShared!(w.buf, w.pos, last);
    else conduit.send(w.handOff());
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
    const w = this.#acquire();
    try {
      writeMessage(w, message);
      this.#sendFrom(w);
    } finally {
      this.#release(w);
    }
  }

  // ------------------------------------------------------------ receiving

  /** Starts the receive loop and keepalive. Called once after the handshake. */
  start(): void {
    this.#scheduleKeepalive();
    this.#conduit.listen({
      payload: (bytes) => this.#onMessage(bytes),
      shared: (prefix, last) => this.#onShared(prefix, last),
      end: () =>
        this.#teardown(new ClosedError("session-closed", "The peer closed the link"), true),
      error: (e) => {
        if (isProtocolViolation(e)) {
          this.#violation(e.message); // e.g. a frame above the size limit
        } else {
          this.#teardown(new ClosedError("session-closed", "The link failed", { cause: e }), false);
        }
      },
    });
  }

  #onMessage(bytes: Uint8Array): void {
    if (this.#state === "closed") return;
    const maxSize = this.#limits.maxMessageSize;
    if (bytes.length > maxSize) {
      this.#violation(`message of ${bytes.length} bytes exceeds the limit of ${maxSize}`);
      return;
    }
    let message: Message;
    try {
      if (this.#dispatchFast(bytes)) return;
      message = decodeMessage(bytes);
    } catch (e) {
      if (!(e instanceof DecodeError)) {
        this.#reportError(e, "message dispatch");
        this.#violation("internal error while handling a message");
        return;
      }
      this.#violation(`undecodable message: ${(e as Error).message}`);
      return;
    }
    try {
      this.#dispatch(message);
    } catch (e) {
      // A bug of ours must not leave the peer hanging.
      this.#reportError(e, "message dispatch");
      this.#violation("internal error while handling a message");
    }
  }

  /**
   * A message made of `prefix` followed by `last`, an array the peer shared
   * by reference: a `bytes` channel item is delivered as that array itself;
   * anything else is joined and handled like any message.
   */
  #onShared(prefix: Uint8Array, last: Uint8Array): void {
    if (this.#state === "closed") return;
    const size = prefix.length + last.length;
    const maxSize = this.#limits.maxMessageSize;
    if (size > maxSize) {
      this.#violation(`message of ${size} bytes exceeds the limit of ${maxSize}`);
      return;
    }
    const r = new Reader(prefix);
    try {
      const cid = r.safe("connection id");
      if (r.u8("MessagePayload") === 8) {
        const id = r.safe("id");
        if (r.u8("body") === 0) {
          this.#connectionFor(cid, "channel message")?.handleSharedItem(id, prefix, r.pos, last);
          return;
        }
      }
    } catch {
      // Not a well-formed item head: the ordinary path reports it.
    }
    this.#onMessage(concatTwo(prefix, last));
  }

  /**
   * The bulk of the traffic (calls and responses without channels or
   * metadata, channel items) dispatched without building a `Message`.
   * Returns false, having dispatched nothing, for anything else or anything
   * odd: the full decoder then handles it, errors included.
   */
  #dispatchFast(bytes: Uint8Array): boolean {
    const r = new Reader(bytes);
    let cid: number;
    let tag: number;
    let id: number;
    let body: number;
    try {
      cid = r.safe("connection id");
      tag = r.u8("MessagePayload");
      if (tag !== 7 && tag !== 8) return false;
      id = r.safe("id");
      body = r.u8("body");
    } catch {
      return false;
    }
    if (tag === 8) {
      if (body !== 0) return false;
      this.#connectionFor(cid, "channel message")?.handleItem(id, bytes, r.pos);
      return true;
    }
    let methodId = 0n;
    if (body === 0) {
      try {
        methodId = r.varintBig("method id", 64);
      } catch {
        return false;
      }
    } else if (body !== 1) return false;
    // No channels, no metadata: two zero bytes.
    if (bytes[r.pos] !== 0 || bytes[r.pos + 1] !== 0 || r.pos + 2 > bytes.length) return false;
    const rest = r.pos + 2;
    const conn = this.#connectionFor(cid, "request");
    if (conn === undefined) return true;
    if (body === 0) conn.handleCall(id, methodId, NO_IDS, EMPTY_METADATA, bytes, rest);
    else conn.handleResponse(id, EMPTY_METADATA, bytes, rest);
    return true;
  }

  #dispatch(message: Message): void {
    const cid = message.connectionId;
    const p = message.payload;
    switch (p.type) {
      case "request": {
        const conn = this.#connectionFor(cid, "request");
        conn?.handleRequest(p.id, p.body);
        return;
      }
      case "channel":
        this.#connectionFor(cid, "channel message")?.handleChannel(p.id, p.body);
        return;
      case "ping":
        this.#send({ connectionId: cid, payload: { type: "pong", nonce: p.nonce } });
        return;
      case "pong":
        if (cid === 0) this.#onPong(p.nonce);
        return;
      case "connectionOpen":
        this.#onOpen(cid, p);
        return;
      case "connectionAccept":
        this.#onAccept(cid, p.settings, p.metadata);
        return;
      case "connectionReject": {
        const pending = this.#pendingOpens.get(cid);
        if (pending === undefined) return; // not pending: ignored, as in Rust
        this.#pendingOpens.delete(cid);
        pending.reject(new ConnectionRejectedError(exposeMetadata(p.metadata)));
        return;
      }
      case "connectionClose":
        if (cid === 0) {
          this.#violation("ConnectionClose on the root connection");
          return;
        }
        if (this.#connections.has(cid)) {
          this.#drop(
            cid,
            new ClosedError("connection-closed", `The peer closed connection ${cid}`),
          );
        } else if (!this.#knownClosed(cid)) {
          this.#violation(`ConnectionClose for unknown connection ${cid}`);
        }
        return;
      case "hello":
      case "helloYourself":
        this.#violation(
          `unexpected ${p.type === "hello" ? "Hello" : "HelloYourself"} after the handshake`,
        );
        return;
      case "protocolError":
        this.#teardown(new ProtocolError(p.description, true), false);
        return;
    }
  }

  /** True for an id that was a connection once and is closed now. */
  #knownClosed(cid: number): boolean {
    if (cid % 2 === this.#peerParityBit) {
      return cid <= this.#maxPeerConnectionId && !this.#incomingOpens.has(cid);
    }
    return cid < this.#nextConnectionId && !this.#pendingOpens.has(cid);
  }

  #connectionFor(cid: number, what: string): Connection | undefined {
    const conn = this.#connections.get(cid);
    if (conn !== undefined) return conn;
    // Messages racing with a close are dropped, as in Rust; others are violations.
    if (!this.#knownClosed(cid)) this.#violation(`${what} for unknown connection ${cid}`);
    return undefined;
  }

  #onOpen(cid: number, p: Extract<MessagePayload, { type: "connectionOpen" }>): void {
    const reject = (metadata: Metadata): void =>
      this.#send({ connectionId: cid, payload: { type: "connectionReject", metadata } });
    // Invalid ids are rejected, not treated as violations (as the Rust runtime does).
    if (
      cid === 0 || cid % 2 !== this.#peerParityBit || cid <= this.#maxPeerConnectionId ||
      this.#connections.has(cid) || this.#incomingOpens.has(cid)
    ) {
      reject(toMetadata({ reason: "invalid or reused connection id" }));
      return;
    }
    this.#maxPeerConnectionId = cid;
    const decide = this.#options.onConnection;
    if (decide === undefined) {
      reject(toMetadata({ reason: "this peer accepts no virtual connections" }));
      return;
    }
    const open = this.#connections.size - 1 + this.#incomingOpens.size + this.#pendingOpens.size;
    if (this.#state !== "open" || open >= this.#limits.maxConnections) {
      reject(
        toMetadata({
          reason: this.#state === "open" ? "too many connections" : "the session is closing",
        }),
      );
      return;
    }
    this.#incomingOpens.add(cid);
    const request: ConnectionRequest = {
      id: cid,
      metadata: exposeMetadata(p.metadata),
      settings: p.settings,
    };
    Promise.resolve()
      .then(() => decide(request))
      .then((decision) => {
        this.#incomingOpens.delete(cid);
        if (this.#state === "closed") return;
        if (decision?.accept !== true) {
          reject(toMetadata(decision?.metadata));
          return;
        }
        const local: ConnectionSettings = {
          parity: opposite(p.settings.parity),
          maxConcurrentRequests: checkU32(
            "maxConcurrentRequests",
            decision.maxConcurrentRequests ?? this.#maxConcurrent,
          ),
        };
        const metadata = toMetadata(decision.metadata);
        const conn = this.#register(
          cid,
          local,
          p.settings,
          request.metadata,
          decision.services ?? [],
        );
        this.#send({
          connectionId: cid,
          payload: { type: "connectionAccept", settings: local, metadata },
        });
        decision.onOpen?.(conn);
      })
      .catch((e) => {
        this.#incomingOpens.delete(cid);
        this.#reportError(e, `the connection acceptor (connection ${cid})`);
        if (this.#state !== "closed" && !this.#connections.has(cid)) reject(EMPTY_METADATA);
      });
  }

  #onAccept(cid: number, settings: ConnectionSettings, metadata: Metadata): void {
    const pending = this.#pendingOpens.get(cid);
    if (pending === undefined) return; // not pending: ignored, as in Rust
    this.#pendingOpens.delete(cid);
    const conn = this.#register(
      cid,
      pending.local,
      settings,
      exposeMetadata(metadata),
      pending.services,
    );
    if (pending.abandoned) void conn.close();
    else pending.resolve(conn);
  }

  #register(
    cid: number,
    local: ConnectionSettings,
    peer: ConnectionSettings,
    metadata: Metadata,
    services: readonly ServiceImpl[],
  ): Connection {
    const conn = new Connection(this.#port, cid, local, peer, metadata, this.#limits);
    conn.closer = (m: Metadata) => {
      if (!this.#connections.has(cid)) return Promise.resolve();
      this.#send({ connectionId: cid, payload: { type: "connectionClose", metadata: m } });
      this.#drop(cid, new ClosedError("connection-closed", `Connection ${cid} was closed`));
      return Promise.resolve();
    };
    for (const s of services) s.install(conn);
    this.#connections.set(cid, conn);
    return conn;
  }

  #drop(cid: number, error: RpcError): void {
    const conn = this.#connections.get(cid);
    if (conn === undefined) return;
    this.#connections.delete(cid);
    conn.fail(error);
  }

  // ------------------------------------------------------------ keepalive

  #onPong(nonce: bigint): void {
    if (nonce > 0x1f_ffff_ffff_ffffn) return;
    const n = Number(nonce);
    const ping = this.#pings.get(n);
    if (ping === undefined) return; // a late or unsolicited pong
    this.#pings.delete(n);
    ping.resolve(performance.now() - ping.start);
  }

  #scheduleKeepalive(): void {
    const k = this.#options.keepalive;
    if (k === undefined || this.#state === "closed") return;
    this.#keepaliveTimer = setTimeout(() => {
      this.#keepaliveTimer = undefined;
      if (this.#state === "closed") return;
      this.#pongTimer = setTimeout(() => {
        this.#pongTimer = undefined;
        this.#teardown(
          new ClosedError(
            "keepalive-timeout",
            `The peer did not answer a keepalive ping within ${k.timeout} ms`,
          ),
          false,
        );
      }, k.timeout);
      this.ping().then(() => {
        if (this.#pongTimer !== undefined) clearTimeout(this.#pongTimer);
        this.#pongTimer = undefined;
        this.#scheduleKeepalive();
      }, () => {});
    }, k.interval);
  }

  // ------------------------------------------------------------ teardown

  #teardown(reason: RpcError | undefined, flush: boolean): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#reason = reason;
    if (this.#keepaliveTimer !== undefined) clearTimeout(this.#keepaliveTimer);
    if (this.#pongTimer !== undefined) clearTimeout(this.#pongTimer);
    this.#keepaliveTimer = this.#pongTimer = undefined;
    const error = reason ?? new ClosedError("session-closed", "The session was closed");
    for (const conn of this.#connections.values()) conn.fail(error);
    this.#connections.clear();
    for (const p of this.#pendingOpens.values()) p.reject(error);
    this.#pendingOpens.clear();
    for (const p of this.#pings.values()) p.reject(error);
    this.#pings.clear();
    this.#conduit.stop();
    if (flush) this.#linkClosed = this.#conduit.close().catch(() => {});
    else this.#conduit.abort(error);
    this.#resolveClosed(reason);
  }
}
