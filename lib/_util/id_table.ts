/**
 * A table from request ids (non-negative safe integers) to values, for the
 * calls in flight on a connection: an open-addressing hash table with
 * linear probing over a `Float64Array` of keys. A `Map` costs about 40 ns
 * per call to set, get and delete on JavaScriptCore (the ids only grow, so
 * its entries churn); this costs a fifth of that, and its memory follows
 * the number of entries (it shrinks as it rehashes).
 *
 * @module
 */

const EMPTY = -1;
const DELETED = -2;
const MIN_CAPACITY = 16;
/** A table emptied is refilled in place up to this capacity, made anew above it. */
const REFILL_MAX = 1024;
/** The keys of a table that has no slots yet (never written to). */
const NO_KEYS = new Float64Array(0);
/** The values of such a table (never written: the first `set` makes the slots). */
const NO_VALUES: never[] = [];
/** Fibonacci hashing: spreads consecutive ids (and ids of one parity) over the table. */
const GOLDEN = 0x9e3779b1;

/** Maps request ids to values. */
export class IdTable<V> {
  #keys!: Float64Array;
  #values!: (V | undefined)[];
  /** Live entries. */
  #size = 0;
  /** Live entries and tombstones: probing stops only at an empty slot. */
  #used = 0;
  #mask = 0;
  #shift = 0;
  /**
   * Mixed into every id before hashing, different for each table: the ids
   * of incoming calls are the peer's choice, and a peer that could predict
   * the slots could pick ids that all collide.
   */
  readonly #seed = (Math.random() * 0x1_0000_0000) | 0;

  constructor() {
    // No slots until the first id: a connection that never makes (or serves) a call holds none.
    this.#reset(0);
  }

  /** How many ids the table holds. */
  get size(): number {
    return this.#size;
  }

  /** Slots the table has now (for tests: it follows the entries, and is 0 until the first). */
  get capacity(): number {
    return this.#keys.length;
  }

  #slot(id: number): number {
    return Math.imul((id | 0) ^ this.#seed, GOLDEN) >>> this.#shift;
  }

  /** The slot holding `id`, or -1. */
  #find(id: number): number {
    if (this.#size === 0) return -1;
    const keys = this.#keys;
    const mask = this.#mask;
    for (let i = this.#slot(id);; i = (i + 1) & mask) {
      const k = keys[i]!;
      if (k === id) return i;
      if (k === EMPTY) return -1;
    }
  }

  /** The value of `id`, or undefined. */
  get(id: number): V | undefined {
    const i = this.#find(id);
    return i < 0 ? undefined : this.#values[i];
  }

  /** True when the table holds `id`. */
  has(id: number): boolean {
    return this.#find(id) >= 0;
  }

  /** Sets the value of `id` (a non-negative safe integer), replacing any. */
  set(id: number, value: V): void {
    const existing = this.#find(id);
    if (existing >= 0) {
      this.#values[existing] = value;
      return;
    }
    if ((this.#used + 1) * 2 > this.#keys.length) this.#rehash();
    const keys = this.#keys;
    const mask = this.#mask;
    let i = this.#slot(id);
    for (;; i = (i + 1) & mask) {
      const k = keys[i]!;
      if (k === EMPTY) {
        this.#used++;
        break;
      }
      if (k === DELETED) break;
    }
    keys[i] = id;
    this.#values[i] = value;
    this.#size++;
  }

  /** Removes `id`; returns its value, or undefined when it was not there. */
  take(id: number): V | undefined {
    const i = this.#find(id);
    return i < 0 ? undefined : this.#remove(i);
  }

  /** Removes `id`; returns whether it was there. */
  delete(id: number): boolean {
    const i = this.#find(id);
    if (i < 0) return false;
    this.#remove(i);
    return true;
  }

  /** Empties slot `i` (leaving a tombstone); returns the value it held. */
  #remove(i: number): V | undefined {
    const v = this.#values[i];
    this.#keys[i] = DELETED;
    this.#values[i] = undefined;
    if (--this.#size === 0) this.#clearSlots();
    return v;
  }

  /** The values, in no particular order (a copy: the table may change meanwhile). */
  values(): V[] {
    const out: V[] = [];
    const keys = this.#keys;
    for (let i = 0; i < keys.length; i++) {
      if (keys[i]! >= 0) out.push(this.#values[i]!);
    }
    return out;
  }

  /** Removes every id, and gives back the memory of a table that grew. */
  clear(): void {
    this.#reset(0);
  }

  /** Empty arrays of `capacity` slots. */
  #reset(capacity: number): void {
    this.#keys = capacity === 0 ? NO_KEYS : new Float64Array(capacity).fill(EMPTY);
    this.#values = capacity === 0 ? NO_VALUES : new Array<V | undefined>(capacity).fill(undefined);
    this.#mask = capacity - 1;
    this.#shift = capacity === 0 ? 0 : 32 - Math.log2(capacity);
    this.#size = 0;
    this.#used = 0;
  }

  /** Empty again: tombstones go too (a table grown large by a burst is made small again). */
  #clearSlots(): void {
    if (this.#used === 0) return;
    if (this.#keys.length > REFILL_MAX) {
      this.#reset(0);
      return;
    }
    this.#keys.fill(EMPTY);
    this.#values.fill(undefined);
    this.#used = 0;
  }

  /** Drops tombstones, growing (or shrinking) to keep the table at most a quarter full after. */
  #rehash(): void {
    let capacity = MIN_CAPACITY;
    while (capacity < this.#size * 4) capacity *= 2;
    this.#resize(capacity);
  }

  /** Moves the live entries into new arrays of `capacity` slots (more than twice as many). */
  #resize(capacity: number): void {
    const keys = this.#keys;
    const values = this.#values;
    this.#reset(capacity);
    const mask = this.#mask;
    for (let j = 0; j < keys.length; j++) {
      const id = keys[j]!;
      if (id < 0) continue;
      let i = this.#slot(id);
      while (this.#keys[i] !== EMPTY) i = (i + 1) & mask;
      this.#keys[i] = id;
      this.#values[i] = values[j];
      this.#size++;
      this.#used++;
    }
  }
}
