/**
 * The canonical signature encoding of a type, as the Rust runtime hashes it
 * into method ids (wire-spec §6.3).
 *
 * @module
 */

import {
  type FieldSchema,
  resolveSchema,
  type ScalarKind,
  type Schema,
} from "../postcard/schema.ts";

const SCALAR_TAGS: Readonly<Record<ScalarKind, number>> = {
  bool: 0x01,
  u8: 0x02,
  u16: 0x03,
  u32: 0x04,
  u64: 0x05,
  u128: 0x06,
  i8: 0x07,
  i16: 0x08,
  i32: 0x09,
  i64: 0x0a,
  i128: 0x0b,
  f32: 0x0c,
  f64: 0x0d,
  char: 0x0e,
  string: 0x0f,
  unit: 0x10,
  bytes: 0x11,
};

const LIST = 0x20;
const OPTION = 0x21;
const ARRAY = 0x22;
const MAP = 0x23;
const SET = 0x24;
const TUPLE = 0x25;
const TX = 0x26;
const RX = 0x27;
const STRUCT = 0x30;
const ENUM = 0x31;
const BACKREF = 0x32;
const UNIT = 0x10;
const BYTES = 0x11;

const utf8 = new TextEncoder();

function varint(n: number, out: number[]): void {
  while (n >= 0x80) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
}

function name(s: string, out: number[]): void {
  const bytes = utf8.encode(s);
  varint(bytes.length, out);
  for (const b of bytes) out.push(b);
}

/**
 * Returns the signature encoding of one type.
 *
 * Struct field names and enum variant names are part of it; type names,
 * argument names and channel credit are not.
 *
 * @param schema The type.
 * @returns The signature bytes.
 *
 * @example The signature of `(String,)`
 * ```ts
 * import { signatureOf } from "@roam/roam/wire";
 * import { t } from "@roam/roam";
 *
 * signatureOf(t.tuple(t.string)); // Uint8Array [0x25, 0x01, 0x0f]
 * ```
 */
export function signatureOf(schema: Schema<unknown>): Uint8Array {
  const out: number[] = [];
  encodeType(schema, out, []);
  return Uint8Array.from(out);
}

/**
 * Appends the signature encoding of `schema` to `out`. `stack` holds the
 * user types (structs, enums, non-empty tuples) being encoded, innermost
 * last, for recursion back-references.
 */
export function encodeType(schema: Schema<unknown>, out: number[], stack: Schema<unknown>[]): void {
  const s = resolveSchema(schema);
  switch (s.kind) {
    case "tx":
    case "rx":
      out.push(s.kind === "tx" ? TX : RX);
      encodeType(s.item, out, stack);
      return;
    case "list": {
      const item = resolveSchema(s.item);
      if (item.kind === "u8") out.push(BYTES);
      else {
        out.push(LIST);
        encodeType(item, out, stack);
      }
      return;
    }
    case "array":
      out.push(ARRAY);
      varint(s.length, out);
      encodeType(s.item, out, stack);
      return;
    case "map":
      out.push(MAP);
      encodeType(s.key, out, stack);
      encodeType(s.value, out, stack);
      return;
    case "set":
      out.push(SET);
      encodeType(s.item, out, stack);
      return;
    case "option":
      out.push(OPTION);
      encodeType(s.inner, out, stack);
      return;
    case "tuple":
      if (s.items.length === 0) {
        out.push(UNIT); // `()` is the unit scalar, not a user type
        return;
      }
      break;
    case "struct":
    case "enum":
      break;
    default:
      out.push(SCALAR_TAGS[s.kind]);
      return;
  }

  // A user type: a back-reference if it is already being encoded.
  const at = stack.lastIndexOf(s);
  if (at >= 0) {
    out.push(BACKREF);
    varint(stack.length - 1 - at, out);
    return;
  }
  stack.push(s);
  if (s.kind === "tuple") {
    const items = s.items;
    out.push(TUPLE);
    varint(items.length, out);
    for (const item of items) encodeType(item, out, stack);
  } else if (s.kind === "struct") {
    out.push(STRUCT);
    encodeFields(s.fields, out, stack);
  } else {
    const variants = s.variants;
    out.push(ENUM);
    varint(variants.length, out);
    for (const v of variants) {
      name(v.name, out);
      switch (v.shape) {
        case "unit":
          out.push(0x00);
          break;
        case "newtype":
          out.push(0x01);
          encodeType(v.schema, out, stack);
          break;
        case "tuple":
          if (v.items.length === 1) {
            out.push(0x01); // a one-field tuple variant is a newtype variant
            encodeType(v.items[0]!, out, stack);
          } else {
            out.push(0x02);
            varint(v.items.length, out);
            v.items.forEach((item, i) => {
              name(String(i), out);
              encodeType(item, out, stack);
            });
          }
          break;
        case "struct":
          out.push(0x02);
          encodeFields(v.fields, out, stack);
          break;
      }
    }
  }
  stack.pop();
}

function encodeFields(
  fields: readonly FieldSchema[],
  out: number[],
  stack: Schema<unknown>[],
): void {
  varint(fields.length, out);
  for (const f of fields) {
    name(f.name, out);
    encodeType(f.schema, out, stack);
  }
}
