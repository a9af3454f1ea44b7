/**
 * Length-prefixed framing for byte-stream transports (TCP, Unix sockets,
 * stdio): each payload travels as `[length: u32 little-endian][payload]`
 * (wire-spec §3.1). Small frames written while the socket is busy are
 * coalesced into one write.
 *
 * @module
 */

import { Queue } from "./_queue.ts";
import {
  directReceive,
  directSend,
  directSendCopy,
  directSendParts,
  type Link,
  type PayloadSink,
} from "./link.ts";
import { allocFilledLater, copyRange, framedView, joinParts, recycle } from "./postcard/_writer.ts";

/** Default largest frame accepted: 16 MiB. */
export const DEFAULT_MAX_FRAME_SIZE = 16 * 1024 * 1024;

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
 * 4-byte TCP segment); a larger one is written as two pieces.
 */
const JOIN_LIMIT = 256 * 1024;
/** Bytes waiting to be written before writers are asked to wait. */
const WRITE_HIGH_WATER = 1024 * 1024;

/**
 * The link's peer broke the framing rules (a frame above the limit). The
 * session answers with a `ProtocolError` before closing.
 */
export class FramingError extends Error {
  /** Always true: the session treats this as a protocol violation. */
  readonly protocolViolation = true;

  /**
   * Creates the error.
   *
   * @param message What was wrong.
   */
  constructor(message: string) {
    super(message);
    this.name = "FramingError";
  }
}

/** True when a link failed because the peer broke the framing rules (see {@linkcode FramingError}). */
export function isProtocolViolation(e: unknown): e is Error {
  return (e as { protocolViolation?: unknown } | null)?.protocolViolation === true;
}

/**
 * Read backpressure for a pull loop: `pause()` until `resume()`. A loop
 * does `while (gate.paused && !stopped) await gate.wait();`, and whoever
 * stops it calls `release()` so the loop can see the stop.
 */
export class PauseGate {
  /** True between `pause()` and `resume()`. */
  paused = false;
  #wake: (() => void) | undefined;

  /** Makes the loop wait before its next read. */
  pause(): void {
    this.paused = true;
  }

  /** Lets the loop read again. */
  resume(): void {
    this.paused = false;
    this.release();
  }

  /** Wakes a waiting loop (to resume, or to notice that it should stop). */
  release(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Resolves at the next `resume()` or `release()`. */
  wait(): Promise<void> {
    return new Promise((r) => (this.#wake = r));
  }
}

/** Where a raw socket delivers what it reads. */
export interface SocketSink {
  /** Received bytes, valid only during the call (the socket may reuse the buffer). */
  data(chunk: Uint8Array): void;
  /** The peer ended its side. */
  end(): void;
  /** Reading failed. */
  error(e: unknown): void;
  /**
   * Optional: where the next bytes should go when a large payload is being
   * received, so a socket that reads into buffers can read straight into it
   * (no copy). After reading into it, the socket calls `filled(n)` instead
   * of `data`.
   */
  target?(): Uint8Array | undefined;
  /** Optional: `n` bytes were read into the last `target()`. */
  filled?(n: number): void;
}

/**
 * The few operations framing needs from a byte socket. Transports adapt
 * their runtime's socket to this.
 */
export interface RawSocket {
  /** Starts reading; called once. */
  start(sink: SocketSink): void;
  /** Stops delivering data until `resume` (read backpressure). */
  pause(): void;
  /** Resumes delivering data. */
  resume(): void;
  /**
   * Writes all of `chunk`, in order after earlier writes. Returns a
   * promise when the caller should wait before writing more.
   */
  write(chunk: Uint8Array): void | Promise<void>;
  /**
   * Writes `buf[0, length)` like `write`, without a view having to be made
   * first. Optional; offered by sockets that copy what they write at once.
   */
  writeRange?(buf: Uint8Array, length: number): void | Promise<void>;
  /**
   * Writes as much of `buf[start, start + length)` as the system takes at
   * once and returns how many bytes that was, keeping no reference to
   * `buf`. Returns 0 while earlier writes are still queued. Optional;
   * offered by sockets with a synchronous write.
   */
  writeNow?(buf: Uint8Array, start: number, length: number): number;
  /** Ends the writing side after everything written so far (half close). */
  closeWrite(): void | Promise<void>;
  /** Closes the socket in both directions at once. */
  close(): void;
  /**
   * True when a chunk may be reused as soon as `write` returned nothing or
   * its promise resolved (the socket keeps no reference to it). Lets the
   * frame writer recycle its batch buffers.
   */
  readonly reusesChunks?: boolean;
}

/** Options for framed links. */
export interface FramingOptions {
  /** Largest payload accepted from the peer, in bytes (default 16 MiB). */
  readonly maxFrameSize?: number;
}

/** A hint for a length prefix that is really text (a peer printing to a stdio link). */
function textHint(length: number): string {
  const bytes = [length & 0xff, (length >>> 8) & 0xff, (length >>> 16) & 0xff, length >>> 24];
  if (!bytes.every((b) => b >= 0x20 && b < 0x7f)) return "";
  return ` (the stream starts with ${
    JSON.stringify(String.fromCharCode(...bytes))
  }: is the peer writing text?)`;
}

/** Writes the u32 little-endian frame header `n` at `buf[at, at + 4)`. */
function putLength(buf: Uint8Array, at: number, n: number): void {
  buf[at] = n & 0xff;
  buf[at + 1] = (n >>> 8) & 0xff;
  buf[at + 2] = (n >>> 16) & 0xff;
  buf[at + 3] = n >>> 24;
}

/** Splits a byte stream into payloads. */
export class FrameDecoder {
  readonly #max: number;
  #header = new Uint8Array(4);
  #headerFill = 0;
  #payload: Uint8Array | undefined;
  #payloadFill = 0;

  /**
   * Creates a decoder.
   *
   * @param maxFrameSize Largest payload accepted.
   */
  constructor(maxFrameSize: number) {
    this.#max = maxFrameSize;
  }

  /**
   * The unfilled part of a large payload being assembled, for reading
   * straight into it; undefined when no large payload is pending.
   */
  target(): Uint8Array | undefined {
    const p = this.#payload;
    if (p === undefined || p.length - this.#payloadFill < 16 * 1024) return undefined;
    return p.subarray(this.#payloadFill);
  }

  /** Records `n` bytes read into the last {@linkcode FrameDecoder.target}. */
  filled(n: number, emit: (payload: Uint8Array) => void): void {
    const p = this.#payload!;
    this.#payloadFill += n;
    if (this.#payloadFill === p.length) {
      this.#payload = undefined;
      emit(p);
    }
  }

  /** True when the stream is between frames (EOF here is clean). */
  get atBoundary(): boolean {
    return this.#headerFill === 0 && this.#payload === undefined;
  }

  /**
   * Feeds bytes; calls `emit` for each complete payload. Every payload is a
   * new array: `chunk` may be reused by the caller afterwards.
   *
   * @throws {FramingError} For a frame longer than the limit (nothing is allocated for it).
   */
  push(chunk: Uint8Array, emit: (payload: Uint8Array) => void): void {
    let pos = 0;
    const end = chunk.length;
    while (pos < end) {
      const payload = this.#payload;
      if (payload !== undefined) {
        const n = Math.min(payload.length - this.#payloadFill, end - pos);
        payload.set(chunk.subarray(pos, pos + n), this.#payloadFill);
        this.#payloadFill += n;
        pos += n;
        if (this.#payloadFill === payload.length) {
          this.#payload = undefined;
          emit(payload);
        }
        continue;
      }
      let length: number;
      if (this.#headerFill === 0 && end - pos >= 4) {
        length = (chunk[pos]! | (chunk[pos + 1]! << 8) | (chunk[pos + 2]! << 16) |
          (chunk[pos + 3]! << 24)) >>> 0;
        pos += 4;
      } else {
        const h = this.#header;
        while (this.#headerFill < 4 && pos < end) h[this.#headerFill++] = chunk[pos++]!;
        if (this.#headerFill < 4) return;
        this.#headerFill = 0;
        length = (h[0]! | (h[1]! << 8) | (h[2]! << 16) | (h[3]! << 24)) >>> 0;
      }
      if (length > this.#max) {
        throw new FramingError(
          `frame of ${length} bytes exceeds the limit of ${this.#max}${textHint(length)}`,
        );
      }
      if (end - pos >= length) {
        emit(copyRange(chunk, pos, length));
        pos += length;
      } else {
        // Every byte is written before the payload is emitted.
        this.#payload = allocFilledLater(length);
        this.#payloadFill = 0;
      }
    }
  }
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
  #busy: Promise<void> | undefined;
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
    if (this.#busy === undefined) this.#flush();
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

  /** Queues `bytes[0, n)`, copied before returning. */
  writeCopy(bytes: Uint8Array, n: number): void | Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    if (n > COALESCE_LIMIT) {
      this.#cut();
      const framed = new Uint8Array(4 + n);
      putLength(framed, 0, n);
      framed.set(n === bytes.length ? bytes : bytes.subarray(0, n), 4);
      this.#pieces.push(framed);
    } else this.#append(n, bytes);
    this.#queued += 4 + n;
    if (this.#busy === undefined) this.#flush();
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

  /** Appends the frame of `payload[0, n)` to the batch. */
  #append(n: number, payload: Uint8Array): void {
    if (this.#batchFill + 4 + n > this.#batch.length) {
      this.#cut();
      if (4 + n > this.#batch.length) this.#batch = new Uint8Array(Math.max(4 + n, 4096));
    }
    const b = this.#batch;
    let p = this.#batchFill;
    putLength(b, p, n);
    p += 4;
    if (n < 32) { for (let i = 0; i < n; i++) b[p + i] = payload[i]!; }
    else b.set(n === payload.length ? payload : payload.subarray(0, n), p);
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
      return;
    }
    this.#pieces = [];
    const owned = this.#owned;
    this.#owned = [];
    const large = this.#large;
    this.#large = [];
    let pending: Promise<void> | undefined;
    for (const piece of pieces) {
      this.#queued -= piece.length;
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
    this.#busy = pending.then(() => {
      this.#recycle(owned, large);
      this.#flush();
    }, (e) => this.#fail(e));
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
    this.#busy = r.then(() => {
      this.#recycle([batch], []);
      this.#flush();
    }, (e) => this.#fail(e));
  }

  #flushIfQueued(): void {
    if (this.#batchFill > 0 || this.#pieces.length > 0) this.#flush();
    else {
      this.#queued = 0;
      const waiters = this.#drained;
      this.#drained = [];
      for (const w of waiters) w();
    }
  }

  #fail(e: unknown): void {
    if (this.#failure === undefined) this.onError?.(e);
    this.#failure = e;
    this.#busy = undefined;
    const waiters = this.#drained;
    this.#drained = [];
    for (const w of waiters) w();
  }

  /** Resolves when everything queued has been handed to the socket. */
  async drain(): Promise<void> {
    while (this.#busy !== undefined) await this.#busy;
    if (this.#failure !== undefined) throw this.#failure;
  }
}

/**
 * Makes a framed link over a raw byte socket.
 *
 * @param socket The socket adapter.
 * @param options The frame size limit.
 * @returns The link.
 */
export function socketLink(socket: RawSocket, options: FramingOptions = {}): Link {
  const max = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
  if (!Number.isInteger(max) || max < 1 || max > 0xffff_ffff) {
    throw new RangeError(`Invalid maxFrameSize: expected 1 to 4294967295 bytes, got ${max}`);
  }
  const decoder = new FrameDecoder(max);
  const writer = new FrameWriter(socket);
  let readDone = false;
  let writeDone = false;
  let closed = false;
  const finish = (): void => {
    if (readDone && writeDone && !closed) {
      closed = true;
      socket.close();
    }
  };
  const kill = (): void => {
    readDone = writeDone = true;
    if (!closed) {
      closed = true;
      socket.close();
    }
  };
  // Payloads wait here until read; the stream itself queues nothing
  // (high-water mark 0), so a switch to push mode loses nothing.
  const frames = new Queue<Uint8Array>();
  const HIGH = 64;
  let paused = false;
  let waiting: ReadableStreamDefaultController<Uint8Array> | undefined;
  let push: PayloadSink | undefined;
  /** How the stream ends once the payloads already received have been read. */
  let ending: { error?: unknown } | undefined;
  let ended = false;
  const deliverEnd = (c: ReadableStreamDefaultController<Uint8Array> | undefined): void => {
    if (ended || ending === undefined) return;
    ended = true;
    if (push !== undefined) {
      if ("error" in ending) push.error(ending.error);
      else push.end();
    } else if (c !== undefined) {
      if ("error" in ending) c.error(ending.error);
      else c.close();
    }
  };
  const emit = (payload: Uint8Array): void => {
    if (push !== undefined) push.payload(payload);
    else if (waiting !== undefined) {
      const c = waiting;
      waiting = undefined;
      c.enqueue(payload);
    } else {
      frames.push(payload);
      if (!paused && frames.length >= HIGH) {
        paused = true;
        socket.pause();
      }
    }
  };
  const settle = (state: { error?: unknown }): void => {
    readDone = true;
    ending = state;
    // Payloads received before the end or the error are still delivered first.
    if (push !== undefined) deliverEnd(undefined);
    else if (waiting !== undefined && frames.length === 0) {
      const c = waiting;
      waiting = undefined;
      deliverEnd(c);
    }
  };
  const readable = new ReadableStream<Uint8Array>({
    start() {
      socket.start({
        data(chunk) {
          if (readDone) return;
          try {
            decoder.push(chunk, emit);
          } catch (e) {
            socket.pause();
            settle({ error: e });
          }
        },
        end() {
          if (readDone) return;
          settle(
            decoder.atBoundary
              ? {}
              : { error: new Error("The peer closed the connection in the middle of a frame") },
          );
          finish();
        },
        error(e) {
          if (readDone) return;
          settle({ error: e });
          finish();
        },
        target: () => (readDone ? undefined : decoder.target()),
        filled(n) {
          if (!readDone) decoder.filled(n, emit);
        },
      });
    },
    pull(controller) {
      const next = frames.shift();
      if (next !== undefined) {
        controller.enqueue(next);
        if (paused && frames.length < HIGH / 2 && !readDone) {
          paused = false;
          socket.resume();
        }
        return;
      }
      if (ending !== undefined) deliverEnd(controller);
      else waiting = controller;
    },
    cancel() {
      readDone = true;
      kill();
    },
  }, { highWaterMark: 0 });
  const receive = (sink: PayloadSink): void => {
    push = sink;
    waiting = undefined;
    for (let p = frames.shift(); p !== undefined; p = frames.shift()) sink.payload(p);
    deliverEnd(undefined);
    if (paused && !readDone) {
      paused = false;
      socket.resume();
    }
  };
  let sinkController: WritableStreamDefaultController | undefined;
  writer.onError = (e) => sinkController?.error(e);
  const writable = new WritableStream<Uint8Array>({
    start(controller) {
      sinkController = controller;
    },
    write(payload) {
      return writer.write(payload);
    },
    async close() {
      await writer.drain();
      await socket.closeWrite();
      writeDone = true;
      finish();
    },
    abort() {
      kill();
    },
  });
  const send = (payload: Uint8Array): void => {
    if (writeDone || closed) return;
    try {
      void writer.write(payload);
    } catch (e) {
      sinkController?.error(e);
    }
  };
  const sendCopy = (bytes: Uint8Array, n: number): void => {
    if (writeDone || closed) return;
    try {
      void writer.writeCopy(bytes, n);
    } catch (e) {
      sinkController?.error(e);
    }
  };
  const sendParts = (parts: readonly Uint8Array[], total: number): void => {
    if (writeDone || closed) return;
    try {
      void writer.writeParts(parts, total);
    } catch (e) {
      sinkController?.error(e);
    }
  };
  return {
    readable,
    writable,
    [directSend]: send,
    [directSendCopy]: sendCopy,
    [directReceive]: receive,
    // Only a socket that writes synchronously gains from parts; others get joined messages.
    ...(socket.writeNow === undefined ? {} : { [directSendParts]: sendParts }),
  } as Link;
}

/**
 * Makes a framed link over a pair of byte streams, such as a child
 * process's stdout and stdin.
 *
 * @param readable Bytes from the peer.
 * @param writable Bytes to the peer.
 * @param options The frame size limit.
 * @returns The link.
 */
export function streamLink(
  readable: ReadableStream<Uint8Array>,
  writable: WritableStream<Uint8Array>,
  options: FramingOptions = {},
): Link {
  const reader = readable.getReader();
  const writer = writable.getWriter();
  const gate = new PauseGate();
  let stopped = false;
  const socket: RawSocket = {
    start(sink) {
      void (async () => {
        try {
          for (;;) {
            while (gate.paused && !stopped) await gate.wait();
            if (stopped) return;
            const { value, done } = await reader.read();
            if (done) {
              sink.end();
              return;
            }
            sink.data(value);
          }
        } catch (e) {
          if (!stopped) sink.error(e);
        }
      })();
    },
    pause: () => gate.pause(),
    resume: () => gate.resume(),
    write(chunk) {
      return writer.write(chunk);
    },
    async closeWrite() {
      await writer.close();
    },
    close() {
      stopped = true;
      gate.release();
      reader.cancel().catch(() => {});
      writer.abort().catch(() => {});
    },
  };
  return socketLink(socket, options);
}
