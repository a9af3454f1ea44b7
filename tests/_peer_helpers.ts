/**
 * Test helpers for session tests: a hand-driven "raw peer" on the other
 * end of a memory link (it does the handshake by hand, sends exact bytes
 * and reads what the library sends), session pairs, and small timing
 * utilities that never leave a timer behind.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  accept,
  encode,
  implement,
  initiate,
  type InitiatorOptions,
  type Link,
  memoryLink,
  type Metadata,
  type Parity,
  ProtocolError,
  service,
  type ServiceImpl,
  type Session,
  type SessionOptions,
  t,
} from "../mod.ts";
import { decodeMessage, encodeMessage, type Message, type MessagePayload } from "../wire.ts";

// ------------------------------------------------------------------ bytes

export { hex, toHex } from "./_session_helpers.ts";
import { toHex } from "./_session_helpers.ts";

/** A runtime's own inspection (what `console.log` shows), without importing `node:util`. */
export function inspect(value: unknown): string {
  const g = globalThis as unknown as {
    Deno?: { inspect(v: unknown, o?: unknown): string };
    Bun?: { inspect(v: unknown, o?: unknown): string };
  };
  if (g.Deno !== undefined) return g.Deno.inspect(value, { depth: 10 });
  if (g.Bun !== undefined) return g.Bun.inspect(value, { depth: 10 });
  return String(value);
}

// ------------------------------------------------------------------ timing

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Waits for `p`, failing with a clear message after `ms` (the timer is always cleared). */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `cond` every few ms until it holds, failing after `ms`. */
export async function until(cond: () => boolean, what: string, ms = 2000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) {
      throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    }
    await delay(2);
  }
}

/** Settles `p` into a value or the error, so a rejection is never unhandled. */
export function settle<T>(
  p: Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return p.then((value) => ({ ok: true, value }), (error: unknown) => ({ ok: false, error }));
}

/** A promise with its resolve function outside. */
export function deferred<T = void>(): { promise: Promise<T>; resolve(v: T): void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

// ------------------------------------------------------------------ raw peer

/** How the library's side of the link ended, as the raw peer saw it. */
export type LinkEnd = "closed" | "failed";

/** A message read by the raw peer whose payload has one given type. */
export type Received<K extends MessagePayload["type"]> = {
  readonly connectionId: number;
  readonly payload: Extract<MessagePayload, { type: K }>;
};

/**
 * The far end of a memory link, driven by hand: it writes exact bytes and
 * reads every payload the library sends, in order.
 */
export class RawPeer {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #inbox: Uint8Array[] = [];
  #end: LinkEnd | undefined;
  #wake: (() => void) | undefined;
  readonly #pump: Promise<void>;

  constructor(link: Link) {
    this.#reader = link.readable.getReader();
    this.#writer = link.writable.getWriter();
    this.#writer.closed.catch(() => {});
    this.#pump = this.#run();
  }

  async #run(): Promise<void> {
    try {
      for (;;) {
        const { value, done } = await this.#reader.read();
        if (done) {
          this.#end = "closed";
          break;
        }
        this.#inbox.push(value);
        this.#wake?.();
      }
    } catch {
      this.#end = "failed";
    }
    this.#wake?.();
  }

  /** Writes one payload as it is. Never rejects (a closed link swallows it). */
  sendBytes(bytes: Uint8Array): Promise<void> {
    return this.#writer.write(bytes).catch(() => {});
  }

  /** Encodes and writes one message. */
  send(message: Message): Promise<void> {
    return this.sendBytes(encodeMessage(message).slice());
  }

  /** Waits for the next payload or the end of the link. */
  async #nextEvent(ms: number): Promise<Uint8Array | LinkEnd> {
    const deadline = performance.now() + ms;
    for (;;) {
      const bytes = this.#inbox.shift();
      if (bytes !== undefined) return bytes;
      if (this.#end !== undefined) return this.#end;
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`The raw peer received nothing within ${ms} ms`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, left);
      });
      this.#wake = undefined;
      clearTimeout(timer);
    }
  }

  /** The next payload's raw bytes; fails if the link ends first. */
  async nextBytes(ms = 2000): Promise<Uint8Array> {
    const e = await this.#nextEvent(ms);
    if (typeof e === "string") throw new Error(`The link ended (${e}) instead of a message`);
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

  /** Ends the link gracefully from this side and waits for the reader to stop. */
  async close(): Promise<void> {
    await this.#writer.close().catch(() => {});
    await this.#reader.cancel().catch(() => {});
    await this.#pump;
  }

  /** Breaks the link from this side (both directions) and waits for the reader to stop. */
  async abort(reason: unknown = new Error("link dropped")): Promise<void> {
    await this.#writer.abort(reason).catch(() => {});
    await this.#reader.cancel(reason).catch(() => {});
    await this.#pump;
  }
}

/** Settings the raw peer announces in its handshake message. */
export interface RawHello {
  readonly parity?: Parity;
  readonly maxConcurrentRequests?: number;
  readonly metadata?: Metadata;
}

/**
 * A library acceptor (`accept`) whose peer is a raw initiator: the raw
 * peer sends `Hello` and reads `HelloYourself`.
 */
export async function rawInitiator(
  options: SessionOptions = {},
  hello: RawHello = {},
): Promise<{ peer: RawPeer; session: Session; helloYourself: Received<"helloYourself"> }> {
  const [a, b] = memoryLink();
  const peer = new RawPeer(a);
  const accepting = accept(b, options);
  void peer.send({
    connectionId: 0,
    payload: {
      type: "hello",
      version: 7,
      settings: {
        parity: hello.parity ?? "odd",
        maxConcurrentRequests: hello.maxConcurrentRequests ?? 64,
      },
      metadata: hello.metadata ?? [],
    },
  });
  const session = await within(accepting, 2000, "accept()");
  const helloYourself = await peer.expect("helloYourself");
  return { peer, session, helloYourself };
}

/**
 * A library initiator (`initiate`) whose peer is a raw acceptor: the raw
 * peer reads `Hello` and answers `HelloYourself`, on `links` (the library
 * takes the first end, the raw peer the second).
 */
export async function rawAcceptor(
  options: InitiatorOptions = {},
  hello: RawHello = {},
  [a, b]: [Link, Link] = memoryLink(),
): Promise<{ peer: RawPeer; session: Session; hello: Received<"hello"> }> {
  const peer = new RawPeer(b);
  const initiating = initiate(a, options);
  const first = await peer.expect("hello");
  void peer.send({
    connectionId: 0,
    payload: {
      type: "helloYourself",
      settings: {
        parity: hello.parity ?? (first.payload.settings.parity === "odd" ? "even" : "odd"),
        maxConcurrentRequests: hello.maxConcurrentRequests ?? 64,
      },
      metadata: hello.metadata ?? [],
    },
  });
  const session = await within(initiating, 2000, "initiate()");
  return { peer, session, hello: first };
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

/** Ends a raw peer and its session, waiting for both (no dangling reads or timers). */
export async function endRaw(peer: RawPeer, session: Session): Promise<void> {
  await peer.close();
  await within(session.closed, 2000, "the session to close");
}

/** Two library sessions over a memory link: [initiator, acceptor]. */
export async function sessionPair(
  initiatorOptions: InitiatorOptions = {},
  acceptorOptions: SessionOptions = {},
): Promise<[Session, Session]> {
  const [a, b] = memoryLink();
  const [client, server] = await within(
    Promise.all([initiate(a, initiatorOptions), accept(b, acceptorOptions)]),
    2000,
    "the handshake",
  );
  return [client, server];
}

/** Closes sessions and waits until each has ended. */
export async function closeAll(...sessions: Session[]): Promise<void> {
  for (const s of sessions) await within(s.close(), 5000, "session.close()");
  for (const s of sessions) await within(s.closed, 2000, "session.closed");
}

// ------------------------------------------------------------------ services

/** `Echo.echo(string) -> string`. */
export const Echo = service("Echo", { echo: { args: [t.string], returns: t.string } });

/** `Greeter.greet(string) -> string`. */
export const Greeter = service("Greeter", { greet: { args: [t.string], returns: t.string } });

/** `Hold.hold() -> ()`: a call that runs until released or aborted. */
export const Hold = service("Hold", { hold: { args: [], returns: t.unit } });

/** An `Echo` implementation. */
export const echoImpl = implement(Echo, { echo: (s) => s });

/** A `Greeter` implementation that says who greets. */
export function greeterImpl(who: string): ServiceImpl {
  return implement(Greeter, { greet: (name) => `${who} greets ${name}` });
}

/**
 * A `Hold` implementation that records its calls: each call runs until
 * `release()` or until its `ctx.signal` aborts (then it rejects with the
 * signal's reason).
 */
export function holdImpl(): {
  impl: ServiceImpl;
  started: number;
  aborted: unknown[];
  whenStarted(n?: number): Promise<void>;
  release(): void;
} {
  const waiters: (() => void)[] = [];
  const state = {
    started: 0,
    aborted: [] as unknown[],
    impl: implement(Hold, {
      hold: (ctx) =>
        new Promise<undefined>((resolve, reject) => {
          state.started++;
          ctx.signal.addEventListener("abort", () => {
            state.aborted.push(ctx.signal.reason);
            reject(ctx.signal.reason);
          }, { once: true });
          waiters.push(() => resolve(undefined));
        }),
    }),
    whenStarted: (n = 1) => until(() => state.started >= n, `${n} Hold.hold call(s) to start`),
    release: () => {
      for (const w of waiters.splice(0)) w();
    },
  };
  return state;
}

/** The payload bytes of `Echo.echo(s)`'s args. */
export function echoArgs(s: string): Uint8Array {
  return encode(t.string, s).slice();
}

/** A `Call` message, ready for a raw peer to send. */
export function callMessage(
  connectionId: number,
  requestId: number,
  methodId: bigint,
  args: Uint8Array = new Uint8Array(0),
): Message {
  return {
    connectionId,
    payload: {
      type: "request",
      id: requestId,
      body: { type: "call", methodId, channels: [], metadata: [], args },
    },
  };
}

/** A `Response` message carrying `Ok(value bytes)`. */
export function okResponse(connectionId: number, requestId: number, value: Uint8Array): Message {
  const ret = new Uint8Array(value.length + 1);
  ret.set(value, 1);
  return {
    connectionId,
    payload: {
      type: "request",
      id: requestId,
      body: { type: "response", channels: [], metadata: [], ret },
    },
  };
}
