/**
 * Values handed to application code never share memory with other
 * messages: a decoded `bytes` value (argument, result, channel item,
 * metadata value) has an `ArrayBuffer` that holds only bytes of its own
 * message, whatever other sessions are sending, and `encode()` results own
 * their buffers unless `pooled` is asked for.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  accept,
  channel,
  connect,
  decode,
  encode,
  implement,
  initiate,
  memoryLink,
  type Metadata,
  serve,
  service,
  type Session,
  t,
} from "../../mod.ts";
import { decodeMessage, encodeMessage } from "../../wire.ts";
import { FrameDecoder } from "../../lib/link/framing/decoder.ts";
import { ownsMemory } from "../../lib/_util/bytes.ts";
import { Writer } from "../../lib/postcard/_writer.ts";

const SECRET = new TextEncoder().encode("alice-secret-token");

const Vault = service("Vault", {
  store: { args: [t.bytes], returns: t.bytes },
  feed: { args: [t.rx(t.bytes)], returns: t.u32 },
  many: { args: [t.list(t.bytes)], returns: t.u32 },
});

/** True when `needle` occurs in `hay`. */
function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

/**
 * Asserts that the whole `ArrayBuffer` behind `value` holds no secret and
 * no more bytes other than zero than the message the value came in
 * (`messageMax` bytes).
 */
function assertIsolated(value: Uint8Array, messageMax: number, what: string): void {
  const whole = new Uint8Array(value.buffer);
  assert.ok(!contains(whole, SECRET), `${what}: its .buffer holds another session's secret`);
  const used = whole.reduce((n, b) => (b === 0 ? n : n + 1), 0);
  assert.ok(
    used <= messageMax,
    `${what}: its .buffer has ${used} bytes other than zero, more than its ${messageMax}-byte message`,
  );
}

interface Seen {
  arg?: Uint8Array;
  metadata?: Metadata;
  items: Uint8Array[];
  list?: Uint8Array[];
}

function vaultImpl(seen: Seen) {
  return implement(Vault, {
    store: (b, ctx) => {
      seen.arg = b;
      seen.metadata = ctx.metadata;
      return new Uint8Array([9, 8, 7]);
    },
    feed: async (rx) => {
      for await (const item of rx) seen.items.push(item);
      return seen.items.length;
    },
    many: (list) => {
      seen.list = list;
      return list.length;
    },
  });
}

/** Alice sends her secret as an argument, metadata value and channel item. */
async function aliceTalks(alice: Session): Promise<void> {
  const vault = alice.client(Vault);
  await vault.store(SECRET, { metadata: [{ key: "token", value: SECRET, flags: 0 }] });
  const [tx, rx] = channel<Uint8Array>();
  const done = vault.feed(rx);
  await tx.send(SECRET);
  await tx.close();
  await done;
}

/** Bob sends three-byte values the same ways; returns the result his call got back. */
async function bobTalks(bob: Session): Promise<Uint8Array> {
  const vault = bob.client(Vault);
  const small = new Uint8Array([1, 2, 3]);
  const result = await vault.store(small, {
    metadata: [{ key: "tag", value: new Uint8Array([4, 5, 6]), flags: 0 }],
  });
  const [tx, rx] = channel<Uint8Array>();
  const done = vault.feed(rx);
  await tx.send(small);
  await tx.close();
  await done;
  return result;
}

function assertBobIsolated(seen: Seen, result: Uint8Array): void {
  assert.deepEqual(seen.arg, new Uint8Array([1, 2, 3]));
  assertIsolated(seen.arg!, 64, "Bob's argument");
  const tag = seen.metadata!.find((e) => e.key === "tag")!.value;
  assert.ok(tag instanceof Uint8Array);
  assert.deepEqual(tag, new Uint8Array([4, 5, 6]));
  assertIsolated(tag, 64, "Bob's metadata value");
  assert.deepEqual(seen.items, [new Uint8Array([1, 2, 3])]);
  assertIsolated(seen.items[0]!, 64, "Bob's channel item");
  assert.deepEqual(result, new Uint8Array([9, 8, 7]));
  assertIsolated(result, 64, "the result Bob got back");
}

test("bytes values decoded on one memory-link session never share an ArrayBuffer with another session's messages", async () => {
  const aliceSeen: Seen = { items: [] };
  const bobSeen: Seen = { items: [] };
  const [a1, b1] = memoryLink();
  const [a2, b2] = memoryLink();
  const [alice, aliceServer, bob, bobServer] = await Promise.all([
    initiate(a1),
    accept(b1, { services: [vaultImpl(aliceSeen)] }),
    initiate(a2),
    accept(b2, { services: [vaultImpl(bobSeen)] }),
  ]);
  try {
    await aliceTalks(alice);
    assert.deepEqual(aliceSeen.arg, SECRET);
    const result = await bobTalks(bob);
    assertBobIsolated(bobSeen, result);
  } finally {
    await alice.close();
    await bob.close();
    await aliceServer.closed;
    await bobServer.closed;
  }
});

test("bytes values decoded from one TCP connection never share an ArrayBuffer with another connection's frames", async () => {
  const seen: Seen = { items: [] };
  const server = await serve("tcp://127.0.0.1:0", { services: [vaultImpl(seen)] });
  try {
    const alice = await connect(server.url);
    const bob = await connect(server.url);
    try {
      await aliceTalks(alice);
      seen.items.length = 0;
      const result = await bobTalks(bob);
      assertBobIsolated(seen, result);
    } finally {
      await alice.close();
      await bob.close();
    }
  } finally {
    await server.close();
  }
});

test("a small bytes value in a large message does not share its buffer with an earlier message's leftovers", async () => {
  // Alice's large message over TCP goes through a buffer that is recycled
  // once written; Bob's large message over a memory link may be written
  // into that very buffer, over only part of it.
  const seen: Seen = { items: [] };
  const server = await serve("tcp://127.0.0.1:0", { services: [vaultImpl({ items: [] })] });
  const [a, b] = memoryLink();
  const [bob, bobServer] = await Promise.all([
    initiate(a),
    accept(b, { services: [vaultImpl(seen)] }),
  ]);
  try {
    const alice = await connect(server.url);
    try {
      const secrets = Array.from({ length: 4000 }, () => SECRET);
      assert.equal(await alice.client(Vault).many(secrets), 4000);
    } finally {
      await alice.close();
    }
    const pad = new Uint8Array(70 * 1024).fill(0x55);
    assert.equal(await bob.client(Vault).many([new Uint8Array([1, 2, 3]), pad]), 2);
    assert.deepEqual(seen.list![0], new Uint8Array([1, 2, 3]));
    assertIsolated(seen.list![0]!, pad.length + 64, "Bob's small value");
    assert.deepEqual(seen.list![1], pad);
    assertIsolated(seen.list![1]!, pad.length + 64, "Bob's large value");
  } finally {
    await bob.close();
    await bobServer.closed;
    await server.close();
  }
});

test("decodeMessage() copies metadata bytes out of a frame that shares its ArrayBuffer", () => {
  const frame = (value: Uint8Array): Uint8Array => {
    const msg = encodeMessage({
      connectionId: 0,
      payload: {
        type: "request",
        id: 1,
        body: { type: "cancel", metadata: [{ key: "k", value, flags: 0 }] },
      },
    });
    const out = new Uint8Array(4 + msg.length);
    new DataView(out.buffer).setUint32(0, msg.length, true);
    out.set(msg, 4);
    return out;
  };
  const a = frame(SECRET);
  const b = frame(new Uint8Array([1, 2, 3]));
  const stream = new Uint8Array(a.length + b.length);
  stream.set(a);
  stream.set(b, a.length);
  const frames: Uint8Array[] = [];
  new FrameDecoder(1024).push(stream, (p) => frames.push(p));
  // A view into a larger buffer stands for a frame carved from a shared slab.
  const shared = new Uint8Array(stream.buffer, a.length + 4, b.length - 4);
  for (const bytes of [frames[1]!, shared]) {
    const msg = decodeMessage(bytes);
    assert.ok(msg.payload.type === "request" && msg.payload.body.type === "cancel");
    const value = msg.payload.body.metadata[0]!.value as Uint8Array;
    assert.deepEqual(value, new Uint8Array([1, 2, 3]));
    assertIsolated(value, b.length, "the metadata value");
  }
  // A frame that owns its buffer is read in place (a short value may be copied).
  const big = frame(new Uint8Array(1000).fill(7));
  const own = big.slice(4);
  const msg = decodeMessage(own);
  assert.ok(msg.payload.type === "request" && msg.payload.body.type === "cancel");
  assert.equal((msg.payload.body.metadata[0]!.value as Uint8Array).buffer, own.buffer);
});

test("decode() returns plain bytes values with an ArrayBuffer of their own, even from a Buffer view", () => {
  const input = Buffer.alloc(64);
  input.set(SECRET, 20);
  input.set([3, 1, 2, 3], 40);
  for (const bytes of [input.subarray(40, 44), new Uint8Array(input.buffer, 40, 4)]) {
    const v = decode(t.bytes, bytes);
    assert.deepEqual([...v], [1, 2, 3]);
    assert.equal(v.constructor, Uint8Array);
    assert.equal(v.buffer.byteLength, 3);
  }
});

test("encode() results have an ArrayBuffer of their own; pooled ones may share only with each other", () => {
  const Pair = t.struct({ name: t.string, data: t.bytes });
  const secret = encode(t.bytes, SECRET);
  const values = [
    { name: "b", data: new Uint8Array([1]) },
    { name: "é".repeat(300), data: SECRET },
    // Large results (64 KiB and up), ASCII or not, which may skip zero-filling.
    { name: "large", data: new Uint8Array(70_000).fill(5) },
    { name: "größer", data: new Uint8Array(1 << 20).fill(6) },
  ];
  for (const value of values) {
    const out = encode(Pair, value);
    assert.equal(out.byteOffset, 0);
    assert.equal(out.buffer.byteLength, out.length);
    assert.deepEqual(decode(Pair, out), value);
  }
  const pooled = [1, 2, 3].map((n) => encode(t.u32, n, { pooled: true }));
  assert.deepEqual(pooled.map((p) => [...p]), [[1], [2], [3]]);
  for (const p of pooled) {
    assert.ok(!contains(new Uint8Array(p.buffer), SECRET), "a pooled result shares memory");
  }
  assert.deepEqual(decode(t.bytes, secret), SECRET);
});

test("Writer.handOff() zeroes whatever the buffer held besides its message", () => {
  const nonZero = (b: Uint8Array): number => b.reduce((n, x) => (x === 0 ? n : n + 1), 0);
  // An earlier, longer message; one whose non-ASCII string, written with
  // room for a two-byte length, left its last byte past its end; and
  // strings refused for a lone surrogate after part of them was written.
  const earlierWrites = [
    (w: Writer) => w.raw(SECRET),
    (w: Writer) => w.string("é".repeat(50)),
    (w: Writer) => assert.equal(w.string("secret-ascii\ud800"), false),
    (w: Writer) => assert.equal(w.string("secret-é\ud800"), false),
    (w: Writer) => assert.equal(w.string("s".repeat(100) + "\ud800"), false),
  ];
  for (const earlier of earlierWrites) {
    const w = new Writer(16);
    earlier(w);
    w.reset();
    w.raw(new Uint8Array([1, 2, 3]));
    const out = w.handOff();
    assert.deepEqual([...out], [1, 2, 3]);
    assert.equal(nonZero(new Uint8Array(out.buffer)), 3, "only the message is left");
    assert.ok(ownsMemory(out));
  }
  assert.ok(!ownsMemory(new Uint8Array(64).subarray(0, 3)));
  assert.ok(ownsMemory(new Uint8Array(3)));
});
