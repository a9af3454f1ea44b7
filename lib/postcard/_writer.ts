/**
 * A growable byte buffer that postcard encoders write into.
 *
 * @module
 */

import type { ChannelHooks } from "./_compile.ts";

const textEncoder = new TextEncoder();

/** Largest buffer kept between uses; a larger one is dropped after `finish`. */
const KEEP_LIMIT = 4 * 1024 * 1024;

const TWO_32 = 0x1_0000_0000;
const scratch = new DataView(new ArrayBuffer(8));

/** True when `s` has no lone surrogate. */
export const isWellFormed: (s: string) => boolean = typeof "".isWellFormed === "function"
  ? (s) => s.isWellFormed()
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
 * Deno's V8 allocates every ArrayBuffer outside the heap (about 1 µs each,
 * against ~50 ns on Bun), so there small results share a slab.
 */
export const SLOW_BUFFERS: boolean = "Deno" in globalThis;
const sliceCopy = Uint8Array.prototype.slice;

/** Arrays up to this size are carved out of a slab (see {@linkcode Slab}). */
const POOLED_MAX = 1024;
const SLAB_SIZE = 64 * 1024;

/**
 * Small arrays carved out of 64 KiB buffers, on runtimes where allocating
 * an `ArrayBuffer` is slow: every array from one slab shares its
 * `ArrayBuffer` with the others. Elsewhere every array is its own.
 */
class Slab {
  #slab = new Uint8Array(0);
  #pos = 0;

  /** A view of `n` unused bytes of the slab (`n` at most {@linkcode POOLED_MAX}). */
  carve(n: number): Uint8Array {
    if (this.#pos + n > this.#slab.length) {
      this.#slab = new Uint8Array(SLAB_SIZE);
      this.#pos = 0;
    }
    const out = new Uint8Array(this.#slab.buffer, this.#pos, n);
    this.#pos = (this.#pos + n + 7) & ~7;
    return out;
  }
}

/**
 * Link payloads: copies of outgoing messages for memory links and incoming
 * frames. The session never hands such a payload, or a view of it, to the
 * application (see `Reader.bytes`).
 */
const payloadSlab = new Slab();
/** Results of `encode(…, { pooled: true })`, and nothing else. */
const resultSlab = new Slab();

/**
 * Copies `buf[0, n)` into a new byte array, for a link payload. Small
 * results are views into a slab shared with other payloads (allocating an
 * ArrayBuffer per payload is slow on some runtimes): never hand one to
 * application code, whose values must not share memory with other
 * messages.
 */
export function copyOut(buf: Uint8Array, n: number): Uint8Array {
  return copyRange(buf, 0, n);
}

/**
 * Copies `buf[start, start + n)` into a new plain `Uint8Array` (never a
 * subclass such as a Node `Buffer`, even when `buf` is one), for a link
 * payload: pooled like {@linkcode copyOut}.
 */
export function copyRange(buf: Uint8Array, start: number, n: number): Uint8Array {
  if (!SLOW_BUFFERS) {
    const out = new Uint8Array(n);
    if (n > 64) out.set(start === 0 && n === buf.length ? buf : buf.subarray(start, start + n));
    else for (let i = 0; i < n; i++) out[i] = buf[start + i]!;
    return out;
  }
  if (n > POOLED_MAX) return sliceCopy.call(buf, start, start + n);
  const out = payloadSlab.carve(n);
  for (let i = 0; i < n; i++) out[i] = buf[start + i]!;
  return out;
}

/**
 * A new byte array of `n` bytes for `encode(…, { pooled: true })` to fill:
 * on runtimes where allocating buffers is slow, a small one is a view into
 * a slab shared with other pooled results, and with nothing else.
 */
export function allocPooled(n: number): Uint8Array {
  if (!SLOW_BUFFERS || n > POOLED_MAX) return new Uint8Array(n);
  return resultSlab.carve(n);
}

const bunBuffer = "Bun" in globalThis
  ? (globalThis as { Buffer?: { allocUnsafeSlow?(n: number): Uint8Array } }).Buffer
  : undefined;
const allocUnsafe = typeof bunBuffer?.allocUnsafeSlow === "function"
  ? bunBuffer.allocUnsafeSlow.bind(bunBuffer)
  : undefined;

/**
 * A new plain `Uint8Array` of `n` bytes whose contents are unspecified:
 * only for a caller that overwrites every byte before anyone else sees it.
 * On Bun a large one skips zero-filling (a measurable cost per megabyte
 * received); elsewhere it is `new Uint8Array(n)`.
 */
export function allocFilledLater(n: number): Uint8Array {
  if (allocUnsafe === undefined || n < LARGE) return new Uint8Array(n);
  return new Uint8Array(allocUnsafe(n).buffer, 0, n);
}

/** Buffers at least this large are handed off rather than copied, and pooled. */
const LARGE = 64 * 1024;
/** Large buffers handed to a transport by {@linkcode Writer.handOff}, not yet given back. */
const handedOff = new WeakSet<ArrayBufferLike>();
/**
 * Buffers handed off by {@linkcode Writer.handOff} that hold nothing but
 * their one message (every other byte zero), until given back by
 * {@linkcode recycle}.
 */
const exclusive = new WeakSet<ArrayBufferLike>();

/**
 * True when `buf` is alone in its `ArrayBuffer`: it spans the whole of it,
 * or it is a message from {@linkcode Writer.handOff}, whose buffer holds
 * nothing else. Views of such an array share memory with nothing but it.
 */
export function ownsMemory(buf: Uint8Array): boolean {
  const b = buf.buffer;
  return (buf.byteOffset === 0 && buf.byteLength === b.byteLength) || exclusive.has(b);
}

/**
 * Bytes kept free in front of every large buffer made here, so a framed
 * transport can put its length prefix there and write header and payload
 * as one piece (see {@linkcode framedView}).
 */
export const HEADROOM = 4;
/** Backing stores made by {@linkcode allocLarge}: their first {@linkcode HEADROOM} bytes are free. */
const withHeadroom = new WeakSet<ArrayBufferLike>();

/**
 * A new array of `n` bytes with {@linkcode HEADROOM} free bytes in front of
 * it in its backing store: zero-filled, or, when `filledLater`, of
 * unspecified contents (see {@linkcode allocFilledLater}).
 */
function allocLarge(n: number, filledLater: boolean): Uint8Array {
  const buffer = filledLater
    ? allocFilledLater(n + HEADROOM).buffer
    : new ArrayBuffer(n + HEADROOM);
  withHeadroom.add(buffer);
  return new Uint8Array(buffer, HEADROOM, n);
}

/**
 * For a payload handed over by {@linkcode Writer.handOff} or
 * {@linkcode joinParts} (so its owner is the transport now), the view that
 * also covers the {@linkcode HEADROOM} bytes in front of it, for the
 * transport to fill with a frame header; undefined for any other array.
 */
export function framedView(payload: Uint8Array): Uint8Array | undefined {
  const b = payload.buffer;
  if (payload.byteOffset !== HEADROOM || !withHeadroom.has(b) || !handedOff.has(b)) {
    return undefined;
  }
  return new Uint8Array(b, 0, HEADROOM + payload.length);
}
/**
 * Large buffers given back, for writers to grow into: at most 16, enough for
 * a channel's default credit of 16 large items in flight, and 8 MiB in all.
 */
const pool: ArrayBufferLike[] = [];
const POOL_COUNT = 16;
let pooledBytes = 0;
const POOL_BYTES = 8 * 1024 * 1024;

/**
 * Gives back a payload returned by {@linkcode Writer.handOff} once nothing
 * references it any more (a socket finished writing it), so the next large
 * message reuses its memory instead of allocating and zeroing more. Any
 * other array is ignored.
 */
export function recycle(payload: Uint8Array): void {
  const b = payload.buffer;
  if (!handedOff.delete(b)) return;
  exclusive.delete(b);
  if (pool.length < POOL_COUNT && pooledBytes + b.byteLength <= POOL_BYTES) {
    pool.push(b);
    pooledBytes += b.byteLength;
  }
}

/** How many buffers the pool holds and their size in bytes (for tests). */
export function poolStats(): { count: number; bytes: number } {
  return { count: pool.length, bytes: pooledBytes };
}

/** A pooled buffer of at least `min` bytes and not much more, if there is one. */
function pooled(min: number): Uint8Array | undefined {
  for (let i = 0; i < pool.length; i++) {
    const b = pool[i]!;
    const start = withHeadroom.has(b) ? HEADROOM : 0;
    const size = b.byteLength - start;
    if (size >= min && size <= 2 * min + LARGE) {
      pool.splice(i, 1);
      pooledBytes -= b.byteLength;
      return new Uint8Array(b, start, size);
    }
  }
  return undefined;
}

/**
 * `raw` writes at least this large are kept by reference in a gathering
 * writer (see {@linkcode Writer.gather}).
 */
export const GATHER_MIN: number = LARGE;

/**
 * Copies `parts` (`total` bytes in all) into one new array. A large result
 * comes from the pool and is marked like a {@linkcode Writer.handOff}
 * result, so the transport may {@linkcode recycle} it once written.
 */
export function joinParts(parts: readonly Uint8Array[], total: number): Uint8Array {
  let out: Uint8Array;
  if (total >= LARGE) {
    const buf = pooled(total) ?? allocLarge(total, true);
    handedOff.add(buf.buffer);
    out = buf.length === total ? buf : buf.subarray(0, total);
  } else out = new Uint8Array(total);
  let p = 0;
  for (const part of parts) {
    out.set(part, p);
    p += part.length;
  }
  return out;
}

/**
 * `a` followed by `b` in one new array, which belongs to the caller (unlike
 * {@linkcode joinParts}, never from the pool nor marked for recycling).
 */
export function concatTwo(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
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
    if (buf.length >= LARGE) handedOff.add(buf.buffer);
    exclusive.add(buf.buffer);
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
