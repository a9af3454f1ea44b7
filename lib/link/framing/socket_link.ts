/**
 * Length-prefixed framing for byte-stream transports (TCP, Unix sockets,
 * stdio): each payload travels as `[length: u32 little-endian][payload]`
 * (wire-spec §3.1). Small frames written while the socket is busy are
 * coalesced into one write.
 *
 * @module
 */

import { Queue } from "../../_util/queue.ts";
import type { Link, LinkFlow, PayloadSink } from "../link.ts";
import { allocFilledLater, copyRange } from "../../_util/bytes.ts";
import { FrameWriter } from "./frame_writer.ts";
import { mustYield, nextMacrotask } from "../../_util/turn.ts";

export { FrameWriter };

/**
 * How long a socket link whose both directions are done keeps draining a
 * peer that is still sending, before it closes (see `socketLink`).
 */
const LINGER_MS = 1000;

/** Default largest frame accepted: 16 MiB. */
export const DEFAULT_MAX_FRAME_SIZE = 16 * 1024 * 1024;

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
   * promise when the caller should wait before writing more. A caller
   * writing several chunks at once may keep only the last promise, so a
   * socket must never let a promise it returned become an unhandled
   * rejection (a failed write also fails every later one).
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

/**
 * Makes a framed link over a raw byte socket.
 *
 * Closing the writable half-closes the socket after everything written.
 * Once the readable is cancelled too (a session does both as it ends), a
 * peer that is still sending has its input drained and discarded until
 * it ends it, for at most a second, before the socket closes: closing
 * with unread input would make the kernel reset the connection, and a
 * reset can destroy the last frames sent (such as a `ProtocolError`)
 * before the peer reads them. Aborting the writable closes at once.
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
  /** Nothing more goes to the reader (the input ended or failed, broke the framing, or was cancelled). */
  let readDone = false;
  /** The socket reported the end of its input, or a failure. */
  let inputEnded = false;
  let writeDone = false;
  let closed = false;
  let lingering: ReturnType<typeof setTimeout> | undefined;
  const close = (): void => {
    if (closed) return;
    closed = true;
    if (lingering !== undefined) clearTimeout(lingering);
    lingering = undefined;
    socket.close();
  };
  /**
   * Both directions are done: closes the socket, at once if the peer's
   * input has ended. Otherwise the peer may still be sending, and closing
   * a socket with unread input makes the kernel send a reset, which can
   * destroy our last frames (a `ProtocolError`) before the peer reads
   * them; so the input is drained and discarded until the peer ends it,
   * for at most `LINGER_MS`, our side half-closed meanwhile.
   */
  const finish = (): void => {
    if (!readDone || !writeDone || closed || lingering !== undefined) return;
    if (inputEnded) {
      close();
      return;
    }
    lingering = setTimeout(close, LINGER_MS);
    socket.resume();
  };
  const kill = (): void => {
    readDone = writeDone = true;
    close();
  };
  // Payloads wait here until read; the stream itself queues nothing
  // (high-water mark 0), so a switch to push mode loses nothing.
  const frames = new Queue<Uint8Array>();
  const HIGH = 64;
  /** True while the socket is paused: too many frames unread, or a push sink asked to pause. */
  let paused = false;
  /** True while the push sink asked not to be given payloads (see {@linkcode LinkFlow.pause}). */
  let held = false;
  /** True while delivery waits for the next macrotask (a long burst of frames, see `_turn.ts`). */
  let yielding = false;
  /** Stops delivering until the next macrotask, so one peer's burst does not hold the event loop. */
  const yieldTurn = (): void => {
    yielding = true;
    if (!paused && !readDone) {
      paused = true;
      socket.pause();
    }
    nextMacrotask(() => {
      yielding = false;
      if (!held) release();
    });
  };
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
    if (push !== undefined && !held && !yielding) {
      if (!mustYield()) {
        push.payload(payload);
        return;
      }
      yieldTurn();
      frames.push(payload);
    } else if (waiting !== undefined) {
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
    if (push !== undefined) {
      if (!held && !yielding && frames.length === 0) deliverEnd(undefined);
    } else if (waiting !== undefined && frames.length === 0) {
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
          if (inputEnded) return;
          inputEnded = true;
          if (!readDone) {
            settle(
              decoder.atBoundary
                ? {}
                : { error: new Error("The peer closed the connection in the middle of a frame") },
            );
          }
          finish();
        },
        error(e) {
          if (inputEnded) return;
          inputEnded = true;
          if (!readDone) settle({ error: e });
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
        if (paused && frames.length < HIGH / 2 && !readDone && !held) {
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
      // After a graceful close of the writable, the input is drained briefly (see `finish`).
      if (writeDone) finish();
      else kill();
    },
  }, { highWaterMark: 0 });
  /** Hands the frames held back to the push sink, until it asks to pause again. */
  function release(): void {
    const sink = push!;
    while (!held && !yielding) {
      if (frames.length === 0) break;
      if (mustYield()) {
        yieldTurn();
        return;
      }
      sink.payload(frames.shift()!);
    }
    if (held || yielding) return;
    deliverEnd(undefined);
    if (paused && !readDone) {
      paused = false;
      socket.resume();
    }
  }
  const receive = (sink: PayloadSink): void => {
    push = sink;
    waiting = undefined;
    release();
  };
  const flow: LinkFlow = {
    buffered: () => writer.buffered,
    whenBelow: (limit, f) => writer.whenBelow(limit, f),
    pause() {
      if (held) return;
      held = true;
      if (!paused && !readDone) {
        paused = true;
        socket.pause();
      }
    },
    resume() {
      if (!held) return;
      held = false;
      if (push !== undefined && !yielding) release();
    },
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
    direct: {
      send,
      sendCopy,
      receive,
      flow,
      // Only a socket that writes synchronously gains from parts; others get joined messages.
      ...(socket.writeNow === undefined ? {} : { sendParts }),
    },
  };
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
          try {
            if (!stopped) sink.error(e);
          } catch {
            // The sink's own failure must not become an unhandled rejection.
          }
        }
      })();
    },
    pause: () => gate.pause(),
    resume: () => gate.resume(),
    write(chunk) {
      const p = writer.write(chunk);
      // A caller may drop this promise (see `RawSocket.write`): a failed write shows on the next.
      p.catch(() => {});
      return p;
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
