/**
 * The internal FIFO queue every stream and channel buffers through: order
 * across wrap-around and growth, draining, and releasing what it held.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { Queue } from "../../lib/_util/queue.ts";
import { delay } from "../_helpers/mod.ts";

test("Queue keeps first-in first-out order while it wraps around and grows", () => {
  const q = new Queue<number>();
  const expected: number[] = [];
  let next = 0;
  // Uneven pushes and shifts move the head around the ring and force growth several times.
  for (let round = 0; round < 200; round++) {
    for (let i = 0; i < (round % 7) + 3; i++) {
      q.push(next);
      expected.push(next++);
    }
    for (let i = 0; i < (round % 5) + 1; i++) assert.equal(q.shift(), expected.shift());
    assert.equal(q.length, expected.length);
  }
  while (expected.length > 0) assert.equal(q.shift(), expected.shift());
  assert.equal(q.length, 0);
  assert.equal(q.shift(), undefined);
});

test("Queue.drain returns every item oldest first and leaves the queue empty and usable", () => {
  const q = new Queue<string>();
  for (let i = 0; i < 20; i++) q.push(`a${i}`);
  for (let i = 0; i < 15; i++) q.shift();
  for (let i = 0; i < 30; i++) q.push(`b${i}`); // wraps, then grows
  const drained = q.drain();
  assert.deepEqual(drained, [
    ...Array.from({ length: 5 }, (_, i) => `a${i + 15}`),
    ...Array.from({ length: 30 }, (_, i) => `b${i}`),
  ]);
  assert.equal(q.length, 0);
  assert.equal(q.shift(), undefined);
  q.push("c");
  assert.equal(q.length, 1);
  assert.equal(q.shift(), "c");
});

test("Queue holds falsy items and tells them apart from empty only by length", () => {
  const q = new Queue<number | null>();
  q.push(0);
  q.push(null);
  assert.equal(q.length, 2);
  assert.equal(q.shift(), 0);
  assert.equal(q.shift(), null);
  assert.equal(q.length, 0);
});

/** A forced garbage collection, where the runtime offers one (Bun does; Deno only with `--expose-gc`). */
const forceGc: (() => void) | undefined = (globalThis as { gc?: () => void }).gc ??
  (() => {
    const bun = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun;
    return bun === undefined ? undefined : () => bun.gc(true);
  })();

test("Queue lets go of items once they are shifted", {
  skip: forceGc === undefined && "this runtime cannot force a garbage collection",
}, async () => {
  const q = new Queue<object>();
  let collected = false;
  const registry = new FinalizationRegistry(() => {
    collected = true;
  });
  (() => {
    const item = {};
    registry.register(item, "item");
    q.push(item);
    q.shift();
  })();
  for (let i = 0; i < 20 && !collected; i++) {
    forceGc!();
    await delay(10);
  }
  assert.ok(collected, "a shifted item is still referenced by the queue");
});
