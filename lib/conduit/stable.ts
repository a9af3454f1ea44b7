/**
 * The stable conduit (wire-spec §5): a session that outlives its links.
 * Every link starts with the 25-byte `ROCH` / `ROSH` handshake; every
 * message then travels in a frame `varint(seq) ++ Option<ack> ++ Message`
 * whose complete bytes stay in a replay buffer until the peer acknowledges
 * them. When a link drops, the client makes a new one (by its retry
 * policy) and resumes with its resume key and the last sequence number it
 * received; both sides re-send, unchanged, the frames the other has not
 * received, and skip the frames they receive twice. So every message is
 * delivered exactly once and in order across link drops.
 *
 * Memory: `buffered` counts the replay buffer, so the session's senders
 * wait while it holds more than `limits.sendHighWaterMark` bytes; a sender
 * whose peer has nothing to send asks for an ack with a ping of its own.
 *
 * @module
 */

import { copyRange } from "../_util/bytes.ts";
import { type ResolvedRetry, RETRY_DEFAULTS, retryDelay, sleep } from "../_util/retry.ts";
import { FramingError, isProtocolViolation } from "../link/framing/errors.ts";
import type { Link, PayloadRead } from "../link/link.ts";
import { Reader } from "../postcard/_reader.ts";
import type { Writer } from "../postcard/_writer.ts";
import { ClosedError, HandshakeError } from "../wire/errors.ts";
import { StableHello } from "../wire/tags.ts";
import type { Conduit, MessageSink } from "./conduit.ts";
import { LinkPort } from "./link_port.ts";
import { ReplayBuffer } from "./replay.ts";
import {
  ACK_PING,
  decodeHello,
  encodeClientHello,
  encodeServerHello,
  type FrameHeader,
  frameHeaderSize,
  GOODBYE_PING,
  isAckPong,
  isGoodbye,
  type LinkHello,
  readFrameHeader,
  SPECIAL_SIZE,
  writeFrameHeader,
} from "./stable_wire.ts";

/** Messages up to this size are copied byte by byte, larger ones with `set` (see `#sendMessage`). */
const SMALL_BODY = 128;
/** Least time between two ack-asking pings, in milliseconds. */
const ACK_PING_INTERVAL_MS = 20;
/** How long a link that is being replaced or refused may take to close. */
const LINK_CLOSE_MS = 1000;

/** How a stable client retries a resume by default: at once, then 100 ms doubling to 2 s, for 30 s. */
export const STABLE_RETRY: ResolvedRetry = Object.freeze({
  ...RETRY_DEFAULTS,
  maxDelay: 2000,
  maxElapsed: 30_000,
});

/**
 * Makes a new link to the server (for a stable session's resume, or a
 * reconnecting client's next session); aborting `signal` gives up on it.
 */
export type LinkFactory = (signal: AbortSignal) => Link | Promise<Link>;

/** What the client side of a stable conduit needs to resume. */
export interface StableClientSetup {
  /** Makes a new link; without it, a dropped link ends the session. */
  readonly relink: LinkFactory | undefined;
  /** How to retry making a link and resuming. */
  readonly retry: ResolvedRetry;
  /** How long one link handshake (and one `relink`) may take. */
  readonly handshakeTimeout: number;
}

/** What the server side of a stable conduit reports to its resume registry. */
export interface StableHome {
  /** The link dropped: the session waits for a resume. */
  detached(conduit: StableConduit): void;
  /** A link was attached (at first, or by a resume). */
  attached(conduit: StableConduit): void;
  /** The replay buffer of a detached session grew by `bytes`. */
  grew(conduit: StableConduit, bytes: number): void;
  /** The conduit ended: forget it. */
  removed(conduit: StableConduit): void;
  /** The first frame arrived on a newly attached link: the client has the newest key. */
  confirmed(conduit: StableConduit): void;
}

/** A short description of an error, for messages. */
function describe(e: unknown): string {
  if (e === undefined) return "the link ended";
  return e instanceof Error ? e.message : String(e);
}

/** Closes a port gracefully, or drops it when that takes too long. */
export function closeSoon(port: LinkPort): void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  void Promise.race([
    port.close().then(() => true),
    new Promise<boolean>((r) => (timer = setTimeout(() => r(false), LINK_CLOSE_MS))),
  ]).then((closed) => {
    clearTimeout(timer);
    if (!closed) port.abort(new Error("The link did not close in time"));
  });
}

/** The read result at the end of the stream. */
const DONE: PayloadRead = Object.freeze({ done: true as const });

/** A waiter of `whenBelow`. */
interface LowWaiter {
  readonly limit: number;
  readonly f: () => void;
}

/** Why the conduit stopped delivering: nothing yet, a clean end, or an error. */
type Ending = { readonly error: unknown } | undefined;

/** A conduit that resumes over fresh links, losing and repeating no message. */
export class StableConduit implements Conduit {
  readonly gathers = false;
  /** Called once when sending fails for good (unused: the stable conduit resumes instead). */
  onSendError: ((error: unknown) => void) | undefined = undefined;
  /** Which end of the link handshake this is. */
  readonly role: "client" | "server";
  readonly #client: StableClientSetup | undefined;
  readonly #home: StableHome | undefined;
  /** The newest resume key. */
  #key: Uint8Array | undefined;
  #nextSeq = 0;
  /** The last sequence number received, -1 before the first. */
  #lastReceived = -1;
  readonly #replay = new ReplayBuffer();
  readonly #header: FrameHeader = { seq: 0, ack: -1, pos: 0 };
  readonly #reader = new Reader(new Uint8Array(0));
  /** The link frames flow on, when attached. */
  #port: LinkPort | undefined;
  #state: "open" | "closing" | "closed" = "open";
  #ending: Ending | null = null;
  #peerSaidGoodbye = false;
  /** True from a server's link handshake until the first frame on that link. */
  #unconfirmed = false;
  /** The session's sink, once it listens. */
  #sink: MessageSink | undefined;
  #stopped = false;
  /** Messages received before `listen` (the handshake reads them with `recv`). */
  readonly #inbox: Uint8Array[] = [];
  #recvWaiters: {
    resolve(r: PayloadRead): void;
    reject(e: unknown): void;
  }[] = [];
  #paused = false;
  #waiters: LowWaiter[] = [];
  #watchedPort: LinkPort | undefined;
  #ackPingOut = false;
  #lastAckPing = Number.NEGATIVE_INFINITY;
  #ackTimer: ReturnType<typeof setTimeout> | undefined;
  #resuming: AbortController | undefined;
  #closing: Promise<void> | undefined;
  /** The largest replay buffer seen, in bytes (for tests and diagnostics). */
  peakReplayBytes = 0;
  /** Bytes re-sent when the last link was attached (for benchmarks and diagnostics). */
  lastReplayBytes = 0;
  #attachments = 0;

  private constructor(
    role: "client" | "server",
    client: StableClientSetup | undefined,
    home: StableHome | undefined,
  ) {
    this.role = role;
    this.#client = client;
    this.#home = home;
  }

  /**
   * Starts the client side on `link`: sends a ClientHello without key and
   * waits for the ServerHello.
   *
   * @param link The first link.
   * @param setup How to resume later.
   * @param signal Aborts the handshake.
   * @returns The conduit, attached.
   * @throws {HandshakeError} When the server's hello is missing, late or malformed.
   */
  static async connect(
    link: Link,
    setup: StableClientSetup,
    signal: AbortSignal | undefined,
  ): Promise<StableConduit> {
    const conduit = new StableConduit("client", setup, undefined);
    const accepted = await conduit.#handshake(link, setup.handshakeTimeout, signal);
    if (!accepted) {
      conduit.#state = "closed";
      throw new HandshakeError("The server rejected a new stable session");
    }
    return conduit;
  }

  /**
   * The server side of a new session, before its first link is attached
   * (see {@linkcode StableConduit.attach}).
   *
   * @param home The resume registry.
   * @returns The conduit.
   */
  static server(home: StableHome): StableConduit {
    return new StableConduit("server", undefined, home);
  }

  /** The bytes held for replay. */
  get replayBytes(): number {
    return this.#replay.bytes;
  }

  /** Links attached after the first: how often the session resumed. */
  get resumes(): number {
    return Math.max(0, this.#attachments - 1);
  }

  /** True while a link is attached. */
  get attachedNow(): boolean {
    return this.#port !== undefined;
  }

  /** True once the conduit stopped for good (closed, aborted, or lost). */
  get ended(): boolean {
    return this.#state !== "open" || this.#ending !== null;
  }

  // ------------------------------------------------------------ sending

  send(w: Writer): void {
    if (this.#state !== "open") return;
    if (w.segmentCount > 0) {
      const all = w.copy();
      this.#sendMessage(all, all.length);
    } else this.#sendMessage(w.buf, w.pos);
  }

  /** Frames `body[0, n)`, keeps the frame for replay, and sends it if a link is attached. */
  #sendMessage(body: Uint8Array, n: number): void {
    const seq = this.#nextSeq;
    this.#nextSeq = (seq + 1) >>> 0;
    const ack = this.#lastReceived;
    const replay = this.#replay;
    const port = this.#port;
    // Built in place in the replay buffer; the link copies it from there.
    const size = frameHeaderSize(seq, ack) + n;
    replay.reserve(size);
    const buf = replay.buf;
    const off = replay.off;
    const at = writeFrameHeader(buf, seq, ack, off);
    if (n <= SMALL_BODY) { for (let i = 0; i < n; i++) buf[at + i] = body[i]!; }
    else buf.set(n === body.length ? body : body.subarray(0, n), at);
    if (port !== undefined) port.sendRange(buf, off, size);
    replay.push(seq, size);
    if (replay.bytes > this.peakReplayBytes) this.peakReplayBytes = replay.bytes;
    if (port === undefined && this.#home !== undefined && this.#ending === null) {
      this.#home.grew(this, size);
    }
  }

  get buffered(): number {
    const link = this.#port?.flow.buffered() ?? 0;
    const replay = this.#replay.bytes;
    return link > replay ? link : replay;
  }

  whenBelow(limit: number, f: () => void): void {
    if (this.#state !== "open" || this.#ending !== null || this.buffered <= limit) {
      f();
      return;
    }
    this.#waiters.push({ limit, f });
    this.#watch();
  }

  /** Arranges to be woken when what blocks the waiters may have drained. */
  #watch(): void {
    if (this.#waiters.length === 0) return;
    let limit = Number.POSITIVE_INFINITY;
    for (const w of this.#waiters) if (w.limit < limit) limit = w.limit;
    const port = this.#port;
    if (port !== undefined && this.#watchedPort !== port && port.flow.buffered() > limit) {
      this.#watchedPort = port;
      port.flow.whenBelow(limit, () => {
        if (this.#watchedPort === port) this.#watchedPort = undefined;
        this.#wake();
      });
    }
    if (this.#replay.bytes > limit) this.#askForAck();
  }

  /** Calls the waiters whose limit is met (all of them once the conduit ended). */
  #wake(): void {
    if (this.#waiters.length === 0) return;
    const done = this.#state !== "open" || this.#ending !== null;
    const buffered = this.buffered;
    const ready: LowWaiter[] = [];
    const rest: LowWaiter[] = [];
    for (const w of this.#waiters) (done || buffered <= w.limit ? ready : rest).push(w);
    this.#waiters = rest;
    for (const w of ready) w.f();
    if (!done) this.#watch();
  }

  /**
   * Asks the peer for an ack: a ping of our own, whose pong (or any frame
   * the peer sends) carries it. One at a time, at most one per
   * {@linkcode ACK_PING_INTERVAL_MS}, so the peer's ping rate limit holds.
   */
  #askForAck(): void {
    if (this.#port === undefined || this.#ackPingOut || this.#ackTimer !== undefined) return;
    const wait = this.#lastAckPing + ACK_PING_INTERVAL_MS - performance.now();
    if (wait > 0) {
      this.#ackTimer = setTimeout(() => {
        this.#ackTimer = undefined;
        this.#watch();
      }, wait);
      return;
    }
    this.#lastAckPing = performance.now();
    this.#ackPingOut = true;
    this.#sendMessage(ACK_PING, ACK_PING.length);
  }

  pause(): void {
    this.#paused = true;
    this.#port?.flow.pause();
  }

  resume(): void {
    this.#paused = false;
    this.#port?.flow.resume();
  }

  // ------------------------------------------------------------ receiving

  recv(): Promise<PayloadRead> {
    const next = this.#inbox.shift();
    if (next !== undefined) return Promise.resolve({ done: false, value: next });
    const ending = this.#ending;
    if (ending !== null) {
      return ending === undefined ? Promise.resolve(DONE) : Promise.reject(ending.error);
    }
    if (this.#state !== "open") return Promise.resolve(DONE);
    return new Promise((resolve, reject) => this.#recvWaiters.push({ resolve, reject }));
  }

  listen(sink: MessageSink): void {
    this.#sink = sink;
    for (const m of this.#inbox.splice(0)) {
      if (this.#stopped) return;
      sink.payload(m);
    }
    const ending = this.#ending;
    if (ending !== null && !this.#stopped) {
      if (ending === undefined) sink.end();
      else sink.error(ending.error);
    }
  }

  stop(): void {
    this.#stopped = true;
    this.#sink = undefined;
  }

  /**
   * One frame from the attached link, `p[start, end)`; `lent` when the
   * link lends it for this call only (the message is then handed on in
   * place to a sink that takes lent messages, else copied).
   */
  #frame(p: Uint8Array, start: number, end: number, lent: boolean): void {
    if (this.#ending !== null || this.#state === "closed") return;
    const h = this.#header;
    try {
      readFrameHeader(p, h, this.#reader, start, end);
    } catch (e) {
      this.#end({
        error: new FramingError(`malformed stable conduit frame: ${(e as Error).message}`),
      });
      return;
    }
    if (this.#unconfirmed) {
      this.#unconfirmed = false;
      this.#home?.confirmed(this);
    }
    if (h.ack >= 0 && this.#replay.trim(h.ack)) this.#wake();
    // A plain comparison, no wrap handling, as the Rust runtime does.
    if (this.#lastReceived >= 0 && h.seq <= this.#lastReceived) return;
    this.#lastReceived = h.seq;
    const at = h.pos;
    if (end - at === SPECIAL_SIZE) {
      if (isAckPong(p, at, end)) {
        this.#ackPingOut = false;
        return;
      }
      if (isGoodbye(p, at, end)) {
        this.#peerSaidGoodbye = true;
        return;
      }
    }
    if (this.#stopped) return;
    const sink = this.#sink;
    if (lent) {
      if (sink !== undefined && sink.lent !== undefined) sink.lent(p, at, end);
      else if (sink !== undefined) sink.payload(copyRange(p, at, end - at));
      else this.#deliver(p.slice(at, end));
    } else if (sink === undefined) this.#deliver(p.subarray(at));
    else if (sink.payloadAt !== undefined) sink.payloadAt(p, at);
    else sink.payload(p.subarray(at));
  }

  /** A message received before the session listens (the handshake reads it with `recv`). */
  #deliver(m: Uint8Array): void {
    const waiter = this.#recvWaiters.shift();
    if (waiter !== undefined) waiter.resolve({ done: false, value: m });
    else this.#inbox.push(m);
  }

  /** Stops delivering for good: a clean end (`undefined`) or an error, told to the session once. */
  #end(ending: Ending): void {
    if (this.#ending !== null) return;
    this.#ending = ending;
    this.#resuming?.abort();
    this.#clearAckTimer();
    this.#home?.removed(this);
    const port = this.#port;
    this.#port = undefined;
    if (port !== undefined) {
      if (ending === undefined) closeSoon(port);
      else port.abort(ending.error);
    }
    const waiters = this.#recvWaiters;
    this.#recvWaiters = [];
    for (const w of waiters) {
      if (ending === undefined) w.resolve(DONE);
      else w.reject(ending.error);
    }
    if (!this.#stopped && this.#sink !== undefined) {
      if (ending === undefined) this.#sink.end();
      else this.#sink.error(ending.error);
    }
    this.#wake();
  }

  /**
   * Ends the session of a detached server conduit: its client did not
   * resume in time, or the registry needed the room.
   *
   * @param message Why.
   */
  expire(message: string): void {
    this.#end({ error: new ClosedError("link-lost", message) });
  }

  // ------------------------------------------------------------ links

  /** The attached link went down: resume (client) or wait for a resume (server). */
  #linkDown(port: LinkPort, error: unknown): void {
    if (this.#port !== port) return;
    this.#port = undefined;
    this.#watchedPort = undefined;
    this.#ackPingOut = false;
    port.abort(error ?? new Error("The link ended"));
    if (this.#state !== "open" || this.#ending !== null) return;
    if (error !== undefined && isProtocolViolation(error)) {
      this.#end({ error }); // e.g. a frame above the size limit: not a drop
      return;
    }
    if (this.#peerSaidGoodbye) {
      this.#end(undefined);
      return;
    }
    if (this.role === "server") this.#home!.detached(this);
    else void this.#resume(error);
  }

  /** Makes `port` the link frames flow on, re-sending what the peer has not received. */
  #attach(port: LinkPort, peerLast: number | undefined): void {
    this.#attachments++;
    this.#port = port;
    this.#watchedPort = undefined;
    this.#ackPingOut = false;
    port.handler = {
      payload: (p) => {
        if (this.#port === port) this.#frame(p, 0, p.length, false);
      },
      lent: (bytes, start, end) => {
        if (this.#port === port) this.#frame(bytes, start, end, true);
      },
      down: (e) => this.#linkDown(port, e),
    };
    // The peer's last received acknowledges everything up to it.
    if (peerLast !== undefined) this.#replay.trim(peerLast);
    this.lastReplayBytes = this.#replay.bytes;
    this.#replay.forEach((buf, off, size) => port.sendRange(buf, off, size));
    if (this.#paused) port.flow.pause();
    this.#home?.attached(this);
    this.#wake();
  }

  /**
   * The client's link handshake on `link`: sends a ClientHello (with the
   * resume key and last received, once there are), reads the
   * ServerHello and attaches the link. Resolves false when the server
   * rejected the resume.
   */
  #handshake(link: Link, timeout: number, signal: AbortSignal | undefined): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      let settled = false;
      // deno-lint-ignore prefer-const -- assigned once the callbacks that clear it exist
      let timer: ReturnType<typeof setTimeout> | undefined;
      const finish = (): boolean => {
        if (settled) return false;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        return true;
      };
      const fail = (error: unknown): void => {
        if (!finish()) return;
        port.abort(error);
        reject(error);
      };
      const onAbort = (): void =>
        fail(new HandshakeError("The link handshake was aborted", { cause: signal!.reason }));
      const port = new LinkPort(link, {
        payload: (p) => {
          if (!finish()) return;
          const hello = decodeHello(p, "server");
          if (typeof hello === "string") {
            port.abort(new Error(hello));
            reject(new HandshakeError(`Cannot start the stable conduit: ${hello}`));
            return;
          }
          if ((hello.flags & StableHello.ServerRejected) !== 0) {
            closeSoon(port);
            resolve(false);
            return;
          }
          if (this.#state !== "open" || this.#ending !== null) {
            port.abort(new Error("The conduit closed during the link handshake"));
            resolve(true);
            return;
          }
          this.#key = hello.key;
          this.#attach(port, hello.lastReceived);
          resolve(true);
        },
        down: (e) =>
          fail(
            new HandshakeError(
              e === undefined
                ? "The server closed the link before its ServerHello"
                : `The link failed before the ServerHello: ${describe(e)}`,
              { cause: e },
            ),
          ),
      });
      timer = setTimeout(
        () => fail(new HandshakeError(`No ServerHello from the server within ${timeout} ms`)),
        timeout,
      );
      if (signal?.aborted) onAbort();
      else signal?.addEventListener("abort", onAbort, { once: true });
      port.start();
      if (settled) return; // the link was already down
      const last = this.#lastReceived >= 0 ? this.#lastReceived : undefined;
      port.sendOwned(encodeClientHello(this.#key, this.#key === undefined ? undefined : last));
    });
  }

  /** The client's resume loop after a drop: new links by the retry policy until one resumes. */
  async #resume(first: unknown): Promise<void> {
    const setup = this.#client!;
    const relink = setup.relink;
    if (relink === undefined) {
      this.#end({
        error: new ClosedError(
          "link-lost",
          `The link failed (${describe(first)}) and the session has no way to make a new one`,
          { cause: first },
        ),
      });
      return;
    }
    const stop = new AbortController();
    this.#resuming = stop;
    const policy = setup.retry;
    const started = performance.now();
    let lastError = first;
    for (let attempt = 1;; attempt++) {
      if (attempt > 1) {
        if (attempt > policy.maxAttempts) break;
        const wait = retryDelay(policy, attempt - 1, Math.random());
        if (performance.now() - started + wait > policy.maxElapsed) break;
        if (!(await sleep(wait, stop.signal))) return;
      }
      if (stop.signal.aborted) return;
      let link: Link;
      try {
        link = await obtain(relink, setup.handshakeTimeout, stop.signal);
      } catch (e) {
        if (stop.signal.aborted) return;
        lastError = e;
        continue;
      }
      try {
        const accepted = await this.#handshake(link, setup.handshakeTimeout, stop.signal);
        if (stop.signal.aborted) return;
        this.#resuming = undefined;
        if (!accepted) {
          this.#end({
            error: new ClosedError(
              "session-lost",
              "The server rejected the resume: it no longer knows this session (it restarted, or the session expired)",
            ),
          });
        }
        return;
      } catch (e) {
        if (stop.signal.aborted) return;
        lastError = e;
      }
    }
    this.#resuming = undefined;
    this.#end({
      error: new ClosedError(
        "link-lost",
        `The link failed and could not be resumed: ${describe(lastError)}`,
        { cause: lastError },
      ),
    });
  }

  /**
   * The server side: attaches the link of an admitted ClientHello (a new
   * session, or a resume that replaces the link in use, if any), answers
   * with a ServerHello carrying `key`, and re-sends what the client has
   * not received.
   *
   * @param port The new link.
   * @param hello The client's hello.
   * @param key The new resume key.
   */
  attach(port: LinkPort, hello: LinkHello, key: Uint8Array): void {
    const old = this.#port;
    if (old !== undefined) {
      this.#port = undefined;
      old.abort(new Error("A resumed link replaced this one"));
    }
    this.#key = key;
    this.#unconfirmed = true;
    const last = this.#lastReceived >= 0 ? this.#lastReceived : undefined;
    port.sendOwned(encodeServerHello(key, last, false));
    this.#attach(port, hello.lastReceived);
  }

  // ------------------------------------------------------------ ending

  #clearAckTimer(): void {
    clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
  }

  /**
   * Ends the session gracefully: a goodbye ping tells the peer not to
   * resume, then the link is flushed and closed.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    if (this.#state === "closed") return Promise.resolve();
    this.#state = "closing";
    this.#resuming?.abort();
    this.#clearAckTimer();
    const port = this.#port;
    if (port !== undefined && this.#ending === null) {
      this.#sendMessage(GOODBYE_PING, GOODBYE_PING.length);
    }
    this.#port = undefined;
    this.#home?.removed(this);
    this.#closing = (async () => {
      if (port !== undefined) await port.close();
      this.#state = "closed";
      this.#replay.clear();
      this.#wake();
    })();
    return this.#closing;
  }

  abort(reason: unknown): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#resuming?.abort();
    this.#clearAckTimer();
    this.#home?.removed(this);
    const port = this.#port;
    this.#port = undefined;
    port?.abort(reason);
    this.#replay.clear();
    this.#wake();
  }
}

/** Calls `relink`, giving up after `timeout` ms or when `signal` aborts (a late link is dropped). */
async function obtain(relink: LinkFactory, timeout: number, signal: AbortSignal): Promise<Link> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let late = false;
  const made = Promise.resolve().then(() => relink(signal));
  const drop = (link: Link): void => {
    link.writable.abort(new Error("Too late")).catch(() => {});
    link.readable.cancel().catch(() => {});
  };
  made.then((l) => late && drop(l), () => {});
  signal.throwIfAborted();
  try {
    return await Promise.race([
      made,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`No new link within ${timeout} ms`)),
          timeout,
        );
        signal.addEventListener("abort", () => reject(signal.reason), { once: true });
      }),
    ]);
  } catch (e) {
    late = true;
    throw e;
  } finally {
    clearTimeout(timer);
  }
}
