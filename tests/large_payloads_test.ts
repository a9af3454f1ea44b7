/**
 * Tests for large payloads: the buffers a session hands to a socket come
 * back to a pool once written, and reusing them never corrupts a message
 * still on its way.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { channel, implement, service, t } from "../mod.ts";
import { connect, serve } from "../transports/serve.ts";
import { recycle, Writer } from "../lib/postcard/_writer.ts";

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
  // The pool holds at most four buffers; one of the next writers gets this one.
  const next = Array.from({ length: 5 }, () => {
    const x = new Writer(256);
    x.raw(new Uint8Array(100_000).fill(1));
    return x;
  }).find((x) => x.buf.buffer === sent.buffer);
  assert.ok(next !== undefined, "the recycled buffer was not reused");
  assert.equal(next.buf[99_999], 1);

  const foreign = new Uint8Array(100_000);
  recycle(foreign);
  const third = new Writer(256);
  third.raw(new Uint8Array(100_000));
  assert.notEqual(third.buf.buffer, foreign.buffer);
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
