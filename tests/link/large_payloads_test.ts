/**
 * Tests for large payloads: the buffers a session hands to a socket come
 * back to a pool once written, and reusing them never corrupts a message
 * still on its way.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { channel, implement, service, t } from "../../mod.ts";
import { connect, serve } from "../../lib/extras/serve.ts";
import {
  framedView,
  GATHER_MIN,
  HEADROOM,
  joinParts,
  poolStats,
  recycle,
} from "../../lib/_util/bytes.ts";
import { Writer } from "../../lib/postcard/_writer.ts";
import { encodeWith } from "../../lib/postcard/codec.ts";

const Big = service("Big", {
  echo: { args: [t.bytes], returns: t.bytes },
  sum: { args: [t.rx(t.bytes)], returns: t.u64 },
});

function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed * 7) & 255;
  return out;
}

test("a writer grows into a buffer given back with recycle(), and only such buffers", () => {
  const w = new Writer(256);
  w.raw(new Uint8Array(100_000));
  const sent = w.handOff();
  recycle(sent);
  // The pool holds at most 16 buffers; one of the next writers gets this one.
  const next = Array.from({ length: 17 }, () => {
    const x = new Writer(256);
    x.raw(new Uint8Array(100_000).fill(1));
    return x;
  }).find((x) => x.buf.buffer === sent.buffer);
  assert.ok(next !== undefined, "the recycled buffer was not reused");
  assert.equal(next.buf[99_999], 1);
  // A reused buffer still keeps its headroom for a frame header.
  const again = next.handOff();
  const framed = framedView(again);
  assert.ok(framed !== undefined, "a reused buffer is handed off with room for a header");
  assert.equal(framed.buffer, again.buffer);
  assert.equal(framed.byteOffset + HEADROOM, again.byteOffset);
  assert.equal(framed.length, HEADROOM + again.length);

  const foreign = new Uint8Array(100_000);
  recycle(foreign);
  const third = new Writer(256);
  third.raw(new Uint8Array(100_000));
  assert.notEqual(third.buf.buffer, foreign.buffer);
});

test("only payloads handed over by a writer or joinParts offer their headroom to a framer", () => {
  const w = new Writer(256);
  w.raw(pattern(100_000, 1));
  assert.equal(framedView(w.buf.subarray(0, w.pos)), undefined, "not while the writer owns it");
  const handed = w.handOff();
  assert.ok(framedView(handed) !== undefined);
  assert.equal(framedView(handed.subarray(1)), undefined, "not for a view that starts later");
  const joined = joinParts([pattern(70_000, 2), pattern(10, 3)], 70_010);
  assert.ok(framedView(joined) !== undefined);
  assert.equal(framedView(joinParts([pattern(10, 1)], 10)), undefined, "small joins have none");
  const foreign = new Uint8Array(new ArrayBuffer(100_004), 4, 100_000);
  assert.equal(framedView(foreign), undefined, "arrays from elsewhere have none");
  const small = new Writer(256);
  small.raw(pattern(10, 4));
  assert.equal(framedView(small.handOff()), undefined);
});

test("the pool keeps at most 16 buffers and 8 MiB of them", () => {
  const handOffs = (count: number, size: number): Uint8Array[] =>
    Array.from({ length: count }, () => {
      const w = new Writer(256);
      w.raw(new Uint8Array(size));
      return w.handOff();
    });
  const reused = (sent: Uint8Array[], size: number): number => {
    const buffers = new Set(sent.map((b) => b.buffer));
    let n = 0;
    for (let i = 0; i < sent.length + 16; i++) {
      const w = new Writer(256);
      w.raw(new Uint8Array(size));
      if (buffers.has(w.buf.buffer)) n++;
    }
    return n;
  };
  const small = handOffs(20, 70_000);
  for (const b of small) recycle(b);
  assert.ok(poolStats().count <= 16);
  const back = reused(small, 70_000);
  assert.ok(back >= 1 && back <= 16, `${back} of 20 buffers of 70 kB were kept`);
  const big = handOffs(10, 1_000_000);
  for (const b of big) recycle(b);
  const { count, bytes } = poolStats();
  assert.ok(count <= 16 && bytes <= 8 * 1024 * 1024, `${count} buffers, ${bytes} bytes pooled`);
  const kept = reused(big, 1_000_000);
  assert.ok(kept >= 1 && kept <= 8, `${kept} buffers of 1 MB were kept, at most 8 MiB`);
});

test("a buffer given back twice is pooled once", () => {
  const w = new Writer(256);
  w.raw(new Uint8Array(200_000));
  const sent = w.handOff();
  recycle(sent);
  recycle(sent);
  const a = new Writer(256);
  const b = new Writer(256);
  a.raw(new Uint8Array(200_000));
  b.raw(new Uint8Array(200_000));
  assert.notEqual(a.buf.buffer, b.buf.buffer);
});

test("32 large calls in flight over TCP come back intact while buffers are reused", async () => {
  const impl = implement(Big, {
    echo: (b) => b,
    sum: async (rx) => {
      let n = 0n;
      for await (const b of rx) n += BigInt(b.length);
      return n;
    },
  });
  const server = await serve("tcp://127.0.0.1:0", { services: [impl] });
  const session = await connect(server.url);
  try {
    const client = session.client(Big);
    for (let round = 0; round < 3; round++) {
      const sent = Array.from(
        { length: 32 },
        (_, i) => pattern(150_000 + i * 1000, round * 32 + i),
      );
      const back = await Promise.all(sent.map((b) => client.echo(b)));
      for (let i = 0; i < sent.length; i++) assert.deepStrictEqual(back[i], sent[i]);
    }
    const sequential = pattern(1 << 20, 99);
    for (let i = 0; i < 5; i++) assert.deepStrictEqual(await client.echo(sequential), sequential);
  } finally {
    await session.close();
    await server.close();
  }
});

test("64 KiB channel items over TCP arrive intact while buffers are reused", async () => {
  const seen: Uint8Array[] = [];
  const Check = service("Check", { take: { args: [t.rx(t.bytes)], returns: t.u32 } });
  const impl = implement(Check, {
    take: async (rx) => {
      let n = 0;
      for await (const b of rx) {
        seen.push(b);
        n++;
      }
      return n;
    },
  });
  const server = await serve("tcp://127.0.0.1:0", { services: [impl] });
  const session = await connect(server.url);
  try {
    const [tx, rx] = channel<Uint8Array>();
    const call = session.client(Check).take(rx);
    for (let i = 0; i < 200; i++) await tx.send(pattern(65_536 + (i % 3), i));
    await tx.close();
    assert.equal(await call, 200);
    // Items the handler kept stay intact after later ones reused send buffers.
    for (let i = 0; i < 200; i++) assert.deepStrictEqual(seen[i], pattern(65_536 + (i % 3), i));
  } finally {
    await session.close();
    await server.close();
  }
});

// ------------------------------------------------------------------ gathering writers

function joined(parts: readonly Uint8Array[]): Uint8Array {
  return joinParts(parts, parts.reduce((n, p) => n + p.length, 0));
}

test("a gathering writer keeps large arrays by reference and parts() gives the message in order", () => {
  const w = new Writer(64);
  w.gather = true;
  const big1 = pattern(GATHER_MIN, 1);
  const big2 = pattern(GATHER_MIN + 5, 2);
  w.u8(1);
  w.raw(big1);
  w.raw(big2); // two kept arrays back to back
  w.u8(2);
  w.raw(pattern(10, 3)); // small: copied
  assert.equal(w.segmentCount, 2);
  assert.equal(w.pos, 12);
  assert.equal(w.size, 12 + big1.length + big2.length);
  const parts = w.parts();
  assert.equal(parts.length, 4);
  assert.equal(parts[1], big1, "the large array itself, not a copy");
  assert.equal(parts[2], big2);
  const expected = new Uint8Array([1, ...big1, ...big2, 2, ...pattern(10, 3)]);
  assert.deepStrictEqual(joined(parts), expected);
  assert.deepStrictEqual(w.copy(), expected);
});

test("a writer that does not gather copies large arrays as before", () => {
  const w = new Writer(64);
  w.raw(pattern(GATHER_MIN, 4));
  assert.equal(w.segmentCount, 0);
  assert.equal(w.pos, GATHER_MIN);
  assert.deepStrictEqual(w.finish(), pattern(GATHER_MIN, 4));
});

test("rewind() forgets the arrays kept after its mark and keeps those before", () => {
  const w = new Writer(64);
  w.gather = true;
  w.u8(7);
  w.raw(pattern(GATHER_MIN, 5));
  const pos = w.pos;
  const segments = w.segmentCount;
  w.u8(8);
  w.raw(pattern(GATHER_MIN, 6));
  w.rewind(pos, segments);
  assert.equal(w.segmentCount, 1);
  assert.equal(w.size, 1 + GATHER_MIN);
  assert.deepStrictEqual(w.copy(), new Uint8Array([7, ...pattern(GATHER_MIN, 5)]));
  w.reset();
  assert.equal(w.segmentCount, 0);
  assert.equal(w.size, 0);
});

test("finish() and handOff() of a gathering writer include the arrays kept by reference", () => {
  const w = new Writer(64);
  w.gather = true;
  w.u8(9);
  w.raw(pattern(GATHER_MIN, 7));
  w.u8(10);
  const expected = new Uint8Array([9, ...pattern(GATHER_MIN, 7), 10]);
  assert.deepStrictEqual(w.finish(), expected);
  assert.equal(w.segmentCount, 0);
  w.u8(9);
  w.raw(pattern(GATHER_MIN, 7));
  w.u8(10);
  assert.deepStrictEqual(w.handOff(), expected);
});

test("a failed encode into a gathering writer leaves no array kept by reference", () => {
  const w = new Writer(64);
  w.gather = true;
  w.u8(1);
  const schema = t.tuple(t.bytes, t.u8);
  assert.throws(
    () => encodeWith(w, schema, [pattern(GATHER_MIN, 8), 300], "args"),
    RangeError,
  );
  assert.equal(w.segmentCount, 0);
  assert.equal(w.pos, 1);
  encodeWith(w, schema, [pattern(GATHER_MIN, 8), 3], "args");
  assert.equal(w.segmentCount, 1);
});

test("joinParts() copies parts into one new array", () => {
  const a = pattern(3, 1);
  const b = pattern(GATHER_MIN, 2);
  const out = joinParts([a, b], a.length + b.length);
  assert.deepStrictEqual(out, new Uint8Array([...a, ...b]));
  b.fill(0);
  assert.deepStrictEqual(out.subarray(3), pattern(GATHER_MIN, 2), "a copy, not a view");
});

test("large bytes changed right after a call over TCP arrive as they were when sent", async () => {
  const seen: Uint8Array[] = [];
  const impl = implement(Big, {
    echo: (b) => {
      seen.push(b.slice());
      return b;
    },
    sum: async (rx) => {
      let n = 0n;
      for await (const b of rx) {
        seen.push(b.slice());
        n += BigInt(b.length);
      }
      return n;
    },
  });
  const server = await serve("tcp://127.0.0.1:0", { services: [impl] });
  const session = await connect(server.url);
  try {
    const client = session.client(Big);
    const sizes = [GATHER_MIN, 300_000, 2 << 20];
    const calls = sizes.map((n, i) => {
      const b = pattern(n, i);
      const call = client.echo(b);
      b.fill(0xee); // the caller reuses its buffer at once
      return call;
    });
    const back = await Promise.all(calls);
    sizes.forEach((n, i) => {
      assert.deepStrictEqual(seen[i], pattern(n, i));
      assert.deepStrictEqual(back[i], pattern(n, i));
    });

    seen.length = 0;
    const [tx, rx] = channel<Uint8Array>();
    const call = client.sum(rx);
    const item = new Uint8Array(200_000);
    for (let i = 0; i < 20; i++) {
      item.set(pattern(item.length, 100 + i));
      await tx.send(item); // the same buffer, refilled before every send
    }
    await tx.close();
    assert.equal(await call, 20n * 200_000n);
    for (let i = 0; i < 20; i++) assert.deepStrictEqual(seen[i], pattern(200_000, 100 + i));
  } finally {
    await session.close();
    await server.close();
  }
});
