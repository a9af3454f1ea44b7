/**
 * Strings through every path of the codec give exactly what `TextEncoder`
 * and a fatal `TextDecoder` give: short strings are encoded and decoded in
 * JavaScript and long ones natively, with thresholds (by length, ASCII or
 * not) that differ between runtimes, so each test sweeps lengths across
 * all of them and puts the characters that matter (the first non-ASCII
 * one, a surrogate pair, an invalid byte) at every position.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { decode, DecodeError, encode, type Schema, t } from "../../postcard.ts";
import { Writer } from "../../lib/postcard/_writer.ts";
import { type Rng, seeded } from "../_helpers/mod.ts";

const te = new TextEncoder();
const fatal = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Lengths that cross every threshold of the string paths, and the length prefix's. */
const LENGTHS = [
  ...Array.from({ length: 72 }, (_, i) => i),
  120,
  126,
  127,
  128,
  129,
  200,
  255,
  256,
  257,
  300,
  1000,
];

/** A schema of fixed shape: encoded in place and decoded inline. */
const Fixed = t.struct({ a: t.u8, s: t.string, o: t.option(t.string) });
/** Not of fixed shape: encoded by the writer, decoded by generated code. */
const Listed = t.list(t.string);

/** A string followed by three bytes. */
const Tail = t.tuple(t.string, t.u8, t.u8, t.u8);

/** The postcard bytes of `s` in each shape, built from `TextEncoder`'s bytes. */
function expected(s: string): { string: Uint8Array; fixed: Uint8Array; listed: Uint8Array } {
  const utf8 = te.encode(s);
  const prefix: number[] = [];
  for (let n = utf8.length; n >= 0x80; n >>>= 7) prefix.push((n & 0x7f) | 0x80);
  prefix.push(prefixLast(utf8.length));
  const string = new Uint8Array([...prefix, ...utf8]);
  return {
    string,
    fixed: new Uint8Array([7, ...string, 1, ...string]),
    listed: new Uint8Array([2, ...string, ...string]),
  };
}

function prefixLast(n: number): number {
  while (n >= 0x80) n >>>= 7;
  return n;
}

/** Encodes and decodes `s` every way, checking each against the platform's UTF-8. */
function roundTrips(s: string, label: string): void {
  const want = expected(s);
  for (const pooled of [false, true]) {
    const how = `${label} (pooled: ${pooled})`;
    assert.deepStrictEqual(encode(t.string, s, { pooled }), want.string, how);
    assert.deepStrictEqual(encode(Fixed, { a: 7, s, o: s }, { pooled }), want.fixed, how);
    assert.deepStrictEqual(encode(Listed, [s, s], { pooled }), want.listed, how);
  }
  assert.equal(decode(t.string, want.string), s, label);
  assert.deepStrictEqual(decode(Fixed, want.fixed), { a: 7, s, o: s }, label);
  assert.deepStrictEqual(decode(Listed, want.listed), [s, s], label);
}

/** Characters of every UTF-8 length, and the edges of each. */
const CHARS = [
  "\u0000",
  "a",
  "\u007f",
  "\u0080",
  "é",
  "\u07ff",
  "\u0800",
  "€",
  "\ud7ff",
  "\ue000",
  "\ufeff", // a byte order mark, kept as it is
  "\uffff",
  "\u{10000}",
  "🦀",
  "\u{10ffff}",
];

test("strings of every length round-trip with one character of each UTF-8 length at each end", () => {
  for (const n of LENGTHS) {
    const ascii = "x".repeat(n);
    roundTrips(ascii, `${n} ASCII`);
    if (n === 0) continue;
    for (const c of CHARS) {
      roundTrips(c + ascii.slice(1), `${JSON.stringify(c)} then ${n - 1} ASCII`);
      roundTrips(ascii.slice(1) + c, `${n - 1} ASCII then ${JSON.stringify(c)}`);
    }
  }
});

test("a non-ASCII character round-trips at every position of short strings", () => {
  for (let n = 1; n <= 72; n++) {
    for (let at = 0; at < n; at++) {
      for (const c of ["é", "€", "🦀"]) {
        const s = "y".repeat(at) + c + "y".repeat(n - at - 1);
        roundTrips(s, `${JSON.stringify(c)} at ${at} of ${n}`);
      }
    }
  }
});

/** Random text: mostly ASCII, or mostly not, with surrogate pairs. */
function randomText(rng: Rng, n: number): string {
  const mostlyAscii = rng() < 0.5;
  let s = "";
  while (s.length < n) {
    const r = rng();
    if (mostlyAscii ? r < 0.9 : r < 0.2) s += String.fromCharCode(Math.floor(rng() * 0x80));
    else if (r < 0.95) s += CHARS[Math.floor(rng() * CHARS.length)]!;
    else s += String.fromCodePoint(0x10000 + Math.floor(rng() * 0x100000));
  }
  return s;
}

test("seeded random strings encode as TextEncoder does and decode back", () =>
  seeded(0x75f8, (rng) => {
    for (let i = 0; i < 1500; i++) {
      const n = LENGTHS[Math.floor(rng() * LENGTHS.length)]!;
      const s = randomText(rng, n);
      roundTrips(s, `string ${JSON.stringify(s.slice(0, 40))}… of ${s.length} units`);
    }
  }));

test("a lone surrogate anywhere in a string of any length is a TypeError on every encode path", () => {
  for (const n of [1, 2, 10, 24, 25, 41, 42, 43, 64, 65, 127, 128, 300]) {
    for (const lone of ["\ud800", "\udbff", "\udc00", "\udfff"]) {
      for (const at of new Set([0, Math.floor(n / 2), n - 1])) {
        const s = "é".repeat(at) + lone + "z".repeat(n - at - 1);
        const ascii = "z".repeat(at) + lone + "z".repeat(n - at - 1);
        for (const v of [s, ascii]) {
          const label = `${lone.charCodeAt(0).toString(16)} at ${at} of ${n}`;
          for (const pooled of [false, true]) {
            assert.throws(() => encode(t.string, v, { pooled }), TypeError, label);
            assert.throws(
              () => encode(Fixed, { a: 1, s: "ok", o: v }, { pooled }),
              TypeError,
              label,
            );
            assert.throws(() => encode(Listed, ["ok", v], { pooled }), TypeError, label);
          }
        }
      }
    }
  }
  // A pair in the wrong order, or two of a kind, are lone surrogates.
  const wrong = ["\udc00\ud800", "\udc00\udc00", "\ud800\ud800", "a\udfff\udc00b", "\ud800\ue000"];
  for (const s of wrong) {
    for (const pooled of [false, true]) {
      assert.throws(() => encode(t.string, s, { pooled }), TypeError, JSON.stringify(s));
      assert.throws(() => encode(Listed, [s], { pooled }), TypeError, JSON.stringify(s));
      assert.throws(() => encode(Listed, [s + "x".repeat(60)]), TypeError, JSON.stringify(s));
    }
  }
});

/** Asserts that every decode path rejects `utf8` (a string's bytes) as invalid UTF-8 at its start. */
function rejected(utf8: Uint8Array, label: string): void {
  const n = utf8.length;
  const prefix: number[] = [];
  for (let m = n; m >= 0x80; m >>>= 7) prefix.push((m & 0x7f) | 0x80);
  prefix.push(prefixLast(n));
  const string = new Uint8Array([...prefix, ...utf8]);
  const cases: [Schema<unknown>, Uint8Array, number][] = [
    [t.string, string, prefix.length],
    [Fixed, new Uint8Array([7, 1, 0x61, 1, ...string]), 4 + prefix.length],
    [Listed, new Uint8Array([2, 1, 0x61, ...string]), 3 + prefix.length],
    // Continuation bytes just past the string, which a sequence cut short
    // by the length must not take.
    [Tail, new Uint8Array([...string, 0x80, 0x80, 0x80]), prefix.length],
    [t.list(Tail), new Uint8Array([1, ...string, 0x80, 0x80, 0x80]), 1 + prefix.length],
  ];
  for (const [schema, bytes, offset] of cases) {
    assert.throws(
      () => decode(schema, bytes),
      (e: unknown) =>
        e instanceof DecodeError && e.reason === "invalid UTF-8" && e.offset === offset,
      `${label} (${schema.kind})`,
    );
  }
}

/** Byte sequences no valid UTF-8 contains. */
const INVALID = [
  [0x80], // a continuation byte with no lead
  [0xbf],
  [0xc0, 0x80], // overlong forms
  [0xc1, 0xbf],
  [0xe0, 0x80, 0x80],
  [0xe0, 0x9f, 0xbf],
  [0xf0, 0x80, 0x80, 0x80],
  [0xf0, 0x8f, 0xbf, 0xbf],
  [0xed, 0xa0, 0x80], // surrogates
  [0xed, 0xbf, 0xbf],
  [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
  [0xf5, 0x80, 0x80, 0x80],
  [0xfe],
  [0xff],
  [0xc3], // cut short
  [0xe2, 0x82],
  [0xf0, 0x9f, 0xa6],
  [0xc3, 0x28], // a lead byte then no continuation
  [0xe2, 0x28, 0xa1],
  [0xf0, 0x9f, 0x28, 0x80],
];

test("invalid UTF-8 anywhere in a string of any length is rejected at the string's start", () => {
  for (const n of LENGTHS) {
    for (const bad of INVALID) {
      if (bad.length > n) continue;
      for (const at of new Set([0, Math.floor((n - bad.length) / 2), n - bad.length])) {
        const utf8 = new Uint8Array(n).fill(0x61);
        utf8.set(bad, at);
        rejected(utf8, `${bad.map((b) => b.toString(16)).join(" ")} at ${at} of ${n}`);
      }
    }
  }
});

/** A random Unicode scalar value of a random UTF-8 length. */
function randomScalar(rng: Rng): number {
  const ranges: [number, number][] = [[0, 0x7f], [0x80, 0x7ff], [0x800, 0xffff], [
    0x1_0000,
    0x10_ffff,
  ]];
  const [min, max] = ranges[Math.floor(rng() * ranges.length)]!;
  const cp = min + Math.floor(rng() * (max - min + 1));
  return cp >= 0xd800 && cp <= 0xdfff ? cp - 0x800 : cp;
}

/** Random bytes that are mostly UTF-8: valid characters with an invalid sequence now and then. */
function randomBytes(rng: Rng, n: number): Uint8Array {
  const out: number[] = [];
  const invalid = rng() < 0.5;
  while (out.length < n) {
    const r = rng();
    if (invalid && r < 0.02) out.push(...INVALID[Math.floor(rng() * INVALID.length)]!);
    else if (r < 0.6) out.push(Math.floor(rng() * 0x80));
    else if (r < 0.65) out.push(Math.floor(rng() * 0x100)); // any byte at all
    else out.push(...te.encode(String.fromCodePoint(randomScalar(rng))));
  }
  return new Uint8Array(out.slice(0, n)); // cutting may leave a sequence short
}

test("seeded random bytes decode exactly when a fatal TextDecoder accepts them, to its string", () =>
  seeded(0xdeb7e5, (rng) => {
    let valid = 0;
    for (let i = 0; i < 3000; i++) {
      const n = LENGTHS[Math.floor(rng() * LENGTHS.length)]!;
      const utf8 = randomBytes(rng, n);
      let want: string | undefined;
      try {
        want = fatal.decode(utf8);
      } catch {
        want = undefined;
      }
      const label = `bytes ${[...utf8.subarray(0, 24)].map((b) => b.toString(16))}… of ${n}`;
      if (want === undefined) {
        rejected(utf8, label);
        continue;
      }
      valid++;
      const want2 = expected(want);
      assert.deepStrictEqual(want2.string.subarray(want2.string.length - n), utf8, label);
      assert.equal(decode(t.string, want2.string), want, label);
      assert.deepStrictEqual(decode(Fixed, want2.fixed), { a: 7, s: want, o: want }, label);
      assert.deepStrictEqual(decode(Listed, want2.listed), [want, want], label);
    }
    assert.ok(valid > 600 && valid < 2400, `${valid} of 3000 inputs were valid`);
  }));

test("the fixed-shape decoder reads varints of every length and rejects overlong ones", () => {
  const Ints = t.struct({ u: t.u32, h: t.u16, i: t.i32, j: t.i16, s: t.string });
  const values = [0, 1, 127, 128, 16383, 16384, 2 ** 21 - 1, 2 ** 21, 2 ** 28 - 1, 2 ** 28];
  for (const u of [...values, 2 ** 32 - 1]) {
    for (const h of [0, 127, 128, 16383, 16384, 65535]) {
      const i = u % 2 === 0 ? -(2 ** 31) + u : 2 ** 31 - 1 - u;
      const j = h - 32768;
      const s = "q".repeat(h % 300);
      const value = { u, h, i, j, s };
      const bytes = encode(Ints, value);
      assert.deepStrictEqual(decode(Ints, bytes), value);
      assert.deepStrictEqual(decode(t.list(Ints), new Uint8Array([1, ...bytes])), [value]);
    }
  }
  const rest = [0, 0, 0, 0]; // h, i, j and an empty string
  for (const overlong of [[0x80, 0x00], [0xff, 0x00], [0x80, 0x80, 0x80, 0x80, 0x00]]) {
    assert.throws(() => decode(Ints, new Uint8Array([...overlong, ...rest])), /overlong/);
  }
  // A u32 of five bytes whose last carries more than four bits; a u16 above 65535.
  assert.throws(() => decode(Ints, new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x1f, ...rest])), /32/);
  assert.throws(() => decode(Ints, new Uint8Array([0, 0x80, 0x80, 0x04, 0, 0, 0])), /range/);
  // A string length of two bytes that runs past the end.
  assert.throws(() => decode(Ints, new Uint8Array([0, 0, 0, 0, 0x80, 0x01, 0x61])), DecodeError);
});

test("the writer's short-string path writes nothing for a lone surrogate and stays usable", () => {
  for (const s of ["abc\ud800", "é\udfff", "x".repeat(41) + "\ud800", "x".repeat(60) + "\ud800"]) {
    const w = new Writer(8);
    w.u8(9);
    assert.equal(w.string(s), false);
    assert.equal(w.pos, 1);
    assert.equal(w.string("ok é"), true);
    assert.deepStrictEqual(w.finish(), new Uint8Array([9, 5, 0x6f, 0x6b, 0x20, 0xc3, 0xa9]));
  }
});
