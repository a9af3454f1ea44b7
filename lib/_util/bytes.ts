/**
 * Byte buffers shared by every layer: copies for link payloads (carved from
 * slabs where allocating an `ArrayBuffer` is slow), large buffers with
 * room for a frame header in front, and a small pool that large buffers
 * come back to once a transport has written them.
 *
 * @module
 */

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
export const LARGE = 64 * 1024;
/** Large buffers handed to a transport by `Writer.handOff`, not yet given back. */
const handedOff = new WeakSet<ArrayBufferLike>();
/**
 * Buffers handed off by `Writer.handOff` that hold nothing but
 * their one message (every other byte zero), until given back by
 * {@linkcode recycle}.
 */
const exclusive = new WeakSet<ArrayBufferLike>();

/**
 * True when `buf` is alone in its `ArrayBuffer`: it spans the whole of it,
 * or it is a message from `Writer.handOff`, whose buffer holds
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
export function allocLarge(n: number, filledLater: boolean): Uint8Array {
  const buffer = filledLater
    ? allocFilledLater(n + HEADROOM).buffer
    : new ArrayBuffer(n + HEADROOM);
  withHeadroom.add(buffer);
  return new Uint8Array(buffer, HEADROOM, n);
}

/**
 * For a payload handed over by `Writer.handOff` or
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
 * Gives back a payload returned by `Writer.handOff` once nothing
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
export function pooled(min: number): Uint8Array | undefined {
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
 * writer (see `Writer.gather`).
 */
export const GATHER_MIN: number = LARGE;

/**
 * Copies `parts` (`total` bytes in all) into one new array. A large result
 * comes from the pool and is marked like a `Writer.handOff`
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

/**
 * Marks a buffer the writer hands off with one message in it (every other
 * byte zero): it is the transport's now, recycled once written when large.
 */
export function markHandedOff(buf: Uint8Array): void {
  if (buf.length >= LARGE) handedOff.add(buf.buffer);
  exclusive.add(buf.buffer);
}
