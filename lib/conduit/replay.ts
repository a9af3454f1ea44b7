/**
 * The replay buffer of a stable conduit (wire-spec §5.3): the complete
 * bytes of every frame sent and not yet acknowledged, oldest first, and
 * their total size. An ack drops every frame up to it; a resume re-sends
 * the rest unchanged.
 *
 * @module
 */

const INITIAL = 64;

/** Frames sent and not yet acknowledged by the peer. */
export class ReplayBuffer {
  #seqs: Uint32Array = new Uint32Array(INITIAL);
  #frames: (Uint8Array | undefined)[] = new Array(INITIAL).fill(undefined);
  #mask = INITIAL - 1;
  #head = 0;
  #length = 0;
  #bytes = 0;

  /** Frames held. */
  get length(): number {
    return this.#length;
  }

  /** Bytes held (the frames' sizes). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Appends a frame sent with sequence number `seq`. */
  push(seq: number, frame: Uint8Array): void {
    if (this.#length > this.#mask) this.#grow();
    const at = (this.#head + this.#length) & this.#mask;
    this.#seqs[at] = seq;
    this.#frames[at] = frame;
    this.#length++;
    this.#bytes += frame.length;
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
      this.#bytes -= this.#frames[head]!.length;
      this.#frames[head] = undefined;
      this.#head = (head + 1) & this.#mask;
      this.#length--;
      dropped = true;
    }
    return dropped;
  }

  /** Calls `f` with every frame held, oldest first. */
  forEach(f: (frame: Uint8Array, seq: number) => void): void {
    for (let i = 0; i < this.#length; i++) {
      const at = (this.#head + i) & this.#mask;
      f(this.#frames[at]!, this.#seqs[at]!);
    }
  }

  /** Drops every frame. */
  clear(): void {
    this.#frames.fill(undefined);
    this.#head = 0;
    this.#length = 0;
    this.#bytes = 0;
  }

  #grow(): void {
    const size = this.#frames.length;
    const seqs = new Uint32Array(size * 2);
    const frames: (Uint8Array | undefined)[] = new Array(size * 2).fill(undefined);
    for (let i = 0; i < size; i++) {
      const at = (this.#head + i) & this.#mask;
      seqs[i] = this.#seqs[at]!;
      frames[i] = this.#frames[at];
    }
    this.#seqs = seqs;
    this.#frames = frames;
    this.#mask = size * 2 - 1;
    this.#head = 0;
  }
}
