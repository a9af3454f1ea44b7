/**
 * A hand-driven peer on the far end of a memory link: it writes exact
 * bytes or messages, reads what the library sends one payload at a time,
 * and does the handshake by hand, so a test sees the library from the
 * wire. Either reads only when asked (so a test can leave the library's
 * messages unread, as a hostile peer might) or reads ahead into an inbox
 * (so the library never waits on it).
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  accept,
  initiate,
  type InitiatorOptions,
  type Link,
  memoryLink,
  type Metadata,
  type Parity,
  ProtocolError,
  type Session,
  type SessionOptions,
} from "../../mod.ts";
import { decodeMessage, encodeMessage, type Message, type MessagePayload } from "../../wire.ts";
import { toHex } from "./bytes.ts";
import { within } from "./timing.ts";

/** How the library's side of the link ended, as the raw peer saw it. */
export type LinkEnd = "closed" | "failed";

/** A message read by the raw peer whose payload has one given type. */
export type Received<K extends MessagePayload["type"]> = {
  readonly connectionId: number;
  readonly payload: Extract<MessagePayload, { type: K }>;
};

/** How a {@linkcode RawPeer} reads. */
export interface RawPeerOptions {
  /**
   * Read everything the library sends into an inbox as soon as it comes,
   * so the library never waits on this peer. Default false: read only
   * when the test asks for the next payload, so unread messages stay in
   * the link and the library feels back-pressure.
   */
  readonly readAhead?: boolean;
}

/**
 * The far end of a link, driven by hand: it writes exact bytes or
 * messages and reads every payload the library sends, in order.
 */
export class RawPeer {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #readAhead: boolean;
  readonly #inbox: Uint8Array[] = [];
  readonly #writes: Promise<void>[] = [];
  readonly #waiters = new Set<() => void>();
  #reading: Promise<void> | undefined;
  #end: { kind: LinkEnd; error?: unknown } | undefined;
  #nonce = 1000n;

  /** Takes the reader and the writer of `link`. */
  constructor(link: Link, options: RawPeerOptions = {}) {
    this.#reader = link.readable.getReader();
    this.#writer = link.writable.getWriter();
    this.#writer.closed.catch(() => {});
    this.#readAhead = options.readAhead ?? false;
    if (this.#readAhead) this.#pull();
  }

  /** Starts one read unless one is running or the link has ended. */
  #pull(): void {
    if (this.#reading !== undefined || this.#end !== undefined) return;
    this.#reading = this.#reader.read().then(
      ({ value, done }) => {
        this.#reading = undefined;
        if (done) this.#end = { kind: "closed" };
        else {
          this.#inbox.push(value);
          if (this.#readAhead) this.#pull();
        }
        this.#wake();
      },
      (error: unknown) => {
        this.#reading = undefined;
        this.#end = { kind: "failed", error };
        this.#wake();
      },
    );
  }

  #wake(): void {
    for (const w of this.#waiters) w();
    this.#waiters.clear();
  }

  /** Waits for the next payload or the end of the link; fails after `ms`. */
  async #nextEvent(ms: number): Promise<Uint8Array | LinkEnd> {
    const deadline = performance.now() + ms;
    for (;;) {
      const bytes = this.#inbox.shift();
      if (bytes !== undefined) return bytes;
      if (this.#end !== undefined) return this.#end.kind;
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`The raw peer received nothing within ${ms} ms`);
      this.#pull();
      let timer: ReturnType<typeof setTimeout> | undefined;
      let wake: (() => void) | undefined;
      await new Promise<void>((resolve) => {
        wake = resolve;
        this.#waiters.add(resolve);
        timer = setTimeout(resolve, left);
      });
      this.#waiters.delete(wake!);
      clearTimeout(timer);
    }
  }

  /**
   * Writes one payload: raw bytes as they are, or a message encoded with
   * the wire codec. The returned promise never rejects (a closed link
   * swallows the write); `close()` and `abort()` wait for every write.
   */
  send(message: Message | Uint8Array): Promise<void> {
    const bytes = message instanceof Uint8Array ? message : encodeMessage(message).slice();
    const write = this.#writer.write(bytes).catch(() => {});
    this.#writes.push(write);
    return write;
  }

  /** The next payload's bytes; fails if the link ends first or nothing comes within `ms`. */
  async nextBytes(ms = 2000): Promise<Uint8Array> {
    const e = await this.#nextEvent(ms);
    if (typeof e === "string") {
      const error = this.#end?.error;
      throw new Error(
        `The link ended (${e}${
          error === undefined ? "" : `: ${String(error)}`
        }) instead of a message`,
      );
    }
    return e;
  }

  /** The next message, decoded. */
  async next(ms = 2000): Promise<Message> {
    return decodeMessage(await this.nextBytes(ms));
  }

  /** The next message, which must be of type `type`. */
  async expect<K extends MessagePayload["type"]>(type: K, ms = 2000): Promise<Received<K>> {
    const m = await this.next(ms);
    if (m.payload.type !== type) {
      throw new Error(`Expected ${type}, got ${m.payload.type} on connection ${m.connectionId}`);
    }
    return m as Received<K>;
  }

  /** The next `count` messages. */
  async collect(count: number, ms = 5000): Promise<Message[]> {
    const out: Message[] = [];
    while (out.length < count) out.push(await this.next(ms));
    return out;
  }

  /** Reads until the link ends; returns what arrived first, decoded. */
  async untilEnd(ms = 2000): Promise<Message[]> {
    const seen: Message[] = [];
    for (;;) {
      const e = await this.#nextEvent(ms);
      if (e === "closed") return seen;
      if (e === "failed") throw this.#end?.error;
      seen.push(decodeMessage(e));
    }
  }

  /** Waits for the link to end; fails if a message arrives first. */
  async expectEnd(ms = 2000): Promise<LinkEnd> {
    const e = await this.#nextEvent(ms);
    if (typeof e !== "string") {
      const m = decodeMessage(e);
      throw new Error(`Expected the link to end, got ${m.payload.type} (${toHex(e)})`);
    }
    return e;
  }

  /** Asserts that nothing arrives within `ms` (and the link stays open). */
  async expectSilence(ms: number): Promise<void> {
    let event: Uint8Array | LinkEnd | undefined;
    try {
      event = await this.#nextEvent(ms);
    } catch {
      return; // nothing within ms
    }
    if (typeof event === "string") throw new Error(`The link ended (${event}) unexpectedly`);
    throw new Error(`Expected silence, got ${decodeMessage(event).payload.type}`);
  }

  /**
   * Sends a `Ping` and reads up to its `Pong`. The library answers in
   * order, so this returns exactly what it sent before answering.
   */
  async sync(ms = 2000): Promise<Message[]> {
    const nonce = ++this.#nonce;
    void this.send({ connectionId: 0, payload: { type: "ping", nonce } });
    const seen: Message[] = [];
    for (;;) {
      const m = await this.next(ms);
      if (m.payload.type === "pong" && m.payload.nonce === nonce) return seen;
      seen.push(m);
    }
  }

  /** True when the link's queue towards the library is full: the library is not reading. */
  get blocked(): boolean {
    return (this.#writer.desiredSize ?? 1) <= 0;
  }

  /** Ends the link gracefully from this side, then stops reading. */
  async close(): Promise<void> {
    await this.#writer.close().catch(() => {});
    await this.#finish();
  }

  /** Breaks the link from this side, in both directions, then stops reading. */
  async abort(reason: unknown = new Error("raw peer aborted the link")): Promise<void> {
    await this.#writer.abort(reason).catch(() => {});
    await this.#reader.cancel(reason).catch(() => {});
    await this.#finish();
  }

  /** Fails only the direction towards the library (its readable errors). */
  async abortWritable(reason: unknown = new Error("raw peer aborted its writable")): Promise<void> {
    await this.#writer.abort(reason).catch(() => {});
  }

  /** Fails only the direction from the library (its writable errors). */
  async cancelReadable(
    reason: unknown = new Error("raw peer cancelled its readable"),
  ): Promise<void> {
    await this.#reader.cancel(reason).catch(() => {});
    await this.#reading;
    this.#end ??= { kind: "closed" };
  }

  async #finish(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
    await this.#reading;
    this.#end ??= { kind: "closed" };
    await Promise.all(this.#writes);
  }
}

/**
 * How the raw side of {@linkcode rawInitiator} / {@linkcode rawAcceptor}
 * is set up: the settings it announces in its handshake message, its link
 * and how it reads.
 */
export interface RawSide {
  /** Default: `"odd"` for a raw initiator, the opposite of the library's Hello for a raw acceptor. */
  readonly parity?: Parity;
  /** Default 64. */
  readonly maxConcurrentRequests?: number;
  /** Default none. */
  readonly metadata?: Metadata;
  /** The two ends: `[the library's, the raw peer's]`. Default: a new memory link. */
  readonly links?: readonly [Link, Link];
  /** See {@linkcode RawPeerOptions.readAhead}. Default true here: the library never waits. */
  readonly readAhead?: boolean;
}

/** A library session on one end of a link, a raw peer on the other, handshake done. */
export interface RawPair {
  readonly session: Session;
  readonly peer: RawPeer;
  /** The bytes of the library's first message (its Hello, or its HelloYourself). */
  readonly first: Uint8Array;
  /** Ends the link from the raw side, closes the session and waits until it has ended. */
  close(): Promise<void>;
}

function pairOf(session: Session, peer: RawPeer, first: Uint8Array): RawPair {
  return {
    session,
    peer,
    first,
    close: async () => {
      await peer.close();
      await session.close();
      await within(session.closed, 2000, "the session to close");
    },
  };
}

/** Decodes `bytes`, which must hold a message of type `type`. */
function decodeAs<K extends MessagePayload["type"]>(bytes: Uint8Array, type: K): Received<K> {
  const m = decodeMessage(bytes);
  if (m.payload.type !== type) {
    throw new Error(`Expected ${type}, got ${m.payload.type} on connection ${m.connectionId}`);
  }
  return m as Received<K>;
}

/**
 * A library acceptor (`accept`) whose peer is a raw initiator: the raw
 * peer sends `Hello` and reads the library's `HelloYourself`.
 */
export async function rawInitiator(
  options: SessionOptions = {},
  raw: RawSide = {},
): Promise<RawPair & { readonly helloYourself: Received<"helloYourself"> }> {
  const [library, far] = raw.links ?? memoryLink();
  const peer = new RawPeer(far, { readAhead: raw.readAhead ?? true });
  const accepting = accept(library, options);
  void peer.send({
    connectionId: 0,
    payload: {
      type: "hello",
      version: 7,
      settings: {
        parity: raw.parity ?? "odd",
        maxConcurrentRequests: raw.maxConcurrentRequests ?? 64,
      },
      metadata: raw.metadata ?? [],
    },
  });
  const [session, first] = await Promise.all([
    within(accepting, 2000, "accept()"),
    peer.nextBytes(),
  ]);
  return { ...pairOf(session, peer, first), helloYourself: decodeAs(first, "helloYourself") };
}

/**
 * A library initiator (`initiate`) whose peer is a raw acceptor: the raw
 * peer reads the library's `Hello` and answers `HelloYourself`.
 */
export async function rawAcceptor(
  options: InitiatorOptions = {},
  raw: RawSide = {},
): Promise<RawPair & { readonly hello: Received<"hello"> }> {
  const [library, far] = raw.links ?? memoryLink();
  const peer = new RawPeer(far, { readAhead: raw.readAhead ?? true });
  const initiating = initiate(library, options);
  const first = await peer.nextBytes();
  const hello = decodeAs(first, "hello");
  void peer.send({
    connectionId: 0,
    payload: {
      type: "helloYourself",
      settings: {
        parity: raw.parity ?? (hello.payload.settings.parity === "odd" ? "even" : "odd"),
        maxConcurrentRequests: raw.maxConcurrentRequests ?? 64,
      },
      metadata: raw.metadata ?? [],
    },
  });
  const session = await within(initiating, 2000, "initiate()");
  return { ...pairOf(session, peer, first), hello };
}

/**
 * Expects the library's reaction to a violation: a `ProtocolError` on
 * connection 0 whose description matches, then the link closed with
 * nothing else sent, then the session ended by a local `ProtocolError`.
 */
export async function expectViolation(
  peer: RawPeer,
  session: Session,
  description: RegExp,
): Promise<{ error: Received<"protocolError">; reason: ProtocolError }> {
  const error = await peer.expect("protocolError", 2000);
  assert.equal(error.connectionId, 0);
  assert.match(error.payload.description, description);
  assert.equal(await peer.expectEnd(2000), "closed");
  const reason = await within(session.closed, 2000, "session.closed");
  assert.ok(reason instanceof ProtocolError, `closed with ${String(reason)}`);
  return { error, reason };
}

/** Ends a raw peer's link and waits for its session to end (no dangling reads or timers). */
export async function endRaw(peer: RawPeer, session: Session): Promise<void> {
  await peer.close();
  await within(session.closed, 2000, "the session to close");
}
