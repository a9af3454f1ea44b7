/**
 * Round-trip tests for the postcard codec: every schema kind, edge values, large values, random
 * values of nested schemas, and compile-time checks of `Infer`.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { channel as makeChannel, type ChannelSchema, t } from "../../mod.ts";
import {
  type ArraySchema,
  decode,
  encode,
  type EnumSchema,
  type Infer,
  type LazySchema,
  type ListSchema,
  type MapSchema,
  type OptionSchema,
  type Schema,
  type SetSchema,
  type StructSchema,
  type TupleSchema,
} from "../../postcard.ts";
import { seeded, toHex } from "../_helpers/mod.ts";

/** Asserts `decode(encode(value))` deep-equals `expected` (default: `value`). */
function roundtrip<T>(schema: Schema<T>, value: T, expected: unknown = value): Uint8Array {
  const bytes = encode(schema, value);
  assert.ok(bytes instanceof Uint8Array);
  const back = decode(schema, bytes);
  assert.deepStrictEqual(back, expected);
  // Encoding is deterministic: the decoded value encodes to the same bytes.
  const again = encode(schema, back as T);
  if (!sameBytes(again, bytes)) assert.equal(toHex(again), toHex(bytes));
  return bytes;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function utf8Length(s: string): number {
  return new TextEncoder().encode(s).length;
}

function varintLength(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

// ---------------------------------------------------------------------------------------------
// Scalars

test("bool round-trips true and false", () => {
  roundtrip(t.bool, true);
  roundtrip(t.bool, false);
});

test("every u8 and i8 value round-trips", () => {
  for (let n = 0; n <= 255; n++) roundtrip(t.u8, n);
  for (let n = -128; n <= 127; n++) roundtrip(t.i8, n);
});

test("every u16 and i16 value round-trips", () => {
  for (let n = 0; n <= 0xffff; n++) {
    const u = decode(t.u16, encode(t.u16, n));
    if (u !== n) assert.fail(`u16 ${n} came back as ${u}`);
    const s = n - 0x8000;
    const i = decode(t.i16, encode(t.i16, s));
    if (i !== s) assert.fail(`i16 ${s} came back as ${i}`);
  }
});

test("u32 and i32 round-trip at every varint length boundary and at random", () =>
  seeded(32, (rng) => {
    const values = [0, 1, 0xffff_ffff, 0xffff_fffe];
    for (let k = 7; k < 32; k += 7) values.push(2 ** k - 1, 2 ** k, 2 ** k + 1);
    for (let i = 0; i < 2000; i++) values.push(Math.floor(rng() * 2 ** 32));
    for (const n of values) {
      roundtrip(t.u32, n);
      roundtrip(t.i32, n | 0);
      roundtrip(t.i32, -(n >>> 1) - 1);
    }
    roundtrip(t.i32, 2147483647);
    roundtrip(t.i32, -2147483648);
  }));

function randomBig(rng: () => number, bits: number): bigint {
  let v = 0n;
  for (let i = 0; i < bits; i += 16) v = (v << 16n) | BigInt(Math.floor(rng() * 65536));
  return v & ((1n << BigInt(bits)) - 1n);
}

test("u64 and i64 round-trip at 0, every power of two boundary, the extremes and at random", () =>
  seeded(64, (rng) => {
    for (let k = 0n; k <= 64n; k++) {
      const p = 1n << k;
      for (const v of [p - 1n, p, p + 1n]) {
        if (v <= (1n << 64n) - 1n) roundtrip(t.u64, v);
        if (v <= (1n << 63n)) roundtrip(t.i64, -v);
        if (v < (1n << 63n)) roundtrip(t.i64, v);
      }
    }
    for (let i = 0; i < 1000; i++) {
      const bits = 1 + Math.floor(rng() * 64);
      const v = randomBig(rng, bits);
      roundtrip(t.u64, v);
      roundtrip(t.i64, BigInt.asIntN(64, v));
    }
    roundtrip(t.u64, (1n << 64n) - 1n);
    roundtrip(t.i64, -(1n << 63n));
    roundtrip(t.i64, (1n << 63n) - 1n);
  }));

test("u128 and i128 round-trip at 0, every power of two boundary, the extremes and at random", () =>
  seeded(128, (rng) => {
    for (let k = 0n; k <= 128n; k++) {
      const p = 1n << k;
      for (const v of [p - 1n, p, p + 1n]) {
        if (v <= (1n << 128n) - 1n) roundtrip(t.u128, v);
        if (v <= (1n << 127n)) roundtrip(t.i128, -v);
        if (v < (1n << 127n)) roundtrip(t.i128, v);
      }
    }
    for (let i = 0; i < 500; i++) {
      const bits = 1 + Math.floor(rng() * 128);
      const v = randomBig(rng, bits);
      roundtrip(t.u128, v);
      roundtrip(t.i128, BigInt.asIntN(128, v));
    }
    assert.equal(encode(t.u128, (1n << 128n) - 1n).length, 19);
    assert.equal(encode(t.i128, -(1n << 127n)).length, 19);
  }));

test("f64 round-trips 0, -0, NaN, infinities, extremes and random bit patterns", () =>
  seeded(1064, (rng) => {
    const values = [
      0,
      -0,
      NaN,
      Infinity,
      -Infinity,
      Number.MIN_VALUE,
      -Number.MIN_VALUE,
      Number.MAX_VALUE,
      -Number.MAX_VALUE,
      Number.EPSILON,
      Number.MAX_SAFE_INTEGER,
      0.1,
      -1e-300,
      Math.PI,
    ];
    const dv = new DataView(new ArrayBuffer(8));
    for (let i = 0; i < 1000; i++) {
      dv.setUint32(0, Math.floor(rng() * 2 ** 32));
      dv.setUint32(4, Math.floor(rng() * 2 ** 32));
      values.push(dv.getFloat64(0));
    }
    for (const v of values) {
      const bytes = encode(t.f64, v);
      assert.equal(bytes.length, 8);
      assert.ok(Object.is(decode(t.f64, bytes), v), `f64 ${v}`);
    }
  }));

test("f32 round-trips 0, -0, NaN, infinities and f32 extremes exactly", () => {
  const values = [
    0,
    -0,
    NaN,
    Infinity,
    -Infinity,
    2 ** -149,
    -(2 ** -149),
    2 ** -126,
    3.4028234663852886e38,
    -3.4028234663852886e38,
    Math.fround(0.1),
    Math.fround(Math.PI),
    16777216,
  ];
  for (const v of values) {
    const bytes = encode(t.f32, v);
    assert.equal(bytes.length, 4);
    assert.ok(Object.is(decode(t.f32, bytes), v), `f32 ${v}`);
  }
});

test("f32 rounds a number that is not representable to the nearest f32", () => {
  for (const v of [0.1, 1 / 3, 1e-40, 16777217, 1e39, -1e39]) {
    assert.ok(Object.is(decode(t.f32, encode(t.f32, v)), Math.fround(v)), `f32 ${v}`);
  }
});

test("char round-trips ASCII, BMP and astral-plane scalar values", () => {
  for (const c of ["a", "\0", "\x7f", "é", "\u07ff", "\u0800", "世", "\ufffd", "\uffff", "🦀"]) {
    roundtrip(t.char, c);
  }
  roundtrip(t.char, "\u{10000}");
  roundtrip(t.char, "\u{10ffff}");
  roundtrip(t.char, "\ud7ff");
  roundtrip(t.char, "\ue000");
});

test("char U+FEFF (zero width no-break space) round-trips", () => {
  // A leading U+FEFF is a character, not a byte-order mark to strip.
  roundtrip(t.char, "\ufeff");
});

test("strings round-trip and their length prefix counts UTF-8 bytes", () => {
  const cases = [
    "",
    "a",
    "\0",
    "hello world",
    "héllo 世界 🦀",
    "🦀".repeat(1000),
    "\u{10ffff}\u{10000}",
    "a".repeat(127),
    "a".repeat(128),
    "a".repeat(129),
    "é".repeat(63),
    "é".repeat(64),
    "世".repeat(42),
    "世".repeat(43),
    "a".repeat(16383),
    "a".repeat(16384),
    "a".repeat(6000) + "é", // a 2-byte length whose worst case would need 3 bytes
    "é" + "a".repeat(200),
    "a".repeat(31) + "é",
    "a".repeat(32) + "é",
    "a".repeat(33),
    "x\ufeff",
  ];
  for (const s of cases) {
    const bytes = roundtrip(t.string, s);
    const n = utf8Length(s);
    assert.equal(bytes.length, varintLength(n) + n, `length of a ${s.length}-unit string`);
    assert.equal(
      toHex(bytes.subarray(varintLength(n))),
      toHex(new TextEncoder().encode(s)),
      `UTF-8 of a ${s.length}-unit string`,
    );
  }
});

test("a string starting with U+FEFF keeps it after a round trip", () => {
  // TextDecoder strips a leading BOM unless it is created with ignoreBOM: true.
  roundtrip(t.string, "\ufeff");
  roundtrip(t.string, "\ufeffabc");
  roundtrip(t.string, "\ufeffé");
  roundtrip(t.list(t.string), ["\ufeffx", "y"]);
});

test("random strings of random code points round-trip", () =>
  seeded(7, (rng) => {
    const pick = (): number => {
      const r = rng();
      if (r < 0.4) return Math.floor(rng() * 0x80);
      if (r < 0.6) return 0x80 + Math.floor(rng() * 0x780);
      if (r < 0.8) {
        const c = 0x800 + Math.floor(rng() * 0xf800);
        return c >= 0xd800 && c <= 0xdfff ? 0x41 : c;
      }
      return 0x10000 + Math.floor(rng() * 0x100000);
    };
    for (let i = 0; i < 2000; i++) {
      const len = Math.floor(rng() * (i % 10 === 0 ? 300 : 40));
      let s = "";
      for (let j = 0; j < len; j++) s += String.fromCodePoint(pick());
      const bytes = roundtrip(t.string, s);
      assert.equal(bytes.length, varintLength(utf8Length(s)) + utf8Length(s));
      const c = String.fromCodePoint(pick());
      roundtrip(t.char, c);
    }
  }));

test("a 1 MiB string round-trips", () => {
  const s = "héllo 世界 🦀 ".repeat(1 << 16);
  const back = decode(t.string, encode(t.string, s));
  assert.equal(back.length, s.length);
  assert.ok(back === s);
});

test("bytes round-trip empty, small and 1 MiB values", () => {
  roundtrip(t.bytes, new Uint8Array(0));
  roundtrip(t.bytes, new Uint8Array([0, 255, 128, 127]));
  const big = new Uint8Array(1 << 20);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 8)) & 0xff;
  const bytes = encode(t.bytes, big);
  assert.equal(bytes.length, (1 << 20) + 3);
  assert.equal(toHex(bytes.subarray(0, 3)), "80 80 40");
  const back = decode(t.bytes, bytes);
  assert.ok(back instanceof Uint8Array);
  assert.equal(back.length, big.length);
  assert.deepStrictEqual(back, big);
});

test("bytes encodes only the viewed range of a subarray", () => {
  const whole = new Uint8Array([1, 2, 3, 4, 5, 6]);
  const view = whole.subarray(2, 5);
  assert.equal(toHex(encode(t.bytes, view)), "03 03 04 05");
  assert.deepStrictEqual(decode(t.bytes, encode(t.bytes, view)), new Uint8Array([3, 4, 5]));
});

test("decoded bytes do not alias the input buffer", () => {
  const input = new Uint8Array([3, 7, 8, 9]);
  const back = decode(t.bytes, input);
  input[1] = 0;
  assert.deepStrictEqual(back, new Uint8Array([7, 8, 9]));
});

test("unit round-trips as undefined and accepts null when encoding", () => {
  roundtrip(t.unit, undefined);
  assert.equal(encode(t.unit, null as unknown as undefined).length, 0);
});

// ---------------------------------------------------------------------------------------------
// Composites

test("option round-trips None and Some, including falsy Some values", () => {
  roundtrip(t.option(t.u32), undefined);
  roundtrip(t.option(t.u32), 0);
  roundtrip(t.option(t.bool), false);
  roundtrip(t.option(t.string), "");
  roundtrip(t.option(t.u64), 0n);
  roundtrip(t.option(t.f64), NaN);
  roundtrip(t.option(t.f64), -0);
  roundtrip(t.option(t.list(t.u8)), []);
  assert.equal(toHex(encode(t.option(t.u32), null as unknown as undefined)), "00");
});

test("lists round-trip empty, nested and 100k-element values", () =>
  seeded(100, (rng) => {
    roundtrip(t.list(t.u32), []);
    roundtrip(t.list(t.list(t.string)), [[], ["a"], ["b", "c"], []]);
    roundtrip(t.list(t.unit), [undefined, undefined, undefined]);
    roundtrip(t.list(t.tuple()), [[], []]);
    const big = Array.from({ length: 100_000 }, () => Math.floor(rng() * 2 ** 32));
    const bytes = roundtrip(t.list(t.u32), big);
    assert.equal(toHex(bytes.subarray(0, 3)), "a0 8d 06");
    const strs = Array.from({ length: 20_000 }, (_, i) => `s${i}`);
    roundtrip(t.list(t.string), strs);
    const pts = Array.from({ length: 20_000 }, (_, i) => ({ x: i, y: 0 - i }));
    roundtrip(t.list(t.struct({ x: t.i32, y: t.i32 })), pts);
  }));

test("fixed arrays round-trip, including zero-length ones", () => {
  roundtrip(t.array(t.u8, 0), []);
  roundtrip(t.array(t.u8, 32), Array.from({ length: 32 }, (_, i) => i * 7));
  roundtrip(t.array(t.string, 3), ["", "a", "🦀"]);
  roundtrip(t.array(t.array(t.i16, 2), 2), [[-1, 1], [32767, -32768]]);
});

test("maps round-trip empty, primitive-keyed and nested values, keeping order", () => {
  roundtrip(t.map(t.string, t.u32), new Map());
  roundtrip(t.map(t.string, t.u32), new Map([["z", 1], ["a", 2], ["", 0]]));
  roundtrip(t.map(t.i32, t.option(t.string)), new Map([[-1, "x"], [0, undefined], [7, ""]]));
  roundtrip(t.map(t.u64, t.list(t.string)), new Map([[0n, []], [(1n << 64n) - 1n, ["a", "b"]]]));
  roundtrip(t.map(t.char, t.map(t.bool, t.u8)), new Map([["é", new Map([[true, 1], [false, 0]])]]));
  const big = new Map(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, i] as [string, number]));
  const back = decode(t.map(t.string, t.u32), encode(t.map(t.string, t.u32), big));
  assert.deepStrictEqual([...back.keys()], [...big.keys()]);
  assert.deepStrictEqual(back, big);
});

test("sets round-trip empty and non-empty values, keeping order", () => {
  roundtrip(t.set(t.u32), new Set());
  roundtrip(t.set(t.string), new Set(["b", "a", ""]));
  roundtrip(t.set(t.i64), new Set([-(1n << 63n), 0n, (1n << 63n) - 1n]));
  roundtrip(t.set(t.char), new Set(["🦀", "a"]));
});

test("tuples round-trip, including the empty tuple and nested tuples", () => {
  roundtrip(t.tuple(), []);
  roundtrip(t.tuple(t.u8, t.string, t.bool), [255, "x", false]);
  roundtrip(t.tuple(t.tuple(t.i64, t.f32), t.option(t.u8)), [[-5n, 0.5], undefined]);
});

test("structs round-trip; omitted option fields decode as undefined", () => {
  const Person = t.struct({ name: t.string, age: t.u32, email: t.option(t.string) });
  roundtrip(Person, { name: "Ada", age: 36, email: "ada@example.org" });
  roundtrip(Person, { name: "Ada", age: 36, email: undefined });
  roundtrip(Person, { name: "Ada", age: 36 }, { name: "Ada", age: 36, email: undefined });
  roundtrip(t.struct({}), {});
  const Outer = t.struct({ inner: t.struct({ a: t.u8, b: t.option(t.u8) }), tail: t.bool });
  roundtrip(Outer, { inner: { a: 1, b: 2 }, tail: true });
});

test("a struct value's extra properties are ignored", () => {
  const P = t.struct({ x: t.i32 });
  const extra = { x: 1, y: 2 } as unknown as { x: number };
  assert.equal(toHex(encode(P, extra)), "02");
  assert.deepStrictEqual(decode(P, encode(P, extra)), { x: 1 });
});

/** A struct of `n` fields cycling through several kinds, and a matching value. */
function wideStruct(
  n: number,
): { fields: Record<string, Schema<unknown>>; value: Record<string, unknown> } {
  const kinds: Schema<unknown>[] = [
    t.u8,
    t.string,
    t.option(t.i32),
    t.list(t.u16),
    t.enum({ A: t.unit, B: [t.i32, t.string] }),
  ];
  const samples: unknown[] = [200, "é", undefined, [1, 65535], { tag: "B", value: [-1, "x"] }];
  const fields: Record<string, Schema<unknown>> = {};
  const value: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    fields[`f${i}`] = kinds[i % kinds.length]!;
    value[`f${i}`] = samples[i % samples.length];
  }
  return { fields, value };
}

/** Adds an own, enumerable `__proto__` property (a plain assignment would set the prototype). */
function withProto<T extends object>(o: T, v: unknown): T {
  Object.defineProperty(o, "__proto__", {
    value: v,
    enumerable: true,
    writable: true,
    configurable: true,
  });
  return o;
}

test("a struct with 600 fields of mixed kinds round-trips", () => {
  const { fields, value } = wideStruct(600);
  fields["tail"] = t.struct({ a: t.u8, b: t.list(t.string) });
  value["tail"] = { a: 1, b: ["x", "y"] };
  const Wide = t.struct(fields);
  roundtrip(Wide, value);
});

test("a struct field named __proto__ decodes as an own property", () => {
  const S = t.struct(withProto({ other: t.u8 } as Record<string, Schema<unknown>>, t.i32));
  const bytes = encode(S, withProto({ other: 1 }, 5));
  assert.equal(toHex(bytes), "01 0a");
  const back = decode(S, bytes) as Record<string, unknown>;
  assert.ok(Object.hasOwn(back, "__proto__"), "decoded value lacks its own __proto__ field");
  assert.equal(back["__proto__"], 5);
  assert.equal(Object.getPrototypeOf(back), Object.prototype);
});

test("a struct field named __proto__ decodes as an own property deep inside a very large schema", () => {
  const { fields, value } = wideStruct(600);
  fields["inner"] = t.struct(withProto({ a: t.u8 } as Record<string, Schema<unknown>>, t.i32));
  value["inner"] = withProto({ a: 1 }, 9);
  const Wide = t.struct(fields);
  const back = decode(Wide, encode(Wide, value)) as Record<string, unknown>;
  const inner = back["inner"] as Record<string, unknown>;
  assert.equal(inner["a"], 1);
  assert.ok(
    Object.hasOwn(inner, "__proto__"),
    "decoded inner struct lacks its own __proto__ field",
  );
  assert.equal(inner["__proto__"], 9);
});

const Shape = t.enum({
  Unit: t.unit,
  New: t.u32,
  Tup: [t.i32, t.string],
  Rec: { x: t.f64, label: t.option(t.string) },
  One: [t.i32],
  Nested: t.option(t.list(t.u8)),
});

test("enums round-trip every variant shape", () => {
  roundtrip(Shape, { tag: "Unit" });
  roundtrip(Shape, { tag: "New", value: 0 });
  roundtrip(Shape, { tag: "New", value: 4294967295 });
  roundtrip(Shape, { tag: "Tup", value: [-2147483648, "🦀"] });
  roundtrip(Shape, { tag: "Rec", value: { x: -0, label: "a" } });
  roundtrip(Shape, { tag: "Rec", value: { x: NaN } }, {
    tag: "Rec",
    value: { x: NaN, label: undefined },
  });
  roundtrip(Shape, { tag: "One", value: [42] });
  roundtrip(Shape, { tag: "Nested", value: undefined });
  roundtrip(Shape, { tag: "Nested", value: [1, 2] });
  const R = t.enum({ Ok: t.u32, Err: t.string });
  roundtrip(t.list(R), [{ tag: "Ok", value: 1 }, { tag: "Err", value: "no" }]);
});

interface Node {
  value: number;
  next?: Node | undefined;
}
const Node: Schema<Node> = t.struct({ value: t.i32, next: t.option(t.lazy(() => Node)) });

interface Tree {
  name: string;
  children: Tree[];
}
const Tree: Schema<Tree> = t.struct({ name: t.string, children: t.list(t.lazy(() => Tree)) });

function chain(n: number): Node | undefined {
  let head: Node | undefined = undefined;
  for (let i = n - 1; i >= 0; i--) head = { value: i, next: head };
  return head;
}

test("recursive types via t.lazy round-trip", () => {
  roundtrip(Node, { value: 0, next: undefined });
  roundtrip(Node, chain(300)!);
  roundtrip(Tree, {
    name: "root",
    children: [
      { name: "a", children: [] },
      { name: "b", children: [{ name: "c", children: [{ name: "d", children: [] }] }] },
    ],
  });
});

test("channel placeholders decode as undefined without channel hooks", () => {
  const Args = t.tuple(t.u32, t.tx(t.string), t.rx(t.bytes, { credit: 4 }));
  const [tx] = makeChannel<string>();
  const [, rx] = makeChannel<Uint8Array>();
  const bytes = encode(Args, [5, tx, rx]);
  assert.equal(toHex(bytes), "05");
  assert.deepStrictEqual(decode(Args, bytes) as unknown, [5, undefined, undefined]);
});

test("decode reads a Uint8Array view with a non-zero, unaligned byteOffset", () => {
  const S = t.struct({ a: t.u8, f: t.f64, g: t.f32, s: t.string });
  const value = { a: 9, f: Math.PI, g: 0.5, s: "é" };
  const bytes = encode(S, value);
  const backing = new Uint8Array(bytes.length + 7);
  backing.fill(0xee);
  backing.set(bytes, 3);
  assert.deepStrictEqual(decode(S, backing.subarray(3, 3 + bytes.length)), value);
});

test("encode returns independent arrays that later encodes do not overwrite", () => {
  const first = encode(t.string, "first value");
  const snapshot = toHex(first);
  const others: Uint8Array[] = [];
  for (let i = 0; i < 5000; i++) others.push(encode(t.u32, i));
  assert.equal(toHex(first), snapshot);
  others[0]![0] = 0xff;
  assert.equal(toHex(first), snapshot);
  for (let i = 1; i < 5000; i++) assert.equal(decode(t.u32, others[i]!), i);
});

test("encode is usable again after it threw", () => {
  assert.throws(() => encode(t.list(t.u8), [1, 2, 300]), RangeError);
  assert.equal(toHex(encode(t.u8, 5)), "05");
  assert.throws(
    () => encode(t.list(t.string), ["a".repeat(5000), 5 as unknown as string]),
    TypeError,
  );
  assert.equal(toHex(encode(t.list(t.u8), [1])), "01 01");
});

// ---------------------------------------------------------------------------------------------
// Random values of nested schemas

/** A random value of `schema`; `depth` bounds recursion. */
function randomValue(schema: Schema<unknown>, rng: () => number, depth: number): unknown {
  const int = (lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1));
  const edge = <T>(edges: readonly T[], other: () => T): T =>
    rng() < 0.3 ? edges[int(0, edges.length - 1)]! : other();
  switch (schema.kind) {
    case "bool":
      return rng() < 0.5;
    case "u8":
      return int(0, 255);
    case "i8":
      return int(-128, 127);
    case "u16":
      return edge([0, 127, 128, 65535], () => int(0, 65535));
    case "i16":
      return edge([0, -1, -32768, 32767], () => int(-32768, 32767));
    case "u32":
      return edge([0, 127, 128, 4294967295], () => Math.floor(rng() * 2 ** (rng() * 32)));
    case "i32":
      return edge([0, -1, -2147483648, 2147483647], () => int(-2147483648, 2147483647));
    case "u64":
      return edge([0n, (1n << 64n) - 1n], () => randomBig(rng, int(1, 64)));
    case "i64":
      return edge(
        [0n, -(1n << 63n), (1n << 63n) - 1n],
        () => BigInt.asIntN(64, randomBig(rng, int(1, 64))),
      );
    case "u128":
      return edge([0n, (1n << 128n) - 1n], () => randomBig(rng, int(1, 128)));
    case "i128":
      return edge(
        [-(1n << 127n), (1n << 127n) - 1n],
        () => BigInt.asIntN(128, randomBig(rng, int(1, 128))),
      );
    case "f32":
      return Math.fround(
        edge([0, -0, NaN, Infinity, -Infinity], () => (rng() - 0.5) * 10 ** int(-40, 40)),
      );
    case "f64":
      return edge(
        [0, -0, NaN, Infinity, Number.MIN_VALUE],
        () => (rng() - 0.5) * 10 ** int(-300, 300),
      );
    case "char":
      return edge(["a", "é", "🦀", "\u{10ffff}"], () => String.fromCodePoint(int(0, 0xd7ff)));
    case "string": {
      let s = "";
      const n = int(0, 12);
      for (let i = 0; i < n; i++) {
        s += edge(["é", "世", "🦀", "\0"], () => String.fromCharCode(int(0x20, 0x7e)));
      }
      return s;
    }
    case "bytes":
      return Uint8Array.from({ length: int(0, 12) }, () => int(0, 255));
    case "unit":
    case "tx":
    case "rx":
      return undefined;
    case "option": {
      const s = schema as OptionSchema<unknown>;
      return depth <= 0 || rng() < 0.4 ? undefined : randomValue(s.inner, rng, depth - 1);
    }
    case "list": {
      const s = schema as ListSchema<unknown>;
      const n = depth <= 0 ? 0 : int(0, 4);
      return Array.from({ length: n }, () => randomValue(s.item, rng, depth - 1));
    }
    case "array": {
      const s = schema as ArraySchema<unknown>;
      return Array.from({ length: s.length }, () => randomValue(s.item, rng, depth - 1));
    }
    case "map": {
      const s = schema as MapSchema<unknown, unknown>;
      const m = new Map<unknown, unknown>();
      const n = depth <= 0 ? 0 : int(0, 4);
      for (let i = 0; i < n; i++) {
        m.set(randomValue(s.key, rng, depth - 1), randomValue(s.value, rng, depth - 1));
      }
      return m;
    }
    case "set": {
      const s = schema as SetSchema<unknown>;
      const out = new Set<unknown>();
      const n = depth <= 0 ? 0 : int(0, 4);
      for (let i = 0; i < n; i++) out.add(randomValue(s.item, rng, depth - 1));
      return out;
    }
    case "tuple":
      return (schema as TupleSchema<unknown>).items.map((i) => randomValue(i, rng, depth - 1));
    case "struct": {
      const out: Record<string, unknown> = {};
      for (const f of (schema as StructSchema<unknown>).fields) {
        out[f.name] = randomValue(f.schema, rng, depth - 1);
      }
      return out;
    }
    case "enum": {
      const variants = (schema as EnumSchema<unknown>).variants;
      const v = variants[int(0, variants.length - 1)]!;
      switch (v.shape) {
        case "unit":
          return { tag: v.name };
        case "newtype":
          return { tag: v.name, value: randomValue(v.schema, rng, depth - 1) };
        case "tuple":
          return { tag: v.name, value: v.items.map((i) => randomValue(i, rng, depth - 1)) };
        case "struct": {
          const value: Record<string, unknown> = {};
          for (const f of v.fields) value[f.name] = randomValue(f.schema, rng, depth - 1);
          return { tag: v.name, value };
        }
      }
      break;
    }
    case "lazy":
      return randomValue((schema as LazySchema<unknown>).resolve(), rng, depth);
  }
  throw new Error(`no generator for ${schema.kind}`);
}

const Everything = t.struct({
  b: t.bool,
  u8: t.u8,
  i8: t.i8,
  u16: t.u16,
  i16: t.i16,
  u32: t.u32,
  i32: t.i32,
  u64: t.u64,
  i64: t.i64,
  u128: t.u128,
  i128: t.i128,
  f32: t.f32,
  f64: t.f64,
  c: t.char,
  s: t.string,
  by: t.bytes,
  un: t.unit,
  o: t.option(t.string),
  l: t.list(t.i32),
  a: t.array(t.u16, 3),
  m: t.map(t.string, t.option(t.u64)),
  st: t.set(t.i32),
  tu: t.tuple(t.bool, t.char, t.tuple()),
  e: Shape,
  n: t.option(Node),
  tree: Tree,
  ch: t.tx(t.i32),
  r: t.rx(t.string),
});

test("random values of nested schemas of every kind round-trip", () =>
  seeded(2024, (rng) => {
    const schemas: Schema<unknown>[] = [
      Everything,
      t.list(Everything),
      t.map(t.u32, t.list(t.enum({ A: t.unit, B: [t.string, t.bytes], C: { v: t.i128 } }))),
      t.set(t.string),
      t.array(t.option(t.tuple(t.i64, t.f32)), 4),
      Node,
      Tree,
    ];
    for (const schema of schemas) {
      for (let i = 0; i < 100; i++) {
        const value = randomValue(schema, rng, 6);
        roundtrip(schema, value);
      }
    }
  }));

// ---------------------------------------------------------------------------------------------
// Types

type Equal<A, B> = (<X>() => X extends A ? 1 : 2) extends (<X>() => X extends B ? 1 : 2) ? true
  : false;
function expectType<_T extends true>(): void {}

test("Infer gives the TypeScript value type of every schema kind", () => {
  expectType<Equal<Infer<typeof t.bool>, boolean>>();
  expectType<Equal<Infer<typeof t.u8>, number>>();
  expectType<Equal<Infer<typeof t.i32>, number>>();
  expectType<Equal<Infer<typeof t.u64>, bigint>>();
  expectType<Equal<Infer<typeof t.i128>, bigint>>();
  expectType<Equal<Infer<typeof t.f32>, number>>();
  expectType<Equal<Infer<typeof t.char>, string>>();
  expectType<Equal<Infer<typeof t.string>, string>>();
  expectType<Equal<Infer<typeof t.bytes>, Uint8Array>>();
  expectType<Equal<Infer<typeof t.unit>, undefined>>();
  const O = t.option(t.u32);
  expectType<Equal<Infer<typeof O>, number | undefined>>();
  const L = t.list(t.string);
  expectType<Equal<Infer<typeof L>, string[]>>();
  const A = t.array(t.u8, 4);
  expectType<Equal<Infer<typeof A>, number[]>>();
  const M = t.map(t.string, t.u64);
  expectType<Equal<Infer<typeof M>, Map<string, bigint>>>();
  const S = t.set(t.i64);
  expectType<Equal<Infer<typeof S>, Set<bigint>>>();
  const T = t.tuple(t.i32, t.string, t.option(t.bool));
  expectType<Equal<Infer<typeof T>, [number, string, boolean | undefined]>>();
  const P = t.struct({ name: t.string, age: t.u32, email: t.option(t.string) });
  expectType<Equal<Infer<typeof P>, { name: string; age: number; email?: string | undefined }>>();
  const R = t.enum({ Ok: t.u32, Err: t.string });
  expectType<
    Equal<Infer<typeof R>, { tag: "Ok"; value: number } | { tag: "Err"; value: string }>
  >();
  const E = t.enum({ U: t.unit, Tu: [t.i32, t.string], St: { x: t.f64 }, One: [t.i32] });
  expectType<
    Equal<
      Infer<typeof E>,
      | { tag: "U" }
      | { tag: "Tu"; value: [number, string] }
      | { tag: "St"; value: { x: number } }
      | { tag: "One"; value: [number] }
    >
  >();
  expectType<Equal<Infer<typeof Node>, Node>>();
  assert.ok(true);
});

test("Infer-typed values compile and round-trip; option fields of structs may be omitted", () => {
  const Person = t.struct({ name: t.string, age: t.u32, email: t.option(t.string) });
  const ada: Infer<typeof Person> = { name: "Ada", age: 36 };
  const bob: Infer<typeof Person> = { name: "Bob", age: 1, email: undefined };
  const cy: Infer<typeof Person> = { name: "Cy", age: 2, email: "c@example.org" };
  roundtrip(Person, ada, { ...ada, email: undefined });
  roundtrip(Person, bob);
  roundtrip(Person, cy);

  const everything: Infer<typeof Everything> = {
    b: true,
    u8: 1,
    i8: -1,
    u16: 2,
    i16: -2,
    u32: 3,
    i32: -3,
    u64: 4n,
    i64: -4n,
    u128: 5n,
    i128: -5n,
    f32: 0.5,
    f64: 0.25,
    c: "c",
    s: "s",
    by: new Uint8Array([1]),
    un: undefined,
    l: [1],
    a: [1, 2, 3],
    m: new Map([["k", 1n], ["n", undefined]]),
    st: new Set([1]),
    tu: [false, "x", []],
    e: { tag: "Tup", value: [1, "a"] },
    n: { value: 1 },
    tree: { name: "t", children: [] },
    ch: makeChannel<number>()[0],
    r: makeChannel<string>()[1],
  };
  const back = decode(Everything, encode(Everything, everything));
  assert.equal(back.o, undefined);
  assert.deepStrictEqual(back.e, { tag: "Tup", value: [1, "a"] });
  assert.deepStrictEqual(back.n, { value: 1, next: undefined });

  // Type errors the compiler must report (never run).
  const typeErrors = (): void => {
    // @ts-expect-error u64 values are bigints, not numbers
    encode(t.u64, 1);
    // @ts-expect-error a required struct field is missing
    encode(Person, { name: "x" });
    // @ts-expect-error an unknown enum tag
    const bad: Infer<typeof Shape> = { tag: "Nope" };
    // @ts-expect-error an unknown enum tag (two-variant enum, checked through encode)
    encode(t.enum({ A: t.unit, C: t.u8 }), { tag: "B" });
    // @ts-expect-error a newtype variant needs its value
    encode(t.enum({ A: t.u8 }), { tag: "A" });
    // @ts-expect-error bytes values are Uint8Arrays
    encode(t.bytes, [1, 2]);
    // @ts-expect-error a tuple's element types are checked
    encode(t.tuple(t.u8, t.string), [1, 2]);
    // @ts-expect-error a map value is a Map, not an object
    encode(t.map(t.string, t.u8), { a: 1 });
    assert.ok(bad);
  };
  assert.equal(typeof typeErrors, "function");

  const asSchema: Schema<Infer<typeof Person>> = Person;
  assert.ok(asSchema === Person);
  const channel: ChannelSchema<number, "tx"> = t.tx(t.i32);
  assert.equal(channel.credit, 16);
});
