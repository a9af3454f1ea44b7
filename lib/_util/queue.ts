/**
 * A FIFO queue without `Array.shift()` (which is linear in the queue
 * length): a ring buffer whose capacity doubles when it fills, so a queue
 * that is filled and emptied over and over allocates nothing.
 *
 * @module
 */

const INITIAL = 16;

/** A first-in, first-out queue. */
export class Queue<T> {
  #items: (T | undefined)[] = new Array(INITIAL).fill(undefined);
  #mask = INITIAL - 1;
  #head = 0;
  #length = 0;

  /** Number of queued items. */
  get length(): number {
    return this.#length;
  }

  /** Appends an item. */
  push(item: T): void {
    if (this.#length > this.#mask) this.#grow();
    this.#items[(this.#head + this.#length) & this.#mask] = item;
    this.#length++;
  }

  /** The oldest item, left in the queue, or undefined when empty. */
  peek(): T | undefined {
    return this.#length === 0 ? undefined : this.#items[this.#head];
  }

  /** Removes and returns the oldest item, or undefined when empty. */
  shift(): T | undefined {
    if (this.#length === 0) return undefined;
    const head = this.#head;
    const item = this.#items[head];
    this.#items[head] = undefined; // do not keep it alive
    this.#head = (head + 1) & this.#mask;
    this.#length--;
    return item;
  }

  /** Removes and returns every item, oldest first. */
  drain(): T[] {
    const out: T[] = [];
    for (let i = 0; i < this.#length; i++) {
      const at = (this.#head + i) & this.#mask;
      out.push(this.#items[at] as T);
      this.#items[at] = undefined;
    }
    this.#head = 0;
    this.#length = 0;
    return out;
  }

  #grow(): void {
    const old = this.#items;
    const size = old.length;
    const next: (T | undefined)[] = new Array(size * 2).fill(undefined);
    for (let i = 0; i < size; i++) next[i] = old[(this.#head + i) & this.#mask];
    this.#items = next;
    this.#mask = size * 2 - 1;
    this.#head = 0;
  }
}
