/**
 * The table of calls in flight by request id: it agrees with a `Map` under
 * any mix of operations, with ids of both parities, large ids, bursts and
 * emptying; and its memory follows the entries it holds.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { IdTable } from "../../lib/_util/id_table.ts";
import { seeded } from "../_helpers/mod.ts";

test("IdTable agrees with a Map under a seeded mix of set, get, has, take, delete and clear", () => {
  seeded(0x1d7ab1e, (rng) => {
    const table = new IdTable<string>();
    const map = new Map<number, string>();
    let next = 1;
    const live: number[] = [];
    for (let step = 0; step < 50_000; step++) {
      const r = rng();
      if (r < 0.4) {
        // New ids mostly grow, as a connection allocates them; some are the peer's, any parity.
        const id = rng() < 0.8 ? (next += 2) : Math.floor(rng() * 2 ** 40);
        const v = `v${step}`;
        table.set(id, v);
        if (!map.has(id)) live.push(id);
        map.set(id, v);
      } else if (r < 0.75 && live.length > 0) {
        const at = Math.floor(rng() * live.length);
        const id = live[at]!;
        live[at] = live[live.length - 1]!;
        live.pop();
        if (rng() < 0.5) assert.equal(table.take(id), map.get(id));
        else assert.equal(table.delete(id), true);
        map.delete(id);
      } else if (r < 0.95) {
        const id = rng() < 0.5 && live.length > 0
          ? live[Math.floor(rng() * live.length)]!
          : Math.floor(rng() * next);
        assert.equal(table.get(id), map.get(id));
        assert.equal(table.has(id), map.has(id));
      } else if (r < 0.9995) {
        assert.equal(table.delete(-5 - step), false);
        assert.equal(table.take(next + 1), undefined);
      } else {
        table.clear();
        map.clear();
        live.length = 0;
      }
      assert.equal(table.size, map.size);
    }
    assert.deepEqual(table.values().sort(), [...map.values()].sort());
  });
});

test("IdTable replaces the value of an id set twice, and holds ids past 2^32 exactly", () => {
  const table = new IdTable<number>();
  table.set(7, 1);
  table.set(7, 2);
  assert.equal(table.size, 1);
  assert.equal(table.get(7), 2);
  const big = 2 ** 32 + 7; // the same low 32 bits as 7
  table.set(big, 3);
  assert.equal(table.get(big), 3);
  assert.equal(table.get(7), 2);
  assert.equal(table.take(7), 2);
  assert.equal(table.get(big), 3);
  assert.equal(table.get(7), undefined);
  table.set(Number.MAX_SAFE_INTEGER, 4);
  assert.equal(table.get(Number.MAX_SAFE_INTEGER), 4);
  assert.equal(table.size, 2);
});

test("IdTable holds no slots until its first id, grows for a burst of 100,000 and shrinks back", () => {
  const table = new IdTable<object>();
  assert.equal(table.capacity, 0);
  assert.equal(table.get(1), undefined);
  assert.equal(table.delete(1), false);
  assert.deepEqual(table.values(), []);
  const v = {};
  for (let id = 1; id <= 200_000; id += 2) table.set(id, v);
  assert.equal(table.size, 100_000);
  assert.ok(table.capacity >= 200_000 && table.capacity <= 524_288, `${table.capacity}`);
  for (let id = 1; id <= 200_000; id += 2) assert.equal(table.take(id), v);
  assert.equal(table.size, 0);
  assert.equal(table.capacity, 0);
  // Emptied, the table is small again: one more id, then the same steady traffic as before.
  for (let round = 0; round < 1000; round++) {
    for (let i = 0; i < 64; i++) table.set(300_000 + round * 128 + 2 * i, v);
    for (let i = 0; i < 64; i++) assert.equal(table.take(300_000 + round * 128 + 2 * i), v);
  }
  assert.equal(table.size, 0);
  assert.ok(table.capacity <= 256, `${table.capacity}`);
  assert.deepEqual(table.values(), []);
});
