/**
 * The receiving side of a session: each message from the peer is checked
 * against the size limit and dispatched, the bulk of the traffic (calls
 * and responses without channels or metadata, items, pings) from its head
 * alone, the rest through the full decoder, whose faults are protocol
 * violations.
 *
 * @module
 */

import { concatTwo, copyRange } from "../_util/bytes.ts";
import { DecodeError } from "../postcard/errors.ts";
import { decodeMessage } from "../wire/decode.ts";
import { ProtocolError, type RpcError } from "../wire/errors.ts";
import { type Head, HeadKind, newHead, readHead } from "../wire/heads.ts";
import { EMPTY_METADATA } from "../wire/metadata.ts";
import type { Message } from "../wire/types.ts";
import type { ResolvedLimits } from "./options.ts";
import type { Pinger } from "./pinger.ts";
import type { ConnectionTable } from "./table.ts";

const NO_IDS: readonly number[] = Object.freeze([]);

/** What the receiving side needs from its session. */
export interface ReceiverHost {
  readonly limits: ResolvedLimits;
  readonly table: ConnectionTable;
  readonly pinger: Pinger;
  /** True once the session has ended. */
  closed(): boolean;
  /** Sends `ProtocolError` and tears the session down. */
  violation(description: string): void;
  /** Tears the session down. */
  teardown(reason: RpcError, flush: boolean): void;
  /** Reports an error that is not the peer's. */
  reportError(error: unknown, where: string): void;
}

/** The receiving side of one session. */
export class Receiver {
  readonly #host: ReceiverHost;
  /** The head of the message being dispatched (reused: see `readHead`). */
  readonly #head: Head = newHead();
  /** Messages received (stats). */
  messages = 0;
  /** Bytes received, as messages (stats). */
  bytes = 0;

  /** @param host The session. */
  constructor(host: ReceiverHost) {
    this.#host = host;
  }

  /** One message from the peer: `bytes[start, bytes.length)`. */
  payload(bytes: Uint8Array, start = 0): void {
    const host = this.#host;
    if (host.closed()) return;
    const size = bytes.length - start;
    this.messages++;
    this.bytes += size;
    const maxSize = host.limits.maxMessageSize;
    if (size > maxSize) {
      this.#host.violation(`message of ${size} bytes exceeds the limit of ${maxSize}`);
      return;
    }
    let message: Message;
    try {
      if (this.#dispatchFast(bytes, start)) return;
      message = decodeMessage(start === 0 ? bytes : bytes.subarray(start));
    } catch (e) {
      if (!(e instanceof DecodeError)) {
        this.#host.reportError(e, "message dispatch");
        this.#host.violation("internal error while handling a message");
        return;
      }
      this.#host.violation(`undecodable message: ${(e as Error).message}`);
      return;
    }
    try {
      this.#dispatch(message);
    } catch (e) {
      // A bug of ours must not leave the peer hanging.
      this.#host.reportError(e, "message dispatch");
      this.#host.violation("internal error while handling a message");
    }
  }

  /**
   * One message from the peer, `bytes[start, end)`, lent for this call
   * only: the bulk of the traffic is dispatched in place (what the
   * application gets is decoded into values of its own); anything else is
   * copied first and handled like any message.
   */
  lent(bytes: Uint8Array, start: number, end: number): void {
    const host = this.#host;
    if (host.closed()) return;
    const size = end - start;
    const maxSize = host.limits.maxMessageSize;
    if (size > maxSize) {
      this.messages++;
      this.bytes += size;
      host.violation(`message of ${size} bytes exceeds the limit of ${maxSize}`);
      return;
    }
    {
      const h = this.#head;
      readHead(bytes, start, end, h);
      const kind = h.kind;
      if (kind === HeadKind.Item || kind === HeadKind.Call || kind === HeadKind.Response) {
        this.messages++;
        this.bytes += size;
        try {
          const table = host.table;
          if (kind === HeadKind.Item) {
            table.get(h.cid, "channel message")?.handleItem(h.id, bytes, h.pos, end, true);
          } else if (kind === HeadKind.Call) {
            table.get(h.cid, "request")
              ?.handleCall(h.id, h.methodId, NO_IDS, EMPTY_METADATA, bytes, h.pos, end, true);
          } else {
            table.get(h.cid, "request")
              ?.handleResponse(h.id, EMPTY_METADATA, bytes, h.pos, end, true);
          }
        } catch (e) {
          // A bug of ours must not leave the peer hanging.
          host.reportError(e, "message dispatch");
          host.violation("internal error while handling a message");
        }
        return;
      }
    }
    this.payload(copyRange(bytes, start, size));
  }

  /**
   * A message made of `prefix` followed by `last`, an array the peer shared
   * by reference: a `bytes` channel item is delivered as that array itself;
   * anything else is joined and handled like any message.
   */
  shared(prefix: Uint8Array, last: Uint8Array): void {
    const host = this.#host;
    if (host.closed()) return;
    const size = prefix.length + last.length;
    const maxSize = host.limits.maxMessageSize;
    if (size > maxSize) {
      this.#host.violation(`message of ${size} bytes exceeds the limit of ${maxSize}`);
      return;
    }
    const h = this.#head;
    readHead(prefix, 0, prefix.length, h);
    if (h.kind === HeadKind.Item) {
      this.messages++;
      this.bytes += size;
      this.#host.table.get(h.cid, "channel message")?.handleSharedItem(h.id, prefix, h.pos, last);
      return;
    }
    // Not an item head: the ordinary path handles it, and reports its faults.
    this.payload(concatTwo(prefix, last));
  }

  /**
   * The bulk of the traffic (calls and responses without channels or
   * metadata, channel items, pings) dispatched without building a
   * `Message`. Returns false, having dispatched nothing, for anything else
   * or anything odd: the full decoder then handles it, errors included.
   */
  #dispatchFast(bytes: Uint8Array, start: number): boolean {
    const h = this.#head;
    readHead(bytes, start, bytes.length, h);
    switch (h.kind) {
      case HeadKind.Item:
        this.#host.table.get(h.cid, "channel message")
          ?.handleItem(h.id, bytes, h.pos, bytes.length, false);
        return true;
      case HeadKind.Call:
        this.#host.table.get(h.cid, "request")
          ?.handleCall(h.id, h.methodId, NO_IDS, EMPTY_METADATA, bytes, h.pos, bytes.length, false);
        return true;
      case HeadKind.Response:
        this.#host.table.get(h.cid, "request")
          ?.handleResponse(h.id, EMPTY_METADATA, bytes, h.pos, bytes.length, false);
        return true;
      case HeadKind.Ping:
        return this.#host.pinger.answerBytes(h.cid, bytes, h.pos);
    }
    return false;
  }

  #dispatch(message: Message): void {
    const cid = message.connectionId;
    const p = message.payload;
    switch (p.type) {
      case "request": {
        const conn = this.#host.table.get(cid, "request");
        conn?.handleRequest(p.id, p.body);
        return;
      }
      case "channel":
        this.#host.table.get(cid, "channel message")?.handleChannel(p.id, p.body);
        return;
      case "ping":
        this.#host.pinger.answer(cid, p.nonce);
        return;
      case "pong":
        if (cid === 0) this.#host.pinger.onPong(p.nonce);
        return;
      case "connectionOpen":
        this.#host.table.onOpen(cid, p.settings, p.metadata);
        return;
      case "connectionAccept":
        this.#host.table.onAccept(cid, p.settings, p.metadata);
        return;
      case "connectionReject":
        this.#host.table.onReject(cid, p.metadata);
        return;
      case "connectionClose":
        if (cid === 0) {
          this.#host.violation("ConnectionClose on the root connection");
          return;
        }
        this.#host.table.onClose(cid, p.metadata);
        return;
      case "hello":
      case "helloYourself":
        this.#host.violation(
          `unexpected ${p.type === "hello" ? "Hello" : "HelloYourself"} after the handshake`,
        );
        return;
      case "protocolError":
        this.#host.teardown(new ProtocolError(p.description, true), false);
        return;
    }
  }
}
