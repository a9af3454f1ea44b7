/**
 * The channels of one connection: id allocation (by the caller, with its
 * parity), binding of channel ends found in call arguments (in
 * schema-walk order, wire-spec §2.6), routing of channel messages, credit
 * accounting and teardown. The peer's ids are accepted whatever their
 * parity (the Rust runtime never checks it, and the upstream TypeScript
 * runtime numbers 1, 2, 3… on both sides); only an id still in use is a
 * violation.
 *
 * @module
 */

import {
  type ChannelHost,
  channelInternals as ci,
  type ReceiveWindow,
  Rx,
  Tx,
} from "../channel/channel.ts";
import type { SessionPort } from "./port.ts";
import type { Connection } from "./connection.ts";
import { observeItem } from "./intercept.ts";
import type { ChannelHooks } from "../postcard/_compile.ts";
import { decodeRange, encodeWith } from "../postcard/codec.ts";
import { DecodeError } from "../postcard/errors.ts";
import { Reader } from "../postcard/_reader.ts";
import { concatTwo } from "../_util/bytes.ts";
import { type AnyChannelSchema, resolveSchema, type Schema } from "../postcard/schema.ts";
import { writeChannelEnd, writeGrant, writeItemHead } from "../wire/heads.ts";
import {
  type RawChannel,
  type RawChannelHost,
  type RawChannelMessage,
  rawInternals as ri,
} from "./raw.ts";
import type { ChannelBody, Metadata, Parity } from "../wire/types.ts";
import { writeRange } from "./forward.ts";

/** A channel bound to a typed end (`Tx`/`Rx`), or carried raw (see `raw.ts`). */
type Entry =
  | {
    readonly end: Tx<unknown> | Rx<unknown>;
    readonly item: Schema<unknown>;
    readonly raw?: undefined;
    /** True when the peer allocated the id (the channel came with its call). */
    readonly peer: boolean;
  }
  | { readonly raw: RawChannel; readonly end?: undefined; readonly peer: boolean };

interface Binding {
  readonly schema: AnyChannelSchema;
  readonly end: Tx<unknown> | Rx<unknown>;
}

/** Channel ends found while encoding a call's arguments, bound once the call is sent. */
export interface OutgoingChannels {
  /** Encoding hooks that collect the ends in walk order. */
  readonly hooks: ChannelHooks;
  /**
   * The ids of the ends, in walk order, allocated when first read (as the
   * call is sent): ids the peer is using are skipped, since a peer may
   * allocate either parity.
   */
  readonly ids: readonly number[];
  /** Binds the ends once the call is on the wire. */
  commit(): void;
  /** Gives the ids back when the call is not sent. */
  rollback(): void;
}

/**
 * How many of the peer's closed channel ids are remembered, at most, to
 * tell a late message for one of them from a message for an id that never
 * was a channel.
 */
const GONE_MEMORY = 4096;

const hasChannelsCache = new WeakMap<Schema<unknown>, boolean>();
/** The schema asked about last, and the answer (calls repeat: no map lookup for them). */
let lastSchema: Schema<unknown> | undefined;
let lastAnswer = false;

/** True when a schema contains a channel position (outside collections). */
export function hasChannels(schema: Schema<unknown>): boolean {
  if (schema === lastSchema) return lastAnswer;
  let known = hasChannelsCache.get(schema);
  if (known === undefined) {
    known = scan(schema, new Set());
    hasChannelsCache.set(schema, known);
  }
  lastSchema = schema;
  lastAnswer = known;
  return known;
}

function scan(schema: Schema<unknown>, seen: Set<Schema<unknown>>): boolean {
  const s = resolveSchema(schema);
  if (seen.has(s)) return false;
  seen.add(s);
  switch (s.kind) {
    case "tx":
    case "rx":
      return true;
    case "option":
      return scan(s.inner, seen);
    case "tuple":
      return s.items.some((x) => scan(x, seen));
    case "struct":
      return s.fields.some((f) => scan(f.schema, seen));
    case "enum":
      return s.variants.some((v) =>
        v.shape === "newtype"
          ? scan(v.schema, seen)
          : v.shape === "tuple"
          ? v.items.some((x) => scan(x, seen))
          : v.shape === "struct"
          ? v.fields.some((f) => scan(f.schema, seen))
          : false
      );
  }
  return false;
}

/** Thrown inside a decode hook to stop decoding after a violation was reported. */
class ViolationReported extends Error {}

/** The channel table of one connection. */
export class ChannelRegistry implements ChannelHost, RawChannelHost {
  readonly #port: SessionPort;
  readonly #connection: Connection;
  readonly #connectionId: number;
  readonly #localBit: number;
  readonly #max: number;
  readonly #elements: number;
  readonly #window: ReceiveWindow;
  readonly #entries = new Map<number, Entry>();
  #next: number;
  /** The peer's closed channel ids, oldest first, at most `GONE_MEMORY`. */
  readonly #peerGone = new Set<number>();
  #failed: unknown;

  /**
   * @param port The session.
   * @param connection The connection (interceptors see it).
   * @param connectionId The connection id.
   * @param local This side's parity on the connection (its calls allocate channel ids).
   * @param maxChannels Most channels open at once on the connection.
   * @param maxDecodedElements Most elements one decoded item may hold.
   * @param window The receive window of the channels this side receives on.
   */
  constructor(
    port: SessionPort,
    connection: Connection,
    connectionId: number,
    local: Parity,
    maxChannels: number,
    maxDecodedElements: number,
    window: ReceiveWindow,
  ) {
    this.#window = window;
    this.#port = port;
    this.#connection = connection;
    this.#connectionId = connectionId;
    this.#next = local === "odd" ? 1 : 2;
    this.#localBit = local === "odd" ? 1 : 0;
    this.#max = maxChannels;
    this.#elements = maxDecodedElements;
  }

  /** Channels currently registered. */
  get size(): number {
    return this.#entries.size;
  }

  // ------------------------------------------------------------ outgoing calls

  /** Starts collecting the channel ends of one outgoing call. */
  outgoing(): OutgoingChannels {
    const bindings: Binding[] = [];
    let ids: number[] | undefined;
    let start = 0;
    let after = 0;
    const assign = (): number[] => {
      start = this.#next;
      ids = bindings.map(() => {
        let id = this.#next;
        while (this.#entries.has(id)) id += 2;
        this.#next = id + 2;
        return id;
      });
      after = this.#next;
      return ids;
    };
    const used = new Set<Tx<unknown> | Rx<unknown>>();
    const hooks: ChannelHooks = {
      encode: (schema, value) => {
        const wantTx = schema.kind === "tx";
        if (wantTx ? !(value instanceof Tx) : !(value instanceof Rx)) {
          throw new TypeError(
            `Cannot pass ${wantTx ? "a Tx" : "an Rx"} channel end: got ${
              value instanceof Tx ? "a Tx" : value instanceof Rx ? "an Rx" : typeof value
            } (make a pair with channel() and pass the ${wantTx ? "tx" : "rx"} end)`,
          );
        }
        const end = value as Tx<unknown> | Rx<unknown>;
        if (used.has(end) || ci.partner(end) === undefined || ci.bound(ci.partner(end)!)) {
          throw new TypeError("Cannot pass a channel end twice, or one received from the peer");
        }
        used.add(end);
        if (this.#entries.size + bindings.length >= this.#max) {
          throw new RangeError(
            `Cannot open a channel: the limit of ${this.#max} on this connection is reached`,
          );
        }
        bindings.push({ schema, end });
      },
    };
    return {
      hooks,
      get ids(): readonly number[] {
        return ids ?? assign();
      },
      commit: () => {
        const allocated = ids ?? assign();
        for (let i = 0; i < bindings.length; i++) this.#bindOutgoing(bindings[i]!, allocated[i]!);
      },
      rollback: () => {
        if (ids !== undefined && this.#next === after) this.#next = start;
        ids = undefined;
      },
    };
  }

  #bindOutgoing(b: Binding, id: number): void {
    const kept = ci.partner(b.end)!;
    // The end that went into the call now lives at the peer.
    const gone = new TypeError(
      "This channel end was passed to a call; use the other end of the pair",
    );
    if (b.end instanceof Tx) ci.failTx(b.end, gone);
    else ci.failRx(b.end, gone);
    const item = b.schema.item;
    this.#entries.set(id, { end: kept, item, peer: false });
    if (this.#failed !== undefined) {
      if (kept instanceof Tx) ci.failTx(kept, this.#failed);
      else ci.failRx(kept as Rx<unknown>, this.#failed);
      return;
    }
    if (kept instanceof Tx) ci.bindTx(kept, this, id, item, b.schema.credit);
    else ci.bindRx(kept as Rx<unknown>, this, id, item, b.schema.credit, this.#window);
  }

  // ------------------------------------------------------------ raw channels

  /**
   * A raw channel with an id of this side's parity, for a raw call.
   *
   * @throws {RangeError} When the connection has `maxChannels` open.
   */
  rawOutgoing(): RawChannel {
    if (this.#failed !== undefined) throw this.#failed;
    if (this.#entries.size >= this.#max) {
      throw new RangeError(
        `Cannot open a channel: the limit of ${this.#max} on this connection is reached`,
      );
    }
    let id = this.#next;
    while (this.#entries.has(id)) id += 2;
    this.#next = id + 2;
    const raw = ri.make(this, id, false);
    this.#entries.set(id, { raw, peer: false });
    return raw;
  }

  /**
   * Raw channels for the channel ids of an incoming call (a fallback's);
   * undefined when an id is invalid (the violation is reported).
   */
  rawIncoming(ids: readonly number[]): RawChannel[] | undefined {
    const out: RawChannel[] = [];
    for (const id of ids) {
      const problem = id === 0
        ? "channel id 0 is reserved"
        : this.#entries.has(id)
        ? `channel id ${id} is already in use`
        : this.#entries.size >= this.#max
        ? `more than ${this.#max} channels on connection ${this.#connectionId}`
        : undefined;
      if (problem !== undefined) {
        for (const c of out) this.done(c.id);
        this.#port.violation(problem);
        return undefined;
      }
      this.#peerGone.delete(id);
      const raw = ri.make(this, id, true);
      this.#entries.set(id, { raw, peer: true });
      out.push(raw);
    }
    return out;
  }

  sendRaw(id: number, message: RawChannelMessage): void {
    if (this.#failed !== undefined) throw this.#failed;
    const port = this.#port;
    const w = port.acquire();
    try {
      switch (message.type) {
        case "item":
          writeItemHead(w, this.#connectionId, id);
          w.raw(message.item);
          break;
        case "close":
        case "reset":
          writeChannelEnd(w, this.#connectionId, id, message.type, message.metadata);
          break;
        case "grantCredit":
          writeGrant(w, this.#connectionId, id, message.additional);
          break;
      }
      port.sendFrom(w);
    } finally {
      port.release(w);
    }
  }

  sendRawItem(id: number, bytes: Uint8Array, start: number, end: number): void {
    if (this.#failed !== undefined) throw this.#failed;
    const port = this.#port;
    const w = port.acquire();
    try {
      writeItemHead(w, this.#connectionId, id);
      writeRange(w, bytes, start, end); // a copy: `bytes` may be lent
      port.sendFrom(w);
    } finally {
      port.release(w);
    }
  }

  done(id: number): void {
    const entry = this.#entries.get(id);
    if (entry?.raw !== undefined) this.#remove(id, entry);
  }

  violation(description: string): void {
    this.#port.violation(description);
  }

  // ------------------------------------------------------------ incoming calls

  /**
   * Decoding hooks for the arguments of an incoming call: each channel
   * position takes the next id and becomes a bound end for the handler;
   * `ends` lists them, for closing when the handler settles.
   */
  incoming(
    ids: readonly number[],
  ): {
    hooks: ChannelHooks;
    ends: (Tx<unknown> | Rx<unknown>)[];
    abandon(): void;
    isViolation(e: unknown): boolean;
  } {
    let k = 0;
    const registered: number[] = [];
    const ends: (Tx<unknown> | Rx<unknown>)[] = [];
    const hooks: ChannelHooks = {
      decode: (schema) => {
        const id = ids[k++];
        const end = schema.kind === "tx" ? new Tx<unknown>() : new Rx<unknown>();
        ends.push(end);
        if (id === undefined) return end; // missing ids leave the handle unbound, as in Rust
        const problem = id === 0
          ? "channel id 0 is reserved"
          : this.#entries.has(id)
          ? `channel id ${id} is already in use`
          : this.#entries.size >= this.#max
          ? `more than ${this.#max} channels on connection ${this.#connectionId}`
          : undefined;
        if (problem !== undefined) {
          this.#port.violation(problem);
          throw new ViolationReported(problem);
        }
        this.#peerGone.delete(id);
        this.#entries.set(id, { end, item: schema.item, peer: true });
        registered.push(id);
        if (end instanceof Tx) ci.bindTx(end, this, id, schema.item, schema.credit);
        else ci.bindRx(end, this, id, schema.item, schema.credit, this.#window);
        return end;
      },
    };
    return {
      hooks,
      ends,
      abandon: () => {
        for (const id of registered) {
          const entry = this.#entries.get(id);
          if (entry !== undefined) this.#remove(id, entry);
        }
      },
      isViolation: (e) => e instanceof ViolationReported,
    };
  }

  // ------------------------------------------------------------ messages in

  /**
   * True for an id that was a channel once and is gone now: one this side
   * allocated (its parity, below the next), or one of the peer's that
   * closed recently (the peer may use either parity).
   */
  #knownGone(id: number): boolean {
    if (id === 0) return false;
    if (id % 2 === this.#localBit && id < this.#next) return true;
    return this.#peerGone.has(id);
  }

  /** Forgets channel `id`, remembering it as gone when it was the peer's. */
  #remove(id: number, entry: Entry): void {
    this.#entries.delete(id);
    if (!entry.peer) return;
    const gone = this.#peerGone;
    gone.add(id);
    if (gone.size > GONE_MEMORY) gone.delete(gone.values().next().value as number);
  }

  /**
   * Handles an `Item` whose encoded value is `bytes[start, end)`: decodes
   * it with the channel's item schema and hands it to the `Rx`. An offset
   * rather than a view, because making a view of a small array is slow on
   * Bun. When `lent`, `bytes` is valid only during the call: the value
   * borrows nothing from it.
   */
  handleItem(id: number, bytes: Uint8Array, start: number, end: number, lent: boolean): void {
    const entry = this.#entries.get(id);
    const port = this.#port;
    if (entry === undefined) {
      port.violation(
        this.#knownGone(id)
          ? `item for channel ${id} after it closed`
          : `item for unknown channel ${id}`,
      );
      return;
    }
    if (entry.raw !== undefined) {
      ri.deliverItem(entry.raw, bytes, start, end);
      return;
    }
    if (!(entry.end instanceof Rx)) {
      port.violation(`item for channel ${id}, on which this side is the sender`);
      return;
    }
    let value: unknown;
    try {
      value = decodeRange(entry.item, bytes, start, end, undefined, !lent, this.#elements);
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      port.violation(`undecodable item on channel ${id}: ${e.message}`);
      return;
    }
    if (port.interceptors.length > 0) this.#observe("received", id, value);
    if (!ci.item(entry.end, value, end - start)) {
      port.violation(`the peer exceeded its credit on channel ${id}`);
    }
  }

  /** Shows an item to the session's interceptors. */
  #observe(direction: "sent" | "received", channelId: number, value: unknown): void {
    const port = this.#port;
    observeItem(
      port.interceptors,
      { direction, channelId, value, connection: this.#connection },
      (e) => port.reportError(e, `an interceptor's item hook (channel ${channelId})`),
    );
  }

  /**
   * Handles an `Item` whose encoded value is `prefix[start, end)` followed
   * by `last`, an array the peer shared by reference (a memory link made
   * with `shareLargeBytes`). On a `bytes` channel, when the prefix is just
   * the value's length and `last` its content, the `Rx` gets `last` itself;
   * anything else is joined and handled by {@linkcode handleItem}, which
   * reports every fault.
   */
  handleSharedItem(id: number, prefix: Uint8Array, start: number, last: Uint8Array): void {
    const entry = this.#entries.get(id);
    if (entry?.end !== undefined && entry.item.kind === "bytes" && entry.end instanceof Rx) {
      const r = new Reader(prefix, start, prefix.length);
      let length = -1;
      try {
        length = r.safe("bytes length");
      } catch {
        // Malformed: handled below, like any item.
      }
      if (length === last.length && r.pos === prefix.length) {
        if (this.#port.interceptors.length > 0) this.#observe("received", id, last);
        if (!ci.item(entry.end, last, prefix.length - start + last.length)) {
          this.#port.violation(`the peer exceeded its credit on channel ${id}`);
        }
        return;
      }
    }
    const joined = concatTwo(prefix.subarray(start), last);
    this.handleItem(id, joined, 0, joined.length, false);
  }

  /** Handles a `ChannelMessage` for this connection. */
  handle(id: number, body: ChannelBody): void {
    const entry = this.#entries.get(id);
    const port = this.#port;
    if (entry?.raw !== undefined) {
      if (body.type === "item") ri.deliverItem(entry.raw, body.item, 0, body.item.length);
      else ri.deliver(entry.raw, body);
      return;
    }
    switch (body.type) {
      case "item":
        this.handleItem(id, body.item, 0, body.item.length, false);
        return;
      case "close":
        if (entry === undefined || !(entry.end instanceof Rx)) {
          if (entry === undefined && this.#knownGone(id)) {
            port.violation(`Close for channel ${id} after it closed`);
          } else {
            port.violation(
              `Close for ${entry === undefined ? "unknown channel" : "sending channel"} ${id}`,
            );
          }
          return;
        }
        this.#remove(id, entry);
        ci.closeRx(entry.end, body.metadata);
        return;
      case "reset":
        if (entry === undefined) {
          if (!this.#knownGone(id)) port.violation(`Reset for unknown channel ${id}`);
          return; // a reset racing with our Close
        }
        if (!(entry.end instanceof Tx)) {
          port.violation(`Reset for channel ${id}, on which this side is the receiver`);
          return;
        }
        this.#remove(id, entry);
        ci.resetTx(entry.end, body.metadata);
        return;
      case "grantCredit":
        if (entry === undefined) {
          if (!this.#knownGone(id)) port.violation(`GrantCredit for unknown channel ${id}`);
          return; // credit for a channel we already closed
        }
        if (!(entry.end instanceof Tx)) {
          port.violation(`GrantCredit for channel ${id}, on which this side is the receiver`);
          return;
        }
        ci.grant(entry.end, body.additional);
        return;
    }
  }

  /** Ends every channel with `error` (the connection closed). */
  failAll(error: unknown): void {
    this.#failed = error;
    for (const { end, raw } of this.#entries.values()) {
      if (raw !== undefined) ri.fail(raw, error);
      else if (end instanceof Tx) ci.failTx(end, error);
      else ci.failRx(end, error);
    }
    this.#entries.clear();
  }

  // ------------------------------------------------------------ ChannelHost

  sendItem(id: number, schema: Schema<unknown>, value: unknown): void {
    const port = this.#port;
    const w = port.acquire();
    try {
      writeItemHead(w, this.#connectionId, id);
      encodeWith(w, schema, value, "item");
      port.sendFrom(w);
    } finally {
      port.release(w);
    }
    if (port.interceptors.length > 0) this.#observe("sent", id, value);
  }

  sendClose(id: number, metadata: Metadata): void {
    this.#sendEnd(id, "close", metadata);
  }

  sendReset(id: number, metadata: Metadata): void {
    this.#sendEnd(id, "reset", metadata);
  }

  #sendEnd(id: number, end: "close" | "reset", metadata: Metadata): void {
    if (this.#failed !== undefined) return;
    const port = this.#port;
    const w = port.acquire();
    try {
      writeChannelEnd(w, this.#connectionId, id, end, metadata);
      port.sendFrom(w);
    } finally {
      port.release(w);
    }
  }

  sendGrant(id: number, additional: number): void {
    if (this.#failed !== undefined) return;
    const port = this.#port;
    const w = port.acquire();
    try {
      writeGrant(w, this.#connectionId, id, additional);
      port.sendFrom(w);
    } finally {
      port.release(w);
    }
  }

  writable(): boolean {
    return this.#port.writable;
  }

  whenWritable(f: () => void): void {
    this.#port.whenWritable(f, false);
  }

  forget(id: number): void {
    const entry = this.#entries.get(id);
    // An Rx that reset stays registered until the sender's Close; a Tx that closed goes now.
    if (entry !== undefined && entry.end instanceof Tx) this.#remove(id, entry);
  }
}
