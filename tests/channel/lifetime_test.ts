/**
 * Channel ends a handler received live as long as the handler: when it
 * settles, a `Tx` closes (after the items already passed to `send`) and an
 * `Rx` not read to its end is reset, unless the handler kept them with
 * `keep()`. A forgotten `tx.close()` never leaves the caller waiting.
 * Also: the sender's `Close` metadata reaches the receiver as
 * `rx.closeMetadata`.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  CancelledError,
  channel,
  ChannelResetError,
  decode,
  encode,
  getMetadata,
  implement,
  type Rx,
  service,
  t,
  type Tx,
} from "../../mod.ts";
import type { Message } from "../../wire.ts";
import {
  closeAll,
  deferred,
  endRaw,
  Hold,
  holdImpl,
  rawInitiator,
  type RawPeer,
  sessionPair,
  settle,
  within,
} from "../_helpers/mod.ts";

const Feed = service("Feed", {
  /** Sends 0..n and returns without closing. */
  forget: { args: [t.u32, t.tx(t.u32)], returns: t.unit },
  /** Starts n sends without awaiting them, then returns without closing. */
  fireAndForget: { args: [t.u32, t.tx(t.u32)], returns: t.unit },
  /** Sends 0..n, then throws. */
  sendThenThrow: { args: [t.u32, t.tx(t.u32)], returns: t.unit },
  /** Reads one item and returns. */
  readOne: { args: [t.rx(t.u32)], returns: t.u32 },
  /** Reads everything. */
  readAll: { args: [t.rx(t.u32)], returns: t.u32 },
  /** Returns at once, without reading. */
  ignore: { args: [t.rx(t.u32)], returns: t.unit },
  /** Sends 0..n and closes with metadata `{ reason: "done", count: n }`. */
  closeWith: { args: [t.u32, t.tx(t.u32)], returns: t.unit },
});

/** The handlers; `ends` collects what each call received, `settled` when each call returned. */
function feed() {
  const ends: (Tx<number> | Rx<number>)[] = [];
  const impl = implement(Feed, {
    forget: async (n, tx) => {
      ends.push(tx);
      for (let i = 0; i < n; i++) await tx.send(i);
    },
    fireAndForget: (n, tx) => {
      ends.push(tx);
      for (let i = 0; i < n; i++) void tx.send(i);
    },
    sendThenThrow: async (n, tx) => {
      ends.push(tx);
      for (let i = 0; i < n; i++) await tx.send(i);
      throw new Error("the feed broke");
    },
    readOne: async (rx) => {
      ends.push(rx);
      const r = await rx.recv();
      return r.done ? 0 : r.value;
    },
    readAll: async (rx) => {
      ends.push(rx);
      let n = 0;
      for await (const _ of rx) n++;
      return n;
    },
    ignore: (rx) => void ends.push(rx),
    closeWith: async (n, tx) => {
      for (let i = 0; i < n; i++) await tx.send(i);
      await tx.close({ reason: "done", count: BigInt(n) });
    },
  });
  return { impl, ends };
}

async function collect(rx: Rx<number>): Promise<number[]> {
  const got: number[] = [];
  for await (const v of rx) got.push(v);
  return got;
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

test("a handler that returns without closing its Tx still ends the caller's for await", async () => {
  const f = feed();
  const { client, server } = await sessionPair({}, { services: [f.impl] });
  try {
    const [tx, rx] = channel<number>();
    await client.client(Feed).forget(3, tx);
    assert.deepEqual(await within(collect(rx), 2000, "the end of the stream"), [0, 1, 2]);
  } finally {
    await closeAll(client, server);
  }
});

test("sends a handler started without awaiting them all arrive before the automatic close", async () => {
  const f = feed();
  const { client, server } = await sessionPair({}, { services: [f.impl] });
  try {
    const [tx, rx] = channel<number>();
    // 100 items: more than the credit, so most wait for grants after the handler returned.
    await client.client(Feed).fireAndForget(100, tx);
    assert.deepEqual(await within(collect(rx), 2000, "the end of the stream"), range(100));
  } finally {
    await closeAll(client, server);
  }
});

test("a handler that throws after sending still ends the caller's stream; the call fails", async () => {
  const f = feed();
  const { client, server } = await sessionPair({}, { services: [f.impl], onError: () => {} });
  try {
    const [tx, rx] = channel<number>();
    const call = settle(client.client(Feed).sendThenThrow(2, tx));
    assert.deepEqual(await within(collect(rx), 2000, "the end of the stream"), [0, 1]);
    const outcome = await call;
    assert.ok(!outcome.ok && outcome.error instanceof CancelledError, String(outcome));
  } finally {
    await closeAll(client, server);
  }
});

test("an Rx a handler did not read to its end is reset when it returns: the caller's sends stop", async () => {
  const f = feed();
  const { client, server } = await sessionPair({}, { services: [f.impl] });
  try {
    const [tx, rx] = channel<number>();
    const call = client.client(Feed).readOne(rx);
    await tx.send(7);
    assert.equal(await call, 7);
    if (!tx.signal.aborted) {
      await within(
        new Promise((r) => tx.signal.addEventListener("abort", r, { once: true })),
        2000,
        "the reset",
      );
    }
    assert.ok(tx.signal.reason instanceof ChannelResetError, String(tx.signal.reason));
    await assert.rejects(tx.send(8), ChannelResetError);
  } finally {
    await closeAll(client, server);
  }
});

test("a kept Tx stays open after its handler returned, until the handler's task closes it", async () => {
  const later = deferred();
  const Keep = service("Keep", { start: { args: [t.tx(t.u32)], returns: t.unit } });
  const impl = implement(Keep, {
    start: (tx) => {
      const kept = tx.keep();
      void (async () => {
        await later.promise;
        await kept.send(1);
        await kept.send(2);
        await kept.close();
      })();
    },
  });
  const { client, server } = await sessionPair({}, { services: [impl] });
  try {
    const [tx, rx] = channel<number>();
    await client.client(Keep).start(tx);
    const got = collect(rx);
    later.resolve();
    assert.deepEqual(await within(got, 2000, "the kept stream"), [1, 2]);
  } finally {
    await closeAll(client, server);
  }
});

test("keep() after the handler settled throws a TypeError; on the caller's own end it does nothing", async () => {
  const f = feed();
  const { client, server } = await sessionPair({}, { services: [f.impl] });
  try {
    const [tx, rx] = channel<number>();
    await client.client(Feed).forget(0, tx);
    const handlerTx = f.ends[0]!;
    assert.throws(() => handlerTx.keep(), {
      name: "TypeError",
      message: "Cannot keep a channel end: the handler that received it has settled",
    });
    assert.deepEqual(await within(collect(rx), 2000, "the end"), []);
    const [ownTx, ownRx] = channel<number>();
    assert.equal(ownTx.keep(), ownTx);
    assert.equal(ownRx.keep(), ownRx);
  } finally {
    await closeAll(client, server);
  }
});

// ------------------------------------------------------------------ on the wire

function call(id: number, methodId: bigint, channels: number[], args: Uint8Array): Message {
  return {
    connectionId: 0,
    payload: {
      type: "request",
      id,
      body: { type: "call", methodId, channels, metadata: [], args },
    },
  };
}

function item(id: number, value: number): Message {
  const bytes = encode(t.u32, value).slice();
  return { connectionId: 0, payload: { type: "channel", id, body: { type: "item", item: bytes } } };
}

/** The next messages, summarised: `item 1:0`, `close 1`, `reset 1`, `response 1`, `grant 1`. */
async function summaries(peer: RawPeer, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const p = (await peer.next()).payload;
    if (p.type === "channel") {
      const b = p.body;
      out.push(
        b.type === "item"
          ? `item ${p.id}:${decode(t.u32, b.item)}`
          : b.type === "grantCredit"
          ? `grant ${p.id}`
          : `${b.type} ${p.id}`,
      );
    } else if (p.type === "request") out.push(`${p.body.type} ${p.id}`);
    else out.push(p.type);
  }
  return out;
}

test("on the wire, a handler's forgotten Close goes out after its items and before its response", async () => {
  const f = feed();
  const { peer, session } = await rawInitiator({ services: [f.impl] });
  void peer.send(call(1, Feed.methods.forget.id, [1], encode(t.u32, 2).slice()));
  assert.deepEqual(await summaries(peer, 4), ["item 1:0", "item 1:1", "close 1", "response 1"]);
  await endRaw(peer, session);
});

test("on the wire, an unread Rx is reset when its handler returns, and one read to its end is not", async () => {
  const f = feed();
  // The receive window off: the only messages are the ones this test is about.
  const { peer, session } = await rawInitiator({
    services: [f.impl],
    limits: { receiveWindowItems: 0 },
  });
  void peer.send(call(1, Feed.methods.ignore.id, [1], new Uint8Array(0)));
  assert.deepEqual(await summaries(peer, 2), ["reset 1", "response 1"]);
  void peer.send(call(3, Feed.methods.readAll.id, [3], new Uint8Array(0)));
  void peer.send(item(3, 5));
  void peer.send({
    connectionId: 0,
    payload: { type: "channel", id: 3, body: { type: "close", metadata: [] } },
  });
  assert.deepEqual(await summaries(peer, 1), ["response 3"]);
  await peer.expectSilence(50);
  await endRaw(peer, session);
});

test("a queued call cancelled before its handler started closes the Tx it carried", async () => {
  const hold = holdImpl();
  const f = feed();
  const { peer, session } = await rawInitiator({
    services: [hold.impl, f.impl],
    maxConcurrentRequests: 1,
  });
  void peer.send(call(1, Hold.methods.hold.id, [], new Uint8Array(0)));
  await hold.whenStarted();
  void peer.send(call(3, Feed.methods.forget.id, [5], encode(t.u32, 1).slice()));
  void peer.send({
    connectionId: 0,
    payload: { type: "request", id: 3, body: { type: "cancel", metadata: [] } },
  });
  assert.deepEqual(await summaries(peer, 2), ["response 3", "close 5"]);
  assert.equal(f.ends.length, 0, "the handler never ran");
  hold.release();
  assert.deepEqual(await summaries(peer, 1), ["response 1"]);
  await endRaw(peer, session);
});

// ------------------------------------------------------------------ Close metadata

test("the sender's Close metadata is on the Rx once the stream ended", async () => {
  const f = feed();
  const { client, server } = await sessionPair({}, { services: [f.impl] });
  try {
    const [tx, rx] = channel<number>();
    const done = client.client(Feed).closeWith(2, tx);
    assert.equal(rx.closeMetadata, undefined);
    assert.deepEqual(await collect(rx), [0, 1]);
    await done;
    assert.ok(rx.closeMetadata !== undefined);
    assert.equal(getMetadata(rx.closeMetadata, "reason"), "done");
    assert.equal(getMetadata(rx.closeMetadata, "count"), 2n);
  } finally {
    await closeAll(client, server);
  }
});

test("an Rx that was reset has no Close metadata", async () => {
  const f = feed();
  // The handler's sends fail once the caller resets: its error is expected.
  const { client, server } = await sessionPair({}, { services: [f.impl], onError: () => {} });
  try {
    const [tx, rx] = channel<number>();
    const done = client.client(Feed).closeWith(40, tx);
    assert.deepEqual(await rx.recv(), { done: false, value: 0 });
    rx.reset();
    assert.deepEqual(await rx.recv(), { done: true, value: undefined });
    await done.catch(() => {});
    assert.equal(rx.closeMetadata, undefined);
  } finally {
    await closeAll(client, server);
  }
});
