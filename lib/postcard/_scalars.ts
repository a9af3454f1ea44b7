/**
 * Compiled codecs for the scalar schema kinds: one encoder/decoder pair per
 * kind, with the range checks each integer width needs. Composite kinds are
 * built in `_compile.ts`, which calls {@linkcode buildScalar} once per scalar
 * schema at compile time.
 *
 * @module
 */

import type { Compiled, Decoder, Encoder } from "./_compile.ts";
import { rangeFault, typeFault } from "./_faults.ts";
import type { Writer } from "./_writer.ts";
import type { ScalarKind } from "./schema.ts";

/** Checks a number is an integer within `min..max`, then writes it with `write`. */
function intEncoder(
  name: string,
  min: number,
  max: number,
  write: (w: Writer, v: number) => void,
): Encoder {
  return (w, v) => {
    if (typeof v !== "number") typeFault(name, "an integer", v);
    if (!Number.isInteger(v)) typeFault(name, "an integer", v);
    if (v < min || v > max) rangeFault(name, `${v} is outside ${min}..${max}`);
    write(w, v);
  };
}

/** Checks a bigint is within `min..max`, then writes it with `write`. */
function bigEncoder(
  name: string,
  min: bigint,
  max: bigint,
  write: (w: Writer, v: bigint) => void,
): Encoder {
  return (w, v) => {
    if (typeof v !== "bigint") typeFault(name, "a bigint", v);
    if (v < min || v > max) rangeFault(name, `${v}n is outside ${min}..${max}`);
    write(w, v);
  };
}

/** Bounds of the integer widths that are checked as bigints. */
const U64_MAX = (1n << 64n) - 1n;
const U128_MAX = (1n << 128n) - 1n;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;
const I128_MIN = -(1n << 127n);
const I128_MAX = (1n << 127n) - 1n;

/** Bundles one scalar kind's codec. */
function scalar(name: string, encode: Encoder, decode: Decoder, minSize: number): Compiled {
  return { name, encode, decode, minSize };
}

/** Returns a fresh compiled codec for the scalar kind `kind`. */
export function buildScalar(kind: ScalarKind): Compiled {
  switch (kind) {
    case "bool":
      return scalar("bool", (w, v) => {
        if (typeof v !== "boolean") typeFault("bool", "a boolean", v);
        w.u8(v ? 1 : 0);
      }, (r) => {
        const b = r.u8("bool");
        if (b > 1) r.fail("bool", `invalid byte 0x${b.toString(16).padStart(2, "0")}`, r.pos - 1);
        return b === 1;
      }, 1);
    case "u8":
      return scalar(
        "u8",
        (w, v) => {
          if (typeof v !== "number" || (v & 0xff) !== v) {
            if (typeof v === "number" && Number.isInteger(v)) {
              rangeFault(
                "u8",
                `${v} is outside 0..255`,
              );
            }
            typeFault("u8", "an integer", v);
          }
          w.u8(v);
        },
        (r) => r.u8("u8"),
        1,
      );
    case "i8":
      return scalar(
        "i8",
        intEncoder("i8", -128, 127, (w, v) => w.u8(v & 0xff)),
        (r) => (r.u8("i8") << 24) >> 24,
        1,
      );
    case "u16":
      return scalar(
        "u16",
        intEncoder("u16", 0, 0xffff, (w, v) => w.varint(v)),
        (r) => r.varint32("u16", 0xffff),
        1,
      );
    case "u32":
      return scalar(
        "u32",
        (w, v) => {
          if (typeof v !== "number" || v >>> 0 !== v) {
            if (typeof v === "number" && Number.isInteger(v)) {
              rangeFault(
                "u32",
                `${v} is outside 0..4294967295`,
              );
            }
            typeFault("u32", "an integer", v);
          }
          w.varint(v);
        },
        (r) => r.varint32("u32"),
        1,
      );
    case "i16":
      return scalar(
        "i16",
        intEncoder("i16", -0x8000, 0x7fff, (w, v) => w.varint(((v << 1) ^ (v >> 31)) >>> 0)),
        (r) => {
          const n = r.varint32("i16", 0xffff);
          return (n >>> 1) ^ -(n & 1);
        },
        1,
      );
    case "i32":
      return scalar("i32", (w, v) => {
        if (typeof v !== "number" || (v | 0) !== v) {
          if (typeof v === "number" && Number.isInteger(v)) {
            rangeFault("i32", `${v} is outside -2147483648..2147483647`);
          }
          typeFault("i32", "an integer", v);
        }
        w.varint(((v << 1) ^ (v >> 31)) >>> 0);
      }, (r) => {
        const n = r.varint32("i32");
        return (n >>> 1) ^ -(n & 1);
      }, 1);
    case "u64":
      return scalar(
        "u64",
        bigEncoder("u64", 0n, U64_MAX, (w, v) => w.varintBig(v)),
        (r) => r.varintBig("u64", 64),
        1,
      );
    case "u128":
      return scalar(
        "u128",
        bigEncoder("u128", 0n, U128_MAX, (w, v) => w.varintBig(v)),
        (r) => r.varintBig("u128", 128),
        1,
      );
    case "i64":
      return scalar(
        "i64",
        bigEncoder(
          "i64",
          I64_MIN,
          I64_MAX,
          (w, v) => w.varintBig(v < 0n ? (-v << 1n) - 1n : v << 1n),
        ),
        (r) => {
          const n = r.varintBig("i64", 64);
          return (n & 1n) === 0n ? n >> 1n : -(n >> 1n) - 1n;
        },
        1,
      );
    case "i128":
      return scalar(
        "i128",
        bigEncoder(
          "i128",
          I128_MIN,
          I128_MAX,
          (w, v) => w.varintBig(v < 0n ? (-v << 1n) - 1n : v << 1n),
        ),
        (r) => {
          const n = r.varintBig("i128", 128);
          return (n & 1n) === 0n ? n >> 1n : -(n >> 1n) - 1n;
        },
        1,
      );
    case "f32":
      return scalar(
        "f32",
        (w, v) => {
          if (typeof v !== "number") typeFault("f32", "a number", v);
          w.f32(v);
        },
        (r) => r.f32("f32"),
        4,
      );
    case "f64":
      return scalar(
        "f64",
        (w, v) => {
          if (typeof v !== "number") typeFault("f64", "a number", v);
          w.f64(v);
        },
        (r) => r.f64("f64"),
        8,
      );
    case "string":
      return scalar(
        "string",
        (w, v) => {
          if (typeof v !== "string") typeFault("string", "a string", v);
          if (!w.string(v)) {
            typeFault(
              "string",
              "a well-formed string",
              "a string with a lone surrogate",
            );
          }
        },
        (r) => r.string("string"),
        1,
      );
    case "char":
      return scalar("char", (w, v) => {
        if (typeof v !== "string") typeFault("char", "a one-character string", v);
        const cp = v.codePointAt(0);
        if (cp === undefined || v.length !== (cp > 0xffff ? 2 : 1)) {
          typeFault("char", "exactly one code point", v);
        }
        if (cp >= 0xd800 && cp <= 0xdfff) {
          typeFault("char", "a Unicode scalar value", "a lone surrogate");
        }
        w.string(v);
      }, (r) => {
        const start = r.pos;
        const s = r.string("char");
        const cp = s.codePointAt(0);
        if (cp === undefined || s.length !== (cp > 0xffff ? 2 : 1)) {
          r.fail("char", "not exactly one code point", start);
        }
        return s;
      }, 2);
    case "bytes":
      return scalar(
        "bytes",
        (w, v) => {
          if (!(v instanceof Uint8Array)) typeFault("bytes", "a Uint8Array", v);
          w.varint(v.length);
          w.raw(v);
        },
        (r) => r.bytes("bytes", r.length("bytes", 1, 0)),
        1,
      );
    case "unit":
      return scalar(
        "unit",
        (_w, v) => {
          if (v !== undefined && v !== null) typeFault("unit", "undefined", v);
        },
        () => undefined,
        0,
      );
  }
}
