/**
 * Framed links over byte sockets (TCP, Unix sockets): each payload travels
 * as `[length: u32 little-endian][payload]` (wire-spec §3.1). Small frames
 * written while the socket is busy are coalesced into one write; reading
 * stops while the session asks (back-pressure) and yields to the event
 * loop during a long burst.
 *
 * @module
 */

import { copyRange } from "../../_util/bytes.ts";
import { Queue } from "../../_util/queue.ts";
import { mustYield, nextMacrotask } from "../../_util/turn.ts";
import type { Link, LinkFlow, PayloadSink } from "../link.ts";
import { FrameDecoder } from "./decoder.ts";
import { DEFAULT_MAX_FRAME_SIZE, type FramingOptions } from "./errors.ts";
import { FrameWriter } from "./frame_writer.ts";
import type { RawSocket } from "./socket.ts";

/**
 * How long a socket link whose both directions are done keeps draining a
 * peer that is still sending, before it closes (see `socketLink`).
 */
const LINGER_MS = 1000;

/**
 * A Buffer chunk (Bun's, Node's) up to this size is copied into a plain
 * array before its payloads are lent: on Bun a plain view of a Buffer
 * (which makes its `ArrayBuffer`) costs more than copying a few KiB. A
 * larger one is lent through a view (its large payloads are copied out of
 * it anyway).
 */
const COPY_CHUNK = 16 * 1024;

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
  /**
   * A payload lying whole in a chunk the socket will reuse: lent to a push
   * sink that takes payloads so (no copy), else copied and emitted.
   */
  const lend = (bytes: Uint8Array, start: number, end: number): void => {
    const sink = push;
    if (sink?.lent !== undefined && !held && !yielding && !mustYield()) {
      sink.lent(bytes, start, end);
      return;
    }
    emit(copyRange(bytes, start, end - start));
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
            if (chunk.constructor === Uint8Array) decoder.push(chunk, emit, lend);
            else if (chunk.length <= COPY_CHUNK) decoder.push(new Uint8Array(chunk), emit, lend);
            else {
              // A subclass (Bun's and Node's Buffer): one plain view per chunk,
              // not one per lent payload in the decoder (a view is slow on Bun).
              decoder.push(
                new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength),
                emit,
                lend,
              );
            }
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
  const sendCopy = (bytes: Uint8Array, n: number, start = 0): void => {
    if (writeDone || closed) return;
    try {
      void writer.writeCopy(bytes, n, start);
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
