/**
 * The reading half of length-prefixed framing: splits a byte stream into
 * payloads, `[length: u32 little-endian][payload]` (wire-spec §3.1),
 * rejecting a frame above the limit before allocating anything for it.
 *
 * @module
 */

import { allocFilledLater, copyRange } from "../../_util/bytes.ts";
import { FramingError } from "./errors.ts";

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
   * Feeds bytes; calls `emit` for each complete payload, a new array
   * (`chunk` may be reused by the caller afterwards), or, when `lend` is
   * given, `lend(chunk, start, end)` for a payload that lies whole in
   * `chunk`, without a copy (valid only during that call).
   *
   * @throws {FramingError} For a frame longer than the limit (nothing is allocated for it).
   */
  push(
    chunk: Uint8Array,
    emit: (payload: Uint8Array) => void,
    lend?: (bytes: Uint8Array, start: number, end: number) => void,
  ): void {
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
        const at = pos;
        pos += length;
        if (lend !== undefined) lend(chunk, at, pos);
        else emit(copyRange(chunk, at, length));
      } else {
        // Every byte is written before the payload is emitted.
        this.#payload = allocFilledLater(length);
        this.#payloadFill = 0;
      }
    }
  }
}
