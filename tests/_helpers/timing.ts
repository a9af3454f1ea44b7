/**
 * Waiting in tests without hanging and without leaving a timer behind
 * (Deno's sanitizers fail a test that does): deadlines on promises,
 * polling, settling, and a count of the timers a piece of code forgets.
 *
 * @module
 */

import assert from "node:assert/strict";

/** Resolves after `ms` milliseconds (the timer always fires). */
export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Lets queued microtasks, stream internals and zero-delay timers run. */
export function tick(): Promise<void> {
  return delay(0);
}

/**
 * Awaits `p`, failing with a clear message instead of hanging when it
 * takes longer than `ms`. The guard timer is always cleared.
 */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `cond` every few milliseconds until it holds, failing after `ms`. */
export async function until(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) {
      throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    }
    await delay(2);
  }
}

/** Settles `p` into its value or its error, so a rejection is never unhandled. */
export function settle<T>(
  p: Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

/** Waits for `p` to reject and returns the reason; fails if it resolves or takes over `ms`. */
export async function rejection(p: Promise<unknown>, ms = 2000): Promise<unknown> {
  try {
    await within(p, ms, "the promise");
  } catch (e) {
    return e;
  }
  return assert.fail("expected a rejection, but the promise resolved");
}

/** A promise with its resolve and reject functions outside. */
export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

/** Makes a {@linkcode Deferred}. */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * Records the timers made through the global `setTimeout` while `fn`
 * runs, and returns how many of them neither fired nor were cleared
 * (those are cleared afterwards).
 */
export async function pendingTimersAfter(fn: () => Promise<unknown>): Promise<number> {
  const g = globalThis as unknown as {
    setTimeout: (cb: (...a: unknown[]) => void, ms?: number, ...a: unknown[]) => unknown;
    clearTimeout: (id: unknown) => void;
  };
  const realSet = g.setTimeout;
  const realClear = g.clearTimeout;
  const live = new Set<unknown>();
  g.setTimeout = (cb, ms, ...rest) => {
    const id: unknown = realSet(
      (...a: unknown[]) => {
        live.delete(id);
        cb(...a);
      },
      ms,
      ...rest,
    );
    live.add(id);
    return id;
  };
  g.clearTimeout = (id) => {
    live.delete(id);
    realClear(id);
  };
  try {
    await fn();
  } finally {
    g.setTimeout = realSet;
    g.clearTimeout = realClear;
  }
  const left = live.size;
  for (const id of live) realClear(id);
  return left;
}
