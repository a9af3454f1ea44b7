/**
 * Cancel-safe receives: a `recv()` that lost a `Promise.race`, or was
 * aborted by its signal, never takes an item from the consumer that goes
 * on receiving. Every item arrives once, in order, and credit keeps
 * flowing back to the sender.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { channel, implement, type Rx, service, t } from "../../mod.ts";
import { closeAll, deferred, delay, prng, sessionPair, settle, within } from "../_helpers/mod.ts";

const Source = service("Source", {
  /** Sends 0..n in bursts, each burst after the receiver's next timeout. */
  run: { args: [t.u32, t.u32, t.tx(t.u32)], returns: t.unit },
});

/**
 * A server whose `Source.run(n, seed, tx)` sends `0..n` in bursts of 1 to
 * 36 items (sizes drawn from `seed`), starting each burst only after the
 * receiver reported a timeout with `timedOut()`: so every burst arrives
 * while a receive that lost its race is still pending.
 */
function source(): { impl: ReturnType<typeof implement>; timedOut(): void } {
  let owed = 0;
  let wake: (() => void) | undefined;
  const timedOut = (): void => {
    owed++;
    wake?.();
  };
  const impl = implement(Source, {
    run: async (n, seed, tx) => {
      const rng = prng(seed);
      let i = 0;
      while (i < n) {
        while (owed === 0) await new Promise<void>((r) => (wake = r));
        owed--;
        const burst = Math.min(n - i, 1 + Math.floor(rng() * 20));
        for (let k = 0; k < burst; k++) await tx.send(i++);
      }
      await tx.close();
    },
  });
  return { impl, timedOut };
}

/** One receive racing a timer: the item, the end, or "timeout". */
type Raced = { done: false; value: number } | { done: true } | "timeout";

/** `rx.recv()` against a 0 ms timer, as `Promise.race` users write it. */
async function raceRecv(rx: Rx<number>): Promise<Raced> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), 0)));
  try {
    return await Promise.race([rx.recv() as Promise<Raced>, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** `rx.recv({ signal })` whose signal a 0 ms timer aborts. */
async function abortableRecv(rx: Rx<number>): Promise<Raced> {
  const controller = new AbortController();
  const reason = new Error("deadline");
  const timer = setTimeout(() => controller.abort(reason), 0);
  try {
    return await rx.recv({ signal: controller.signal }) as Raced;
  } catch (e) {
    if (e === reason) return "timeout";
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

async function receiveRacing(
  receive: (rx: Rx<number>) => Promise<Raced>,
  seed: number,
): Promise<void> {
  const items = 9500;
  const s = source();
  const { client, server } = await sessionPair({}, { services: [s.impl] });
  try {
    const [tx, rx] = channel<number>();
    const call = client.client(Source).run(items, seed, tx);
    const got: number[] = [];
    let receives = 0;
    let timeouts = 0;
    for (;;) {
      receives++;
      const r = await receive(rx);
      if (r === "timeout") {
        timeouts++;
        s.timedOut();
        continue;
      }
      if (r.done) break;
      got.push(r.value);
    }
    await within(call, 5000, "Source.run");
    assert.ok(receives >= 10_000, `only ${receives} receives`);
    assert.ok(timeouts >= 250, `only ${timeouts} receives timed out`);
    assert.equal(got.length, items, `received ${got.length} items of ${items}`);
    for (let i = 0; i < items; i++) {
      if (got[i] !== i) assert.fail(`item ${i} is ${got[i]}`);
    }
  } catch (e) {
    console.error(`seed ${seed}`);
    throw e;
  } finally {
    await closeAll(client, server);
  }
}

test("10,000 recv() calls racing timeouts receive every item once, in order", {
  timeout: 60_000,
}, async () => {
  await receiveRacing(raceRecv, (Math.random() * 2 ** 32) >>> 0);
});

test("10,000 recv({ signal }) calls aborted by timeouts receive every item once, in order", {
  timeout: 60_000,
}, async () => {
  await receiveRacing(abortableRecv, (Math.random() * 2 ** 32) >>> 0);
});

const Numbers = service("Numbers", { send: { args: [t.u32, t.tx(t.u32)], returns: t.unit } });

/** A server whose `Numbers.send(n, tx)` waits for `go`, then sends `0..n` and closes. */
async function gatedPair(): Promise<{
  rx: Rx<number>;
  go(): void;
  call: Promise<undefined>;
  close(): Promise<void>;
}> {
  const gate = deferred();
  const { client, server } = await sessionPair({}, {
    services: [implement(Numbers, {
      send: async (n, tx) => {
        await gate.promise;
        for (let i = 0; i < n; i++) await tx.send(i);
        await tx.close();
      },
    })],
  });
  const [tx, rx] = channel<number>();
  const call = client.client(Numbers).send(3, tx);
  return { rx, go: gate.resolve, call, close: () => closeAll(client, server) };
}

test("a recv() that lost a Promise.race does not take the first item from a later for await", async () => {
  const p = await gatedPair();
  try {
    assert.equal(await raceRecv(p.rx), "timeout");
    p.go();
    const got: number[] = [];
    for await (const v of p.rx) got.push(v);
    assert.deepEqual(got, [0, 1, 2]);
    await p.call;
  } finally {
    await p.close();
  }
});

test("a recv() aborted by its signal takes no item, even one arriving after the abort", async () => {
  const p = await gatedPair();
  try {
    const controller = new AbortController();
    const abandoned = settle(p.rx.recv({ signal: controller.signal }));
    const reason = new Error("stop waiting");
    controller.abort(reason);
    assert.deepEqual(await abandoned, { ok: false, error: reason });
    // Nothing else waits when the items arrive: they stay buffered.
    p.go();
    await p.call;
    assert.equal(p.rx.buffered, 3);
    assert.deepEqual(await p.rx.recv(), { done: false, value: 0 });
    assert.deepEqual(await p.rx.recv(), { done: false, value: 1 });
    assert.deepEqual(await p.rx.recv(), { done: false, value: 2 });
    assert.deepEqual(await p.rx.recv(), { done: true, value: undefined });
  } finally {
    await p.close();
  }
});

test("recv() with a signal aborted already rejects with its reason and leaves the item buffered", async () => {
  const p = await gatedPair();
  try {
    p.go();
    await p.call;
    assert.equal(p.rx.buffered, 3);
    const reason = new Error("already aborted");
    await assert.rejects(p.rx.recv({ signal: AbortSignal.abort(reason) }), (e) => e === reason);
    assert.equal(p.rx.buffered, 3);
    assert.deepEqual(await p.rx.recv(), { done: false, value: 0 });
  } finally {
    await p.close();
  }
});

test("receives waiting together share the next item, which is consumed once", async () => {
  const p = await gatedPair();
  try {
    const first = p.rx.recv();
    const second = p.rx.recv();
    p.go();
    assert.deepEqual(await first, { done: false, value: 0 });
    assert.deepEqual(await second, { done: false, value: 0 });
    assert.deepEqual(await p.rx.recv(), { done: false, value: 1 });
    assert.deepEqual(await p.rx.recv(), { done: false, value: 2 });
    assert.deepEqual(await p.rx.recv(), { done: true, value: undefined });
  } finally {
    await p.close();
  }
});

test("aborting one of two waiting receives leaves the item to the other", async () => {
  const p = await gatedPair();
  try {
    const controller = new AbortController();
    const aborted = settle(p.rx.recv({ signal: controller.signal }));
    const kept = p.rx.recv();
    controller.abort();
    assert.equal((await aborted).ok, false);
    p.go();
    assert.deepEqual(await kept, { done: false, value: 0 });
    assert.deepEqual(await p.rx.recv(), { done: false, value: 1 });
  } finally {
    await p.close();
  }
});

test("a recv() that timed out while the stream was idle leaves the next item to the reader", async () => {
  // The common shape: a loop that polls with a deadline and carries on.
  const p = await gatedPair();
  try {
    assert.equal(await raceRecv(p.rx), "timeout");
    assert.equal(await raceRecv(p.rx), "timeout");
    const next = p.rx.recv();
    p.go();
    assert.deepEqual(await next, { done: false, value: 0 });
    await delay(5);
    assert.deepEqual(await p.rx.recv(), { done: false, value: 1 });
    assert.deepEqual(await p.rx.recv(), { done: false, value: 2 });
    assert.deepEqual(await p.rx.recv(), { done: true, value: undefined });
  } finally {
    await p.close();
  }
});
