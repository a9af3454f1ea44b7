/**
 * The replay buffer of a stable conduit (wire-spec §5.3): the complete
 * bytes of every frame sent and not yet acknowledged, oldest first, and
 * their total size. An ack drops every frame up to it; a resume re-sends
 * the rest unchanged.
 *
 * Frames are written back to back into 64 KiB chunks (allocating an array
 * per frame is slow: Deno allocates every `ArrayBuffer` outside the heap);
 * a chunk is reused from its start whenever every frame has been
 * acknowledged, and dropped once no frame in it is held. A large frame
 * gets an array of its own.
 *
 * @module
 */

const INITIAL = 64;
/** Size of a chunk. */
const CHUNK = 64 * 1024;
/** Frames above this size get an array of their own. */
const OWN_ARRAY = 16 * 1024;

/** Frames sent and not yet acknowledged by the peer. */
export class ReplayBuffer {
  #seqs: Uint32Array = new Uint32Array(INITIAL);
  #bufs: (Uint8Array | undefined)[] = new Array(INITIAL).fill(undefined);
  #offs: Float64Array = new Float64Array(INITIAL);
  #lens: Float64Array = new Float64Array(INITIAL);
  #mask = INITIAL - 1;
  #head = 0;
  #length = 0;
  #bytes = 0;
  /** The chunk frames are written into, and where the next one goes. */
  #chunk: Uint8Array = new Uint8Array(0);
  #pos = 0;
  /** Where {@linkcode ReplayBuffer.reserve} put the frame being written. */
  buf: Uint8Array = this.#chunk;
  /** Its offset in `buf`. */
  off = 0;

  /** Frames held. */
  get length(): number {
    return this.#length;
  }

  /** Bytes held (the frames' sizes). */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Makes room for a frame of `size` bytes: write it at `buf[off, off +
   * size)`, then {@linkcode ReplayBuffer.push} it.
   */
  reserve(size: number): void {
    if (size > OWN_ARRAY) {
      this.buf = new Uint8Array(size);
      this.off = 0;
      return;
    }
    if (this.#pos + size > this.#chunk.length) {
      this.#chunk = new Uint8Array(CHUNK);
      this.#pos = 0;
    }
    this.buf = this.#chunk;
    this.off = this.#pos;
    this.#pos += size;
  }

  /** Keeps the frame just written at `buf[off, off + size)`, sent with sequence number `seq`. */
  push(seq: number, size: number): void {
    if (this.#length > this.#mask) this.#grow();
    const at = (this.#head + this.#length) & this.#mask;
    this.#seqs[at] = seq;
    this.#bufs[at] = this.buf;
    this.#offs[at] = this.off;
    this.#lens[at] = size;
    this.#length++;
    this.#bytes += size;
  }

  /**
   * Drops the frames from the oldest on while their sequence number is at
   * most `ack`: a plain comparison, no wrap handling, as the Rust runtime
   * does.
   *
   * @returns True when anything was dropped.
   */
  trim(ack: number): boolean {
    let dropped = false;
    while (this.#length > 0 && this.#seqs[this.#head]! <= ack) {
      const head = this.#head;
      this.#bytes -= this.#lens[head]!;
      this.#bufs[head] = undefined;
      this.#head = (head + 1) & this.#mask;
      this.#length--;
      dropped = true;
    }
    // Nothing held: the chunk is written from its start again.
    if (this.#length === 0) this.#pos = 0;
    return dropped;
  }

  /** Calls `f` with every frame held (`buf[off, off + size)`), oldest first. */
  forEach(f: (buf: Uint8Array, off: number, size: number, seq: number) => void): void {
    for (let i = 0; i < this.#length; i++) {
      const at = (this.#head + i) & this.#mask;
      f(this.#bufs[at]!, this.#offs[at]!, this.#lens[at]!, this.#seqs[at]!);
    }
  }

  /** Drops every frame. */
  clear(): void {
    this.#bufs.fill(undefined);
    this.#head = 0;
    this.#length = 0;
    this.#bytes = 0;
    this.#pos = 0;
  }

  #grow(): void {
    const size = this.#bufs.length;
    const seqs = new Uint32Array(size * 2);
    const bufs: (Uint8Array | undefined)[] = new Array(size * 2).fill(undefined);
    const offs = new Float64Array(size * 2);
    const lens = new Float64Array(size * 2);
    for (let i = 0; i < size; i++) {
      const at = (this.#head + i) & this.#mask;
      seqs[i] = this.#seqs[at]!;
      bufs[i] = this.#bufs[at];
      offs[i] = this.#offs[at]!;
      lens[i] = this.#lens[at]!;
    }
    this.#seqs = seqs;
    this.#bufs = bufs;
    this.#offs = offs;
    this.#lens = lens;
    this.#mask = size * 2 - 1;
    this.#head = 0;
  }
}
