/**
 * How a proxy relays a call's channels: items go on as bytes, at once
 * while the outgoing link takes them and queued behind what waits when it
 * does not, so order holds through a link that fills and drains; `Close`
 * and `Reset` cross with their metadata minus `NO_PROPAGATE` entries.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  accept,
  channel,
  ChannelResetError,
  implement,
  initiate,
  memoryLink,
  type Metadata,
  NO_PROPAGATE,
  proxy,
  service,
  type Session,
  type SessionLimits,
  t,
} from "../../mod.ts";

const Relay = service("RelayLab", {
  /** Checks the items' sequence numbers and sizes; returns how many came. */
  take: { args: [t.rx(t.bytes)], returns: t.u32 },
  /** Sends `n` numbered items of varying sizes. */
  give: { args: [t.u32, t.tx(t.bytes)], returns: t.unit },
  /** Closes its channel at once, with metadata. */
  closeWith: { args: [t.tx(t.u32)], returns: t.unit },
  /** Resets its channel after one item, with metadata. */
  resetWith: { args: [t.rx(t.u32)], returns: t.unit },
});

const META: Metadata = [
  { key: "kept", value: "yes", flags: 0 },
  { key: "hop-local", value: "no", flags: NO_PROPAGATE },
];

/** Item `i`: its number in the first 4 bytes, then `i % 700` bytes of `i & 0xff`. */
function item(i: number): Uint8Array {
  const b = new Uint8Array(4 + (i % 700)).fill(i & 0xff);
  new DataView(b.buffer).setUint32(0, i);
  return b;
}

function check(b: Uint8Array, i: number): void {
  assert.equal(new DataView(b.buffer, b.byteOffset).getUint32(0), i, `item ${i} out of order`);
  assert.equal(b.length, 4 + (i % 700), `item ${i} has the wrong size`);
  for (let k = 4; k < b.length; k++) assert.equal(b[k], i & 0xff, `item ${i} is corrupt`);
}

const impl = implement(Relay, {
  async take(rx) {
    let n = 0;
    for await (const b of rx) check(b, n++);
    return n;
  },
  async give(n, tx) {
    for (let i = 0; i < n; i++) await tx.send(item(i));
    await tx.close();
  },
  async closeWith(tx) {
    await tx.close(META);
  },
  async resetWith(rx) {
    const r = rx[Symbol.asyncIterator]();
    await r.next();
    rx.reset(META);
  },
});

/** A client, a proxy (whose sessions have `limits`) and a backend, over memory links. */
async function chain(limits: SessionLimits = {}): Promise<{
  client: Session;
  close(): Promise<void>;
}> {
  const [bl, sl] = memoryLink();
  const [back, backend] = await Promise.all([
    initiate(bl, { limits }),
    accept(sl, { services: [impl] }),
  ]);
  const [cl, pl] = memoryLink();
  const [client, front] = await Promise.all([initiate(cl), accept(pl, { limits })]);
  proxy(front.root, back.root);
  return {
    client,
    async close() {
      await client.close();
      await back.close();
      await backend.closed;
      await front.closed;
    },
  };
}

test("items relayed through a proxy whose links fill and drain keep their order and bytes", {
  timeout: 30_000,
}, async () => {
  // A high-water mark of 2 KiB makes the proxy's links full every few items:
  // some items go on at once, others wait behind those queued before them.
  const c = await chain({ sendHighWaterMark: 2048 });
  try {
    const lab = c.client.client(Relay);
    const N = 5000;
    const [tx, rx] = channel<Uint8Array>();
    const taken = lab.take(rx);
    for (let i = 0; i < N; i++) await tx.send(item(i));
    await tx.close();
    assert.equal(await taken, N);
    const [tx2, rx2] = channel<Uint8Array>();
    const given = lab.give(N, tx2);
    let n = 0;
    for await (const b of rx2) check(b, n++);
    assert.equal(n, N);
    await given;
  } finally {
    await c.close();
  }
});

test("a channel's Close and Reset cross a proxy with their metadata, without NO_PROPAGATE entries", async () => {
  const c = await chain();
  try {
    const lab = c.client.client(Relay);
    const [tx, rx] = channel<number>();
    const closing = lab.closeWith(tx);
    for await (const _ of rx) assert.fail("no item was sent");
    await closing;
    assert.deepEqual(rx.closeMetadata?.map((e) => e.key), ["kept"]);

    const [tx2, rx2] = channel<number>();
    const resetting = lab.resetWith(rx2);
    let error: unknown;
    try {
      for (let i = 0; i < 100_000; i++) await tx2.send(i);
    } catch (e) {
      error = e;
    }
    await resetting;
    assert.ok(error instanceof ChannelResetError, `expected a reset, got ${error}`);
    assert.deepEqual(error.metadata.map((e) => e.key), ["kept"]);
  } finally {
    await c.close();
  }
});
