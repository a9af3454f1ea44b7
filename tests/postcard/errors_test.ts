/**
 * Error tests for the postcard codec: invalid values must fail to encode with a TypeError or
 * RangeError naming the path and the reason, and malformed bytes must fail to decode with a
 * `DecodeError` (never another exception, a stack overflow or a huge allocation).
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  type ArraySchema,
  decode,
  DecodeError,
  encode,
  type EnumSchema,
  type LazySchema,
  type ListSchema,
  type MapSchema,
  type OptionSchema,
  type Schema,
  type SetSchema,
  type StructSchema,
  type TupleSchema,
} from "../../postcard.ts";
import { t } from "../../mod.ts";
import { hex, type Rng, sample, seeded, toHex } from "../_helpers/mod.ts";

const rep = (byte: string, n: number): string => Array(n).fill(byte).join(" ");

function show(v: unknown): string {
  try {
    return JSON.stringify(v, (_k, x) => {
      if (typeof x === "bigint") return `${x}n`;
      if (x instanceof Map) return { Map: [...x] };
      if (x instanceof Set) return { Set: [...x] };
      if (x instanceof Uint8Array) return { bytes: toHex(x) };
      return x;
    }) ?? String(v);
  } catch {
    return String(v);
  }
}

/** Encodes with a schema of any type (for deliberately invalid values). */
function encodeAny(schema: Schema<unknown>, value: unknown): Uint8Array {
  return encode(schema, value);
}

type ErrorClass = typeof TypeError | typeof RangeError;

/** Asserts that encoding fails with exactly `kind`, and the message contains each fragment. */
function encodeFails(
  schema: Schema<unknown>,
  value: unknown,
  kind: ErrorClass,
  ...fragments: string[]
): Error {
  let error: unknown;
  let bytes: Uint8Array | undefined;
  try {
    bytes = encodeAny(schema, value);
  } catch (e) {
    error = e;
  }
  const label = `encode ${schema.kind} ${show(value)}`;
  if (bytes !== undefined) {
    assert.fail(`${label}: expected ${kind.name}, got bytes ${toHex(bytes)}`);
  }
  assert.ok(error instanceof Error, `${label}: threw a non-Error ${String(error)}`);
  assert.equal(error.constructor, kind, `${label}: expected ${kind.name}, got ${error}`);
  for (const f of fragments) {
    assert.ok(
      error.message.includes(f),
      `${label}: message ${JSON.stringify(error.message)} lacks ${JSON.stringify(f)}`,
    );
  }
  return error;
}

/** Runs `check` on every (schema, value) pair; returns the failure messages instead of stopping. */
function collectFailures(
  cases: ReadonlyArray<readonly [Schema<unknown>, readonly unknown[]]>,
  check: (schema: Schema<unknown>, value: unknown) => void,
): string[] {
  const failures: string[] = [];
  for (const [schema, values] of cases) {
    for (const v of values) {
      try {
        check(schema, v);
      } catch (e) {
        failures.push(e instanceof Error ? e.message : String(e));
      }
    }
  }
  return failures;
}

/** Asserts that decoding fails with a well-formed `DecodeError`. */
function rejects(schema: Schema<unknown>, input: string | Uint8Array, label = ""): DecodeError {
  const bytes = typeof input === "string" ? hex(input) : input;
  const what = `decode ${schema.kind} ${label || toHex(bytes)}`;
  let error: unknown;
  let value: unknown;
  let threw = false;
  try {
    value = decode(schema, bytes);
  } catch (e) {
    threw = true;
    error = e;
  }
  if (!threw) assert.fail(`${what}: expected a DecodeError, got ${show(value)}`);
  assert.ok(error instanceof DecodeError, `${what}: expected a DecodeError, got ${String(error)}`);
  assert.ok(error instanceof Error);
  assert.equal(error.name, "DecodeError");
  assert.equal(typeof error.offset, "number", `${what}: offset`);
  assert.ok(
    Number.isInteger(error.offset) && error.offset >= 0 && error.offset <= bytes.length,
    `${what}: offset ${error.offset} outside the input`,
  );
  assert.equal(typeof error.reason, "string", `${what}: reason`);
  assert.ok(error.reason.length > 0, `${what}: empty reason`);
  return error;
}

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

const Result = t.enum({ Ok: t.u32, Err: t.string });

const Shape = t.enum({
  Unit: t.unit,
  New: t.u32,
  Tup: [t.i32, t.string],
  Rec: { x: t.f64 },
  One: [t.i32],
});

// =============================================================================================
// Encoding invalid values

test("encode() names the full path of a non-integer deep inside tuples, structs and lists", () => {
  const Call = t.struct({
    args: t.tuple(t.i32, t.struct({ points: t.list(t.struct({ x: t.i32, y: t.i32 })) })),
  });
  const points = [{ x: 0, y: 0 }, { x: 1, y: 1 }, { x: 2, y: 2 }, { x: 1.5, y: 3 }];
  const err = encodeFails(
    Call,
    { args: [1, { points }] },
    TypeError,
    "value.args[1].points[3].x",
    "1.5",
  );
  assert.ok(!err.message.includes("points[3].x."), err.message);
  const big = [{ x: 0, y: 0 }, { x: 1, y: 1 }, { x: 2, y: 2 }, { x: 0, y: 2 ** 31 }];
  encodeFails(
    Call,
    { args: [1, { points: big }] },
    RangeError,
    "value.args[1].points[3].y",
    "2147483648",
  );
  encodeFails(Call, { args: ["1", { points }] }, TypeError, "value.args[0]");
  encodeFails(Call, { args: [1, { points: "no" }] }, TypeError, "value.args[1].points", "no");
  encodeFails(Call, { args: [1, {}] }, TypeError, "value.args[1].points", "undefined");
  encodeFails(Call, {}, TypeError, "value.args");
});

test("encode() names enum payload, option, lazy and fixed-array paths", () => {
  const S = t.struct({ e: Shape, o: t.option(t.u8), a: t.array(t.bool, 2) });
  encodeFails(
    S,
    { e: { tag: "Tup", value: [1, 2] }, a: [true, true] },
    TypeError,
    "value.e.value[1]",
  );
  encodeFails(
    S,
    { e: { tag: "Rec", value: { x: "1" } }, a: [true, true] },
    TypeError,
    "value.e.value.x",
  );
  encodeFails(
    S,
    { e: { tag: "New", value: -1 }, a: [true, true] },
    RangeError,
    "value.e.value",
    "-1",
  );
  encodeFails(S, { e: { tag: "Unit" }, o: 256, a: [true, true] }, RangeError, "value.o", "256");
  encodeFails(S, { e: { tag: "Unit" }, a: [true, 1] }, TypeError, "value.a[1]");
  const deep = { value: 1, next: { value: 2, next: { value: 0.5 } } };
  encodeFails(Node, deep, TypeError, "value.next.next.value", "0.5");
});

test("encode() names the key of a bad map entry and the position of a bad set element", () => {
  encodeFails(
    t.map(t.string, t.u8),
    new Map([["ok", 1], ["bad", 300]]),
    RangeError,
    "value",
    "bad",
    "300",
  );
  encodeFails(t.map(t.u32, t.u8), new Map([[-1, 1]]), RangeError, "value", "-1");
  encodeFails(t.set(t.string), new Set(["a", 5]), TypeError, "value", "5");
});

test("encode() names the path of a bad value deep inside a very large schema", () => {
  const fields: Record<string, Schema<unknown>> = {};
  const value: Record<string, unknown> = {};
  for (let i = 0; i < 600; i++) {
    fields[`f${i}`] = i % 2 === 0 ? t.u8 : t.list(t.struct({ x: t.i32 }));
    value[`f${i}`] = i % 2 === 0 ? i & 0xff : [{ x: i }];
  }
  const Wide = t.struct(fields);
  assert.ok(encode(Wide, value).length > 600);
  encodeFails(Wide, { ...value, f551: [{ x: 1 }, { x: "2" }] }, TypeError, "value.f551[1].x");
  encodeFails(Wide, { ...value, f550: 256 }, RangeError, "value.f550", "256");
  encodeFails(Wide, { ...value, f1: [{ x: 0.5 }] }, TypeError, "value.f1[0].x", "0.5");
});

test("encode() rejects a value of the wrong type for every scalar with a TypeError", () => {
  const cases: ReadonlyArray<readonly [Schema<unknown>, readonly unknown[]]> = [
    [t.bool, [1, 0, "true", null, undefined, 1n]],
    [t.u8, ["1", null, undefined, true, [1]]],
    [t.i8, ["1", null, true]],
    [t.u16, ["1", null, false]],
    [t.i16, ["1", undefined]],
    [t.u32, ["1", null, {}]],
    [t.i32, ["1", null, [0]]],
    [t.u64, [1, 0, "1", null, undefined]],
    [t.i64, [1, -1, "1", null]],
    [t.u128, [1, "1", null]],
    [t.i128, [-1, "1", undefined]],
    [t.f32, ["1", 1n, null, undefined, true]],
    [t.f64, ["1.5", 1n, null, {}]],
    [t.char, [97, null, undefined, ["a"]]],
    [t.string, [1, null, undefined, ["a"], new Uint8Array([97])]],
    [t.bytes, [
      [1, 2],
      "ab",
      null,
      new ArrayBuffer(2),
      new Uint16Array(2),
      new DataView(new ArrayBuffer(1)),
    ]],
    [t.unit, [0, "", false, {}]],
  ];
  const failures = collectFailures(
    cases,
    (schema, v) => encodeFails(schema, v, TypeError, "value", schema.kind),
  );
  assert.deepStrictEqual(failures, []);
});

test("encode() rejects a bigint or symbol given for a number type with a TypeError naming the path", () => {
  const schemas = [t.u8, t.i8, t.u16, t.i16, t.u32, t.i32, t.f32, t.f64];
  const cases = schemas.map((s) => [s, [1n, -1n, Symbol("s")]] as const);
  const failures = collectFailures(
    cases,
    (schema, v) => encodeFails(schema, v, TypeError, "value", schema.kind),
  );
  assert.deepStrictEqual(failures, []);
  encodeFails(t.struct({ x: t.u8 }), { x: 1n }, TypeError, "value.x", "u8");
  encodeFails(t.list(t.i32), [1, 2n], TypeError, "value[1]", "i32");
  encodeFails(t.tuple(t.u32, t.u16), [1, Symbol("s")], TypeError, "value[1]", "u16");
});

test("encode() rejects a value of the wrong type for every composite with a TypeError", () => {
  encodeFails(t.list(t.u8), "abc", TypeError, "value");
  encodeFails(t.list(t.u8), new Set([1]), TypeError, "value");
  encodeFails(t.list(t.u8), { length: 1, 0: 1 }, TypeError, "value");
  encodeFails(t.array(t.u8, 2), new Uint8Array(2), TypeError, "value");
  encodeFails(t.map(t.string, t.u8), { a: 1 }, TypeError, "value");
  encodeFails(t.map(t.string, t.u8), [["a", 1]], TypeError, "value");
  encodeFails(t.set(t.u8), [1, 2], TypeError, "value");
  encodeFails(t.tuple(t.u8, t.u8), { 0: 1, 1: 2 }, TypeError, "value");
  encodeFails(t.struct({ a: t.u8 }), null, TypeError, "value");
  encodeFails(t.struct({ a: t.u8 }), 5, TypeError, "value");
  encodeFails(Shape, "Unit", TypeError, "value");
  encodeFails(Shape, null, TypeError, "value");
  encodeFails(Shape, {}, TypeError, "value");
});

test("encode() rejects integers outside their type's range with a RangeError", () => {
  const cases: ReadonlyArray<readonly [Schema<unknown>, readonly (number | bigint)[]]> = [
    [t.u8, [256, -1, 2 ** 32]],
    [t.i8, [128, -129, 255]],
    [t.u16, [65536, -1]],
    [t.i16, [32768, -32769, 65535]],
    [t.u32, [-1, 2 ** 32, 2 ** 53]],
    [t.i32, [2 ** 31, -(2 ** 31) - 1, 2 ** 32 - 1]],
    [t.u64, [-1n, 1n << 64n]],
    [t.i64, [1n << 63n, -(1n << 63n) - 1n, (1n << 64n) - 1n]],
    [t.u128, [-1n, 1n << 128n]],
    [t.i128, [1n << 127n, -(1n << 127n) - 1n]],
  ];
  for (const [schema, values] of cases) {
    for (const v of values) {
      encodeFails(
        schema,
        v,
        RangeError,
        "value",
        schema.kind,
        typeof v === "bigint" ? `${v}` : String(v),
      );
    }
  }
});

test("encode() rejects non-integers for integer types with a TypeError", () => {
  for (const schema of [t.u8, t.i8, t.u16, t.i16, t.u32, t.i32]) {
    for (const v of [1.5, -0.5, NaN, Infinity, -Infinity, 2 ** 32 + 0.5]) {
      encodeFails(schema, v, TypeError, "value", schema.kind);
    }
  }
});

test("encode() rejects a number for a 64- or 128-bit integer with a TypeError", () => {
  for (const schema of [t.u64, t.i64, t.u128, t.i128]) {
    encodeFails(schema, 42, TypeError, "value", schema.kind, "bigint");
  }
});

test("encode() rejects tuples of the wrong length with a RangeError", () => {
  const T = t.tuple(t.u8, t.string);
  encodeFails(T, [1], RangeError, "value", "2");
  encodeFails(T, [1, "a", 2], RangeError, "value", "3");
  encodeFails(t.tuple(), [1], RangeError, "value");
  encodeFails(Shape, { tag: "Tup", value: [1] }, RangeError, "value.value");
  encodeFails(Shape, { tag: "One", value: [1, 2] }, RangeError, "value.value");
  encodeFails(t.struct({ p: T }), { p: [] }, RangeError, "value.p");
});

test("encode() rejects fixed arrays of the wrong length with a RangeError", () => {
  encodeFails(t.array(t.u8, 4), [1, 2, 3], RangeError, "value", "3");
  encodeFails(t.array(t.u8, 4), [1, 2, 3, 4, 5], RangeError, "value", "5");
  encodeFails(t.array(t.u8, 0), [1], RangeError, "value");
  encodeFails(t.list(t.array(t.string, 2)), [["a", "b"], ["c"]], RangeError, "value[1]");
});

test("encode() rejects an unknown enum tag with a TypeError naming it", () => {
  encodeFails(Result, { tag: "Maybe", value: 1 }, TypeError, "value", "Maybe");
  encodeFails(Result, { tag: "ok", value: 1 }, TypeError, "value", "ok");
  encodeFails(Result, { value: 1 }, TypeError, "value");
  encodeFails(Result, { tag: 0, value: 1 }, TypeError, "value");
  encodeFails(
    t.list(Shape),
    [{ tag: "Unit" }, { tag: "toString" }],
    TypeError,
    "value[1]",
    "toString",
  );
  encodeFails(Shape, { tag: "__proto__" }, TypeError, "value", "__proto__");
});

test("encode() rejects a char that is not exactly one Unicode scalar value", () => {
  for (const v of ["ab", "🦀🦀", "e\u0301", "", "a🦀", "\ud800\udc00x"]) {
    encodeFails(t.char, v, TypeError, "value", "char");
  }
  for (const v of ["\ud800", "\udc00", "\udfff", "\udbff"]) {
    encodeFails(t.char, v, TypeError, "value", "char");
  }
  encodeFails(t.struct({ c: t.char }), { c: "\ud83e" }, TypeError, "value.c");
});

test("encode() rejects a string containing a lone surrogate with a TypeError", () => {
  const cases = [
    "\ud800",
    "\udfff",
    "a\ud800b",
    "\udc00\ud800",
    "🦀\ud83e",
    "a".repeat(200) + "\ud800",
    "é".repeat(100) + "\udc00" + "é",
  ];
  for (const v of cases) encodeFails(t.string, v, TypeError, "value", "string");
  encodeFails(t.list(t.string), ["ok", "x\ud800"], TypeError, "value[1]");
});

test("encode() rejects a plain array given for bytes with a TypeError", () => {
  encodeFails(t.bytes, [1, 2, 3], TypeError, "value", "bytes");
  encodeFails(t.struct({ data: t.bytes }), { data: [0xde, 0xad] }, TypeError, "value.data");
});

test("encode() failures leave no partial output behind", () => {
  const S = t.struct({ a: t.string, b: t.u8 });
  encodeFails(S, { a: "x".repeat(3000), b: 999 }, RangeError, "value.b");
  assert.equal(toHex(encode(t.u8, 7)), "07");
  assert.equal(toHex(encode(S, { a: "x", b: 1 })), "01 78 01");
});

// =============================================================================================
// Decoding malformed input

test("decode() rejects input that is not a Uint8Array with a TypeError", () => {
  assert.throws(() => decode(t.u8, [1] as unknown as Uint8Array), TypeError);
});

const Complex = t.struct({
  id: t.u64,
  name: t.string,
  tags: t.list(t.string),
  score: t.f64,
  ratio: t.f32,
  flags: t.array(t.bool, 3),
  attrs: t.map(t.string, t.option(t.i32)),
  ids: t.set(t.u32),
  shape: Shape,
  data: t.bytes,
  c: t.char,
  big: t.i128,
  node: t.option(Node),
  pair: t.tuple(t.i16, t.i8, t.u16),
  unit: t.unit,
});

const complexValue = {
  id: 1234567890123n,
  name: "héllo 世界 🦀",
  tags: ["a", "", "🦀"],
  score: -1.5,
  ratio: 0.25,
  flags: [true, false, true],
  attrs: new Map<string, number | undefined>([["k", -7], ["n", undefined]]),
  ids: new Set([1, 300, 70000]),
  shape: { tag: "Tup" as const, value: [-5, "x"] as [number, string] },
  data: new Uint8Array([0xde, 0xad, 0xbe, 0xef]),
  c: "é",
  big: -(1n << 100n),
  node: { value: 1, next: { value: 2 } },
  pair: [-300, -2, 65535] as [number, number, number],
  unit: undefined,
};

test("decode() rejects every proper prefix of a valid encoding of a complex value", () => {
  const bytes = encode(Complex, complexValue);
  assert.ok(bytes.length > 60);
  decode(Complex, bytes);
  for (let n = 0; n < bytes.length; n++) {
    rejects(Complex, bytes.subarray(0, n), `prefix ${n}/${bytes.length}`);
  }
  for (let n = 0; n < bytes.length; n++) rejects(Complex, bytes.slice(0, n), `copied prefix ${n}`);
});

test("decode() rejects truncated scalars", () => {
  for (const s of [t.bool, t.u8, t.i8, t.u16, t.i16, t.u32, t.i32, t.u64, t.i64, t.u128, t.i128]) {
    rejects(s, "");
  }
  for (const s of [t.f32, t.f64, t.char, t.string, t.bytes]) rejects(s, "");
  rejects(t.f32, "00 00 80");
  rejects(t.f64, "00 00 00 00 00 00 f8");
  rejects(t.u32, "80");
  rejects(t.u32, "ff ff ff ff");
  rejects(t.u64, "ff ff");
  rejects(t.u64, rep("ff", 9));
  rejects(t.u128, rep("ff", 18));
  rejects(t.string, "05 68 65");
  rejects(t.string, "80");
  rejects(t.bytes, "04 de ad");
  rejects(t.char, "02 c3");
  rejects(t.option(t.u8), "01");
  rejects(t.list(t.u8), "03 01 02");
  rejects(t.array(t.u8, 4), "01 02 03");
  rejects(Result, "00");
  rejects(t.map(t.u8, t.u8), "01 01");
});

test("decode() rejects overlong varints", () => {
  const overlong = ["80 00", "ff 00", "80 80 00", "81 80 00", "80 80 80 80 00"];
  for (const s of [t.u16, t.i16, t.u32, t.i32, t.u64, t.i64, t.u128, t.i128]) {
    for (const h of overlong) {
      if ((s === t.u16 || s === t.i16) && h.split(" ").length > 3) continue;
      rejects(s, h);
    }
  }
  rejects(t.u64, `${rep("80", 9)} 00`);
  rejects(t.i64, `${rep("80", 9)} 00`);
  rejects(t.u128, `${rep("80", 18)} 00`);
  rejects(t.u64, `${rep("ff", 8)} 80 00`);
  // Lengths, counts and enum indexes are varints too.
  rejects(t.string, "80 00");
  rejects(t.string, "81 00 61");
  rejects(t.bytes, "80 00");
  rejects(t.char, "81 00 61");
  rejects(t.list(t.u8), "80 00");
  rejects(t.map(t.u8, t.u8), "80 00");
  rejects(t.set(t.u8), "80 00");
  rejects(Result, "80 00 2a");
});

test("decode() rejects varints that overflow their type", () => {
  for (const s of [t.u32, t.i32]) {
    rejects(s, "ff ff ff ff 10");
    rejects(s, "80 80 80 80 10");
    rejects(s, "ff ff ff ff 8f 01");
    rejects(s, "80 80 80 80 80 01");
    rejects(s, "ff ff ff ff 7f");
  }
  for (const s of [t.u64, t.i64]) {
    rejects(s, `${rep("ff", 9)} 02`);
    rejects(s, `${rep("ff", 9)} 7f`);
    rejects(s, `${rep("ff", 10)} 01`);
    rejects(s, `${rep("80", 10)} 01`);
    rejects(s, `${rep("ff", 9)} 81 00`);
  }
  for (const s of [t.u128, t.i128]) {
    rejects(s, `${rep("ff", 18)} 04`);
    rejects(s, `${rep("ff", 19)} 01`);
    rejects(s, `${rep("80", 19)} 01`);
  }
  rejects(t.string, "ff ff ff ff 10");
  rejects(t.list(t.u8), "80 80 80 80 80 01");
  rejects(Result, "ff ff ff ff 1f");
});

test("decode() rejects u16 and i16 varints above 65535", () => {
  for (const s of [t.u16, t.i16]) {
    rejects(s, "80 80 04");
    rejects(s, "ff ff 07");
    rejects(s, "ff ff 7f");
    rejects(s, "80 80 80 01");
    rejects(s, "ff ff ff ff 0f");
  }
  assert.equal(decode(t.u16, hex("ff ff 03")), 65535);
  assert.equal(decode(t.i16, hex("ff ff 03")), -32768);
});

test("decode() rejects invalid UTF-8 in strings and chars", () => {
  const bad = [
    "02 c3 28", // a lead byte followed by a non-continuation byte
    "02 c0 80", // overlong encoding of U+0000
    "02 c1 bf", // overlong encoding of U+007F
    "03 e0 80 80", // overlong 3-byte sequence
    "04 f0 80 80 80", // overlong 4-byte sequence
    "03 ed a0 80", // UTF-16 surrogate U+D800
    "03 ed bf bf", // UTF-16 surrogate U+DFFF
    "04 f4 90 80 80", // above U+10FFFF
    "01 80", // a lone continuation byte
    "01 ff",
    "01 fe",
    "01 c3", // a sequence cut off by the length
    "03 f0 9f a6", // a 4-byte sequence cut off by the length
    "06 ed a0 bd ed b8 80", // CESU-8 surrogate pair
  ];
  for (const h of bad) {
    rejects(t.string, h);
    rejects(t.char, h);
    rejects(t.list(t.string), `02 01 61 ${h}`);
  }
  const long = `${(40 + 2).toString(16)} ${rep("61", 40)} c3 28`;
  rejects(t.string, long, "40 ASCII bytes then c3 28");
  const longLead = `${(2 + 40).toString(16)} c3 28 ${rep("61", 40)}`;
  rejects(t.string, longLead, "c3 28 then 40 ASCII bytes");
});

test("decode() rejects a bool byte other than 00 and 01", () => {
  for (const b of ["02", "ff", "80", "10"]) {
    rejects(t.bool, b);
    rejects(t.list(t.bool), `02 01 ${b}`);
  }
});

test("decode() rejects an option tag other than 00 and 01", () => {
  for (const b of ["02", "ff", "80 01"]) {
    rejects(t.option(t.u8), `${b} 05`);
    rejects(t.option(t.string), `${b} 00`);
    rejects(t.struct({ a: t.u8, o: t.option(t.u32) }), `01 ${b} 01`);
  }
});

test("decode() rejects an unknown enum variant index", () => {
  rejects(Result, "02 2a");
  rejects(Result, "02");
  rejects(Result, "7f");
  rejects(Result, "80 01");
  rejects(Result, "ff ff ff ff 0f");
  rejects(Shape, "05");
  rejects(t.enum({ Only: t.unit }), "01");
  rejects(t.list(Shape), "02 00 09");
  const names = Array.from({ length: 130 }, (_, i) => `V${i}`);
  const Big = t.enum(Object.fromEntries(names.map((n) => [n, t.unit])));
  assert.deepStrictEqual(decode(Big, hex("81 01")), { tag: "V129" });
  rejects(Big, "82 01");
});

test("decode() rejects a char that is not exactly one scalar value", () => {
  rejects(t.char, "00");
  rejects(t.char, "02 61 62");
  rejects(t.char, "03 65 cc 81");
  rejects(t.char, "05 f0 9f a6 80 61");
  rejects(t.char, "08 f0 9f a6 80 f0 9f a6 80");
  rejects(t.list(t.char), "02 01 61 00");
});

test("decode() rejects trailing bytes after a complete value", () => {
  rejects(t.u8, "01 02");
  rejects(t.bool, "00 00");
  rejects(t.u32, "2a 00");
  rejects(t.string, "01 61 62");
  rejects(t.unit, "00");
  rejects(t.tuple(), "00");
  rejects(t.struct({}), "00");
  rejects(t.tx(t.i32), "00");
  rejects(Node, "02 00 00");
  rejects(Result, "00 2a 2a");
  const bytes = encode(Complex, complexValue);
  const extended = new Uint8Array(bytes.length + 1);
  extended.set(bytes);
  rejects(Complex, extended, "a complex value plus one zero byte");
});

test("decode() rejects a huge length prefix quickly, without allocating", () => {
  const huge = "ff ff ff ff 0f";
  const schemas: Schema<unknown>[] = [
    t.bytes,
    t.string,
    t.char,
    t.list(t.u8),
    t.list(t.string),
    t.list(t.f64),
    t.list(t.unit),
    t.list(t.tuple()),
    t.list(t.struct({})),
    t.list(t.tx(t.i32)),
    t.list(t.lazy(() => Node)),
    t.map(t.string, t.u32),
    t.map(t.unit, t.unit),
    t.set(t.u32),
    t.set(t.unit),
    t.list(t.list(t.unit)),
  ];
  const started = performance.now();
  for (const s of schemas) {
    rejects(s, huge);
    rejects(s, `${huge} 00 01 02`);
    rejects(s, "ff ff ff 7f");
  }
  rejects(t.struct({ a: t.u8, l: t.list(t.string) }), `01 ${huge}`);
  rejects(t.list(t.bytes), `01 ${huge}`);
  rejects(t.bytes, "80 80 40 00 00");
  const elapsed = performance.now() - started;
  assert.ok(elapsed < 1000, `huge length prefixes took ${elapsed.toFixed(0)} ms`);
});

test("decode() rejects duplicate map keys and set elements", () => {
  rejects(t.map(t.string, t.u8), "02 01 61 01 01 61 02");
  rejects(t.map(t.string, t.u8), "03 01 61 01 01 62 02 01 61 03");
  rejects(t.map(t.u64, t.unit), "02 05 05");
  rejects(t.map(t.i32, t.string), "02 01 00 01 00");
  rejects(t.set(t.u32), "02 05 05");
  rejects(t.set(t.u32), "03 01 02 01");
  rejects(t.set(t.string), "02 01 61 01 61");
  rejects(t.set(t.char), "02 02 c3 a9 02 c3 a9");
  rejects(t.set(t.i128), "02 01 01");
  rejects(t.set(t.bool), "02 01 01");
  rejects(t.set(t.unit), "02");
  assert.deepStrictEqual(decode(t.set(t.u32), hex("02 05 06")), new Set([5, 6]));
});

/** Asserts that decoding `hex` fails as a duplicate at byte `offset`. */
function rejectsDuplicate(schema: Schema<unknown>, input: string, offset: number): void {
  const e = rejects(schema, input);
  assert.match(e.reason, /^duplicate (key|element)$/, `${input}: ${e.message}`);
  assert.equal(e.offset, offset, `${input}: ${e.message}`);
}

test("decode() rejects duplicate map keys and set elements of every kind, at the duplicate's offset", () => {
  const Point = t.struct({ x: t.i32, y: t.i32 });
  const Pair = t.tuple(t.u8, t.string);
  const Status = t.enum({ Idle: t.unit, Busy: t.u32, At: [t.i32, t.i32], Named: { n: t.string } });
  // bytes: 01 aa, 02 aa bb, 01 aa
  rejectsDuplicate(t.map(t.bytes, t.u8), "03 01 aa 00 02 aa bb 01 01 aa 02", 8);
  rejectsDuplicate(t.set(t.bytes), "02 00 00", 2);
  rejectsDuplicate(t.set(t.bytes), "03 02 01 02 02 02 01 02 01 02", 7);
  rejectsDuplicate(t.map(Point, t.string), "02 02 04 00 02 04 00", 4);
  rejectsDuplicate(t.set(Pair), "03 01 01 61 01 01 62 01 01 61", 7);
  rejectsDuplicate(t.set(Status), "02 00 00", 2);
  rejectsDuplicate(t.set(Status), "03 01 05 01 06 01 05", 5);
  rejectsDuplicate(t.set(Status), "02 02 02 04 02 02 04", 4);
  rejectsDuplicate(t.set(Status), "02 03 01 6e 03 01 6e", 4);
  rejectsDuplicate(t.set(t.option(Point)), "02 00 00", 2);
  rejectsDuplicate(t.set(t.option(Point)), "03 00 01 02 04 01 02 04", 5);
  rejectsDuplicate(t.set(t.list(t.u16)), "02 02 01 02 02 01 02", 4);
  rejectsDuplicate(t.set(t.array(t.u8, 2)), "02 01 02 01 02", 3);
  rejectsDuplicate(t.map(t.set(t.u8), t.unit), "02 02 01 02 02 01 02", 4);
  rejectsDuplicate(
    t.map(t.tuple(t.bytes, t.option(t.string)), t.u8),
    "02 01 aa 00 07 01 aa 00 08",
    5,
  );
  rejectsDuplicate(t.set(Node), "02 02 01 04 00 02 01 04 00", 5);
  // Scalar and string keys report the duplicate's offset too.
  rejectsDuplicate(t.map(t.string, t.u8), "03 01 61 01 01 62 02 01 61 03", 7);
  rejectsDuplicate(t.set(t.u64), "03 01 02 01", 3);
  rejectsDuplicate(t.set(t.option(t.u8)), "03 00 01 05 00", 4);
  // Keys that differ anywhere, even only in the last byte or in length, are kept.
  const keys = decode(t.map(t.bytes, t.u8), hex("04 00 00 01 aa 01 02 aa bb 02 02 aa bc 03"));
  assert.deepEqual([...keys.values()], [0, 1, 2, 3]);
  assert.deepEqual(decode(t.set(Status), hex("04 00 01 05 01 06 02 02 04")).size, 4);
  assert.deepEqual(
    decode(t.set(t.option(Point)), hex("03 00 01 02 04 01 04 02")),
    new Set([undefined, { x: 1, y: 2 }, { x: 2, y: 1 }]),
  );
});

test("decode() rejects recursion deeper than its limit with a DecodeError, not a stack overflow", () => {
  const chain = new Uint8Array(200_000).fill(0x01);
  rejects(Node, chain, "200000 bytes of 01 for the Node list");
  const tree = new Uint8Array(200_000);
  for (let i = 0; i < tree.length; i += 2) tree[i + 1] = 0x01; // name "", one child, repeated
  rejects(Tree, tree, "nested one-child trees");
  const listOfNodes = new Uint8Array(100_001).fill(0x01);
  rejects(t.list(Node), listOfNodes, "a list holding a deep chain");
  // The decoder is still usable, and moderate depth is fine.
  const ok = encode(Node, { value: 1, next: { value: 2, next: { value: 3 } } });
  assert.deepStrictEqual(decode(Node, ok), {
    value: 1,
    next: { value: 2, next: { value: 3, next: undefined } },
  });
  let deep: Node | undefined = undefined;
  for (let i = 0; i < 200; i++) deep = { value: i, next: deep };
  const deepBytes = encode(Node, deep!);
  assert.equal(decode(Node, deepBytes).value, 199);
});

// =============================================================================================
// Property test: decode() returns a value or throws a DecodeError, never anything else

function randomBig(rng: () => number, bits: number): bigint {
  let v = 0n;
  for (let i = 0; i < bits; i += 16) v = (v << 16n) | BigInt(Math.floor(rng() * 65536));
  return v & ((1n << BigInt(bits)) - 1n);
}

/** A random valid value of `schema`; `depth` bounds recursion. */
function randomValue(schema: Schema<unknown>, rng: () => number, depth: number): unknown {
  const int = (lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1));
  const count = (): number => (depth <= 0 ? 0 : int(0, 3));
  switch (schema.kind) {
    case "bool":
      return rng() < 0.5;
    case "u8":
      return int(0, 255);
    case "i8":
      return int(-128, 127);
    case "u16":
      return int(0, 65535);
    case "i16":
      return int(-32768, 32767);
    case "u32":
      return Math.floor(rng() * 2 ** (rng() * 32));
    case "i32":
      return Math.floor(rng() * 2 ** (rng() * 32)) | 0;
    case "u64":
      return randomBig(rng, int(1, 64));
    case "i64":
      return BigInt.asIntN(64, randomBig(rng, int(1, 64)));
    case "u128":
      return randomBig(rng, int(1, 128));
    case "i128":
      return BigInt.asIntN(128, randomBig(rng, int(1, 128)));
    case "f32":
      return Math.fround((rng() - 0.5) * 1000);
    case "f64":
      return (rng() - 0.5) * 10 ** int(-20, 20);
    case "char":
      return ["a", "é", "世", "🦀"][int(0, 3)];
    case "string":
      return Array.from({ length: int(0, 6) }, () => ["a", "é", "世", "🦀", "z"][int(0, 4)]).join(
        "",
      );
    case "bytes":
      return Uint8Array.from({ length: int(0, 6) }, () => int(0, 255));
    case "unit":
    case "tx":
    case "rx":
      return undefined;
    case "option": {
      const inner = (schema as OptionSchema<unknown>).inner;
      return depth <= 0 || rng() < 0.3 ? undefined : randomValue(inner, rng, depth - 1);
    }
    case "list":
      return Array.from(
        { length: count() },
        () => randomValue((schema as ListSchema<unknown>).item, rng, depth - 1),
      );
    case "array": {
      const s = schema as ArraySchema<unknown>;
      return Array.from({ length: s.length }, () => randomValue(s.item, rng, depth - 1));
    }
    case "map": {
      const s = schema as MapSchema<unknown, unknown>;
      const m = new Map<unknown, unknown>();
      for (let i = count(); i > 0; i--) {
        m.set(randomValue(s.key, rng, depth - 1), randomValue(s.value, rng, depth - 1));
      }
      return m;
    }
    case "set": {
      const s = schema as SetSchema<unknown>;
      const out = new Set<unknown>();
      for (let i = count(); i > 0; i--) out.add(randomValue(s.item, rng, depth - 1));
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
      if (v.shape === "unit") return { tag: v.name };
      if (v.shape === "newtype") {
        return { tag: v.name, value: randomValue(v.schema, rng, depth - 1) };
      }
      if (v.shape === "tuple") {
        return {
          tag: v.name,
          value: v.items.map((i) => randomValue(i, rng, depth - 1)),
        };
      }
      const value: Record<string, unknown> = {};
      for (const f of v.fields) value[f.name] = randomValue(f.schema, rng, depth - 1);
      return { tag: v.name, value };
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
  a: t.array(t.u16, 2),
  m: t.map(t.string, t.option(t.u64)),
  st: t.set(t.i32),
  tu: t.tuple(t.bool, t.char),
  e: Shape,
  n: t.option(Node),
  tx: t.tx(t.i32),
});

/** Schemas without floats: every accepted input must be the canonical encoding of its value. */
const canonicalSchemas: ReadonlyArray<readonly [string, Schema<unknown>]> = [
  ["Result", Result],
  ["Node", Node],
  ["Tree", Tree],
  [
    "list of enum",
    t.list(t.enum({ A: t.unit, B: [t.u8, t.string], C: { v: t.i64 }, D: t.option(t.bool) })),
  ],
  ["map u32 to list of string", t.map(t.u32, t.list(t.string))],
  ["set of char", t.set(t.char)],
  [
    "tuple of scalars",
    t.tuple(t.bool, t.u8, t.i8, t.u16, t.i16, t.u32, t.i32, t.u64, t.i64, t.u128, t.i128),
  ],
  ["array of option bytes", t.array(t.option(t.bytes), 3)],
  ["list of unit", t.list(t.unit)],
  ["struct of lists", t.struct({ a: t.list(t.u8), b: t.list(t.list(t.string)), c: t.set(t.u16) })],
];

const allSchemas: ReadonlyArray<readonly [string, Schema<unknown>]> = [
  ["Everything", Everything],
  ["list of Everything", t.list(Everything)],
  ["Complex", Complex],
  ["Shape", Shape],
  ["f32 and f64", t.tuple(t.f32, t.f64, t.option(t.f32))],
  ...canonicalSchemas,
];

const INTERESTING = [
  0x00,
  0x01,
  0x02,
  0x03,
  0x7f,
  0x80,
  0x81,
  0xff,
  0xc3,
  0xa9,
  0xed,
  0xf0,
  0x0f,
  0x10,
];

function randomBytes(rng: () => number): Uint8Array {
  const n = Math.floor(rng() * (rng() < 0.8 ? 16 : 80));
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = rng() < 0.6
      ? INTERESTING[Math.floor(rng() * INTERESTING.length)]!
      : Math.floor(rng() * 256);
  }
  return out;
}

/** Decodes `bytes`; returns the value, or undefined after a DecodeError; fails on anything else. */
function decodeOrDecodeError(
  name: string,
  schema: Schema<unknown>,
  bytes: Uint8Array,
): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: decode(schema, bytes) };
  } catch (e) {
    if (e instanceof DecodeError) {
      if (typeof e.offset !== "number" || typeof e.reason !== "string") {
        assert.fail(`${name} ${toHex(bytes)}: malformed DecodeError ${String(e)}`);
      }
      return { ok: false };
    }
    assert.fail(`${name} ${toHex(bytes)}: decode threw ${String(e)} instead of a DecodeError`);
  }
}

test("decode() on random bytes returns a value or throws a DecodeError, nothing else", () =>
  seeded(0x5eed, (rng) => {
    let accepted = 0;
    let total = 0;
    for (const [name, schema] of allSchemas) {
      for (let i = 0; i < 500; i++) {
        const bytes = randomBytes(rng);
        total++;
        if (decodeOrDecodeError(name, schema, bytes).ok) accepted++;
      }
    }
    assert.ok(total >= 3000);
    assert.ok(accepted > 0, "no random input decoded at all; the generator is too hostile");
  }));

/** Truncation points tried per encoding: all of them for short ones, else a sample with both ends. */
function cuts(rng: Rng, length: number): number[] {
  const points = new Set(sample(rng, length, 16));
  for (const n of [0, 1, length - 1]) if (n >= 0 && n < length) points.add(n);
  return [...points];
}

/** Bit flips tried per encoding, as bit indexes: all of them for short ones, else a sample. */
function flips(rng: Rng, length: number): number[] {
  return sample(rng, length * 8, 32);
}

test("decode() on truncations and bit flips of valid encodings returns a value or a DecodeError", () =>
  seeded(0xb17f, (rng) => {
    for (const [name, schema] of allSchemas) {
      for (let k = 0; k < 16; k++) {
        const value = randomValue(schema, rng, 4);
        const bytes = encode(schema, value);
        assert.ok(
          decodeOrDecodeError(name, schema, bytes).ok,
          `${name}: valid encoding ${toHex(bytes)} rejected`,
        );
        for (const n of cuts(rng, bytes.length)) {
          const r = decodeOrDecodeError(name, schema, bytes.subarray(0, n));
          assert.ok(
            !r.ok,
            `${name}: proper prefix ${toHex(bytes.subarray(0, n))} of ${toHex(bytes)} accepted`,
          );
        }
        const flipped = bytes.slice();
        for (const f of flips(rng, bytes.length)) {
          const i = f >> 3;
          flipped[i] = bytes[i]! ^ (1 << (f & 7));
          decodeOrDecodeError(name, schema, flipped);
          flipped[i] = bytes[i]!;
        }
      }
    }
  }));

test("decode() accepts only canonical encodings: re-encoding any accepted input gives the same bytes", () =>
  seeded(0xca11, (rng) => {
    for (const [name, schema] of canonicalSchemas) {
      const inputs: Uint8Array[] = [];
      for (let i = 0; i < 400; i++) inputs.push(randomBytes(rng));
      for (let k = 0; k < 12; k++) {
        const bytes = encode(schema, randomValue(schema, rng, 4));
        for (const f of flips(rng, bytes.length)) {
          const flipped = bytes.slice();
          flipped[f >> 3] = flipped[f >> 3]! ^ (1 << (f & 7));
          inputs.push(flipped);
        }
      }
      for (const input of inputs) {
        const r = decodeOrDecodeError(name, schema, input);
        if (!r.ok) continue;
        const again = encode(schema, r.value);
        assert.equal(
          toHex(again),
          toHex(input),
          `${name}: accepted ${toHex(input)} but it re-encodes differently`,
        );
      }
    }
  }));
