/**
 * Seeded randomness for randomised tests. Each test has a fixed default
 * seed, so a run is reproducible; `ROAM_TEST_SEED` (an integer, decimal or
 * `0x` hex, or `random`) replaces every default to explore other inputs.
 * A failure inside {@linkcode seeded} names the seed it ran with and how
 * to run it again.
 *
 * @module
 */

import process from "node:process";

/** A random number in [0, 1), like `Math.random`. */
export type Rng = () => number;

/** mulberry32: a small, fast PRNG with a 32-bit state. */
export function prng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed a test runs with: `ROAM_TEST_SEED` when set, else `fallback`. */
export function seedOf(fallback: number): number {
  const env = process.env.ROAM_TEST_SEED?.trim();
  if (env === undefined || env === "") return fallback >>> 0;
  if (env === "random") return Math.floor(Math.random() * 0x1_0000_0000);
  const n = Number(env);
  if (!Number.isInteger(n)) throw new Error(`ROAM_TEST_SEED must be an integer or "random"`);
  return n >>> 0;
}

/** Appends the seed to a failure's message (and its stack, which runners print). */
function noteSeed(e: unknown, seed: number): unknown {
  if (e instanceof Error) {
    const before = e.message;
    const hex = `0x${seed.toString(16)}`;
    e.message = `${before} [seed ${hex}; run again with ROAM_TEST_SEED=${hex}]`;
    if (typeof e.stack === "string" && before.length > 0) {
      e.stack = e.stack.replace(before, e.message);
    }
  }
  return e;
}

/**
 * Runs `body` with a PRNG seeded by {@linkcode seedOf}(`fallback`); an
 * error it throws (or a promise it returns rejects with) names the seed.
 */
export function seeded<T>(fallback: number, body: (rng: Rng, seed: number) => T): T {
  const seed = seedOf(fallback);
  let out: T;
  try {
    out = body(prng(seed), seed);
  } catch (e) {
    throw noteSeed(e, seed);
  }
  if (out instanceof Promise) {
    return out.catch((e: unknown) => {
      throw noteSeed(e, seed);
    }) as T;
  }
  return out;
}

/** `count` distinct integers from [0, n), in increasing order, all of them when `count >= n`. */
export function sample(rng: Rng, n: number, count: number): number[] {
  if (count >= n) return Array.from({ length: n }, (_, i) => i);
  const picked = new Set<number>();
  while (picked.size < count) picked.add(Math.floor(rng() * n));
  return [...picked].sort((a, b) => a - b);
}
