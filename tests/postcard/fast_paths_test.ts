/**
 * Tests for the codec's fast paths: fixed-shape values written straight
 * into an exactly sized result and read straight from the input. Each must
 * give exactly what the general path gives, including for the values that
 * make it step aside. (Strings on every path: `utf8_test.ts`.)
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { decode, DecodeError, encode, type Infer, t } from "../../postcard.ts";
import { type Rng, seeded } from "../_helpers/mod.ts";

/** Fields both fast paths cover. */
const smallFields = {
  flag: t.bool,
  tiny: t.u8,
  small: t.i8,
  word: t.u16,
  sword: t.i16,
  count: t.u32,
  delta: t.i32,
  name: t.string,
  nothing: t.unit,
  maybe: t.option(t.tuple(t.string, t.i32)),
};
/** Decoded inline: no floats or bytes. */
const Small = t.struct(smallFields);
/** Encoded in place. */
const Everything = t.struct({
  ...smallFields,
  ratio: t.f32,
  exact: t.f64,
  blob: t.bytes,
  inner: t.struct({ label: t.option(t.string), on: t.bool }),
});
type Everything = Infer<typeof Everything>;

/** The general path's bytes: the value inside a list (never a fast path), minus the count. */
function generalBytes(value: Everything): Uint8Array {
  return encode(t.list(Everything), [value]).subarray(1);
}

function randomInt(rng: Rng, min: number, max: number): number {
  return min + Math.floor(rng() * (max - min + 1));
}

function randomString(rng: Rng, ascii: boolean): string {
  const n = randomInt(rng, 0, 40);
  let s = "";
  for (let i = 0; i < n; i++) {
    s += ascii || rng() < 0.8
      ? String.fromCharCode(randomInt(rng, 0, 127))
      : String.fromCodePoint(randomInt(rng, 0x80, 0x10ffff) & ~0x800 | 0x80); // avoid surrogates
  }
  return s;
}

function randomValue(rng: Rng): Everything {
  const int = (min: number, max: number): number => randomInt(rng, min, max);
  const ascii = rng() < 0.7;
  return {
    flag: rng() < 0.5,
    tiny: int(0, 255),
    small: int(-128, 127),
    word: int(0, 65535),
    sword: int(-32768, 32767),
    count: rng() < 0.5 ? int(0, 300) : int(0, 0xffff_ffff),
    delta: rng() < 0.5 ? int(-300, 300) : int(-0x8000_0000, 0x7fff_ffff),
    ratio: Math.fround(rng() * 1000 - 500),
    exact: rng() * 1e9 - 5e8,
    name: randomString(rng, ascii),
    blob: new Uint8Array(int(0, 200)).map(() => int(0, 255)),
    nothing: undefined,
    maybe: rng() < 0.5 ? undefined : [randomString(rng, ascii), int(-1000, 1000)],
    inner: { label: rng() < 0.5 ? undefined : randomString(rng, ascii), on: true },
  };
}

test("encode() writes fixed-shape values exactly as the general path does", () =>
  seeded(0xfa57, (rng) => {
    for (let i = 0; i < 600; i++) {
      const value = randomValue(rng);
      const bytes = encode(Everything, value);
      assert.deepStrictEqual(bytes, generalBytes(value));
      assert.deepStrictEqual(encode(Everything, value, { pooled: true }), bytes);
      assert.deepStrictEqual(decode(Everything, bytes), value);
    }
  }));

test("encode() gives a fixed-shape value with non-ASCII strings its UTF-8 bytes", () => {
  const Person = t.struct({ name: t.string, email: t.option(t.string) });
  const bytes = encode(Person, { name: "Zoë", email: "名前@example.jp" });
  const name = new TextEncoder().encode("Zoë");
  assert.equal(bytes[0], name.length);
  assert.deepStrictEqual(bytes.subarray(1, 1 + name.length), name);
  assert.deepStrictEqual(decode(Person, bytes), { name: "Zoë", email: "名前@example.jp" });
});

test("encode() handles fixed-shape values larger than the in-place limit", () => {
  const Doc = t.struct({ title: t.string, body: t.bytes });
  const value = { title: "x".repeat(5000), body: new Uint8Array(10_000).fill(3) };
  const bytes = encode(Doc, value);
  assert.equal(bytes.length, 2 + 5000 + 2 + 10_000);
  assert.deepStrictEqual(decode(Doc, bytes), value);
});

test("encode() writes every byte of a large fixed-shape result, whatever memory it reuses", () => {
  const Doc = t.struct({ title: t.string, body: t.bytes, note: t.option(t.string) });
  for (let round = 0; round < 6; round++) {
    // Garbage in freed memory, for an allocation that skips zero-filling to meet.
    for (let i = 0; i < 4; i++) new Uint8Array(200_000 + round).fill(0xaa);
    const size = 65_536 + round * 1000;
    const value = {
      title: round % 2 === 0 ? "t".repeat(round * 50) : "tït".repeat(round * 20),
      body: new Uint8Array(size).map((_, i) => i * 7),
      note: round % 3 === 0 ? undefined : "ñ".repeat(round),
    };
    const bytes = encode(Doc, value);
    assert.deepStrictEqual(bytes, encode(t.list(Doc), [value]).subarray(1));
    assert.deepStrictEqual(decode(Doc, bytes), value);
  }
});

test("encode() still reports a bad field of a fixed-shape value with its path", () => {
  const Point = t.struct({ x: t.i32, y: t.i32, tag: t.option(t.string) });
  assert.throws(
    () => encode(Point, { x: 1, y: 2 ** 31, tag: undefined }),
    (e: unknown) => e instanceof RangeError && e.message.includes("value.y"),
  );
  assert.throws(
    () => encode(Point, { x: 1, y: 2, tag: 7 as unknown as string }),
    (e: unknown) => e instanceof TypeError && e.message.includes("value.tag"),
  );
  assert.throws(
    () => encode(t.string, "lone \uD800 surrogate"),
    (e: unknown) => e instanceof TypeError,
  );
});

test("encode() results of fixed-shape values never share bytes", () => {
  const Pair = t.tuple(t.u8, t.u8);
  const a = encode(Pair, [1, 2]);
  const b = encode(Pair, [3, 4]);
  a[0] = 99;
  assert.deepStrictEqual([...b], [3, 4]);
  assert.deepStrictEqual(decode(Pair, b), [3, 4]);
});

test("decode() returns the right string for thousands of distinct short strings", () => {
  // Thousands of distinct strings, many differing only in the middle.
  const values: string[] = [];
  for (let i = 0; i < 5000; i++) values.push(`k-${String(i).padStart(5, "0")}-v`);
  values.push("", "a", "ab", "x".repeat(32), "y".repeat(33));
  const List = t.list(t.string);
  for (let round = 0; round < 3; round++) {
    assert.deepStrictEqual(decode(List, encode(List, values)), values);
  }
  for (const v of values) assert.equal(decode(t.string, encode(t.string, v)), v);
});

test("decode() of a short string with a non-ASCII or invalid byte does not disturb later ones", () => {
  const ascii = encode(t.string, "caf?");
  assert.equal(decode(t.string, ascii), "caf?");
  const utf8 = encode(t.string, "café");
  assert.equal(decode(t.string, utf8), "café");
  const bad = new Uint8Array([4, 0x63, 0x61, 0x66, 0xff]);
  assert.throws(() => decode(t.string, bad), DecodeError);
  assert.equal(decode(t.string, ascii), "caf?");
});

test("decode() works normally after a decode that failed part way", () => {
  const Person = t.struct({ name: t.string, age: t.u32 });
  const good = encode(Person, { name: "Ada", age: 36 });
  assert.throws(() => decode(Person, good.subarray(0, 3)), DecodeError);
  assert.throws(() => decode(Person, new Uint8Array([...good, 0])), DecodeError);
  assert.deepStrictEqual(decode(Person, good), { name: "Ada", age: 36 });
});

test("decode() reads fixed-shape values exactly as the general path does", () =>
  seeded(0xdec0, (rng) => {
    const List = t.list(Small);
    for (let i = 0; i < 1000; i++) {
      const { flag, tiny, small, word, sword, count, delta, name, nothing, maybe } = randomValue(
        rng,
      );
      const value = { flag, tiny, small, word, sword, count, delta, name, nothing, maybe };
      const bytes = encode(Small, value);
      const general = decode(List, new Uint8Array([1, ...bytes]))[0];
      assert.deepStrictEqual(decode(Small, bytes), general);
      assert.deepStrictEqual(general, value);
    }
  }));

test("decode() of a fixed-shape value still rejects every truncation and a trailing byte", () => {
  const bytes = encode(Small, {
    flag: true,
    tiny: 1,
    small: -1,
    word: 2,
    sword: -2,
    count: 3,
    delta: -3,
    name: "ok",
    nothing: undefined,
    maybe: ["x", 1],
  });
  for (let n = 0; n < bytes.length; n++) {
    assert.throws(() => decode(Small, bytes.subarray(0, n)), DecodeError);
  }
  assert.throws(() => decode(Small, new Uint8Array([...bytes, 0])), /trailing/);
  const badBool = bytes.slice();
  badBool[0] = 2;
  assert.throws(() => decode(Small, badBool), DecodeError);
});
