/**
 * The raw TCP baselines' shape, and the framing they share: servers and a
 * client written directly on the runtime's socket API (not through the
 * project's transport), loaded per runtime, speaking u32 little-endian
 * length-prefixed frames like roam's TCP links.
 *
 * They are the best simple code for the work of each row, not strawmen:
 *
 * - the echo server reads what is there, cuts it at frame boundaries and
 *   writes every whole frame it got back in one write (frames that span
 *   reads are assembled first, as a server must before answering);
 * - the client writes a whole batch of frames in one write, and assembles
 *   each reply frame into a new array, as an RPC client must before handing
 *   a result to its caller;
 * - the sink server of the one-way stream assembles each frame into its own
 *   array (as a receiver that decodes items must) and answers an empty
 *   frame, which ends a stream, with an empty frame.
 *
 * @module
 */

/** A raw server on loopback. */
export interface RawServer {
  /** The bound port. */
  readonly port: number;
  /** Stops the server and closes its connections. */
  close(): Promise<void>;
}

/** A raw framed client. */
export interface RawClient {
  /**
   * Writes `bytes` (whole frames) in one write; resolves when the socket
   * took them all (Bun resolves at once, without a promise, when it did).
   */
  write(bytes: Uint8Array): void | Promise<void>;
  /**
   * Resolves once `frames` more frames have arrived, each assembled into a
   * new array. Call it before writing what they answer.
   */
  expect(frames: number): Promise<void>;
  /** Closes the connection. */
  close(): void;
}

/** A raw connection that hands every chunk it reads to a callback (see `RawTcp.connectStream`). */
export interface RawStream {
  /** Writes `bytes`, which it may keep until written (writes go out in order). */
  write(bytes: Uint8Array): void;
  /** Closes the connection. */
  close(): void;
}

/** The runtime's raw socket baselines. */
export interface RawTcp {
  /**
   * Starts a server whose connections each get `make()`: a function given
   * every chunk read, whose result (valid until its next call) is written
   * back in one write before the next read.
   */
  answerServer(make: () => (chunk: Uint8Array) => Uint8Array | undefined): Promise<RawServer>;
  /** Connects a client with TCP_NODELAY that gives every chunk it reads to `onChunk`. */
  connectStream(port: number, onChunk: (chunk: Uint8Array) => void): Promise<RawStream>;
  /** Starts a batched echo server on loopback. */
  echoServer(): Promise<RawServer>;
  /** Starts the sink of a one-way stream on loopback. */
  sinkServer(): Promise<RawServer>;
  /** Connects a client with TCP_NODELAY. */
  connect(port: number): Promise<RawClient>;
}

/** Loads the baseline of the running runtime. */
export async function loadRawTcp(): Promise<RawTcp> {
  if ("Deno" in globalThis) return (await import("./raw_tcp_deno.ts")).rawTcp;
  return (await import("./raw_tcp_bun.ts")).rawTcp;
}

/** The frame that ends a one-way stream, and the sink's answer to it. */
export const END_FRAME: Uint8Array = new Uint8Array(4);

/** Prefixes a payload with its u32 little-endian length. */
export function frameOf(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.length);
  new DataView(out.buffer).setUint32(0, payload.length, true);
  out.set(payload, 4);
  return out;
}

/** `count` copies of `frame`, end to end: a batch written in one write. */
export function repeatFrame(frame: Uint8Array, count: number): Uint8Array {
  const out = new Uint8Array(frame.length * count);
  for (let i = 0; i < count; i++) out.set(frame, i * frame.length);
  return out;
}

/** Sends `batch`, then waits for `frames` reply frames. */
export async function exchange(c: RawClient, batch: Uint8Array, frames: number): Promise<void> {
  const replies = c.expect(frames);
  await c.write(batch);
  await replies;
}

/**
 * Sends a one-way stream of `count` copies of a frame to a sink server,
 * `perBatch` frames a write (`batch` holds `perBatch` copies), then the end
 * frame, and waits for the sink's answer.
 */
export async function stream(
  c: RawClient,
  batch: Uint8Array,
  perBatch: number,
  count: number,
): Promise<void> {
  const answer = c.expect(1);
  const frameLength = batch.length / perBatch;
  let left = count;
  for (; left >= perBatch; left -= perBatch) await c.write(batch);
  if (left > 0) await c.write(batch.subarray(0, left * frameLength));
  await c.write(END_FRAME);
  await answer;
}

const bunBuffer = "Bun" in globalThis
  ? (globalThis as unknown as { Buffer: { allocUnsafeSlow(n: number): Uint8Array } }).Buffer
  : undefined;

/**
 * A frame buffer to be filled completely: on Bun, large ones skip
 * zero-filling, as the library's own frame decoder does, so the baseline
 * is not handicapped by a cost roam avoids.
 */
function frameBuffer(n: number): Uint8Array {
  if (bunBuffer === undefined || n < 64 * 1024) return new Uint8Array(n);
  return new Uint8Array(bunBuffer.allocUnsafeSlow(n).buffer, 0, n);
}

function u32At(b: Uint8Array, i: number): number {
  return (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;
}

/** A frame being assembled across chunks: its header, then its bytes. */
class Partial {
  #head = new Uint8Array(4);
  #headFill = 0;
  #frame: Uint8Array | undefined;
  #fill = 0;

  /** Whether a frame is under way. */
  get started(): boolean {
    return this.#headFill > 0 || this.#frame !== undefined;
  }

  /**
   * Feeds `chunk` from `pos` into the frame under way (or a new one);
   * returns the new position and the frame when it is complete.
   */
  feed(chunk: Uint8Array, pos: number): [number, Uint8Array | undefined] {
    if (this.#frame === undefined) {
      while (this.#headFill < 4 && pos < chunk.length) this.#head[this.#headFill++] = chunk[pos++]!;
      if (this.#headFill < 4) return [pos, undefined];
      this.#frame = frameBuffer(4 + u32At(this.#head, 0));
      this.#frame.set(this.#head);
      this.#fill = 4;
      this.#headFill = 0;
    }
    const frame = this.#frame;
    const take = Math.min(frame.length - this.#fill, chunk.length - pos);
    frame.set(chunk.subarray(pos, pos + take), this.#fill);
    this.#fill += take;
    pos += take;
    if (this.#fill < frame.length) return [pos, undefined];
    this.#frame = undefined;
    return [pos, frame];
  }
}

/**
 * Splits a byte stream into whole frames (header included), each in its
 * own new array, calling `onFrame` for each; keeps partial frames between
 * calls.
 */
export class FrameSplitter {
  #partial = new Partial();

  /** Feeds bytes. */
  push(chunk: Uint8Array, onFrame: (frame: Uint8Array) => void): void {
    let pos = 0;
    while (pos < chunk.length) {
      const [next, frame] = this.#partial.feed(chunk, pos);
      pos = next;
      if (frame !== undefined) onFrame(frame);
    }
  }
}

/**
 * Cuts a byte stream at frame boundaries for an echo: each call returns
 * the bytes of every frame that `chunk` completes, in one array (a view of
 * `chunk` itself when they all lie in it), and keeps the rest.
 */
export class FrameCutter {
  #partial = new Partial();

  /** Feeds bytes; returns those of the completed frames, or `undefined` when none completed. */
  cut(chunk: Uint8Array): Uint8Array | undefined {
    const parts: Uint8Array[] = [];
    let pos = 0;
    if (this.#partial.started) {
      const [next, frame] = this.#partial.feed(chunk, 0);
      pos = next;
      if (frame === undefined) return undefined;
      parts.push(frame);
    }
    const start = pos;
    while (chunk.length - pos >= 4) {
      const end = pos + 4 + u32At(chunk, pos);
      if (end > chunk.length) break;
      pos = end;
    }
    if (pos > start) parts.push(chunk.subarray(start, pos));
    if (pos < chunk.length) this.#partial.feed(chunk, pos);
    if (parts.length <= 1) return parts[0];
    const out = new Uint8Array(parts[0]!.length + parts[1]!.length);
    out.set(parts[0]!);
    out.set(parts[1]!, parts[0]!.length);
    return out;
  }
}
