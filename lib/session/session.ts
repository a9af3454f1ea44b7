/**
 * Sessions: the connection table, virtual connections, keepalive,
 * protocol errors and teardown, over one conduit (the handshake that makes
 * a session is in `handshake.ts`).
 *
 * @module
 */

import type { Conduit } from "../conduit/conduit.ts";
import { isProtocolViolation } from "../link/framing/socket_link.ts";
import { ConnectionTable } from "./table.ts";
import { Connection, type SessionPort } from "../connection/connection.ts";
import { ClosedError, ProtocolError, type RpcError } from "../wire/errors.ts";
import { EMPTY_METADATA } from "../wire/metadata.ts";
import { Pinger } from "./pinger.ts";
import { Queue } from "../_util/queue.ts";
import { concatTwo } from "../_util/bytes.ts";
import { Writer } from "../postcard/_writer.ts";
import { Reader } from "../postcard/_reader.ts";
import { DecodeError } from "../postcard/errors.ts";
import {
  checkMs,
  DEFAULTS,
  type OpenConnectionOptions,
  resolveKeepalive,
  resolveLimits,
  type SessionLimits,
  type SessionOptions,
} from "./options.ts";
import type { Client, Handlers } from "../connection/api.ts";
import type { MethodSpecs, ServiceDescriptor } from "../identity/service.ts";
import { decodeMessage } from "../wire/decode.ts";
import { writeMessage } from "../wire/encode.ts";
import {
  type Head,
  HeadKind,
  isCanonicalU64,
  newHead,
  readHead,
  writePong,
} from "../wire/heads.ts";
import type { ConnectionSettings, Message, Metadata, Parity } from "../wire/types.ts";

const NO_IDS: readonly number[] = Object.freeze([]);

/**
 * How long a closing session waits for its link to flush and close before
 * dropping it (a peer that stops reading would otherwise hold it forever).
 */
const LINK_CLOSE_WAIT_MS = 2000;

/** Replies owed to the peer (waiting for the send buffer to drain) past which reading stops. */
const OWED_BEFORE_PAUSE = 32;

interface Waiter {
  readonly f: () => void;
  readonly owed: boolean;
}

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
  readonly #table: ConnectionTable;
  readonly #pinger: Pinger;
  #state: "open" | "closing" | "closed" = "open";
  /** Senders waiting for the send buffer to drain, in order. */
  readonly #waiters = new Queue<Waiter>();
  /** How many of the waiters are replies owed to the peer. */
  #owed = 0;
  /** True while a drain callback is registered with the conduit. */
  #watching = false;
  /** True while reading from the peer is paused because replies are owed. */
  #readPaused = false;
  /** Bytes sent while the send buffer was above its high-water mark, since it last drained. */
  #overflow = 0;
  /** The head of the message being dispatched (reused: see `readHead`). */
  readonly #head: Head = newHead();
  /** Pings the peer may still send now (see `limits.maxPingRate`). */
  #pingTokens: number;
  #pingRefill = performance.now();
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
    get writable(): boolean {
      return session.#conduit.buffered <= session.#limits.sendHighWaterMark;
    },
    whenWritable: (f, owed) => session.#whenWritable(f, owed),
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
    this.#writer.gather = conduit.gathers;
    this.role = role;
    this.parity = parity;
    this.peerMetadata = peerMetadata;
    this.#options = options;
    this.#maxConcurrent = rootLocal.maxConcurrentRequests;
    this.#limits = resolveLimits(options.limits);
    this.#pingTokens = this.#limits.maxPingRate;
    this.closed = new Promise((r) => (this.#resolveClosed = r));
    this.root = new Connection(this.#port, 0, rootLocal, rootPeer, peerMetadata, this.#limits);
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
    );
    for (const s of options.services ?? []) s.install(this.root);
    conduit.onSendError = (e) =>
      this.#teardown(
        new ClosedError("link-lost", "The link failed while sending", { cause: e }),
        false,
      );
  }

  /** Virtual connections currently open (the root connection not counted). */
  get connectionCount(): number {
    return this.#table.connections.size - 1;
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
    return this.#table.open(options);
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
    while (this.#state === "closing" && performance.now() < deadline && !this.#table.idle()) {
      await new Promise((r) =>
        setTimeout(r, Math.min(5, Math.max(0, deadline - performance.now())))
      );
    }
    this.#teardown(undefined, true);
    await this.closed;
    await this.#linkClosed; // flushed and closed, or aborted at the deadline
  }

  /** Closes the session when used with `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
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
    const conduit = this.#conduit;
    const over = conduit.buffered > this.#limits.sendHighWaterMark;
    const size = w.segmentCount > 0 ? w.size : w.pos;
    conduit.send(w);
    if (over) this.#overflowed(size);
  }

  /**
   * Accounts for a message sent while the send buffer was above its
   * high-water mark (one that does not wait, such as a grant or a close):
   * past `maxSendOverflow` such bytes, the peer is not reading and the
   * session ends.
   */
  #overflowed(size: number): void {
    this.#overflow += size;
    const max = this.#limits.maxSendOverflow;
    if (this.#overflow > max) {
      this.#teardown(
        new ClosedError(
          "peer-not-reading",
          `The peer did not read: ${this.#conduit.buffered} bytes were waiting to be sent, ${this.#overflow} of them beyond the send high-water mark (limits.maxSendOverflow is ${max})`,
        ),
        false,
      );
      return;
    }
    this.#watch();
  }

  /** Queues `f` until the send buffer drains (see `SessionPort.whenWritable`). */
  #whenWritable(f: () => void, owed: boolean): void {
    if (this.#state === "closed") return;
    this.#waiters.push({ f, owed });
    if (owed && ++this.#owed > OWED_BEFORE_PAUSE && !this.#readPaused) {
      // The peer keeps asking and does not read the answers: stop reading it.
      this.#readPaused = true;
      this.#conduit.pause();
    }
    this.#watch();
  }

  /** Asks the conduit for a call when the send buffer has drained to half the high-water mark. */
  #watch(): void {
    if (this.#watching) return;
    this.#watching = true;
    this.#conduit.whenBelow(this.#limits.sendHighWaterMark >> 1, this.#drained);
  }

  /** The send buffer drained: wake waiters in order while it stays below the high-water mark. */
  readonly #drained = (): void => {
    this.#watching = false;
    if (this.#state === "closed") return;
    this.#overflow = 0;
    const waiters = this.#waiters;
    const hwm = this.#limits.sendHighWaterMark;
    while (waiters.length > 0) {
      if (this.#conduit.buffered > hwm) {
        this.#watch();
        return;
      }
      const w = waiters.shift()!;
      if (w.owed) this.#owed--;
      w.f();
      if (this.isClosed) return;
    }
    if (this.#readPaused) {
      this.#readPaused = false;
      this.#conduit.resume();
    }
  };

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
    this.#pinger.schedule();
    this.#conduit.listen({
      payload: (bytes) => this.#onMessage(bytes),
      shared: (prefix, last) => this.#onShared(prefix, last),
      end: () => this.#teardown(new ClosedError("peer-closed", "The peer closed the link"), true),
      error: (e) => {
        if (isProtocolViolation(e)) {
          this.#violation(e.message); // e.g. a frame above the size limit
        } else {
          this.#teardown(
            new ClosedError("link-lost", `The link failed: ${errorText(e)}`, { cause: e }),
            false,
          );
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
    const h = this.#head;
    readHead(new Reader(prefix), h);
    if (h.kind === HeadKind.Item) {
      this.#table.get(h.cid, "channel message")?.handleSharedItem(h.id, prefix, h.pos, last);
      return;
    }
    // Not an item head: the ordinary path handles it, and reports its faults.
    this.#onMessage(concatTwo(prefix, last));
  }

  /**
   * The bulk of the traffic (calls and responses without channels or
   * metadata, channel items, pings) dispatched without building a
   * `Message`. Returns false, having dispatched nothing, for anything else
   * or anything odd: the full decoder then handles it, errors included.
   */
  #dispatchFast(bytes: Uint8Array): boolean {
    const h = this.#head;
    readHead(new Reader(bytes), h);
    switch (h.kind) {
      case HeadKind.Item:
        this.#table.get(h.cid, "channel message")?.handleItem(h.id, bytes, h.pos);
        return true;
      case HeadKind.Call:
        this.#table.get(h.cid, "request")
          ?.handleCall(h.id, h.methodId, NO_IDS, EMPTY_METADATA, bytes, h.pos);
        return true;
      case HeadKind.Response:
        this.#table.get(h.cid, "request")?.handleResponse(h.id, EMPTY_METADATA, bytes, h.pos);
        return true;
      case HeadKind.Ping:
        return this.#pingFast(h.cid, bytes, h.pos);
    }
    return false;
  }

  /**
   * Answers a `Ping` whose nonce is the canonical varint `bytes[start, end)`
   * with a `Pong` carrying the same bytes (no bigint, no `Message`: a
   * flood of pings costs little). Returns false for anything unusual.
   */
  #pingFast(cid: number, bytes: Uint8Array, start: number): boolean {
    if (!isCanonicalU64(bytes, start)) return false;
    if (!this.#pingAllowed()) return true;
    if (this.#port.writable && this.#waiters.length === 0) this.#pong(cid, bytes, start);
    else this.#whenWritable(() => this.#pong(cid, bytes, start), true);
    return true;
  }

  /**
   * Counts a ping against `limits.maxPingRate` (a bucket of that many
   * pings, refilled at that many a second); a peer that floods pings is a
   * protocol violation. Returns false when the session was torn down.
   */
  #pingAllowed(): boolean {
    const rate = this.#limits.maxPingRate;
    const now = performance.now();
    this.#pingTokens = Math.min(rate, this.#pingTokens + (now - this.#pingRefill) * rate / 1000);
    this.#pingRefill = now;
    if (this.#pingTokens >= 1) {
      this.#pingTokens--;
      return true;
    }
    this.#violation(`the peer sent pings faster than ${rate} a second (limits.maxPingRate)`);
    return false;
  }

  /** Sends a `Pong` whose nonce varint is `nonce[start, end)`. */
  #pong(cid: number, nonce: Uint8Array, start: number): void {
    const w = this.#acquire();
    try {
      writePong(w, cid, nonce, start);
      this.#sendFrom(w);
    } finally {
      this.#release(w);
    }
  }

  #dispatch(message: Message): void {
    const cid = message.connectionId;
    const p = message.payload;
    switch (p.type) {
      case "request": {
        const conn = this.#table.get(cid, "request");
        conn?.handleRequest(p.id, p.body);
        return;
      }
      case "channel":
        this.#table.get(cid, "channel message")?.handleChannel(p.id, p.body);
        return;
      case "ping": {
        if (!this.#pingAllowed()) return;
        const pong = (): void =>
          this.#send({ connectionId: cid, payload: { type: "pong", nonce: p.nonce } });
        if (this.#port.writable && this.#waiters.length === 0) pong();
        else this.#whenWritable(pong, true);
        return;
      }
      case "pong":
        if (cid === 0) this.#pinger.onPong(p.nonce);
        return;
      case "connectionOpen":
        this.#table.onOpen(cid, p.settings, p.metadata);
        return;
      case "connectionAccept":
        this.#table.onAccept(cid, p.settings, p.metadata);
        return;
      case "connectionReject":
        this.#table.onReject(cid, p.metadata);
        return;
      case "connectionClose":
        if (cid === 0) {
          this.#violation("ConnectionClose on the root connection");
          return;
        }
        this.#table.onClose(cid, p.metadata);
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
    this.#waiters.drain();
    this.#owed = 0;
    this.#table.failAll(error);
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
