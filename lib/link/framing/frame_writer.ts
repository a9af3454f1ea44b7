/**
 * The writing half of length-prefixed framing: {@linkcode FrameWriter}
 * queues frames for a raw socket, coalesces small ones written while the
 * socket is busy into one write, and writes large ones without copying
 * them, never as a few bytes on their own.
 *
 * @module
 */

import type { RawSocket } from "./socket.ts";
import { framedView, joinParts, recycle } from "../../_util/bytes.ts";

/** Frames up to this size are copied into a shared batch; larger ones are written as they are. */
const COALESCE_LIMIT = 64 * 1024;
/** Parts at least this large are written by `writeParts` as they are, not copied into a batch. */
const DIRECT_PART = 16 * 1024;
/**
 * `writeParts` fills its first write up to this size with the start of the
 * first large part (or takes all of a part that fits in twice this), so no
 * write is just a few header or trailing bytes.
 */
const TOP_UP = 64 * 1024;
/**
 * A large payload without room for its header in front is copied into one
 * buffer with it up to this size (cheaper than a second socket write and a
 * 4-byte TCP segment); a larger one is written as two pieces, the header
 * with the payload's first bytes (copied) and then the rest of the payload.
 */
const JOIN_LIMIT = 256 * 1024;
/** Bytes queued in one turn of microtasks past which they are written without waiting for its end. */
const TURN_BYTES = 64 * 1024;
/** Hops (microtasks) one turn may wait for its end before its frames are written. */
const TURN_HOPS = 256;
/** Bytes waiting to be written before writers are asked to wait. */
const WRITE_HIGH_WATER = 1024 * 1024;

/** Writes the u32 little-endian frame header `n` at `buf[at, at + 4)`. */
function putLength(buf: Uint8Array, at: number, n: number): void {
  buf[at] = n & 0xff;
  buf[at + 1] = (n >>> 8) & 0xff;
  buf[at + 2] = (n >>> 16) & 0xff;
  buf[at + 3] = n >>> 24;
}

/** Writes frames to a raw socket, coalescing frames queued while it is busy. */
export class FrameWriter {
  readonly #socket: RawSocket;
  #batch: Uint8Array = new Uint8Array(4096);
  #batchFill = 0;
  /** Batch buffers handed to the socket since the last flush began. */
  #owned: Uint8Array[] = [];
  /** Batch buffers the socket is done with, ready for reuse. */
  #spare: Uint8Array[] = [];
  /** Large payloads queued (with their headers) behind the batch. */
  #pieces: Uint8Array[] = [];
  /** Large payloads among the pieces, given back to the writer pool once written. */
  #large: Uint8Array[] = [];
  #queued = 0;
  /** Bytes handed to the socket whose write has not completed yet. */
  #inflight = 0;
  /** One-shot callbacks waiting for the buffered bytes to fall to a limit. */
  #low: { readonly limit: number; readonly f: () => void }[] = [];
  #busy: Promise<void> | undefined;
  /** True from the first frame of a turn of microtasks to its end (see `#flushSoon`). */
  #scheduled = false;
  /** Frames queued so far (a count that only grows), and its value at the last hop. */
  #frames = 0;
  #seen = 0;
  /** Hops taken since the first frame of this turn. */
  #hops = 0;
  #failure: unknown;
  #drained: (() => void)[] = [];
  /** Called once when writing fails. */
  onError: ((e: unknown) => void) | undefined = undefined;

  /**
   * Creates a writer.
   *
   * @param socket The socket.
   */
  constructor(socket: RawSocket) {
    this.#socket = socket;
  }

  /** Bytes accepted and not yet written by the socket: queued here, or handed to it and pending. */
  get buffered(): number {
    return this.#queued + this.#inflight;
  }

  /**
   * Calls `f` once, as soon as at most `limit` bytes are buffered (at once
   * if that is already so), or when writing fails.
   */
  whenBelow(limit: number, f: () => void): void {
    if (this.#failure !== undefined || this.buffered <= limit) f();
    else this.#low.push({ limit, f });
  }

  /** Runs the `whenBelow` callbacks whose limit is reached. */
  #progress(): void {
    const low = this.#low;
    if (low.length === 0) return;
    const buffered = this.#failure !== undefined ? 0 : this.buffered;
    const ready = low.filter((w) => buffered <= w.limit);
    if (ready.length === 0) return;
    this.#low = low.filter((w) => buffered > w.limit);
    for (const w of ready) w.f();
  }

  /** Queues one payload. Resolves when the caller may write more. */
  write(payload: Uint8Array): void | Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    const n = payload.length;
    if (n <= COALESCE_LIMIT) {
      this.#append(n, payload);
    } else {
      this.#cut();
      this.#pushLarge(payload, n);
    }
    this.#queued += 4 + n;
    this.#frames++;
    if (this.#busy === undefined) this.#flushSoon();
    if (this.#queued > WRITE_HIGH_WATER) return new Promise((r) => this.#drained.push(r));
  }

  /**
   * Queues the frame of a payload too large for the batch as one piece:
   * in the payload's own buffer when it has room for the header in front
   * (a hand-off from an encoder), else joined with its header in a copy,
   * or, when very large, as the header with the payload's first bytes
   * (copied) followed by the rest of the payload.
   */
  #pushLarge(payload: Uint8Array, n: number): void {
    const framed = framedView(payload);
    if (framed !== undefined) {
      putLength(framed, 0, n);
      this.#pieces.push(framed);
      this.#large.push(payload);
      return;
    }
    if (n <= JOIN_LIMIT) {
      const joined = new Uint8Array(4 + n);
      putLength(joined, 0, n);
      joined.set(payload, 4);
      this.#pieces.push(joined);
      return;
    }
    // Never the 4 header bytes alone (see TOP_UP): the start of the payload goes with them.
    const head = new Uint8Array(TOP_UP);
    putLength(head, 0, n);
    head.set(payload.subarray(0, TOP_UP - 4), 4);
    this.#pieces.push(head, payload.subarray(TOP_UP - 4));
    this.#large.push(payload);
  }

  /** Queues `bytes[start, start + n)`, copied before returning. */
  writeCopy(bytes: Uint8Array, n: number, start = 0): void | Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    if (n > COALESCE_LIMIT) {
      this.#cut();
      const framed = new Uint8Array(4 + n);
      putLength(framed, 0, n);
      framed.set(start === 0 && n === bytes.length ? bytes : bytes.subarray(start, start + n), 4);
      this.#pieces.push(framed);
    } else this.#append(n, bytes, start);
    this.#queued += 4 + n;
    this.#frames++;
    if (this.#busy === undefined) this.#flushSoon();
    if (this.#queued > WRITE_HIGH_WATER) return new Promise((r) => this.#drained.push(r));
  }

  /**
   * Queues one payload given as `parts` in order (`total` bytes in all).
   * The parts are borrowed: they may change as soon as this returns. When
   * the socket writes synchronously and nothing is queued, large parts go
   * to it as they are and only what it did not take is copied; otherwise
   * the parts are joined into one buffer.
   */
  writeParts(parts: readonly Uint8Array[], total: number): void | Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    const socket = this.#socket;
    // Frames written earlier this turn go first: flush them now, while the parts can still go
    // straight to an idle socket.
    if (this.#scheduled && this.#busy === undefined) this.#flushTurn();
    if (
      socket.writeNow === undefined || this.#busy !== undefined || this.#batchFill > 0 ||
      this.#pieces.length > 0
    ) {
      return this.write(joinParts(parts, total));
    }
    // The frame header and small parts are gathered in the (idle) batch buffer.
    let b = this.#batch;
    putLength(b, 0, total);
    let fill = 4;
    try {
      for (let i = 0; i < parts.length; i++) {
        const part = parts[i]!;
        if (part.length < DIRECT_PART) {
          if (fill + part.length > b.length) {
            const grown = new Uint8Array(Math.max(2 * b.length, fill + part.length));
            grown.set(b.subarray(0, fill));
            b = this.#batch = grown;
          }
          b.set(part, fill);
          fill += part.length;
          continue;
        }
        let from = 0;
        if (fill > 0) {
          // A few bytes written alone before or after a large part slow the
          // transfer down badly (on Bun a 20-byte write before a 1 MiB one
          // cost more than half the rate of a raw echo), so the batch takes
          // all of a part that fits in two top-ups, or the start of a larger
          // one, whose rest then goes out from the caller's array.
          const take = fill + part.length <= 2 * TOP_UP ? part.length : Math.max(0, TOP_UP - fill);
          if (take > 0) {
            if (fill + take > b.length) {
              const grown = new Uint8Array(Math.max(2 * b.length, fill + take));
              grown.set(b.subarray(0, fill));
              b = this.#batch = grown;
            }
            b.set(take === part.length ? part : part.subarray(0, take), fill);
            fill += take;
            from = take;
          }
          if (from === part.length) continue; // all of it is in the batch: keep gathering
          const n = socket.writeNow(b, 0, fill);
          if (n < fill) {
            return this.#spill([b.subarray(n, fill), part.subarray(from)], parts, i + 1);
          }
          fill = 0;
        }
        const n = socket.writeNow(part, from, part.length - from);
        if (n < part.length - from) return this.#spill([part.subarray(from + n)], parts, i + 1);
      }
      if (fill > 0) {
        const n = socket.writeNow(b, 0, fill);
        if (n < fill) return this.#spill([b.subarray(n, fill)], parts, parts.length);
      }
    } catch (e) {
      this.#fail(e);
    }
  }

  /** Copies what the socket did not take (`first`, then `parts[from...]`) and queues it. */
  #spill(
    first: readonly Uint8Array[],
    parts: readonly Uint8Array[],
    from: number,
  ): void | Promise<void> {
    const rest = [...first, ...parts.slice(from)];
    let size = 0;
    for (const part of rest) size += part.length;
    const copy = joinParts(rest, size);
    this.#pieces.push(copy);
    this.#large.push(copy);
    this.#queued += size;
    this.#flush();
    if (this.#queued > WRITE_HIGH_WATER) return new Promise((r) => this.#drained.push(r));
  }

  /** Appends the frame of `payload[start, start + n)` to the batch. */
  #append(n: number, payload: Uint8Array, start = 0): void {
    if (this.#batchFill + 4 + n > this.#batch.length) {
      this.#cut();
      if (4 + n > this.#batch.length) this.#batch = new Uint8Array(Math.max(4 + n, 4096));
    }
    const b = this.#batch;
    let p = this.#batchFill;
    putLength(b, p, n);
    p += 4;
    if (n < 32) { for (let i = 0; i < n; i++) b[p + i] = payload[start + i]!; }
    else {b.set(
        start === 0 && n === payload.length ? payload : payload.subarray(start, start + n),
        p,
      );}
    this.#batchFill = p + n;
  }

  /** Moves the batch into the piece list (the batch buffer is handed over). */
  #cut(): void {
    if (this.#batchFill === 0) return;
    this.#pieces.push(this.#batch.subarray(0, this.#batchFill));
    this.#owned.push(this.#batch);
    this.#batch = this.#spare.pop() ?? new Uint8Array(4096);
    this.#batchFill = 0;
  }

  /**
   * Flushes an idle socket once the frames of a turn of microtasks are all
   * queued: pipelined calls, a burst of items, the responses to a read's
   * worth of calls go out in one socket write (a runtime whose writes are
   * synchronous, Bun, would otherwise make one system call per frame).
   * The end of the turn is seen by hopping from microtask to microtask
   * until a hop finds no new frame: a sender that awaits between frames
   * (`await tx.send(x)` in a loop) queues its next frame behind the first
   * hop, not before it. A turn that keeps writing is flushed every
   * `TURN_BYTES` bytes or `TURN_HOPS` hops.
   */
  #flushSoon(): void {
    // A large frame, or a large turn: what is queued goes out now (the rest at the turn's end).
    if (this.#queued >= TURN_BYTES) this.#flush();
    if (this.#scheduled) return;
    this.#scheduled = true;
    this.#seen = this.#frames - 1;
    this.#hops = 0;
    queueMicrotask(this.#hop);
  }

  /** One hop of a turn: flushes when no frame came since the last one. */
  readonly #hop = (): void => {
    if (!this.#scheduled) return;
    const frames = this.#frames;
    if (frames !== this.#seen && ++this.#hops < TURN_HOPS) {
      this.#seen = frames;
      queueMicrotask(this.#hop);
      return;
    }
    this.#flushTurn();
  };

  /** The end of a turn: what was written since its first frame goes out. */
  readonly #flushTurn = (): void => {
    if (!this.#scheduled) return;
    this.#scheduled = false;
    if (this.#busy === undefined && this.#failure === undefined) this.#flushIfQueued();
  };

  /** Takes back batch buffers the socket has finished writing. */
  #recycle(buffers: Uint8Array[], large: Uint8Array[]): void {
    if (!this.#socket.reusesChunks) return;
    for (const b of buffers) if (this.#spare.length < 4) this.#spare.push(b);
    for (const p of large) recycle(p);
  }

  #flush(): void {
    const socket = this.#socket;
    if (this.#pieces.length === 0 && this.#batchFill > 0 && socket.writeRange !== undefined) {
      this.#flushBatch(socket.writeRange.bind(socket));
      return;
    }
    this.#cut();
    const pieces = this.#pieces;
    if (pieces.length === 0) {
      this.#busy = undefined;
      this.#queued = 0;
      const waiters = this.#drained;
      this.#drained = [];
      for (const w of waiters) w();
      this.#progress();
      return;
    }
    this.#pieces = [];
    const owned = this.#owned;
    this.#owned = [];
    const large = this.#large;
    this.#large = [];
    let pending: Promise<void> | undefined;
    let handed = 0;
    for (const piece of pieces) {
      this.#queued -= piece.length;
      handed += piece.length;
      try {
        const r = this.#socket.write(piece);
        if (r !== undefined) pending = r;
      } catch (e) {
        this.#fail(e);
        return;
      }
    }
    if (pending === undefined) {
      // The socket took everything at once: flush what arrived meanwhile on the next write.
      this.#recycle(owned, large);
      this.#busy = undefined;
      this.#flushIfQueued();
      return;
    }
    this.#inflight = handed;
    this.#busy = pending.then(() => {
      this.#inflight = 0;
      this.#recycle(owned, large);
      this.#flush();
    }, (e) => this.#fail(e));
    this.#progress();
  }

  /**
   * Writes the batch in place when nothing else is queued (no view of it,
   * and the same buffer takes the next frames if the socket took it all).
   */
  #flushBatch(writeRange: (buf: Uint8Array, length: number) => void | Promise<void>): void {
    const batch = this.#batch;
    const n = this.#batchFill;
    this.#queued -= n;
    let r: void | Promise<void>;
    try {
      r = writeRange(batch, n);
    } catch (e) {
      this.#fail(e);
      return;
    }
    this.#batchFill = 0;
    if (r === undefined) {
      this.#busy = undefined;
      this.#flushIfQueued();
      return;
    }
    // The socket still holds part of the batch: later frames go into another buffer.
    this.#batch = this.#spare.pop() ?? new Uint8Array(4096);
    this.#inflight = n;
    this.#busy = r.then(() => {
      this.#inflight = 0;
      this.#recycle([batch], []);
      this.#flush();
    }, (e) => this.#fail(e));
    this.#progress();
  }

  #flushIfQueued(): void {
    if (this.#batchFill > 0 || this.#pieces.length > 0) this.#flush();
    else {
      this.#queued = 0;
      const waiters = this.#drained;
      this.#drained = [];
      for (const w of waiters) w();
      this.#progress();
    }
  }

  #fail(e: unknown): void {
    if (this.#failure === undefined) this.onError?.(e);
    this.#failure = e;
    this.#busy = undefined;
    this.#inflight = 0;
    const waiters = this.#drained;
    this.#drained = [];
    for (const w of waiters) w();
    this.#progress();
  }

  /** Resolves when everything queued has been handed to the socket. */
  async drain(): Promise<void> {
    if (this.#scheduled) this.#flushTurn();
    while (this.#busy !== undefined) await this.#busy;
    if (this.#failure !== undefined) throw this.#failure;
  }
}
