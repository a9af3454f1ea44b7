/**
 * Calls and channels as bytes, for code that knows no schema: a proxy, a
 * router, a gateway. `Connection.callRaw` sends a call whose arguments are
 * already encoded and resolves with the response's raw `Result` bytes;
 * `Connection.serveFallback` answers, raw, every call for a method the
 * connection does not serve; a {@linkcode RawChannel} carries a channel's
 * messages (items as their encoded bytes, close, reset, credit) without
 * decoding them and without credit accounting of its own: whoever relays
 * them keeps the peers' credit end to end.
 *
 * @module
 */

import { Queue } from "../_util/queue.ts";
import { type MetadataInit, propagatable } from "../wire/metadata.ts";
import type { Metadata } from "../wire/types.ts";

/** One message of a channel, as bytes. */
export type RawChannelMessage =
  | {
    /** An item. */
    readonly type: "item";
    /** The item's encoded bytes (postcard, with the channel's item schema). */
    readonly item: Uint8Array;
  }
  | {
    /** The sender finished. */
    readonly type: "close";
    /** The sender's metadata. */
    readonly metadata: Metadata;
  }
  | {
    /** The receiver asks the sender to stop. */
    readonly type: "reset";
    /** The receiver's metadata. */
    readonly metadata: Metadata;
  }
  | {
    /** The receiver grants the sender more items. */
    readonly type: "grantCredit";
    /** How many. */
    readonly additional: number;
  };

/** The response to a raw call. */
export interface RawResponse {
  /**
   * The response's `ret` bytes: the postcard `Result<T, RoamError<E>>` of
   * the method (wire-spec §2.7), `00` followed by the value for success.
   */
  readonly ret: Uint8Array;
  /** The response's metadata. */
  readonly metadata?: MetadataInit;
}

/** What `Connection.callRaw` resolves with (a {@linkcode RawResponse} a fallback can return as it is). */
export interface RawResult extends RawResponse {
  /** The response's `ret` bytes (a copy the caller may keep). */
  readonly ret: Uint8Array;
  /** The response's metadata. */
  readonly metadata: Metadata;
}

/** A call received by a fallback (see `Connection.serveFallback`). */
export interface RawCall {
  /** The request id the peer chose. */
  readonly requestId: number;
  /** The method id. */
  readonly methodId: bigint;
  /** The arguments' encoded bytes (a copy the fallback may keep). */
  readonly args: Uint8Array;
  /** The call's metadata. */
  readonly metadata: Metadata;
  /** The call's channels, in the order of the call's channel list, ready to relay. */
  readonly channels: readonly RawChannel[];
  /** Aborted when the caller cancels or the connection closes. */
  readonly signal: AbortSignal;
}

/** Answers raw calls for methods a connection does not serve. */
export type Fallback = (call: RawCall) => RawResponse | Promise<RawResponse>;

/** Options of `Connection.callRaw`. */
export interface RawCallOptions {
  /** The call's metadata. */
  readonly metadata?: MetadataInit;
  /** Channels for the call's channel list, made with `Connection.rawChannel()`. */
  readonly channels?: readonly RawChannel[];
  /** Aborting sends `Cancel` (or drops a call still waiting to be sent). */
  readonly signal?: AbortSignal;
  /** Milliseconds before the call is cancelled with a `TimeoutError`. */
  readonly timeout?: number;
}

/** What a raw channel needs from its connection. */
export interface RawChannelHost {
  /** Sends one message on the channel now. */
  sendRaw(id: number, message: RawChannelMessage): void;
  /** Sends an item whose encoded bytes are `bytes[start, end)` now (read before this returns). */
  sendRawItem(id: number, bytes: Uint8Array, start: number, end: number): void;
  /** True while messages may be sent without waiting for the link to drain. */
  writable(): boolean;
  /** Calls `f` once the link has drained. */
  whenWritable(f: () => void): void;
  /** The channel is over (closed or reset, either way): forget its id. */
  done(id: number): void;
  /** A protocol violation (a peer that sends on a channel nobody listens to, past a bound). */
  violation(description: string): void;
}

/** What a raw call needs of its method id: its varint bytes and how errors name it. */
export interface RawMethod {
  /** The method id's varint bytes. */
  readonly idBytes: Uint8Array;
  /** `method 0x…`, for errors. */
  readonly label: string;
}

/** Method ids seen by raw calls and fallbacks, at most (a proxy sees few). */
const RAW_METHODS_LIMIT = 1024;
const rawMethods = new Map<bigint, RawMethod>();

/**
 * The varint bytes and label of a method id (a u64), cached: making them
 * takes `bigint` arithmetic that would otherwise cost a forwarded call
 * more than the rest of its forwarding.
 *
 * @internal
 */
export function rawMethod(methodId: bigint): RawMethod {
  let m = rawMethods.get(methodId);
  if (m === undefined) {
    if (rawMethods.size >= RAW_METHODS_LIMIT) rawMethods.clear();
    const out: number[] = [];
    let n = methodId;
    while (n >= 0x80n) {
      out.push(Number(n & 0x7fn) | 0x80);
      n >>= 7n;
    }
    out.push(Number(n));
    m = {
      idBytes: Uint8Array.from(out),
      label: `method 0x${methodId.toString(16).padStart(16, "0")}`,
    };
    rawMethods.set(methodId, m);
  }
  return m;
}

/** Messages kept for a raw channel nobody listens to yet, at most. */
const UNHEARD_LIMIT = 4096;

interface Outbound {
  readonly message: RawChannelMessage;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

const ignore = (): void => {};

let makeRaw: (host: RawChannelHost, id: number, bound: boolean) => RawChannel;
let deliverRaw: (channel: RawChannel, message: RawChannelMessage) => void;
let deliverRawItem: (channel: RawChannel, bytes: Uint8Array, start: number, end: number) => void;
let relayRawChannels: (a: RawChannel, b: RawChannel) => void;
let failRaw: (channel: RawChannel, error: unknown) => void;
let bindRaw: (channel: RawChannel) => void;
let abandonRaw: (channel: RawChannel, error: unknown) => void;

/**
 * A channel of a connection carried as bytes: what the peer sends on it
 * goes to its listener, and `send` writes messages on it, in order, waiting
 * while the link is full. Made by `Connection.rawChannel()` for a raw call,
 * or handed to a fallback with a raw call. No credit accounting: a relay
 * forwards `grantCredit` messages so the peers' own credit holds end to end.
 *
 * @example Relaying a call's channels between two connections
 * ```ts
 * import type { Connection, RawChannel } from "@roam/roam";
 *
 * function relay(from: RawChannel, to: RawChannel): void {
 *   from.listen((m) => void to.send(m).catch(() => {}));
 *   to.listen((m) => void from.send(m).catch(() => {}));
 * }
 * function forward(a: Connection, b: Connection): void {
 *   a.serveFallback(async (call) => {
 *     const out = call.channels.map(() => b.rawChannel());
 *     call.channels.forEach((c, i) => relay(c, out[i]!));
 *     const r = await b.callRaw(call.methodId, call.args, {
 *       metadata: call.metadata,
 *       channels: out,
 *       signal: call.signal,
 *     });
 *     return r;
 *   });
 * }
 * ```
 */
export class RawChannel {
  readonly #host: RawChannelHost;
  readonly #id: number;
  #listener: ((message: RawChannelMessage) => void) | undefined;
  /** The channel this one's messages are relayed to (see {@linkcode relayRaw}), if any. */
  #relay: RawChannel | undefined;
  #unheard: Queue<RawChannelMessage> | undefined;
  readonly #outbound = new Queue<Outbound>();
  #waiting = false;
  #failure: unknown;
  /**
   * False for a channel made by `Connection.rawChannel()` until the call
   * that lists it is sent: the peer must hear of the channel before its
   * messages, so they wait until then.
   */
  #bound: boolean;

  /** Use `Connection.rawChannel()`; a fallback receives its channels made. */
  private constructor(host: RawChannelHost, id: number, bound: boolean) {
    this.#host = host;
    this.#id = id;
    this.#bound = bound;
  }

  static {
    makeRaw = (host, id, bound) => new RawChannel(host, id, bound);
    deliverRaw = (channel, message) => channel.#deliver(message);
    deliverRawItem = (channel, bytes, start, end) => {
      const to = channel.#relay;
      if (to !== undefined && to.#canWriteNow()) {
        // The bytes go on as they came: no copy, no message, no promise.
        try {
          to.#host.sendRawItem(to.#id, bytes, start, end);
        } catch {
          // The connection closed under the relay: the item has nowhere to go.
        }
        return;
      }
      // A copy: what reaches code above never shares memory with other messages.
      channel.#deliver({ type: "item", item: bytes.slice(start, end) });
    };
    relayRawChannels = (a, b) => {
      if (b.#listener !== undefined || b.#relay !== undefined) {
        throw new TypeError(`Cannot listen to raw channel ${b.#id} twice`);
      }
      a.#relayTo(b);
      b.#relayTo(a);
    };
    failRaw = (channel, error) => channel.#fail(error);
    bindRaw = (channel) => {
      if (channel.#bound) return;
      channel.#bound = true;
      if (channel.#outbound.length > 0) channel.#pump();
    };
    abandonRaw = (channel, error) => {
      channel.#fail(error);
      channel.#host.done(channel.#id);
    };
  }

  /** The channel id on this connection. */
  get id(): number {
    return this.#id;
  }

  /**
   * Receives the messages the peer sends on the channel, in order (those
   * that came before are delivered at once).
   *
   * @param listener Called with each message.
   * @throws {TypeError} When a listener is already set.
   */
  listen(listener: (message: RawChannelMessage) => void): void {
    if (this.#listener !== undefined || this.#relay !== undefined) {
      throw new TypeError(`Cannot listen to raw channel ${this.#id} twice`);
    }
    this.#listener = listener;
    const unheard = this.#unheard;
    this.#unheard = undefined;
    for (let m = unheard?.shift(); m !== undefined; m = unheard?.shift()) listener(m);
  }

  /**
   * Sends a message on the channel, after the ones sent before, once the
   * link can take it (and, for a channel made for a raw call, once that
   * call is sent).
   *
   * @param message The message.
   * @returns Resolves when the message has been handed to the connection.
   * @throws {RpcError} When the connection closed first, or the call was dropped unsent.
   */
  send(message: RawChannelMessage): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const host = this.#host;
    if (this.#bound && this.#outbound.length === 0 && host.writable()) {
      this.#write(message);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      this.#outbound.push({ message, resolve, reject });
      if (this.#bound) this.#pumpLater();
    });
  }

  /** True when a message may be written at once, in order: nothing waits before it. */
  #canWriteNow(): boolean {
    return this.#failure === undefined && this.#bound && this.#outbound.length === 0 &&
      this.#host.writable();
  }

  /** Makes `to` hear every message the peer sends on this channel, from now on. */
  #relayTo(to: RawChannel): void {
    if (this.#listener !== undefined || this.#relay !== undefined) {
      throw new TypeError(`Cannot listen to raw channel ${this.#id} twice`);
    }
    this.#relay = to;
    const unheard = this.#unheard;
    this.#unheard = undefined;
    for (let m = unheard?.shift(); m !== undefined; m = unheard?.shift()) to.#relayed(m);
  }

  /**
   * Sends a message relayed from another channel: at once when nothing
   * waits, else after what waits; nobody hears how it went (a relay has
   * nobody to tell, and a failed channel fails its relay's peer too).
   */
  #relayed(message: RawChannelMessage): void {
    if (message.type === "close" || message.type === "reset") {
      const metadata = propagatable(message.metadata);
      if (metadata !== message.metadata) message = { type: message.type, metadata };
    }
    if (this.#failure !== undefined) return;
    if (this.#canWriteNow()) {
      try {
        this.#write(message);
      } catch {
        // The connection closed under the relay: the message has nowhere to go.
      }
      return;
    }
    this.#outbound.push({ message, resolve: ignore, reject: ignore });
    if (this.#bound) this.#pumpLater();
  }

  #write(message: RawChannelMessage): void {
    this.#host.sendRaw(this.#id, message);
    // After a Reset the peer's items already on the way still come (and are
    // dropped by the reader): the id stays taken until the peer's Close, as a
    // typed `Rx` that reset does.
    if (message.type === "close") this.#host.done(this.#id);
  }

  #pumpLater(): void {
    if (this.#waiting) return;
    this.#waiting = true;
    this.#host.whenWritable(() => {
      this.#waiting = false;
      this.#pump();
    });
  }

  #pump(): void {
    const host = this.#host;
    for (let next = this.#outbound.peek(); next !== undefined; next = this.#outbound.peek()) {
      if (this.#failure !== undefined) return;
      if (!host.writable()) return this.#pumpLater();
      this.#outbound.shift();
      try {
        this.#write(next.message);
        next.resolve();
      } catch (e) {
        next.reject(e);
      }
    }
  }

  #deliver(message: RawChannelMessage): void {
    if (message.type === "close" || message.type === "reset") this.#host.done(this.#id);
    const relay = this.#relay;
    if (relay !== undefined) {
      relay.#relayed(message);
      return;
    }
    const listener = this.#listener;
    if (listener !== undefined) {
      listener(message);
      return;
    }
    const unheard = this.#unheard ??= new Queue();
    if (unheard.length >= UNHEARD_LIMIT) {
      this.#host.violation(
        `more than ${UNHEARD_LIMIT} messages on raw channel ${this.#id} with nobody listening`,
      );
      return;
    }
    unheard.push(message);
  }

  #fail(error: unknown): void {
    if (this.#failure !== undefined) return;
    this.#failure = error;
    for (const o of this.#outbound.drain()) o.reject(error);
  }
}

/** Internal operations on raw channels, for the connection layer. */
export const rawInternals = {
  /** A raw channel; `bound` when the peer knows it already (a received call's). */
  make: (host: RawChannelHost, id: number, bound: boolean): RawChannel => makeRaw(host, id, bound),
  deliver: (channel: RawChannel, message: RawChannelMessage): void => deliverRaw(channel, message),
  /**
   * An item whose encoded bytes are `bytes[start, end)`, valid only during
   * the call: a relayed channel sends them on at once when it can.
   */
  deliverItem: (channel: RawChannel, bytes: Uint8Array, start: number, end: number): void =>
    deliverRawItem(channel, bytes, start, end),
  fail: (channel: RawChannel, error: unknown): void => failRaw(channel, error),
  /** The call listing the channel was sent: messages waiting for it go now. */
  bind: (channel: RawChannel): void => bindRaw(channel),
  /** The call listing the channel was dropped unsent: the channel fails and its id is free. */
  abandon: (channel: RawChannel, error: unknown): void => abandonRaw(channel, error),
};

/**
 * Relays every message the peer sends on `a` to `b`, and on `b` to `a`, in
 * order, `NO_PROPAGATE` metadata dropped from `Close` and `Reset`: what a
 * proxy does with `listen` and `send`, without a promise, a closure or a
 * copy per item while the link takes them at once. Nothing is accounted:
 * forwarded `GrantCredit` messages keep the peers' credit end to end, so
 * what waits here for a full link is bounded by the receiver's window.
 *
 * @param a One channel (neither may have a listener).
 * @param b The other.
 * @throws {TypeError} When either channel already has a listener or a relay.
 * @internal
 */
export function relayRaw(a: RawChannel, b: RawChannel): void {
  relayRawChannels(a, b);
}
