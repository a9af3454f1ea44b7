/**
 * The bound on decoded elements: a small input cannot make a huge value.
 * An empty list is one byte on the wire and an object in memory, so a
 * 16 MiB `list<list<u8>>` of empty lists would otherwise cost gigabytes and
 * seconds. `decode()` takes `maxElements`, sessions `limits.maxDecodedElements`.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import {
  accept,
  decode,
  DecodeError,
  encode,
  implement,
  initiate,
  InvalidPayloadError,
  memoryLink,
  type Metadata,
  RpcError,
  service,
  t,
} from "../../mod.ts";
import { decodeMessage, encodeMessage } from "../../wire.ts";
import {
  callMessage,
  closeAll,
  expectViolation,
  rawInitiator,
  sessionPair,
} from "../_helpers/mod.ts";

const MiB = 1024 * 1024;
const Nested = t.list(t.list(t.u8));

/** Bytes of a list of `count` empty lists: the count's varint, then `count` zero bytes. */
function emptyLists(count: number, reserve = 0): Uint8Array {
  const head = encode(t.u32, count);
  const out = new Uint8Array(head.length + count + reserve);
  out.set(head);
  return out;
}

/** Asserts that `fn` throws a `DecodeError` whose reason matches `reason`; returns it. */
function throwsDecode(fn: () => unknown, reason: RegExp): DecodeError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof DecodeError, `expected a DecodeError, got ${String(e)}`);
    assert.match(e.reason, reason);
    return e;
  }
  assert.fail("expected a DecodeError, got a value");
}

function heapUsed(): number {
  return process.memoryUsage().heapUsed;
}

test("decode() rejects a 16 MiB list of empty lists at once, without allocating its elements", () => {
  const bytes = emptyLists(16 * MiB - 8);
  const heap = heapUsed();
  const started = performance.now();
  const e = throwsDecode(() => decode(Nested, bytes), /more than 1048576 elements/);
  const elapsed = performance.now() - started;
  const grown = (heapUsed() - heap) / MiB;
  assert.equal(e.offset, 0);
  assert.ok(elapsed < 200, `the rejection took ${elapsed.toFixed(0)} ms`);
  assert.ok(grown < 4, `the heap grew by ${grown.toFixed(1)} MiB`);
});

test("decode() counts elements over the whole value, nested ones included", () => {
  // 1,024 inner lists of 1,023 elements: 1,048,576 elements in all, exactly the default.
  const inner = new Array<number>(1023).fill(7);
  const value = new Array<number[]>(1024).fill(inner);
  const bytes = encode(Nested, value);
  const back = decode(Nested, bytes);
  assert.equal(back.length, 1024);
  assert.equal(back[1023]!.length, 1023);
  // One more element anywhere is one too many.
  const more = encode(Nested, [...value.slice(0, 1023), [...inner, 7]]);
  const e = throwsDecode(() => decode(Nested, more), /more than 1048576 elements in one value/);
  assert.equal(e.what, "list");
  assert.ok(e.offset > more.length - 1030, `the offset ${e.offset} is that of the last list`);
  assert.equal(decode(Nested, more, { maxElements: 1_048_577 }).length, 1024);
});

test("decode() with maxElements counts list, array, set and map elements", () => {
  const Shape = t.struct({
    l: t.list(t.array(t.u8, 3)),
    s: t.set(t.u32),
    m: t.map(t.string, t.list(t.bool)),
  });
  const value = {
    l: [[1, 2, 3], [4, 5, 6]],
    s: new Set([1, 2]),
    m: new Map([["a", [true]], ["b", []]]),
  };
  const bytes = encode(Shape, value);
  // 2 list elements + 6 array elements + 2 set elements + 2 map entries + 1 bool = 13.
  assert.deepEqual(decode(Shape, bytes, { maxElements: 13 }), value);
  throwsDecode(() => decode(Shape, bytes, { maxElements: 12 }), /more than 12 elements/);
  throwsDecode(() => decode(Shape, bytes, { maxElements: 0 }), /more than 0 elements/);
  assert.deepEqual(decode(t.array(t.u8, 0), new Uint8Array(0), { maxElements: 0 }), []);
  throwsDecode(
    () => decode(t.array(t.u16, 4), new Uint8Array([1, 2, 3, 4]), { maxElements: 3 }),
    /more than 3 elements/,
  );
});

test("decode() caps one sequence at 2^24 elements whatever maxElements says", () => {
  const bytes = emptyLists(2 ** 24 + 1);
  const e = throwsDecode(
    () => decode(t.list(t.u8), bytes, { maxElements: 2 ** 32 - 1 }),
    /count 16777217 exceeds the limit of 16777216 elements per sequence/,
  );
  assert.equal(e.offset, 0);
});

test("decode() rejects a maxElements that is not an integer from 0 to 2^32-1", () => {
  for (const bad of [-1, 1.5, NaN, 2 ** 32, Infinity, "10" as unknown as number]) {
    assert.throws(
      () => decode(t.list(t.u8), new Uint8Array([0]), { maxElements: bad }),
      (e: unknown) =>
        e instanceof RangeError && /^Cannot decode: maxElements must be an integer/.test(e.message),
      `maxElements ${String(bad)}`,
    );
  }
});

test("decodeMessage() bounds metadata entries and channel ids", () => {
  // ConnectionReject on connection 0 with 1,048,577 entries of four zero bytes:
  // an empty key, an empty string value and no flags.
  const head = [0x00, 0x05, ...encode(t.u32, 1_048_577)];
  const bytes = new Uint8Array(head.length + 4 * 1_048_577);
  bytes.set(head);
  const started = performance.now();
  assert.throws(
    () => decodeMessage(bytes),
    (e: unknown) => e instanceof DecodeError && /more than 1048576 elements/.test(e.reason),
  );
  const elapsed = performance.now() - started;
  assert.ok(elapsed < 200, `the rejection took ${elapsed.toFixed(0)} ms`);
  const metadata: Metadata = new Array(1000).fill({ key: "", value: "", flags: 0 });
  const fewer = encodeMessage({ connectionId: 0, payload: { type: "connectionReject", metadata } });
  const msg = decodeMessage(fewer);
  assert.ok(msg.payload.type === "connectionReject");
  assert.equal(msg.payload.metadata.length, 1000);
});

const Counter = service("Counter", {
  count: { args: [Nested], returns: t.u32 },
  make: { args: [t.u32], returns: t.list(t.u8) },
  feed: { args: [t.rx(t.list(t.u8))], returns: t.u32 },
});

test(
  "a session answers a 16 MiB call of empty lists with InvalidPayload at once, without growing its heap",
  {
    timeout: 20_000,
  },
  async () => {
    let called = false;
    const impl = implement(Counter, {
      count: (lists) => {
        called = true;
        return lists.length;
      },
      make: () => [],
      feed: () => 0,
    });
    const { peer, session } = await rawInitiator({ services: [impl] });
    try {
      // The whole message stays within the default 16 MiB message size.
      const args = emptyLists(16 * MiB - 64);
      const call = encodeMessage(callMessage(0, 1, Counter.methods.count.id, args));
      assert.ok(call.length <= 16 * MiB);
      const heap = heapUsed();
      const started = performance.now();
      await peer.send(call);
      const reply = await peer.expect("request", 5000);
      const elapsed = performance.now() - started;
      const grown = (heapUsed() - heap) / MiB;
      assert.ok(reply.payload.body.type === "response");
      assert.deepEqual([...reply.payload.body.ret], [1, 2], "Err(InvalidPayload)");
      assert.equal(called, false);
      assert.ok(elapsed < 1000, `the answer took ${elapsed.toFixed(0)} ms`);
      assert.ok(grown < 8, `the heap grew by ${grown.toFixed(1)} MiB`);
      // A legitimate call under the bound still works on the same session.
      await peer.send(
        callMessage(0, 3, Counter.methods.count.id, encode(Nested, [[1], [], [2, 3]])),
      );
      const ok = await peer.expect("request");
      assert.ok(ok.payload.body.type === "response");
      assert.deepEqual([...ok.payload.body.ret], [0, 3]);
    } finally {
      await peer.close();
      await session.closed;
    }
  },
);

test("limits.maxDecodedElements bounds arguments, responses and channel items", async () => {
  const impl = implement(Counter, {
    count: (lists) => lists.length,
    make: (n) => new Array<number>(n).fill(1),
    feed: async (rx) => {
      let n = 0;
      for await (const item of rx) n += item.length;
      return n;
    },
  });
  const limits = { maxDecodedElements: 10 };
  const { client, server } = await sessionPair({ limits }, { services: [impl], limits });
  try {
    const counter = client.client(Counter);
    // Arguments: 3 lists + 7 elements = 10 is fine, 11 is InvalidPayload.
    assert.equal(await counter.count([[1, 2, 3], [4, 5], [6, 7]]), 3);
    await assert.rejects(counter.count([[1, 2, 3], [4, 5], [6, 7, 8]]), InvalidPayloadError);
    // Responses: the caller's own limit applies.
    assert.deepEqual(await counter.make(10), new Array(10).fill(1));
    await assert.rejects(
      counter.make(11),
      (e: unknown) => e instanceof RpcError && e.code === "invalid-response",
    );
    assert.equal(await counter.count([]), 0, "the session is still usable");
  } finally {
    await closeAll(client, server);
  }
});

test("a channel item over the session's element limit is reported as an undecodable item", async () => {
  const impl = implement(Counter, {
    count: () => 0,
    make: () => [],
    feed: async (rx) => {
      for await (const _ of rx) { /* drain */ }
      return 0;
    },
  });
  const { peer, session } = await rawInitiator({
    services: [impl],
    limits: { maxDecodedElements: 4 },
  });
  try {
    await peer.send({
      connectionId: 0,
      payload: {
        type: "request",
        id: 1,
        body: {
          type: "call",
          methodId: Counter.methods.feed.id,
          channels: [1],
          metadata: [],
          args: new Uint8Array(0),
        },
      },
    });
    await peer.send({
      connectionId: 0,
      payload: {
        type: "channel",
        id: 1,
        body: { type: "item", item: encode(t.list(t.u8), [1, 2, 3, 4, 5]) },
      },
    });
    await expectViolation(peer, session, /undecodable item on channel 1: .*more than 4 elements/);
  } finally {
    await peer.close();
  }
});

test("initiate() and accept() reject a maxDecodedElements that is not an integer from 1 to 2^32-1", async () => {
  for (const bad of [0, -1, 1.5, NaN, 2 ** 32]) {
    const [a, b] = memoryLink();
    for (const start of [initiate, accept]) {
      await assert.rejects(
        start(a, { limits: { maxDecodedElements: bad } }),
        (e: unknown) => e instanceof RangeError && /maxDecodedElements/.test(e.message),
        `maxDecodedElements ${bad}`,
      );
    }
    await a.writable.close().catch(() => {});
    await b.writable.close().catch(() => {});
  }
});
