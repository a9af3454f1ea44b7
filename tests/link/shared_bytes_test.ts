/**
 * Tests for memory links made with `shareLargeBytes`: large `bytes` channel
 * items reach the receiver by reference, everything else still arrives
 * intact, and faults on the shared path are reported like any other.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  accept,
  channel,
  implement,
  initiate,
  type Link,
  memoryLink,
  service,
  type Session,
  t,
} from "../../mod.ts";
import { encodeMessage } from "../../wire.ts";
import type { PayloadSink } from "../../lib/link/link.ts";
import { endRaw, expectViolation, rawAcceptor, tick } from "../_helpers/mod.ts";

const Store = service("Store", {
  /** Keeps every item it receives, in order; returns how many. */
  keep: { args: [t.rx(t.bytes)], returns: t.u32 },
  /** Sends the arrays set aside in `outgoing`. */
  give: { args: [t.tx(t.bytes)], returns: t.unit },
  echo: { args: [t.bytes], returns: t.bytes },
  tagged: { args: [t.rx(t.struct({ data: t.bytes, tag: t.u32 }))], returns: t.u32 },
  maybe: { args: [t.rx(t.option(t.bytes))], returns: t.u32 },
});

/** An array of `n` bytes whose content depends on `seed`. */
function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 13 + seed) & 0xff;
  return out;
}

/** A client and a server session over a memory link, the server keeping what it receives. */
async function pair(share: boolean): Promise<{
  client: Session;
  server: Session;
  kept: unknown[];
  outgoing: Uint8Array[];
  close(): Promise<void>;
}> {
  const kept: unknown[] = [];
  const outgoing: Uint8Array[] = [];
  const impl = implement(Store, {
    keep: async (rx) => {
      for await (const b of rx) kept.push(b);
      return kept.length;
    },
    give: async (tx) => {
      for (const b of outgoing) await tx.send(b);
      await tx.close();
      return undefined;
    },
    echo: (b) => b,
    tagged: async (rx) => {
      for await (const v of rx) kept.push(v);
      return kept.length;
    },
    maybe: async (rx) => {
      for await (const v of rx) kept.push(v);
      return kept.length;
    },
  });
  const [a, b] = memoryLink({ shareLargeBytes: share });
  const [client, server] = await Promise.all([initiate(a), accept(b, { services: [impl] })]);
  return {
    client,
    server,
    kept,
    outgoing,
    close: async () => {
      await client.close();
      await server.closed;
    },
  };
}

test("memoryLink rejects a shareLargeBytes that is not a boolean", () => {
  assert.throws(
    () => memoryLink({ shareLargeBytes: "yes" as unknown as boolean }),
    (e: unknown) => e instanceof TypeError && /shareLargeBytes must be a boolean/.test(e.message),
  );
});

test("with shareLargeBytes, large bytes items reach the receiver as the very arrays sent, in order", async () => {
  const p = await pair(true);
  const big1 = pattern(64 * 1024, 1);
  const small = pattern(10, 2);
  const big2 = pattern(100_000, 3);
  const [tx, rx] = channel<Uint8Array>();
  const call = p.client.client(Store).keep(rx);
  for (const b of [big1, small, big2, big1]) await tx.send(b);
  await tx.close();
  assert.equal(await call, 4);
  assert.equal(p.kept[0], big1, "the first large item is the array that was sent");
  assert.notEqual(p.kept[1], small, "a small item is copied");
  assert.deepEqual(p.kept[1], small);
  assert.equal(p.kept[2], big2);
  assert.equal(p.kept[3], big1);
  await p.close();
});

test("with shareLargeBytes, a handler's large items reach the caller's Rx by reference", async () => {
  const p = await pair(true);
  const sent = [pattern(70_000, 4), pattern(5, 5), pattern(200_000, 6)];
  p.outgoing.push(...sent);
  const [tx, rx] = channel<Uint8Array>();
  const call = p.client.client(Store).give(tx);
  const got: Uint8Array[] = [];
  for await (const b of rx) got.push(b);
  await call;
  assert.equal(got.length, 3);
  assert.equal(got[0], sent[0]);
  assert.deepEqual(got[1], sent[1]);
  assert.equal(got[2], sent[2]);
  await p.close();
});

test("without shareLargeBytes, a large item is copied: changing the array after send does not reach the receiver", async () => {
  const p = await pair(false);
  const big = pattern(100_000, 7);
  const expected = big.slice();
  const [tx, rx] = channel<Uint8Array>();
  const call = p.client.client(Store).keep(rx);
  await tx.send(big);
  big.fill(0);
  await tx.close();
  assert.equal(await call, 1);
  assert.notEqual(p.kept[0], big);
  assert.deepEqual(p.kept[0], expected);
  await p.close();
});

test("with shareLargeBytes, large bytes that cannot travel by reference still arrive intact", async () => {
  const p = await pair(true);
  const store = p.client.client(Store);
  // A call argument and its echoed result.
  const arg = pattern(300_000, 8);
  const echoed = await store.echo(arg);
  assert.deepEqual(echoed, arg);
  // A large value followed by another field.
  const [tx, rx] = channel<{ data: Uint8Array; tag: number }>();
  const tagged = store.tagged(rx);
  const data = pattern(90_000, 9);
  await tx.send({ data, tag: 42 });
  await tx.close();
  assert.equal(await tagged, 1);
  assert.deepEqual(p.kept[0], { data, tag: 42 });
  // A large value inside an option: the item schema is not plain bytes.
  const [otx, orx] = channel<Uint8Array | undefined>();
  const maybe = store.maybe(orx);
  const inner = pattern(80_000, 10);
  await otx.send(inner);
  await otx.send(undefined);
  await otx.close();
  assert.equal(await maybe, 3);
  assert.deepEqual(p.kept[1], inner);
  assert.equal(p.kept[2], undefined);
  await p.close();
});

/** Sends `prefix` + `last` through `link` as one shared payload. */
function sendShared(link: Link, prefix: Uint8Array, last: Uint8Array): void {
  link.direct!.sendShared!(prefix, prefix.length, last);
}

test("a shared payload read from the link's stream, or by a sink without shared(), arrives joined", async () => {
  const [a, b] = memoryLink({ shareLargeBytes: true });
  const last = pattern(70_000, 11);
  sendShared(a, new Uint8Array([1, 2, 3]), last);
  const reader = b.readable.getReader();
  const { value } = await reader.read();
  assert.equal(value!.length, 3 + last.length);
  assert.deepEqual(value!.subarray(0, 3), new Uint8Array([1, 2, 3]));
  assert.deepEqual(value!.subarray(3), last);
  reader.releaseLock();

  const [c, d] = memoryLink({ shareLargeBytes: true });
  const got: Uint8Array[] = [];
  const sink: PayloadSink = { payload: (p) => got.push(p), end: () => {}, error: () => {} };
  d.direct!.receive(sink);
  sendShared(c, new Uint8Array([9]), last);
  await tick();
  assert.equal(got.length, 1);
  assert.equal(got[0]![0], 9);
  assert.deepEqual(got[0]!.subarray(1), last);
  await a.writable.close();
  await c.writable.close();
});

test("a link made without shareLargeBytes offers no shared send", () => {
  const [a] = memoryLink();
  assert.equal(a.direct?.sendShared, undefined);
  const [b] = memoryLink({ shareLargeBytes: true });
  assert.equal(typeof b.direct?.sendShared, "function");
});

/** The head of a channel item message on connection 0, for channel `id`. */
function itemHead(id: number, item: Uint8Array): Uint8Array {
  return encodeMessage({
    connectionId: 0,
    payload: { type: "channel", id, body: { type: "item", item } },
  });
}

test("a shared item for an unknown channel is a protocol violation, as any item is", async () => {
  const links = memoryLink({ shareLargeBytes: true });
  const { peer, session } = await rawAcceptor({}, { links });
  const last = pattern(65_536, 12);
  sendShared(links[1], itemHead(99, new Uint8Array([0x80, 0x80, 0x04])), last);
  await expectViolation(peer, session, /unknown channel 99/);
  await endRaw(peer, session);
});

test("a shared payload above the message size limit is a protocol violation", async () => {
  const links = memoryLink({ shareLargeBytes: true });
  const { peer, session } = await rawAcceptor({ limits: { maxMessageSize: 100_000 } }, { links });
  sendShared(links[1], itemHead(1, new Uint8Array([0x80, 0xb5, 0x18])), pattern(400_000, 13));
  await expectViolation(peer, session, /exceeds the limit of 100000/);
  await endRaw(peer, session);
});

test("a shared item whose length disagrees with the shared array is reported as undecodable", async () => {
  const links = memoryLink({ shareLargeBytes: true });
  const { peer, session } = await rawAcceptor({}, { links });
  // The library's Rx is bound by a call it makes to the raw peer, which is to send on it.
  const [tx, rx] = channel<Uint8Array>();
  const Sink = service("Sink", { take: { args: [t.tx(t.bytes)], returns: t.unit } });
  const call = session.client(Sink).take(tx).catch(() => {});
  const request = await peer.expect("request");
  assert.equal(request.payload.body.type, "call");
  const id = request.payload.body.type === "call" ? request.payload.body.channels[0]! : -1;
  // Claims 10 bytes; 65,536 follow.
  sendShared(links[1], itemHead(id, new Uint8Array([10])), pattern(65_536, 14));
  await expectViolation(peer, session, new RegExp(`undecodable item on channel ${id}`));
  await call;
  await assert.rejects(rx.recv());
  await endRaw(peer, session);
});
