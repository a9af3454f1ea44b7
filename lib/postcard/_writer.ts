/**
 * A growable byte buffer that postcard encoders write into.
 *
 * @module
 */

import type { ChannelHooks } from "./_compile.ts";
import {
  allocLarge,
  allocPooled,
  GATHER_MIN,
  LARGE,
  markHandedOff,
  pooled,
} from "../_util/bytes.ts";
import { writeUtf8 } from "./_utf8.ts";

const textEncoder = new TextEncoder();

/**
 * Strings of at most this many UTF-16 units are written in JavaScript:
 * their UTF-8 form (at most 3 bytes a unit) is under 128 bytes, so the
 * length prefix is one byte whatever the characters.
 */
const SHORT_UTF16 = 42;

/** Largest buffer kept between uses; a larger one is dropped after `finish`. */
const KEEP_LIMIT = 4 * 1024 * 1024;

const TWO_32 = 0x1_0000_0000;
const scratch = new DataView(new ArrayBuffer(8));

/** True when `s` has no lone surrogate. */
export const isWellFormed: (s: string) => boolean =
  typeof (String.prototype as { isWellFormed?: unknown }).isWellFormed === "function"
    // ES2024: typed by hand, so that a user's `tsc` with an older `lib` accepts it.
    ? (s) => (s as unknown as { isWellFormed(): boolean }).isWellFormed()
    : (s) => !/[\uD800-\uDFFF]/.test(s.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ""));

/** Number of bytes of the unsigned LEB128 encoding of `n` (a safe integer). */
export function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/**
 * Writes the unsigned LEB128 encoding of `n` (below 2^32) at `buf[pos]`,
 * which must have room for it (5 bytes at most); returns the position after it.
 */
export function putVarint32(buf: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  buf[pos++] = n;
  return pos;
}

/** A growable output buffer with postcard primitive writers. */
export class Writer {
  /** The backing storage; valid bytes are `[0, pos)`. */
  buf: Uint8Array;
  /** Write position. */
  pos = 0;
  /** Set while an encode is using this writer, to detect re-entrant use. */
  busy = false;
  /** Current nesting depth of recursive values being encoded. */
  depth = 0;
  /** Channel hooks for the value being encoded, if any. */
  channels: ChannelHooks | undefined = undefined;
  /**
   * When true, `raw` keeps arrays of {@linkcode GATHER_MIN} bytes or more
   * by reference instead of copying them: the written message is then
   * `parts()`, for a transport that writes parts without joining them.
   */
  gather = false;
  /** Arrays kept by reference, in order, and the buffer position each goes before. */
  #segments: Uint8Array[] = [];
  #segmentAt: number[] = [];
  #segmentBytes = 0;
  #view: DataView | undefined;
  readonly #initial: number;
  /**
   * Bytes of `buf` from this index on are zero; before it (past `pos`)
   * they may hold earlier messages. A recycled buffer is dirty throughout,
   * its headroom too (`#dirtyHead`).
   */
  #dirty = 0;
  #dirtyHead = false;

  /**
   * Creates a writer.
   *
   * @param initial Initial capacity in bytes.
   */
  constructor(initial = 256) {
    this.#initial = initial;
    this.buf = new Uint8Array(initial);
  }

  /** A DataView over the current buffer, made on demand. */
  get view(): DataView {
    return this.#view ??= new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n > this.buf.length) this.#grow(n);
  }

  #grow(n: number): void {
    let size = this.buf.length * 2;
    // A large single write (a big `bytes` value) gets just the room it needs.
    if (n > size) size = this.pos + n + 4096;
    while (size < this.pos + n) size *= 2;
    const recycled = size >= LARGE ? pooled(size) : undefined;
    const next = recycled ?? (size >= LARGE ? allocLarge(size, false) : new Uint8Array(size));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.#dirty = recycled === undefined ? 0 : next.length;
    this.#dirtyHead = recycled !== undefined;
    this.#view = undefined;
  }

  /** Writes one byte. */
  u8(b: number): void {
    if (this.pos >= this.buf.length) this.#grow(1);
    this.buf[this.pos++] = b;
  }

  /** Writes an unsigned LEB128 varint of a non-negative safe integer. */
  varint(n: number): void {
    let pos = this.pos;
    if (n < 0x80) {
      if (pos >= this.buf.length) this.#grow(1);
      this.buf[pos] = n;
      this.pos = pos + 1;
      return;
    }
    // Near the end of the buffer, grow only when this varint does not fit
    // (an exactly sized buffer from `encode` must not grow needlessly).
    if (pos + 10 > this.buf.length) {
      const need = varintSize(n);
      if (pos + need > this.buf.length) this.#grow(need);
    }
    const buf = this.buf;
    if (n >= TWO_32) {
      while (n >= TWO_32) {
        buf[pos++] = (n % 128) | 0x80;
        n = Math.floor(n / 128);
      }
    }
    while (n >= 0x80) {
      buf[pos++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    buf[pos++] = n;
    this.pos = pos;
  }

  /**
   * Writes an unsigned LEB128 varint of a non-negative bigint (up to 128
   * bits). A u64 from 2^53 up (most method ids) is split into two 32-bit
   * halves, so its bytes come from number arithmetic rather than one bigint
   * operation per 7 bits.
   */
  varintBig(v: bigint): void {
    if (v < 0x20_0000_0000_0000n) {
      this.varint(Number(v));
      return;
    }
    if (v <= 0xffff_ffff_ffff_ffffn) {
      scratch.setBigUint64(0, v, true);
      const lo = scratch.getUint32(0, true);
      let hi = scratch.getUint32(4, true);
      this.ensure(10);
      const buf = this.buf;
      let pos = this.pos;
      buf[pos++] = (lo & 0x7f) | 0x80;
      buf[pos++] = ((lo >>> 7) & 0x7f) | 0x80;
      buf[pos++] = ((lo >>> 14) & 0x7f) | 0x80;
      buf[pos++] = ((lo >>> 21) & 0x7f) | 0x80;
      // v >= 2^53, so bits 35 and up are not all zero: this byte continues.
      buf[pos++] = (lo >>> 28) | ((hi & 0x07) << 4) | 0x80;
      hi >>>= 3;
      while (hi >= 0x80) {
        buf[pos++] = (hi & 0x7f) | 0x80;
        hi >>>= 7;
      }
      buf[pos++] = hi;
      this.pos = pos;
      return;
    }
    this.ensure(19);
    const buf = this.buf;
    let pos = this.pos;
    while (v >= 0x80n) {
      buf[pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    buf[pos++] = Number(v);
    this.pos = pos;
  }

  /**
   * Writes `bytes[start, bytes.length)` as {@linkcode Writer.raw} does,
   * without making a view of a short range (a view costs more than
   * copying a few bytes on some runtimes).
   */
  rawFrom(bytes: Uint8Array, start: number): void {
    const n = bytes.length - start;
    if (start === 0 || n >= 64) {
      this.raw(start === 0 ? bytes : bytes.subarray(start));
      return;
    }
    if (this.pos + n > this.buf.length) this.#grow(n);
    const buf = this.buf;
    let pos = this.pos;
    for (let i = start; i < bytes.length; i++) buf[pos++] = bytes[i]!;
    this.pos = pos;
  }

  /** Writes raw bytes, no length prefix. */
  raw(bytes: Uint8Array): void {
    const n = bytes.length;
    if (n >= GATHER_MIN && this.gather) {
      this.#segments.push(bytes);
      this.#segmentAt.push(this.pos);
      this.#segmentBytes += n;
      return;
    }
    if (this.pos + n > this.buf.length) this.#grow(n);
    if (n < 16) {
      const buf = this.buf;
      let pos = this.pos;
      for (let i = 0; i < n; i++) buf[pos++] = bytes[i]!;
      this.pos = pos;
    } else {
      this.buf.set(bytes, this.pos);
      this.pos += n;
    }
  }

  /**
   * Writes a string as varint(UTF-8 length) + UTF-8 bytes. Returns false,
   * writing nothing, when the string has a lone surrogate (it has no UTF-8
   * form).
   */
  string(s: string): boolean {
    const len = s.length;
    if (len <= SHORT_UTF16) {
      // Written in JavaScript, after a one-byte length: at most 3 bytes a unit.
      const pos = this.pos;
      if (pos + 1 + 3 * len > this.buf.length) this.#grow(1 + 3 * len);
      const end = writeUtf8(this.buf, pos + 1, s);
      if (end < 0) {
        // Bytes written before the lone surrogate stay behind, past the end.
        if (pos + 1 + 3 * len > this.#dirty) this.#dirty = pos + 1 + 3 * len;
        return false;
      }
      this.buf[pos] = end - pos - 1;
      this.pos = end;
      return true;
    }
    if (len < 0x80) {
      // ASCII fast path: one length byte, one byte per character.
      if (this.pos + 1 + len > this.buf.length) this.#grow(1 + len);
      const buf = this.buf;
      const start = this.pos + 1;
      let i = 0;
      for (; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[start + i] = c;
      }
      if (i === len) {
        buf[this.pos] = len;
        this.pos = start + len;
        return true;
      }
      // The ASCII bytes written stay behind, past the end, until overwritten.
      if (start + i > this.#dirty) this.#dirty = start + i;
    }
    if (!isWellFormed(s)) return false;
    const max = len * 3;
    const head = varintSize(max);
    this.ensure(10 + max); // room for the final varint write too
    const start = this.pos + head;
    const written = textEncoder.encodeInto(s, this.buf.subarray(start, start + max)).written;
    const actualHead = varintSize(written);
    if (actualHead !== head) {
      this.buf.copyWithin(this.pos + actualHead, start, start + written);
      // The last bytes moved stay behind, past the end of the string.
      if (start + written > this.#dirty) this.#dirty = start + written;
    }
    this.varint(written);
    this.pos += written;
    return true;
  }

  /** Writes an f32, little-endian. */
  f32(n: number): void {
    this.ensure(4);
    this.view.setFloat32(this.pos, n, true);
    this.pos += 4;
  }

  /** Writes an f64, little-endian. */
  f64(n: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, n, true);
    this.pos += 8;
  }

  /** Bytes written in all, counting arrays kept by reference. */
  get size(): number {
    return this.pos + this.#segmentBytes;
  }

  /** How many arrays are kept by reference (see {@linkcode Writer.gather}). */
  get segmentCount(): number {
    return this.#segments.length;
  }

  /**
   * When exactly one array is kept by reference and nothing was written
   * after it, that array: the message is then `buf[0, pos)` followed by
   * it. Undefined otherwise.
   */
  get lastSegment(): Uint8Array | undefined {
    const segments = this.#segments;
    if (segments.length !== 1 || this.#segmentAt[0] !== this.pos) return undefined;
    return segments[0];
  }

  /**
   * Forgets everything written after position `pos` and the first
   * `segments` arrays kept by reference (a mark taken from `pos` and
   * `segmentCount` earlier).
   */
  rewind(pos: number, segments: number): void {
    if (this.pos > this.#dirty) this.#dirty = this.pos;
    this.pos = pos;
    const kept = this.#segments;
    while (kept.length > segments) {
      this.#segmentBytes -= kept.pop()!.length;
      this.#segmentAt.pop();
    }
  }

  /**
   * The written message in order: views of the buffer between the arrays
   * kept by reference, and those arrays. Valid until the writer is used
   * again.
   */
  parts(): Uint8Array[] {
    const out: Uint8Array[] = [];
    let from = 0;
    const segments = this.#segments;
    for (let i = 0; i < segments.length; i++) {
      const at = this.#segmentAt[i]!;
      if (at > from) out.push(this.buf.subarray(from, at));
      out.push(segments[i]!);
      from = at;
    }
    if (this.pos > from) out.push(this.buf.subarray(from, this.pos));
    return out;
  }

  /** A new array holding everything written, arrays kept by reference included. */
  copy(): Uint8Array {
    if (this.#segments.length === 0) return this.buf.slice(0, this.pos);
    const all = this.parts();
    const out = new Uint8Array(this.size);
    let p = 0;
    for (const part of all) {
      out.set(part, p);
      p += part.length;
    }
    return out;
  }

  /** Copies the arrays kept by reference into the buffer, in place. */
  #inline(): void {
    if (this.#segments.length === 0) return;
    const joined = this.copy();
    this.rewind(0, 0);
    const gather = this.gather;
    this.gather = false;
    this.raw(joined);
    this.gather = gather;
  }

  /**
   * Returns a copy of the written bytes in an `ArrayBuffer` of its own and
   * resets the writer for reuse. With `pooled`, a small copy may instead
   * share a slab with other pooled results (see {@linkcode allocPooled}).
   */
  finish(pooled = false): Uint8Array {
    this.#inline();
    const n = this.pos;
    let out: Uint8Array;
    if (pooled) {
      out = allocPooled(n);
      out.set(this.buf.subarray(0, n));
    } else out = this.buf.slice(0, n);
    this.reset();
    return out;
  }

  /**
   * Returns the written bytes without copying and gives the writer a new
   * buffer: for large messages, where a copy costs more than an allocation.
   * Whatever else the buffer held (earlier messages, or a recycled
   * buffer's contents) is zeroed first, so that the result shares its
   * `ArrayBuffer` with nothing but zeros (see {@linkcode ownsMemory}).
   * Whoever ends up done with the bytes may pass them to
   * {@linkcode recycle}.
   */
  handOff(): Uint8Array {
    this.#inline();
    const buf = this.buf;
    const pos = this.pos;
    if (this.#dirty > pos) buf.fill(0, pos, this.#dirty);
    if (this.#dirtyHead && buf.byteOffset > 0) {
      new Uint8Array(buf.buffer, 0, buf.byteOffset).fill(0);
    }
    const out = buf.subarray(0, pos);
    markHandedOff(buf);
    this.buf = new Uint8Array(this.#initial);
    this.#dirty = 0;
    this.#dirtyHead = false;
    this.#view = undefined;
    this.pos = 0;
    return out;
  }

  /**
   * Makes `buf` the buffer written from position 0 and returns the
   * previous one, to be put back with another call. The writer grows away
   * from `buf` (into a new buffer) if the bytes do not fit.
   */
  swap(buf: Uint8Array): Uint8Array {
    const previous = this.buf;
    if (this.#segments.length > 0) this.rewind(0, 0);
    this.buf = buf;
    this.#dirty = buf.length;
    this.#dirtyHead = true;
    this.pos = 0;
    this.#view = undefined;
    return previous;
  }

  /** Forgets the written bytes; drops an oversized buffer. */
  reset(): void {
    if (this.#segments.length > 0) this.rewind(0, 0);
    if (this.pos > this.#dirty) this.#dirty = this.pos;
    this.pos = 0;
    if (this.buf.length > KEEP_LIMIT) {
      this.buf = new Uint8Array(this.#initial);
      this.#dirty = 0;
      this.#dirtyHead = false;
      this.#view = undefined;
    }
  }
}
