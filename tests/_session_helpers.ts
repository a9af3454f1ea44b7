/**
 * Helpers shared by the session tests (not a test file): a hand-driven
 * "raw peer" that sends exact bytes over a memory link and shows what the
 * library sends, a session pair factory, deferred promises and a timer
 * tracker.
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
  type Session,
  type SessionOptions,
} from "../mod.ts";
import { encodeMessage } from "../lib/wire/encode.ts";
import { decodeMessage } from "../lib/wire/decode.ts";
import type { ConnectionSettings, Message, Metadata } from "../lib/wire/types.ts";

/** Bytes from a hex string with optional spaces: `"00 07 0b"`. */
export function hex(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, "");
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Hex with spaces: `00 07 0b`. */
export function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");
}

/** The varint bytes of an unsigned integer, as hex with spaces. */
export function varintHex(n: number | bigint): string {
  let v = BigInt(n);
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return toHex(Uint8Array.from(out));
}

/** A promise with its resolve function outside. */
export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

/** Makes a {@linkcode Deferred}. */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Resolves after `ms` milliseconds (the timer always fires). */
export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Awaits `promise`, failing with a clear message instead of hanging when
 * it takes longer than `ms`. The guard timer is always cleared.
 */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: not settled within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Settles `promise` and returns its rejection reason; fails if it resolves. */
export async function rejection(promise: Promise<unknown>, ms = 2000): Promise<unknown> {
  try {
    await within(promise, ms, "the promise");
  } catch (e) {
    return e;
  }
  return assert.fail("expected a rejection, but the promise resolved");
}

/** Default settings of a raw peer: `{ parity, 64 }`. */
function settings(parity: "odd" | "even", max = 64): ConnectionSettings {
  return { parity, maxConcurrentRequests: max };
}

/**
 * The far end of a memory link, driven by hand: it sends exact bytes or
 * messages and reads what the library sends, one payload at a time.
 */
export class RawPeer {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  #read: Promise<ReadableStreamReadResult<Uint8Array>> | undefined;
  readonly #writes: Promise<unknown>[] = [];
  #nonce = 1000n;
  #done = false;

  /** Takes the reader and writer of `link`. */
  constructor(link: Link) {
    this.#reader = link.readable.getReader();
    this.#writer = link.writable.getWriter();
  }

  /** Sends one payload: raw bytes, or a message encoded with the wire codec. */
  send(message: Message | Uint8Array): void {
    const bytes = message instanceof Uint8Array ? message : encodeMessage(message);
    this.#writes.push(this.#writer.write(bytes).catch(() => {}));
  }

  /** The next payload, or undefined at the end of the stream; fails after `ms`. */
  async next(ms = 2000): Promise<Uint8Array | undefined> {
    if (this.#done) return undefined;
    const read = this.#read ??= this.#reader.read();
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const r = await Promise.race([
        read,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`raw peer: nothing received within ${ms} ms`)),
            ms,
          );
        }),
      ]);
      this.#read = undefined;
      if (r.done) this.#done = true;
      return r.value;
    } catch (e) {
      if (!(e instanceof Error && e.message.startsWith("raw peer:"))) this.#read = undefined;
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The next payload; fails at the end of the stream. */
  async recv(ms = 2000): Promise<Uint8Array> {
    const bytes = await this.next(ms);
    if (bytes === undefined) return assert.fail("raw peer: the link ended");
    return bytes;
  }

  /** The next payload, decoded. */
  async recvMessage(ms = 2000): Promise<Message> {
    return decodeMessage(await this.recv(ms));
  }

  /** Reads until the end of the stream; returns what arrived first, decoded. */
  async untilEnd(ms = 2000): Promise<Message[]> {
    const seen: Message[] = [];
    for (;;) {
      const bytes = await this.next(ms);
      if (bytes === undefined) return seen;
      seen.push(decodeMessage(bytes));
    }
  }

  /**
   * Sends a `Ping` and reads up to its `Pong`. The library answers in
   * order, so this returns exactly what it sent before answering.
   */
  async sync(ms = 2000): Promise<Message[]> {
    const nonce = ++this.#nonce;
    this.send({ connectionId: 0, payload: { type: "ping", nonce } });
    const seen: Message[] = [];
    for (;;) {
      const m = await this.recvMessage(ms);
      if (m.payload.type === "pong" && m.payload.nonce === nonce) return seen;
      seen.push(m);
    }
  }

  /** Ends the stream gracefully, then stops reading. */
  async close(): Promise<void> {
    await this.#writer.close().catch(() => {});
    await this.#finish();
  }

  /** Fails the link in both directions at once. */
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
    if (this.#read !== undefined) await this.#read.catch(() => {});
    this.#read = undefined;
    this.#done = true;
  }

  async #finish(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
    if (this.#read !== undefined) await this.#read.catch(() => {});
    this.#read = undefined;
    this.#done = true;
    await Promise.all(this.#writes);
  }
}

/** A raw initiator: sends `Hello`, reads the library's first message. */
export async function rawInitiator(
  link: Link,
  options: { parity?: "odd" | "even"; max?: number; metadata?: Metadata } = {},
): Promise<{ peer: RawPeer; reply: Uint8Array }> {
  const peer = new RawPeer(link);
  peer.send({
    connectionId: 0,
    payload: {
      type: "hello",
      version: 7,
      settings: settings(options.parity ?? "odd", options.max),
      metadata: options.metadata ?? [],
    },
  });
  const reply = await peer.recv();
  return { peer, reply };
}

/** A raw acceptor: reads the library's `Hello`, answers `HelloYourself`. */
export async function rawAcceptor(
  link: Link,
  options: { parity?: "odd" | "even"; max?: number; metadata?: Metadata } = {},
): Promise<{ peer: RawPeer; hello: Uint8Array }> {
  const peer = new RawPeer(link);
  const hello = await peer.recv();
  peer.send({
    connectionId: 0,
    payload: {
      type: "helloYourself",
      settings: settings(options.parity ?? "even", options.max),
      metadata: options.metadata ?? [],
    },
  });
  return { peer, hello };
}

/** A library session on one end of a memory link, a raw peer on the other. */
export interface RawPair {
  readonly session: Session;
  readonly peer: RawPeer;
  /** The library's first message (its Hello, or its HelloYourself). */
  readonly first: Uint8Array;
  /** Ends the link from the raw side and waits for the session to end. */
  close(): Promise<void>;
}

/** A library initiator talking to a raw acceptor. */
export async function initiatorWithRawPeer(
  options: InitiatorOptions = {},
  raw: { parity?: "odd" | "even"; max?: number; metadata?: Metadata } = {},
): Promise<RawPair> {
  const [a, b] = memoryLink();
  const [session, { peer, hello }] = await Promise.all([
    initiate(a, options),
    rawAcceptor(b, raw),
  ]);
  return {
    session,
    peer,
    first: hello,
    close: async () => {
      await peer.close();
      await session.close();
      await session.closed;
    },
  };
}

/** A library acceptor talking to a raw initiator. */
export async function acceptorWithRawPeer(
  options: SessionOptions = {},
  raw: { parity?: "odd" | "even"; max?: number; metadata?: Metadata } = {},
): Promise<RawPair> {
  const [a, b] = memoryLink();
  const [{ peer, reply }, session] = await Promise.all([
    rawInitiator(a, raw),
    accept(b, options),
  ]);
  return {
    session,
    peer,
    first: reply,
    close: async () => {
      await peer.close();
      await session.close();
      await session.closed;
    },
  };
}

/** Two library sessions over a memory link. */
export interface SessionPair {
  readonly client: Session;
  readonly server: Session;
  /** Closes the initiator gracefully and waits for both ends. */
  close(): Promise<void>;
}

/** An initiator and an acceptor, handshake done. */
export async function sessionPair(
  initiatorOptions: InitiatorOptions = {},
  acceptorOptions: SessionOptions = {},
): Promise<SessionPair> {
  const [a, b] = memoryLink();
  const [client, server] = await Promise.all([
    initiate(a, initiatorOptions),
    accept(b, acceptorOptions),
  ]);
  return {
    client,
    server,
    close: async () => {
      await client.close();
      await within(server.closed, 2000, "the acceptor's closed");
    },
  };
}

/**
 * Records the timers made through the global `setTimeout` while `fn`
 * runs, and returns how many of them neither fired nor were cleared.
 */
export async function pendingTimersAfter(fn: () => Promise<unknown>): Promise<number> {
  const g = globalThis as unknown as {
    setTimeout: (cb: (...a: unknown[]) => void, ms?: number, ...a: unknown[]) => unknown;
    clearTimeout: (id: unknown) => void;
  };
  const realSet = g.setTimeout;
  const realClear = g.clearTimeout;
  const live = new Set<unknown>();
  g.setTimeout = (cb, ms, ...rest) => {
    const id: unknown = realSet(
      (...a: unknown[]) => {
        live.delete(id);
        cb(...a);
      },
      ms,
      ...rest,
    );
    live.add(id);
    return id;
  };
  g.clearTimeout = (id) => {
    live.delete(id);
    realClear(id);
  };
  try {
    await fn();
  } finally {
    g.setTimeout = realSet;
    g.clearTimeout = realClear;
  }
  const left = live.size;
  for (const id of live) realClear(id);
  return left;
}
