/**
 * A session's connection table: the root and virtual connections, the
 * opens this side has asked for, the peer's opens being decided, and the
 * id bookkeeping that tells a late message for a closed connection from a
 * message for one that never existed.
 *
 * @module
 */

import { type Connection, ConnectionCore } from "../connection/connection.ts";
import type { SessionPort } from "../connection/port.ts";
import { ClosedError, ConnectionRejectedError, type RpcError } from "../wire/errors.ts";
import { describeMetadata, EMPTY_METADATA, exposeMetadata, toMetadata } from "../wire/metadata.ts";
import {
  checkU32,
  type ConnectionRequest,
  type OpenConnectionOptions,
  opposite,
  type ServiceImpl,
  serviceOf,
  type SessionLimits,
  type SessionOptions,
} from "./options.ts";
import type { ConnectionSettings, Message, Metadata, Parity } from "../wire/types.ts";

/** What the table needs from its session. */
export interface TableHost {
  /** What connections see of the session. */
  readonly port: SessionPort;
  /** The parity of connection ids this side allocates. */
  readonly parity: Parity;
  /** The session's limits. */
  readonly limits: Required<SessionLimits>;
  /** This side's default `maxConcurrentRequests` for new connections. */
  readonly maxConcurrent: number;
  /** The session's options (`onConnection` decides the peer's opens). */
  readonly options: SessionOptions;
  /** The session's state. */
  state(): "open" | "closing" | "closed";
  /** Sends one message. */
  send(message: Message): void;
  /** Tears the session down for a protocol violation. */
  violation(description: string): void;
  /** Reports an error that is not the peer's. */
  reportError(error: unknown, where: string): void;
}

interface PendingOpen {
  readonly local: ConnectionSettings;
  readonly services: readonly ServiceImpl[];
  resolve(c: Connection): void;
  reject(e: unknown): void;
  abandoned: boolean;
}

/** The connections of one session, by id. */
export class ConnectionTable {
  /** Open connections by id, the root (id 0) included. */
  readonly connections: Map<number, ConnectionCore> = new Map();
  /** The connection found last by `get` (messages come in runs on one connection), and its id. */
  #lastCid = -1;
  #lastConn: ConnectionCore | undefined;
  readonly #host: TableHost;
  readonly #pendingOpens = new Map<number, PendingOpen>();
  readonly #incomingOpens = new Set<number>();
  #nextConnectionId: number;
  #maxPeerConnectionId = 0;
  readonly #peerParityBit: number;

  /**
   * Makes the table of a session whose root connection is `root`.
   *
   * @param host The session.
   * @param root The root connection.
   */
  constructor(host: TableHost, root: ConnectionCore) {
    this.#host = host;
    this.#nextConnectionId = host.parity === "odd" ? 1 : 2;
    this.#peerParityBit = host.parity === "odd" ? 0 : 1;
    this.connections.set(0, root);
  }

  /** True when no connection has work in flight and no open is pending. */
  idle(): boolean {
    for (const c of this.connections.values()) if (!c.idle) return false;
    return this.#pendingOpens.size === 0;
  }

  /**
   * Asks the peer to open a virtual connection (the session checked that it is open).
   *
   * @param options Metadata, settings, services and an abort signal.
   * @returns The connection, once the peer accepts it.
   */
  open(options: OpenConnectionOptions): Promise<Connection> {
    const host = this.#host;
    if (options.signal?.aborted) return Promise.reject(options.signal.reason);
    let metadata: Metadata;
    let local: ConnectionSettings;
    try {
      metadata = toMetadata(options.metadata);
      local = {
        parity: host.parity,
        maxConcurrentRequests: checkU32(
          "maxConcurrentRequests",
          options.maxConcurrentRequests ?? host.maxConcurrent,
        ),
      };
    } catch (e) {
      return Promise.reject(e);
    }
    const max = host.limits.maxConnections;
    if (this.connections.size - 1 + this.#pendingOpens.size >= max) {
      return Promise.reject(
        new RangeError(`Cannot open a connection: the limit of ${max} is reached`),
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
      host.send({
        connectionId: id,
        payload: { type: "connectionOpen", settings: local, metadata },
      });
    });
  }

  /**
   * The open connection `cid`. A message racing with a close is dropped
   * (as in Rust) and gives undefined; one for an id that never was a
   * connection is a protocol violation.
   *
   * @param cid The connection id.
   * @param what What the message is, for the violation's description.
   * @returns The connection, if open.
   */
  get(cid: number, what: string): ConnectionCore | undefined {
    if (cid === this.#lastCid) return this.#lastConn;
    const conn = this.connections.get(cid);
    if (conn !== undefined) {
      this.#lastCid = cid;
      this.#lastConn = conn;
      return conn;
    }
    if (!this.#knownClosed(cid)) this.#host.violation(`${what} for unknown connection ${cid}`);
    return undefined;
  }

  /** True for an id that was a connection once and is closed now. */
  #knownClosed(cid: number): boolean {
    if (cid % 2 === this.#peerParityBit) {
      return cid <= this.#maxPeerConnectionId && !this.#incomingOpens.has(cid);
    }
    return cid < this.#nextConnectionId && !this.#pendingOpens.has(cid);
  }

  /**
   * Handles the peer's `ConnectionOpen`: asks the session's
   * `onConnection` and accepts or rejects.
   *
   * @param cid The id the peer chose.
   * @param settings The peer's settings.
   * @param peerMetadata The peer's metadata.
   */
  onOpen(cid: number, settings: ConnectionSettings, peerMetadata: Metadata): void {
    const host = this.#host;
    const reject = (metadata: Metadata): void =>
      host.send({ connectionId: cid, payload: { type: "connectionReject", metadata } });
    // Invalid ids are rejected, not treated as violations (as the Rust runtime does).
    if (
      cid === 0 || cid % 2 !== this.#peerParityBit || cid <= this.#maxPeerConnectionId ||
      this.connections.has(cid) || this.#incomingOpens.has(cid)
    ) {
      reject(toMetadata({ reason: "invalid or reused connection id" }));
      return;
    }
    this.#maxPeerConnectionId = cid;
    const decide = host.options.onConnection;
    if (decide === undefined) {
      reject(toMetadata({ reason: "this peer accepts no virtual connections" }));
      return;
    }
    const open = this.connections.size - 1 + this.#incomingOpens.size + this.#pendingOpens.size;
    if (host.state() !== "open" || open >= host.limits.maxConnections) {
      reject(
        toMetadata({
          reason: host.state() === "open" ? "too many connections" : "the session is closing",
        }),
      );
      return;
    }
    this.#incomingOpens.add(cid);
    const request: ConnectionRequest = {
      id: cid,
      service: serviceOf(peerMetadata),
      metadata: exposeMetadata(peerMetadata),
      settings,
    };
    Promise.resolve()
      .then(() => decide(request))
      .then((decision) => {
        this.#incomingOpens.delete(cid);
        if (host.state() === "closed") return;
        if (decision?.accept !== true) {
          reject(toMetadata(decision?.metadata));
          return;
        }
        const local: ConnectionSettings = {
          parity: opposite(settings.parity),
          maxConcurrentRequests: checkU32(
            "maxConcurrentRequests",
            decision.maxConcurrentRequests ?? host.maxConcurrent,
          ),
        };
        const metadata = toMetadata(decision.metadata);
        const conn = this.#register(
          cid,
          local,
          settings,
          request.metadata,
          decision.services ?? [],
        );
        host.send({
          connectionId: cid,
          payload: { type: "connectionAccept", settings: local, metadata },
        });
        decision.onOpen?.(conn);
      })
      .catch((e) => {
        this.#incomingOpens.delete(cid);
        host.reportError(e, `the connection acceptor (connection ${cid})`);
        if (host.state() !== "closed" && !this.connections.has(cid)) reject(EMPTY_METADATA);
      });
  }

  /**
   * Handles the peer's `ConnectionAccept` of an open this side asked for
   * (ignored when not pending, as in Rust).
   *
   * @param cid The connection id.
   * @param settings The peer's settings.
   * @param metadata The peer's metadata.
   */
  onAccept(cid: number, settings: ConnectionSettings, metadata: Metadata): void {
    const pending = this.#pendingOpens.get(cid);
    if (pending === undefined) return;
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

  /**
   * Handles the peer's `ConnectionReject` (ignored when not pending, as in Rust).
   *
   * @param cid The connection id.
   * @param metadata Why, in the peer's words.
   */
  onReject(cid: number, metadata: Metadata): void {
    const pending = this.#pendingOpens.get(cid);
    if (pending === undefined) return;
    this.#pendingOpens.delete(cid);
    pending.reject(new ConnectionRejectedError(exposeMetadata(metadata)));
  }

  /**
   * Handles the peer's `ConnectionClose` of a virtual connection.
   *
   * @param cid The connection id (not 0: the session checks that).
   * @param metadata The peer's close metadata (the `ClosedError` carries it).
   */
  onClose(cid: number, metadata: Metadata): void {
    if (this.connections.has(cid)) {
      const reason = metadata.length > 0 ? ` (${describeMetadata(metadata)})` : "";
      this.#drop(
        cid,
        new ClosedError("connection-closed", `The peer closed connection ${cid}${reason}`, {
          metadata,
        }),
      );
    } else if (!this.#knownClosed(cid)) {
      this.#host.violation(`ConnectionClose for unknown connection ${cid}`);
    }
  }

  #register(
    cid: number,
    local: ConnectionSettings,
    peer: ConnectionSettings,
    metadata: Metadata,
    services: readonly ServiceImpl[],
  ): ConnectionCore {
    const host = this.#host;
    const conn = new ConnectionCore(host.port, cid, local, peer, metadata, host.limits);
    conn.closer = (m: Metadata) => {
      if (!this.connections.has(cid)) return Promise.resolve();
      host.send({ connectionId: cid, payload: { type: "connectionClose", metadata: m } });
      this.#drop(cid, new ClosedError("connection-closed", `Connection ${cid} was closed`), true);
      return Promise.resolve();
    };
    for (const s of services) s.install(conn);
    this.connections.set(cid, conn);
    return conn;
  }

  #forgetLast(): void {
    this.#lastCid = -1;
    this.#lastConn = undefined;
  }

  #drop(cid: number, error: RpcError, byThisSide = false): void {
    const conn = this.connections.get(cid);
    if (conn === undefined) return;
    this.connections.delete(cid);
    this.#forgetLast();
    conn.fail(error, byThisSide);
  }

  /**
   * Fails every connection and pending open with `error` and empties the table.
   *
   * @param error Why the session ended.
   * @param byThisSide True when this side closed the session (the connections' `closed` resolve to undefined).
   */
  failAll(error: RpcError, byThisSide = false): void {
    for (const conn of this.connections.values()) conn.fail(error, byThisSide);
    this.connections.clear();
    this.#forgetLast();
    for (const p of this.#pendingOpens.values()) p.reject(error);
    this.#pendingOpens.clear();
  }
}
