/**
 * A bounds-checked cursor over postcard bytes. Every failure is a
 * {@linkcode DecodeError}.
 *
 * @module
 */

import type { ChannelHooks } from "./_compile.ts";
import { DecodeError } from "./errors.ts";
import { ownsMemory, SLOW_BUFFERS } from "../_util/bytes.ts";
import { utf8Decode } from "./_utf8.ts";

const scratch = new DataView(new ArrayBuffer(8));

/** Deepest nesting of recursive (`t.lazy`) values a decoder follows. */
export const MAX_DEPTH = 512;

/**
 * Default bound on the elements one decode produces: list, set and array
 * elements and map entries, counted over the whole value, nested ones
 * included. Each costs memory out of proportion to its bytes on the wire
 * (an empty list is one byte, and an array object in memory).
 */
export const DEFAULT_MAX_ELEMENTS = 1 << 20;

/** Most elements one sequence may have whatever the budget, as in the Rust runtime. */
export const MAX_SEQUENCE = 1 << 24;

/** Largest count accepted for a sequence of zero-sized elements. */
export const ZERO_SIZED_LIMIT = 65_536;

/**
 * A reader's input at most this long is copied whole, once, when a `bytes`
 * value is borrowed from an input that shares its `ArrayBuffer` (see
 * {@linkcode Reader.bytes}); a longer one has each value copied instead.
 */
const COPY_INPUT_MAX = 16 * 1024;

/**
 * Shorter `bytes` values are always copied where allocating is cheap
 * (Bun): there a copy costs no more than a view, which would keep the
 * whole input alive, and asking a small array for its `.buffer` is slow.
 */
const BORROW_MIN = SLOW_BUFFERS ? 0 : 256;

const sliceCopy = Uint8Array.prototype.slice;

/** A read cursor over a byte range. */
export class Reader {
  /** The input bytes. */
  buf: Uint8Array;
  /** Read position. */
  pos: number;
  /** End of the readable range (exclusive). */
  end: number;
  /** Current nesting depth of recursive values. */
  depth = 0;
  /**
   * When true, `bytes` values may be views of the input instead of copies
   * (see {@linkcode Reader.bytes}). Only for inputs nobody will change: the
   * RPC layer's own message buffers.
   */
  borrow = false;
  /** Elements this decode may still produce (see {@linkcode Reader.count}). */
  budget: number = DEFAULT_MAX_ELEMENTS;
  /** The element budget this decode started with, for error messages. */
  maxElements: number = DEFAULT_MAX_ELEMENTS;
  /** Whether `buf` is alone in its `ArrayBuffer`: unknown until a value is borrowed. */
  #owns: boolean | undefined = undefined;
  /** Channel hooks for the value being decoded, if any. */
  channels: ChannelHooks | undefined = undefined;
  #view: DataView | undefined;

  /**
   * Creates a reader over `buf[start, end)`.
   *
   * @param buf The input.
   * @param start First byte to read.
   * @param end End of the input (exclusive).
   */
  constructor(buf: Uint8Array, start = 0, end: number = buf.length) {
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }

  /**
   * Points this reader at `buf[start, end)` with fresh state, so one reader
   * can serve many decodes.
   */
  reset(buf: Uint8Array, start: number, end: number): this {
    this.buf = buf;
    this.pos = start;
    this.end = end;
    this.depth = 0;
    this.borrow = false;
    this.budget = this.maxElements = DEFAULT_MAX_ELEMENTS;
    this.#owns = undefined;
    this.channels = undefined;
    this.#view = undefined;
    return this;
  }

  /** Sets the element budget of this decode (see {@linkcode Reader.count}). */
  limit(maxElements: number): this {
    this.budget = this.maxElements = maxElements;
    return this;
  }

  /** Bytes left to read. */
  get remaining(): number {
    return this.end - this.pos;
  }

  /** Throws a {@linkcode DecodeError} at the current position. */
  fail(what: string, reason: string, offset: number = this.pos): never {
    throw new DecodeError(what, reason, offset);
  }

  /** Reads one byte. */
  u8(what: string): number {
    if (this.pos >= this.end) this.fail(what, "unexpected end of input");
    return this.buf[this.pos++]!;
  }

  /**
   * Reads a varint of at most 32 bits as a number. Rejects overlong
   * encodings and values above `max`.
   */
  varint32(what: string, max = 0xffff_ffff): number {
    const buf = this.buf;
    const start = this.pos;
    let pos = start;
    const end = this.end;
    if (pos < end) {
      const b = buf[pos]!;
      if (b < 0x80) {
        this.pos = pos + 1;
        if (b > max) this.fail(what, `value ${b} is out of range`, start);
        return b;
      }
    }
    let result = 0;
    let shift = 0;
    for (;;) {
      if (pos >= end) this.fail(what, "unexpected end of input", pos);
      const b = buf[pos++]!;
      if (shift === 28) {
        if (b > 0x0f) this.fail(what, "varint overflows 32 bits", start);
        result += b * 0x1000_0000;
      } else {
        result |= (b & 0x7f) << shift;
      }
      if (b < 0x80) {
        if (b === 0 && shift > 0) this.fail(what, "overlong varint", start);
        result >>>= 0;
        break;
      }
      shift += 7;
    }
    this.pos = pos;
    if (result > max) this.fail(what, `value ${result} is out of range`, start);
    return result;
  }

  /**
   * Reads a u64 varint that must fit a safe integer (ids, flags), without
   * going through bigint. Rejects overlong encodings and values above 2^53-1.
   */
  safe(what: string): number {
    const buf = this.buf;
    const end = this.end;
    let pos = this.pos;
    if (pos < end) {
      const b = buf[pos]!;
      if (b < 0x80) {
        this.pos = pos + 1;
        return b;
      }
    }
    const start = pos;
    let result = 0;
    let mul = 1;
    for (let i = 0;; i++) {
      if (pos >= end) this.fail(what, "unexpected end of input", pos);
      const b = buf[pos++]!;
      // The 8th byte carries bits 49..55: 2^53-1 allows at most 0x0f there, and no continuation.
      if (i === 7 && b > 0x0f) this.fail(what, "value is above 2^53-1", start);
      result += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (b === 0) this.fail(what, "overlong varint", start);
        this.pos = pos;
        return result;
      }
      mul *= 128;
    }
  }

  /**
   * Reads a varint of at most `bits` bits (64 or 128) as a bigint. Rejects
   * overlong and overflowing encodings. For u64, bits 0..27 and 28..63 are
   * gathered in two numbers, so a large value costs a few bigint operations
   * rather than one per byte.
   */
  varintBig(what: string, bits: 64 | 128 = 64): bigint {
    const buf = this.buf;
    const end = this.end;
    const start = this.pos;
    let pos = start;
    let lo = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      if (pos >= end) this.fail(what, "unexpected end of input", pos);
      const b = buf[pos++]!;
      lo |= (b & 0x7f) << shift;
      if (b < 0x80) {
        if (b === 0 && shift > 0) this.fail(what, "overlong varint", start);
        this.pos = pos;
        return BigInt(lo);
      }
    }
    if (bits === 128) return this.#varint128(what, start);
    let hi = 0;
    let mul = 1;
    for (let i = 4;; i++) {
      if (pos >= end) this.fail(what, "unexpected end of input", pos);
      const b = buf[pos++]!;
      // The 10th byte carries bit 63 only.
      if (i === 9 && b > 0x01) this.fail(what, "varint overflows 64 bits", start);
      hi += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (b === 0) this.fail(what, "overlong varint", start);
        break;
      }
      mul *= 128;
    }
    this.pos = pos;
    // hi < 2^36; the whole value is exact as a number below 2^53.
    if (hi < 0x200_0000) return BigInt(hi * 0x1000_0000 + lo);
    scratch.setUint32(0, (lo | ((hi & 0x0f) << 28)) >>> 0, true);
    scratch.setUint32(4, Math.floor(hi / 16), true);
    return scratch.getBigUint64(0, true);
  }

  /** The u128 varint slow path, from the value's first byte. */
  #varint128(what: string, start: number): bigint {
    const buf = this.buf;
    let pos = start;
    let result = 0n;
    let shift = 0n;
    for (let i = 0;; i++) {
      if (pos >= this.end) this.fail(what, "unexpected end of input", pos);
      const b = buf[pos++]!;
      // The 19th byte carries bits 126 and 127 only.
      if (i === 18 && b > 0x03) this.fail(what, "varint overflows 128 bits", start);
      result |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) {
        if (b === 0 && i > 0) this.fail(what, "overlong varint", start);
        break;
      }
      shift += 7n;
    }
    this.pos = pos;
    return result;
  }

  /**
   * Reads a length or count prefix and checks that at least
   * `length * minItemSize` bytes remain (or, for zero-sized items, that the
   * count is at most `zeroSizedLimit`), so a huge prefix cannot allocate.
   */
  length(what: string, minItemSize: number, zeroSizedLimit: number): number {
    const start = this.pos;
    const buf = this.buf;
    let n: number;
    if (start < this.end && buf[start]! < 0x80) {
      n = buf[start]!;
      this.pos = start + 1;
    } else {
      n = this.varint32(what);
    }
    if (minItemSize === 0) {
      if (n > zeroSizedLimit) {
        this.fail(what, `count ${n} exceeds the limit of ${zeroSizedLimit}`, start);
      }
    } else if (n * minItemSize > this.end - this.pos) {
      this.fail(what, `length ${n} exceeds the ${this.end - this.pos} bytes left`, start);
    }
    return n;
  }

  /**
   * Reads the element count of a sequence, as {@linkcode Reader.length}
   * does, and spends it from the element budget: a count above
   * {@linkcode MAX_SEQUENCE} or above what is left of the budget is a
   * `DecodeError` before anything is allocated for it.
   */
  count(what: string, minItemSize: number, zeroSizedLimit: number): number {
    const start = this.pos;
    const n = this.length(what, minItemSize, zeroSizedLimit);
    if (n > this.budget || n > MAX_SEQUENCE) this.#overBudget(what, n, start);
    this.budget -= n;
    return n;
  }

  /** Spends `n` elements of a fixed-length array from the element budget. */
  spend(what: string, n: number): void {
    if (n > this.budget) this.#overBudget(what, n, this.pos);
    this.budget -= n;
  }

  #overBudget(what: string, n: number, at: number): never {
    if (n > MAX_SEQUENCE) {
      this.fail(what, `count ${n} exceeds the limit of ${MAX_SEQUENCE} elements per sequence`, at);
    }
    this.fail(what, `more than ${this.maxElements} elements in one value`, at);
  }

  /**
   * Reads the next `n` bytes as a value for the application: a plain
   * `Uint8Array` whose `ArrayBuffer` holds nothing but bytes of this input.
   * Without {@linkcode Reader.borrow} it is a copy of its own. With it, it
   * may be a view of the input when the input is alone in its
   * `ArrayBuffer` (see `ownsMemory`); when the input shares one (a small
   * frame carved from a slab, a view into a larger buffer), a short input
   * is first replaced by a copy of its own, once, so that this and later
   * values are views of that copy, and a long one has the value copied.
   */
  bytes(what: string, n: number): Uint8Array {
    const start = this.pos;
    if (n > this.end - start) this.fail(what, "unexpected end of input", this.end);
    this.pos = start + n;
    let buf = this.buf;
    if (!this.borrow || n < BORROW_MIN) return sliceCopy.call(buf, start, start + n);
    if (!(this.#owns ??= ownsMemory(buf))) {
      if (buf.length > COPY_INPUT_MAX) return sliceCopy.call(buf, start, start + n);
      buf = this.buf = sliceCopy.call(buf);
      this.#owns = true;
      this.#view = undefined;
    }
    return new Uint8Array(buf.buffer, buf.byteOffset + start, n);
  }

  /** Reads a length-prefixed UTF-8 string. */
  string(what: string): string {
    const n = this.length(what, 1, 0);
    const start = this.pos;
    const s = utf8Decode(this.buf, start, start + n);
    if (s === undefined) this.fail(what, "invalid UTF-8", start);
    this.pos = start + n;
    return s;
  }

  /** Reads an f32, little-endian. */
  f32(what: string): number {
    if (this.end - this.pos < 4) this.fail(what, "unexpected end of input", this.end);
    const v = this.#dv().getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }

  /** Reads an f64, little-endian. */
  f64(what: string): number {
    if (this.end - this.pos < 8) this.fail(what, "unexpected end of input", this.end);
    const v = this.#dv().getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  #dv(): DataView {
    return this.#view ??= new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }
}
