/**
 * Peers that ignore parity: the upstream TypeScript runtime numbers its
 * requests and channels 1, 2, 3, 4 whatever its parity, and the Rust
 * runtime never checks parity. The library answers such a peer on the root
 * and on virtual connections, for calls and for channels; it goes on
 * allocating its own ids with its own parity (skipping any the peer is
 * using); only an id still in use is a violation; and a late message for
 * one of the peer's closed channels is still told apart from one for an id
 * that never was a channel.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { channel, decode, encode, implement, service, t } from "../../mod.ts";
import type { Message } from "../../wire.ts";
import {
  Echo,
  echoArgs,
  echoImpl,
  endRaw,
  expectViolation,
  Hold,
  holdImpl,
  rawInitiator,
  type RawPeer,
  within,
} from "../_helpers/mod.ts";

const Streams = service("Streams", {
  /** Sums the items until the sender closes. */
  total: { args: [t.rx(t.u32)], returns: t.u32 },
  /** Sends 0..n, then closes. */
  count: { args: [t.u32, t.tx(t.u32)], returns: t.unit },
});

const streamsImpl = implement(Streams, {
  total: async (rx) => {
    let sum = 0;
    for await (const v of rx) sum += v;
    return sum;
  },
  count: async (n, tx) => {
    for (let i = 0; i < n; i++) await tx.send(i);
    await tx.close();
  },
});

/** A `Call` with channel ids. */
function call(
  connectionId: number,
  id: number,
  methodId: bigint,
  channels: number[],
  args: Uint8Array,
): Message {
  return {
    connectionId,
    payload: {
      type: "request",
      id,
      body: { type: "call", methodId, channels, metadata: [], args },
    },
  };
}

/** An `Item` carrying a u32. */
function item(connectionId: number, id: number, value: number): Message {
  const bytes = encode(t.u32, value).slice();
  return { connectionId, payload: { type: "channel", id, body: { type: "item", item: bytes } } };
}

/** A `Close` without metadata. */
function close(connectionId: number, id: number): Message {
  return { connectionId, payload: { type: "channel", id, body: { type: "close", metadata: [] } } };
}

/** Reads messages until `n` responses arrived on `connectionId`; returns them by request id, and the channel traffic seen meanwhile. */
async function responses(
  peer: RawPeer,
  connectionId: number,
  n: number,
): Promise<{ ok: Map<number, Uint8Array>; channel: string[] }> {
  const ok = new Map<number, Uint8Array>();
  const channel: string[] = [];
  while (ok.size < n) {
    const m = await peer.next();
    assert.equal(m.connectionId, connectionId, `a message on connection ${m.connectionId}`);
    const p = m.payload;
    if (p.type === "request" && p.body.type === "response") {
      assert.equal(p.body.ret[0], 0, `request ${p.id} failed`);
      ok.set(p.id, p.body.ret.subarray(1));
    } else if (p.type === "channel") {
      const b = p.body;
      channel.push(
        b.type === "item"
          ? `${p.id}:item ${decode(t.u32, b.item)}`
          : b.type === "grantCredit"
          ? `${p.id}:grant`
          : `${p.id}:${b.type}`,
      );
    } else {
      assert.fail(`unexpected ${p.type}`);
    }
  }
  return { ok, channel };
}

async function callsNumberedOneToFour(connectionId: number, peer: RawPeer): Promise<void> {
  for (const [i, word] of ["one", "two", "three", "four"].entries()) {
    void peer.send(call(connectionId, i + 1, Echo.methods.echo.id, [], echoArgs(word)));
  }
  const { ok } = await responses(peer, connectionId, 4);
  assert.deepEqual(
    [1, 2, 3, 4].map((id) => decode(t.string, ok.get(id)!)),
    ["one", "two", "three", "four"],
  );
}

async function channelsNumberedOneToFour(connectionId: number, peer: RawPeer): Promise<void> {
  const c = connectionId;
  // Requests 1 and 2 send to the library on channels 1 and 2; 3 and 4 receive on 3 and 4.
  void peer.send(call(c, 1, Streams.methods.total.id, [1], new Uint8Array(0)));
  void peer.send(call(c, 2, Streams.methods.total.id, [2], new Uint8Array(0)));
  void peer.send(call(c, 3, Streams.methods.count.id, [3], encode(t.u32, 2).slice()));
  void peer.send(call(c, 4, Streams.methods.count.id, [4], encode(t.u32, 3).slice()));
  for (const [id, values] of [[1, [10, 20]], [2, [1, 2, 3]]] as const) {
    for (const v of values) void peer.send(item(c, id, v));
    void peer.send(close(c, id));
  }
  const { ok, channel } = await responses(peer, c, 4);
  assert.equal(decode(t.u32, ok.get(1)!), 30);
  assert.equal(decode(t.u32, ok.get(2)!), 6);
  // The library's items for channels 3 and 4 came before their responses.
  assert.deepEqual(channel.filter((s) => s.startsWith("3:")), ["3:item 0", "3:item 1", "3:close"]);
  assert.deepEqual(channel.filter((s) => s.startsWith("4:")), [
    "4:item 0",
    "4:item 1",
    "4:item 2",
    "4:close",
  ]);
}

/** Opens virtual connection 1 from the raw (odd) initiator, accepted with `services`. */
async function openVirtual(peer: RawPeer): Promise<number> {
  void peer.send({
    connectionId: 1,
    payload: {
      type: "connectionOpen",
      settings: { parity: "odd", maxConcurrentRequests: 64 },
      metadata: [],
    },
  });
  const accepted = await peer.expect("connectionAccept");
  assert.equal(accepted.connectionId, 1);
  assert.equal(accepted.payload.settings.parity, "even");
  return 1;
}

test("a peer that numbers its requests 1, 2, 3, 4 on the root connection gets every call answered", async () => {
  const { peer, session } = await rawInitiator({ services: [echoImpl] });
  await callsNumberedOneToFour(0, peer);
  assert.equal(session.isClosed, false);
  await endRaw(peer, session);
});

test("a peer that numbers its requests 1, 2, 3, 4 on a virtual connection gets every call answered", async () => {
  const { peer, session } = await rawInitiator({
    onConnection: () => ({ accept: true, services: [echoImpl] }),
  });
  await callsNumberedOneToFour(await openVirtual(peer), peer);
  assert.equal(session.isClosed, false);
  await endRaw(peer, session);
});

test("a peer that numbers its channels 1, 2, 3, 4 on the root connection streams both ways", async () => {
  const { peer, session } = await rawInitiator({ services: [streamsImpl] });
  await channelsNumberedOneToFour(0, peer);
  assert.equal(session.isClosed, false);
  await endRaw(peer, session);
});

test("a peer that numbers its channels 1, 2, 3, 4 on a virtual connection streams both ways", async () => {
  const { peer, session } = await rawInitiator({
    onConnection: () => ({ accept: true, services: [streamsImpl] }),
  });
  await channelsNumberedOneToFour(await openVirtual(peer), peer);
  assert.equal(session.isClosed, false);
  await endRaw(peer, session);
});

test("the library keeps its own parity, skipping channel ids the peer is using", async () => {
  const { peer, session } = await rawInitiator({ services: [streamsImpl] });
  // The raw peer (odd) holds even channels 2 and 4 open towards the library.
  void peer.send(call(0, 1, Streams.methods.total.id, [2], new Uint8Array(0)));
  void peer.send(call(0, 3, Streams.methods.total.id, [4], new Uint8Array(0)));
  void peer.send({ connectionId: 0, payload: { type: "ping", nonce: 1n } });
  await peer.expect("pong"); // the library has seen both calls
  // The library (even) calls the peer with a channel: request 2, and channel 6.
  const [tx, rx] = channel<number>();
  const pending = session.client(Streams).count(1, tx).catch(() => {});
  const m = await peer.expect("request");
  assert.equal(m.payload.id, 2);
  assert.ok(m.payload.body.type === "call");
  assert.deepEqual(m.payload.body.channels, [6]);
  // Channel 6 is the library's Rx, channel 2 still the handler's.
  void peer.send(item(0, 6, 42));
  void peer.send(item(0, 2, 7));
  void peer.send(close(0, 2));
  assert.deepEqual(await within(rx.recv(), 2000, "the item on channel 6"), {
    done: false,
    value: 42,
  });
  const { ok } = await responses(peer, 0, 1);
  assert.equal(decode(t.u32, ok.get(1)!), 7);
  await endRaw(peer, session);
  await pending;
});

test("a request id of either parity still in flight is a protocol violation when reused", async () => {
  const hold = holdImpl();
  const { peer, session } = await rawInitiator({ services: [hold.impl, echoImpl] });
  void peer.send(call(0, 2, Hold.methods.hold.id, [], new Uint8Array(0)));
  await hold.whenStarted();
  void peer.send(call(0, 2, Echo.methods.echo.id, [], echoArgs("again")));
  await expectViolation(peer, session, /request id 2 on connection 0 is already in flight/);
  await peer.close();
});

test("a channel id of either parity still in use is a protocol violation when reused", async () => {
  const { peer, session } = await rawInitiator({ services: [streamsImpl] });
  void peer.send(call(0, 1, Streams.methods.total.id, [2], new Uint8Array(0)));
  void peer.send(call(0, 3, Streams.methods.total.id, [2], new Uint8Array(0)));
  await expectViolation(peer, session, /channel id 2 is already in use/);
  await peer.close();
});

test("after the peer's even channel closes, a late item for it and one for a never-used id are told apart", async () => {
  for (
    const [id, description] of [[2, /item for channel 2 after it closed/], [
      8,
      /item for unknown channel 8/,
    ]] as const
  ) {
    const { peer, session } = await rawInitiator({ services: [streamsImpl] });
    void peer.send(call(0, 1, Streams.methods.count.id, [2], encode(t.u32, 1).slice()));
    await responses(peer, 0, 1); // item, Close, then the response
    // A late GrantCredit for the peer's closed channel is ignored, as for any closed channel.
    void peer.send({
      connectionId: 0,
      payload: { type: "channel", id: 2, body: { type: "grantCredit", additional: 4 } },
    });
    void peer.send(item(0, id, 1));
    await expectViolation(peer, session, description);
    await peer.close();
  }
});
