/**
 * Golden byte tests for the postcard codec: every example of wire-spec §1 (and a few derived
 * ones) must encode to exactly the given bytes and decode back to the same value.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { decode, encode, type Schema } from "../../postcard.ts";
import { channel, t } from "../../mod.ts";
import { hex, toHex } from "../_helpers/mod.ts";

/** Asserts `value` encodes to exactly `expected` and that those bytes decode back to `value`. */
function golden<T>(schema: Schema<T>, value: T, expected: string, decoded: unknown = value): void {
  const label = `${schema.kind} ${showValue(value)}`;
  assert.equal(toHex(encode(schema, value)), expected, `encode ${label}`);
  const back = decode(schema, hex(expected));
  assert.deepStrictEqual(back, decoded, `decode ${label} from ${expected}`);
}

function showValue(v: unknown): string {
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "string") return JSON.stringify(v);
  if (v instanceof Uint8Array) return `bytes(${toHex(v)})`;
  return String(v);
}

const ff = (n: number): string => Array(n).fill("ff").join(" ");

test("bool encodes as one byte 00 or 01", () => {
  golden(t.bool, true, "01");
  golden(t.bool, false, "00");
});

test("u8 encodes as one raw byte", () => {
  golden(t.u8, 0, "00");
  golden(t.u8, 127, "7f");
  golden(t.u8, 128, "80");
  golden(t.u8, 255, "ff");
});

test("i8 encodes as one raw two's-complement byte, not zigzag", () => {
  golden(t.i8, -1, "ff");
  golden(t.i8, -128, "80");
  golden(t.i8, 127, "7f");
  golden(t.i8, 0, "00");
  golden(t.i8, 1, "01");
});

test("u16, u32 and u64 encode as minimal unsigned LEB128 varints", () => {
  for (
    const [n, h] of [[127, "7f"], [128, "80 01"], [256, "80 02"], [65535, "ff ff 03"]] as const
  ) {
    golden(t.u16, n, h);
    golden(t.u32, n, h);
    golden(t.u64, BigInt(n), h);
  }
  golden(t.u16, 0, "00");
  golden(t.u32, 0, "00");
  golden(t.u32, 4294967295, "ff ff ff ff 0f");
  golden(t.u64, 4294967295n, "ff ff ff ff 0f");
  golden(t.u64, 18446744073709551615n, `${ff(9)} 01`);
});

test("the golden u64 varint table encodes byte for byte", () => {
  const table: ReadonlyArray<readonly [bigint, string]> = [
    [0n, "00"],
    [1n, "01"],
    [127n, "7f"],
    [128n, "80 01"],
    [255n, "ff 01"],
    [256n, "80 02"],
    [16383n, "ff 7f"],
    [16384n, "80 80 01"],
    [65535n, "ff ff 03"],
    [65536n, "80 80 04"],
    [1048576n, "80 80 40"],
  ];
  for (const [n, h] of table) golden(t.u64, n, h);
});

test("i16, i32 and i64 encode as varints of the zigzag value", () => {
  const table: ReadonlyArray<readonly [number, string]> = [
    [0, "00"],
    [-1, "01"],
    [1, "02"],
    [15, "1e"],
    [42, "54"],
    [-128, "ff 01"],
    [127, "fe 01"],
    [128, "80 02"],
  ];
  for (const [n, h] of table) {
    golden(t.i16, n, h);
    golden(t.i32, n, h);
    golden(t.i64, BigInt(n), h);
  }
  golden(t.i16, 32767, "fe ff 03");
  golden(t.i16, -32768, "ff ff 03");
  golden(t.i32, 2147483647, "fe ff ff ff 0f");
  golden(t.i32, -2147483648, "ff ff ff ff 0f");
  golden(t.i64, 2147483647n, "fe ff ff ff 0f");
  golden(t.i64, -2147483648n, "ff ff ff ff 0f");
  golden(t.i64, -9223372036854775808n, `${ff(9)} 01`);
  golden(t.i64, 9223372036854775807n, `fe ${ff(8)} 01`);
});

test("u128 and i128 extremes encode as 19-byte varints", () => {
  golden(t.u128, (1n << 128n) - 1n, `${ff(18)} 03`);
  golden(t.u128, 0n, "00");
  golden(t.u128, 1n << 64n, `${Array(9).fill("80").join(" ")} 02`);
  golden(t.i128, (1n << 127n) - 1n, `fe ${ff(17)} 03`);
  golden(t.i128, -(1n << 127n), `${ff(18)} 03`);
  golden(t.i128, -1n, "01");
});

test("f32 and f64 encode as little-endian IEEE-754", () => {
  golden(t.f32, 1.0, "00 00 80 3f");
  golden(t.f32, -1.0, "00 00 80 bf");
  golden(t.f32, 0.25, "00 00 80 3e");
  golden(t.f64, 1.5, "00 00 00 00 00 00 f8 3f");
  golden(t.f64, -0, "00 00 00 00 00 00 00 80");
});

test("strings encode as UTF-8 byte length then UTF-8 bytes", () => {
  golden(t.string, "", "00");
  golden(t.string, "hello world", "0b 68 65 6c 6c 6f 20 77 6f 72 6c 64");
  golden(
    t.string,
    "héllo 世界 🦀",
    "12 68 c3 a9 6c 6c 6f 20 e4 b8 96 e7 95 8c 20 f0 9f a6 80",
  );
});

test("char encodes like a one-scalar string", () => {
  golden(t.char, "é", "02 c3 a9");
  golden(t.char, "a", "01 61");
  golden(t.char, "🦀", "04 f0 9f a6 80");
});

test("bytes encode as length then raw bytes; fixed byte arrays have no length", () => {
  golden(t.bytes, new Uint8Array([]), "00");
  golden(t.bytes, new Uint8Array([0xde, 0xad, 0xbe, 0xef]), "04 de ad be ef");
  golden(t.array(t.u8, 4), [0xde, 0xad, 0xbe, 0xef], "de ad be ef");
});

test("option encodes as tag 00 for None, tag 01 then the value for Some", () => {
  golden(t.option(t.u32), 42, "01 2a");
  golden(t.option(t.string), "hello", "01 05 68 65 6c 6c 6f");
  golden(t.option(t.u32), undefined, "00");
  golden(t.option(t.bool), false, "01 00");
});

test("sequences encode as element count then the elements", () => {
  golden(t.list(t.u32), [1, 2, 3], "03 01 02 03");
  golden(t.list(t.i32), [-1, 0, 1], "03 01 00 02");
  golden(t.list(t.string), ["a", "b"], "02 01 61 01 62");
  golden(t.list(t.u32), [], "00");
});

test("Result-like enums encode Ok as index 0 and Err as index 1", () => {
  const R = t.enum({ Ok: t.u32, Err: t.string });
  golden(R, { tag: "Ok", value: 42 }, "00 2a");
  golden(R, { tag: "Err", value: "x" }, "01 01 78");
  const RS = t.enum({ Ok: t.string, Err: t.u32 });
  golden(RS, { tag: "Ok", value: "hello" }, "00 05 68 65 6c 6c 6f");
});

test("unit encodes as zero bytes", () => {
  golden(t.unit, undefined, "");
  golden(t.tuple(), [], "");
  golden(t.struct({}), {}, "");
});

test("fixed arrays encode their elements back to back without a count", () => {
  golden(t.array(t.u16, 3), [1, 300, 0], "01 ac 02 00");
  golden(t.array(t.string, 2), ["a", ""], "01 61 00");
  golden(t.array(t.u32, 0), [], "");
});

test("tuples encode their elements back to back without a count", () => {
  golden(t.tuple(t.u8, t.string, t.bool), [7, "a", true], "07 01 61 01");
  golden(t.tuple(t.i32, t.tuple(t.u8, t.u8)), [-2, [1, 2]], "03 01 02");
});

test("structs encode fields in declaration order, whatever the value's key order", () => {
  const S = t.struct({ b: t.u8, a: t.u8, name: t.string });
  golden(S, { name: "z", a: 1, b: 2 }, "02 01 01 7a", { b: 2, a: 1, name: "z" });
  const P = t.struct({ x: t.i32, y: t.i32 });
  golden(P, { x: 1, y: -1 }, "02 01");
});

test("maps encode as entry count then key, value pairs in iteration order", () => {
  const M = t.map(t.string, t.u32);
  golden(M, new Map([["a", 1], ["b", 2]]), "02 01 61 01 01 62 02");
  golden(M, new Map([["b", 2], ["a", 1]]), "02 01 62 02 01 61 01");
  golden(M, new Map(), "00");
});

test("sets encode as element count then the elements in iteration order", () => {
  golden(t.set(t.u16), new Set([1, 300]), "02 01 ac 02");
  golden(t.set(t.string), new Set(["x"]), "01 01 78");
  golden(t.set(t.u16), new Set(), "00");
});

test("enum variants encode as the variant index then the payload", () => {
  const Shape = t.enum({
    Unit: t.unit,
    New: t.u32,
    Tup: [t.i32, t.string],
    Rec: { x: t.f64 },
    One: [t.i32],
  });
  golden(Shape, { tag: "Unit" }, "00");
  golden(Shape, { tag: "New", value: 7 }, "01 07");
  golden(Shape, { tag: "Tup", value: [-1, "a"] }, "02 01 01 61");
  golden(Shape, { tag: "Rec", value: { x: 1.5 } }, "03 00 00 00 00 00 00 f8 3f");
  golden(Shape, { tag: "One", value: [5] }, "04 0a");
});

test("a one-element tuple variant has the same bytes as a newtype variant", () => {
  const A = t.enum({ Z: t.unit, V: [t.i32] });
  const B = t.enum({ Z: t.unit, V: t.i32 });
  assert.equal(
    toHex(encode(A, { tag: "V", value: [-3] })),
    toHex(encode(B, { tag: "V", value: -3 })),
  );
  assert.deepStrictEqual(decode(A, hex("01 05")), { tag: "V", value: [-3] });
});

test("enum variant indexes of 128 and above take a two-byte varint", () => {
  const names = Array.from({ length: 130 }, (_, i) => `V${i}`);
  const E = t.enum(Object.fromEntries(names.map((n) => [n, t.unit])));
  golden(E, { tag: "V129" }, "81 01");
  golden(E, { tag: "V127" }, "7f");
  golden(E, { tag: "V128" }, "80 01");
});

interface Node {
  value: number;
  next?: Node | undefined;
}
const Node: Schema<Node> = t.struct({ value: t.i32, next: t.option(t.lazy(() => Node)) });

test("recursive types via t.lazy encode each level inline", () => {
  golden(
    Node,
    { value: 1, next: { value: 2, next: { value: 3, next: undefined } } },
    "02 01 04 01 06 00",
  );
  golden(Node, { value: 0, next: undefined }, "00 00");
});

test("channel placeholders t.tx and t.rx encode as zero bytes", () => {
  const [tx, rx] = channel<number>();
  assert.equal(toHex(encode(t.tx(t.i32), tx)), "");
  assert.equal(toHex(encode(t.rx(t.i32), rx)), "");
  const Args = t.struct({ a: t.u8, out: t.tx(t.i32), inp: t.rx(t.i32), b: t.u8 });
  assert.equal(toHex(encode(Args, { a: 1, out: tx, inp: rx, b: 2 })), "01 02");
  // Outside a call there is nothing to bind: the positions decode as undefined.
  assert.deepStrictEqual(decode(Args, hex("01 02")) as unknown, {
    a: 1,
    out: undefined,
    inp: undefined,
    b: 2,
  });
  assert.equal(decode(t.tx(t.i32), new Uint8Array(0)), undefined);
});
