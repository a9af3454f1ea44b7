/**
 * The raw TCP baseline's shape: an echo server and a client written
 * directly on the runtime's socket API (not through the project's
 * transport), loaded per runtime.
 *
 * @module
 */

/** A raw echo server: splits the stream into frames and writes each frame back. */
export interface RawEchoServer {
  /** The bound port. */
  readonly port: number;
  /** Stops the server. */
  close(): Promise<void>;
}

/** A raw framed client. */
export interface RawClient {
  /**
   * Sends `count` copies of `frame` (already length-prefixed), one write
   * each, then waits until as many bytes came back.
   */
  exchange(frame: Uint8Array, count: number): Promise<void>;
  /** Closes the connection. */
  close(): void;
}

/** The runtime's raw socket baseline. */
export interface RawTcp {
  /** Starts an echo server on loopback. */
  echoServer(): Promise<RawEchoServer>;
  /** Connects a client with TCP_NODELAY. */
  connect(port: number): Promise<RawClient>;
}

/** Loads the baseline of the running runtime. */
export async function loadRawTcp(): Promise<RawTcp> {
  if ("Deno" in globalThis) return (await import("./raw_tcp_deno.ts")).rawTcp;
  return (await import("./raw_tcp_bun.ts")).rawTcp;
}

/** Prefixes a payload with its u32 little-endian length. */
export function frameOf(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.length);
  new DataView(out.buffer).setUint32(0, payload.length, true);
  out.set(payload, 4);
  return out;
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

/**
 * Splits a byte stream into whole frames (header included), calling
 * `onFrame` for each; keeps partial frames between calls.
 */
export class FrameSplitter {
  #frame: Uint8Array | undefined;
  #fill = 0;
  #head = new Uint8Array(4);
  #headFill = 0;

  /** Feeds bytes. */
  push(chunk: Uint8Array, onFrame: (frame: Uint8Array) => void): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.#frame === undefined) {
        while (this.#headFill < 4 && pos < chunk.length) {
          this.#head[this.#headFill++] = chunk[pos++]!;
        }
        if (this.#headFill < 4) return;
        const h = this.#head;
        const n = (h[0]! | (h[1]! << 8) | (h[2]! << 16) | (h[3]! << 24)) >>> 0;
        this.#frame = frameBuffer(4 + n);
        this.#frame.set(h);
        this.#fill = 4;
        this.#headFill = 0;
      }
      const frame = this.#frame;
      const take = Math.min(frame.length - this.#fill, chunk.length - pos);
      frame.set(chunk.subarray(pos, pos + take), this.#fill);
      this.#fill += take;
      pos += take;
      if (this.#fill === frame.length) {
        this.#frame = undefined;
        onFrame(frame);
      }
    }
  }
}
