/**
 * A dependency-free BLAKE3 hash in plain TypeScript. It computes the default (unkeyed) hash mode
 * over a complete input in one call: the input is cut into 1024-byte chunks, every chunk is
 * compressed block by block into a chaining value, completed chunks are merged pairwise into
 * parent nodes on a chaining-value stack, and the root node is expanded into as many output bytes
 * as requested (32 by default, longer outputs use the extendable-output mode). The compression
 * function works on 32-bit words held in local variables and reuses module-level buffers, so
 * hashing allocates nothing per block.
 *
 * @module
 */

/** Initialisation vector, shared with SHA-256 and used as the key of the default hash mode. */
const IV = new Uint32Array([
  0x6a09e667,
  0xbb67ae85,
  0x3c6ef372,
  0xa54ff53a,
  0x510e527f,
  0x9b05688c,
  0x1f83d9ab,
  0x5be0cd19,
]);

/** Domain flags. */
const CHUNK_START = 1;
const CHUNK_END = 2;
const PARENT = 4;
const ROOT = 8;

const BLOCK_LEN = 64;
const CHUNK_LEN = 1024;
const BLOCKS_PER_CHUNK = CHUNK_LEN / BLOCK_LEN;
const TWO_POW_32 = 0x1_0000_0000;

/** Whether the host stores 32-bit words little-endian (true on every platform Deno and Bun run on). */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Chaining-value stack: one 8-word slot per tree level (53-bit lengths need at most 44 levels). */
const cvStack = new Uint32Array(64 * 8);
/** Scratch copy of one chunk, viewed as bytes and as little-endian words. */
const chunkBytes = new Uint8Array(CHUNK_LEN);
const chunkWords = new Uint32Array(chunkBytes.buffer);
/** The pending (not yet finalised) node: its input chaining value and its 16-word message block. */
const nodeCv = new Uint32Array(8);
const nodeBlock = new Uint32Array(16);
/** One 64-byte block of root output. */
const outWords = new Uint32Array(16);

/**
 * The BLAKE3 compression function.
 *
 * Reads the 8-word chaining value at `cv[cvOff]` and the 16-word message at `m[mOff]`, and writes
 * either the 8-word next chaining value or (when `wide`) the full 16-word output to `out[outOff]`.
 * All inputs are read before anything is written, so `out` may alias `cv` or `m`.
 */
function compress(
  cv: Uint32Array,
  cvOff: number,
  m: Uint32Array,
  mOff: number,
  counterLo: number,
  counterHi: number,
  blockLen: number,
  flags: number,
  out: Uint32Array,
  outOff: number,
  wide: boolean,
): void {
  const c0 = cv[cvOff]! | 0;
  const c1 = cv[cvOff + 1]! | 0;
  const c2 = cv[cvOff + 2]! | 0;
  const c3 = cv[cvOff + 3]! | 0;
  const c4 = cv[cvOff + 4]! | 0;
  const c5 = cv[cvOff + 5]! | 0;
  const c6 = cv[cvOff + 6]! | 0;
  const c7 = cv[cvOff + 7]! | 0;

  let m0 = m[mOff]! | 0;
  let m1 = m[mOff + 1]! | 0;
  let m2 = m[mOff + 2]! | 0;
  let m3 = m[mOff + 3]! | 0;
  let m4 = m[mOff + 4]! | 0;
  let m5 = m[mOff + 5]! | 0;
  let m6 = m[mOff + 6]! | 0;
  let m7 = m[mOff + 7]! | 0;
  let m8 = m[mOff + 8]! | 0;
  let m9 = m[mOff + 9]! | 0;
  let m10 = m[mOff + 10]! | 0;
  let m11 = m[mOff + 11]! | 0;
  let m12 = m[mOff + 12]! | 0;
  let m13 = m[mOff + 13]! | 0;
  let m14 = m[mOff + 14]! | 0;
  let m15 = m[mOff + 15]! | 0;

  let v0 = c0, v1 = c1, v2 = c2, v3 = c3, v4 = c4, v5 = c5, v6 = c6, v7 = c7;
  let v8 = 0x6a09e667 | 0, v9 = 0xbb67ae85 | 0, v10 = 0x3c6ef372 | 0, v11 = 0xa54ff53a | 0;
  let v12 = counterLo | 0, v13 = counterHi | 0, v14 = blockLen | 0, v15 = flags | 0;

  for (let round = 0; round < 7; round++) {
    // Columns.
    v0 = (v0 + v4 + m0) | 0;
    v12 ^= v0;
    v12 = (v12 >>> 16) | (v12 << 16);
    v8 = (v8 + v12) | 0;
    v4 ^= v8;
    v4 = (v4 >>> 12) | (v4 << 20);
    v0 = (v0 + v4 + m1) | 0;
    v12 ^= v0;
    v12 = (v12 >>> 8) | (v12 << 24);
    v8 = (v8 + v12) | 0;
    v4 ^= v8;
    v4 = (v4 >>> 7) | (v4 << 25);

    v1 = (v1 + v5 + m2) | 0;
    v13 ^= v1;
    v13 = (v13 >>> 16) | (v13 << 16);
    v9 = (v9 + v13) | 0;
    v5 ^= v9;
    v5 = (v5 >>> 12) | (v5 << 20);
    v1 = (v1 + v5 + m3) | 0;
    v13 ^= v1;
    v13 = (v13 >>> 8) | (v13 << 24);
    v9 = (v9 + v13) | 0;
    v5 ^= v9;
    v5 = (v5 >>> 7) | (v5 << 25);

    v2 = (v2 + v6 + m4) | 0;
    v14 ^= v2;
    v14 = (v14 >>> 16) | (v14 << 16);
    v10 = (v10 + v14) | 0;
    v6 ^= v10;
    v6 = (v6 >>> 12) | (v6 << 20);
    v2 = (v2 + v6 + m5) | 0;
    v14 ^= v2;
    v14 = (v14 >>> 8) | (v14 << 24);
    v10 = (v10 + v14) | 0;
    v6 ^= v10;
    v6 = (v6 >>> 7) | (v6 << 25);

    v3 = (v3 + v7 + m6) | 0;
    v15 ^= v3;
    v15 = (v15 >>> 16) | (v15 << 16);
    v11 = (v11 + v15) | 0;
    v7 ^= v11;
    v7 = (v7 >>> 12) | (v7 << 20);
    v3 = (v3 + v7 + m7) | 0;
    v15 ^= v3;
    v15 = (v15 >>> 8) | (v15 << 24);
    v11 = (v11 + v15) | 0;
    v7 ^= v11;
    v7 = (v7 >>> 7) | (v7 << 25);

    // Diagonals.
    v0 = (v0 + v5 + m8) | 0;
    v15 ^= v0;
    v15 = (v15 >>> 16) | (v15 << 16);
    v10 = (v10 + v15) | 0;
    v5 ^= v10;
    v5 = (v5 >>> 12) | (v5 << 20);
    v0 = (v0 + v5 + m9) | 0;
    v15 ^= v0;
    v15 = (v15 >>> 8) | (v15 << 24);
    v10 = (v10 + v15) | 0;
    v5 ^= v10;
    v5 = (v5 >>> 7) | (v5 << 25);

    v1 = (v1 + v6 + m10) | 0;
    v12 ^= v1;
    v12 = (v12 >>> 16) | (v12 << 16);
    v11 = (v11 + v12) | 0;
    v6 ^= v11;
    v6 = (v6 >>> 12) | (v6 << 20);
    v1 = (v1 + v6 + m11) | 0;
    v12 ^= v1;
    v12 = (v12 >>> 8) | (v12 << 24);
    v11 = (v11 + v12) | 0;
    v6 ^= v11;
    v6 = (v6 >>> 7) | (v6 << 25);

    v2 = (v2 + v7 + m12) | 0;
    v13 ^= v2;
    v13 = (v13 >>> 16) | (v13 << 16);
    v8 = (v8 + v13) | 0;
    v7 ^= v8;
    v7 = (v7 >>> 12) | (v7 << 20);
    v2 = (v2 + v7 + m13) | 0;
    v13 ^= v2;
    v13 = (v13 >>> 8) | (v13 << 24);
    v8 = (v8 + v13) | 0;
    v7 ^= v8;
    v7 = (v7 >>> 7) | (v7 << 25);

    v3 = (v3 + v4 + m14) | 0;
    v14 ^= v3;
    v14 = (v14 >>> 16) | (v14 << 16);
    v9 = (v9 + v14) | 0;
    v4 ^= v9;
    v4 = (v4 >>> 12) | (v4 << 20);
    v3 = (v3 + v4 + m15) | 0;
    v14 ^= v3;
    v14 = (v14 >>> 8) | (v14 << 24);
    v9 = (v9 + v14) | 0;
    v4 ^= v9;
    v4 = (v4 >>> 7) | (v4 << 25);

    // Message permutation for the next round: m'[i] = m[P[i]] with
    // P = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8].
    const t0 = m0, t1 = m1, t4 = m4, t5 = m5, t8 = m8, t9 = m9, t12 = m12;
    m0 = m2;
    m1 = m6;
    m2 = m3;
    m3 = m10;
    m4 = m7;
    m5 = t0;
    m6 = t4;
    m7 = m13;
    m8 = t1;
    m9 = m11;
    m10 = t12;
    m11 = t5;
    m12 = t9;
    m13 = m14;
    m14 = m15;
    m15 = t8;
  }

  out[outOff] = v0 ^ v8;
  out[outOff + 1] = v1 ^ v9;
  out[outOff + 2] = v2 ^ v10;
  out[outOff + 3] = v3 ^ v11;
  out[outOff + 4] = v4 ^ v12;
  out[outOff + 5] = v5 ^ v13;
  out[outOff + 6] = v6 ^ v14;
  out[outOff + 7] = v7 ^ v15;
  if (wide) {
    out[outOff + 8] = v8 ^ c0;
    out[outOff + 9] = v9 ^ c1;
    out[outOff + 10] = v10 ^ c2;
    out[outOff + 11] = v11 ^ c3;
    out[outOff + 12] = v12 ^ c4;
    out[outOff + 13] = v13 ^ c5;
    out[outOff + 14] = v14 ^ c6;
    out[outOff + 15] = v15 ^ c7;
  }
}

/**
 * Copies `input[start..end)` (at most one chunk) into `chunkWords`, zero-padding the rest and
 * converting to little-endian word order on big-endian hosts.
 */
function loadChunk(input: Uint8Array, start: number, end: number): void {
  if (end - start < CHUNK_LEN) chunkBytes.fill(0);
  chunkBytes.set(input.subarray(start, end));
  if (!LITTLE_ENDIAN) {
    for (let i = 0; i < chunkWords.length; i++) {
      const w = chunkWords[i]!;
      chunkWords[i] = (w >>> 24) | ((w >>> 8) & 0xff00) | ((w << 8) & 0xff0000) | (w << 24);
    }
  }
}

/**
 * Computes the BLAKE3 hash (default, unkeyed mode) of `input`.
 *
 * The first 32 bytes are the standard BLAKE3 digest; longer outputs use BLAKE3's
 * extendable-output mode, and a shorter output is a prefix of any longer one.
 *
 * @param input The bytes to hash.
 * @param outLength Number of output bytes; defaults to 32. Must be a non-negative safe integer.
 * @returns A new `Uint8Array` of `outLength` bytes.
 * @throws {TypeError} If `input` is not a `Uint8Array`.
 * @throws {RangeError} If `outLength` is not a non-negative safe integer.
 *
 * @example Hash a UTF-8 string
 * ```ts
 * import { blake3 } from "@roam/roam/wire";
 *
 * const digest = blake3(new TextEncoder().encode("abc"));
 * const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
 * console.log(hex); // 6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85
 * ```
 *
 * @example Request an extended output
 * ```ts
 * import { blake3 } from "@roam/roam/wire";
 *
 * const long = blake3(new Uint8Array(0), 64);
 * console.log(long.length); // 64
 * ```
 */
export function blake3(input: Uint8Array, outLength = 32): Uint8Array {
  if (!(input instanceof Uint8Array)) {
    throw new TypeError("blake3: input must be a Uint8Array");
  }
  if (!Number.isSafeInteger(outLength) || outLength < 0) {
    throw new RangeError(`blake3: outLength must be a non-negative safe integer, got ${outLength}`);
  }

  const len = input.length;
  const chunkCount = len === 0 ? 1 : Math.ceil(len / CHUNK_LEN);
  // Read whole chunks straight from the input when its words can be viewed in place.
  const direct = LITTLE_ENDIAN && input.byteOffset % 4 === 0
    ? new Uint32Array(input.buffer, input.byteOffset, Math.floor(len / 4))
    : null;

  // Every chunk but the last: compress into a chaining value, then merge completed subtrees.
  let depth = 0;
  for (let chunk = 0; chunk < chunkCount - 1; chunk++) {
    let words: Uint32Array;
    let wordOff: number;
    if (direct !== null) {
      words = direct;
      wordOff = chunk * (CHUNK_LEN / 4);
    } else {
      loadChunk(input, chunk * CHUNK_LEN, (chunk + 1) * CHUNK_LEN);
      words = chunkWords;
      wordOff = 0;
    }
    const slot = depth * 8;
    cvStack.set(IV, slot);
    const lo = chunk >>> 0;
    const hi = Math.floor(chunk / TWO_POW_32);
    for (let block = 0; block < BLOCKS_PER_CHUNK; block++) {
      const flags = (block === 0 ? CHUNK_START : 0) |
        (block === BLOCKS_PER_CHUNK - 1 ? CHUNK_END : 0);
      compress(
        cvStack,
        slot,
        words,
        wordOff + block * 16,
        lo,
        hi,
        BLOCK_LEN,
        flags,
        cvStack,
        slot,
        false,
      );
    }
    // The number of trailing zero bits of the chunk total is the number of subtrees it completes.
    let total = chunk + 1;
    while (total % 2 === 0) {
      const left = (depth - 1) * 8;
      compress(IV, 0, cvStack, left, 0, 0, BLOCK_LEN, PARENT, cvStack, left, false);
      depth--;
      total /= 2;
    }
    depth++;
  }

  // The last chunk: compress all but its final block, which stays pending as the current node.
  const last = chunkCount - 1;
  const lastStart = last * CHUNK_LEN;
  loadChunk(input, lastStart, len);
  const lastBlocks = Math.max(1, Math.ceil((len - lastStart) / BLOCK_LEN));
  let counterLo = last >>> 0;
  let counterHi = Math.floor(last / TWO_POW_32);
  nodeCv.set(IV);
  for (let block = 0; block < lastBlocks - 1; block++) {
    const flags = block === 0 ? CHUNK_START : 0;
    compress(
      nodeCv,
      0,
      chunkWords,
      block * 16,
      counterLo,
      counterHi,
      BLOCK_LEN,
      flags,
      nodeCv,
      0,
      false,
    );
  }
  const finalOff = (lastBlocks - 1) * 16;
  for (let i = 0; i < 16; i++) nodeBlock[i] = chunkWords[finalOff + i]!;
  let blockLen = len - lastStart - (lastBlocks - 1) * BLOCK_LEN;
  let flags = (lastBlocks === 1 ? CHUNK_START : 0) | CHUNK_END;

  // Fold the stack from the top: each stacked value is the left sibling of the pending node.
  for (let level = depth - 1; level >= 0; level--) {
    compress(nodeCv, 0, nodeBlock, 0, counterLo, counterHi, blockLen, flags, nodeBlock, 8, false);
    for (let i = 0; i < 8; i++) nodeBlock[i] = cvStack[level * 8 + i]!;
    nodeCv.set(IV);
    counterLo = 0;
    counterHi = 0;
    blockLen = BLOCK_LEN;
    flags = PARENT;
  }

  // Root output: compress the pending node with ROOT set once per 64 output bytes.
  const out = new Uint8Array(outLength);
  let pos = 0;
  for (let outBlock = 0; pos < outLength; outBlock++) {
    const lo = outBlock >>> 0;
    const hi = Math.floor(outBlock / TWO_POW_32);
    compress(nodeCv, 0, nodeBlock, 0, lo, hi, blockLen, flags | ROOT, outWords, 0, true);
    for (let i = 0; i < 16 && pos < outLength; i++) {
      const w = outWords[i]!;
      out[pos++] = w & 0xff;
      if (pos < outLength) out[pos++] = (w >>> 8) & 0xff;
      if (pos < outLength) out[pos++] = (w >>> 16) & 0xff;
      if (pos < outLength) out[pos++] = w >>> 24;
    }
  }
  return out;
}
