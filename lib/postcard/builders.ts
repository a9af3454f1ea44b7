/**
 * The codec's schema builders `t.*`: each returns a frozen, branded schema
 * node (see `schema.ts` for the types). The channel kinds are built by
 * the channel layer through {@linkcode channelEnd}.
 *
 * @module
 */

import {
  type ArraySchema,
  type ChannelEndSchema,
  type EnumSchema,
  type EnumValue,
  type Fields,
  type FieldSchema,
  isSchema,
  type LazySchema,
  type ListSchema,
  type MapSchema,
  type OptionSchema,
  requireSchema,
  type ScalarKind,
  type ScalarSchema,
  type Schema,
  SCHEMA_BRAND,
  type SetSchema,
  type StructSchema,
  type StructValue,
  type TupleSchema,
  type TupleValue,
  type UnitSchema,
  type VariantSchema,
  type VariantSpec,
} from "./schema.ts";

function node<S extends Schema<unknown>>(fields: Omit<S, "~roam">): S {
  return Object.freeze({ ...fields, [SCHEMA_BRAND]: true as const }) as S;
}

function scalar<T, K extends ScalarKind>(kind: K): ScalarSchema<T> & { readonly kind: K } {
  return node<ScalarSchema<T> & { readonly kind: K }>({ kind } as Omit<
    ScalarSchema<T> & { readonly kind: K },
    "~roam"
  >);
}

const IDENT = /^[\p{L}_][\p{L}\p{N}_]*$/u;

function fieldList(fields: Fields, where: string): FieldSchema[] {
  if (typeof fields !== "object" || fields === null || isSchema(fields) || Array.isArray(fields)) {
    throw new TypeError(`Cannot build ${where}: expected an object of field schemas`);
  }
  const out: FieldSchema[] = [];
  for (const name of Object.keys(fields)) {
    if (!IDENT.test(name)) {
      // Integer-like keys would be reordered by JavaScript; Rust field names
      // are identifiers anyway.
      throw new TypeError(`Cannot build ${where}: field name "${name}" is not an identifier`);
    }
    out.push({ name, schema: requireSchema(fields[name], `${where} field "${name}"`) });
  }
  return out;
}

/** A unit enum variant or the `()` type. */
const unit: UnitSchema = scalar<undefined, "unit">("unit") as UnitSchema;

/**
 * The type of the codec's {@linkcode t} schema builders; `@roam/roam` adds
 * `t.tx` and `t.rx` to them.
 */
export interface CodecSchemaBuilders {
  /** `bool`: one byte, 0 or 1. */
  readonly bool: ScalarSchema<boolean>;
  /** `u8`: one raw byte. */
  readonly u8: ScalarSchema<number>;
  /** `u16`: varint. */
  readonly u16: ScalarSchema<number>;
  /** `u32`: varint. */
  readonly u32: ScalarSchema<number>;
  /** `u64`: varint, as a `bigint`. */
  readonly u64: ScalarSchema<bigint>;
  /** `u128`: varint, as a `bigint`. */
  readonly u128: ScalarSchema<bigint>;
  /** `i8`: one raw two's-complement byte. */
  readonly i8: ScalarSchema<number>;
  /** `i16`: zigzag varint. */
  readonly i16: ScalarSchema<number>;
  /** `i32`: zigzag varint. */
  readonly i32: ScalarSchema<number>;
  /** `i64`: zigzag varint, as a `bigint`. */
  readonly i64: ScalarSchema<bigint>;
  /** `i128`: zigzag varint, as a `bigint`. */
  readonly i128: ScalarSchema<bigint>;
  /** `f32`: 4 bytes little-endian. */
  readonly f32: ScalarSchema<number>;
  /** `f64`: 8 bytes little-endian. */
  readonly f64: ScalarSchema<number>;
  /** `char`: one Unicode scalar value, encoded like a string. */
  readonly char: ScalarSchema<string>;
  /** `String`: varint byte length, then UTF-8. */
  readonly string: ScalarSchema<string>;
  /** `Vec<u8>`: varint length, then the raw bytes, as a `Uint8Array`. */
  readonly bytes: ScalarSchema<Uint8Array>;
  /** `()` and unit structs: zero bytes; also marks a unit enum variant. */
  readonly unit: UnitSchema;
  /** `Option<T>`: a tag byte, then the value when present. None is `undefined` (encoding also accepts `null`). */
  option<T>(inner: Schema<T>): OptionSchema<T>;
  /** `Vec<T>`: a varint element count, then the elements. */
  list<T>(item: Schema<T>): ListSchema<T>;
  /** `[T; length]`: exactly `length` elements, no count. */
  array<T>(item: Schema<T>, length: number): ArraySchema<T>;
  /** A map (`HashMap`/`BTreeMap`): a varint entry count, then key, value pairs. */
  map<K, V>(key: Schema<K>, value: Schema<V>): MapSchema<K, V>;
  /** A set (`HashSet`/`BTreeSet`): a varint element count, then the elements. */
  set<T>(item: Schema<T>): SetSchema<T>;
  /** A tuple or Rust tuple struct: the elements back to back. `t.tuple()` is `()`. */
  tuple<const A extends readonly Schema<unknown>[]>(...items: A): TupleSchema<TupleValue<A>>;
  /** A named struct: the fields back to back, in the order written. Option fields may be omitted from values. */
  struct<const F extends Fields>(fields: F): StructSchema<StructValue<F>>;
  /**
   * An enum. Each variant is `t.unit` (unit variant), a schema (newtype
   * variant), an array of schemas (tuple variant) or an object of field
   * schemas (struct variant). Values are `{ tag }` or `{ tag, value }`.
   */
  enum<const V extends { readonly [name: string]: VariantSpec }>(
    variants: V,
  ): EnumSchema<EnumValue<V>>;
  /** A schema resolved on first use, for recursive types. */
  lazy<T>(resolve: () => Schema<T>): LazySchema<T>;
}

/**
 * The codec's schema builders: every postcard type but the channel ends
 * (`t.tx` and `t.rx` are in the `t` of `@roam/roam`, which adds them to
 * these).
 *
 * Integers up to 32 bits and floats are `number`; 64- and 128-bit integers
 * are `bigint`; `bytes` is a `Uint8Array`; `char` is a string of exactly one
 * code point. Struct field names and enum variant names are part of a
 * method's id, so a schema that mirrors a Rust type must use the Rust names
 * (for example `snake_case` field names).
 *
 * @example Describing a Rust struct and enum
 * ```ts
 * import { decode, encode, t } from "@roam/roam/postcard";
 *
 * const Shape = t.enum({
 *   Empty: t.unit,
 *   Circle: t.f64,
 *   Rect: { width: t.f64, height: t.f64 },
 * });
 * const bytes = encode(Shape, { tag: "Circle", value: 1.5 });
 * const back = decode(Shape, bytes);
 * ```
 */
export const t: CodecSchemaBuilders = {
  /** `bool`: one byte, 0 or 1. */
  bool: scalar<boolean, "bool">("bool"),
  /** `u8`: one raw byte. */
  u8: scalar<number, "u8">("u8"),
  /** `u16`: varint. */
  u16: scalar<number, "u16">("u16"),
  /** `u32`: varint. */
  u32: scalar<number, "u32">("u32"),
  /** `u64`: varint, as a `bigint`. */
  u64: scalar<bigint, "u64">("u64"),
  /** `u128`: varint, as a `bigint`. */
  u128: scalar<bigint, "u128">("u128"),
  /** `i8`: one raw two's-complement byte. */
  i8: scalar<number, "i8">("i8"),
  /** `i16`: zigzag varint. */
  i16: scalar<number, "i16">("i16"),
  /** `i32`: zigzag varint. */
  i32: scalar<number, "i32">("i32"),
  /** `i64`: zigzag varint, as a `bigint`. */
  i64: scalar<bigint, "i64">("i64"),
  /** `i128`: zigzag varint, as a `bigint`. */
  i128: scalar<bigint, "i128">("i128"),
  /** `f32`: 4 bytes little-endian. */
  f32: scalar<number, "f32">("f32"),
  /** `f64`: 8 bytes little-endian. */
  f64: scalar<number, "f64">("f64"),
  /** `char`: one Unicode scalar value, encoded like a string. */
  char: scalar<string, "char">("char"),
  /** `String`: varint byte length, then UTF-8. */
  string: scalar<string, "string">("string"),
  /** `Vec<u8>`: varint length, then the raw bytes, as a `Uint8Array`. */
  bytes: scalar<Uint8Array, "bytes">("bytes"),
  /** `()` and unit structs: zero bytes; also marks a unit enum variant. */
  unit,

  /**
   * `Option<T>`: a tag byte, then the value when present. None is
   * `undefined` (encoding also accepts `null`).
   */
  option<T>(inner: Schema<T>): OptionSchema<T> {
    return node<OptionSchema<T>>({
      kind: "option",
      inner: requireSchema(inner, "t.option") as Schema<T>,
    });
  },

  /** `Vec<T>`: a varint element count, then the elements. */
  list<T>(item: Schema<T>): ListSchema<T> {
    return node<ListSchema<T>>({ kind: "list", item: requireSchema(item, "t.list") as Schema<T> });
  },

  /** `[T; length]`: exactly `length` elements, no count. */
  array<T>(item: Schema<T>, length: number): ArraySchema<T> {
    if (!Number.isSafeInteger(length) || length < 0) {
      throw new RangeError(
        `Cannot build t.array: length must be a non-negative integer, got ${length}`,
      );
    }
    return node<ArraySchema<T>>({
      kind: "array",
      item: requireSchema(item, "t.array") as Schema<T>,
      length,
    });
  },

  /** A map (`HashMap`/`BTreeMap`): a varint entry count, then key, value pairs. */
  map<K, V>(key: Schema<K>, value: Schema<V>): MapSchema<K, V> {
    return node<MapSchema<K, V>>({
      kind: "map",
      key: requireSchema(key, "t.map key") as Schema<K>,
      value: requireSchema(value, "t.map value") as Schema<V>,
    });
  },

  /** A set (`HashSet`/`BTreeSet`): a varint element count, then the elements. */
  set<T>(item: Schema<T>): SetSchema<T> {
    return node<SetSchema<T>>({ kind: "set", item: requireSchema(item, "t.set") as Schema<T> });
  },

  /** A tuple or Rust tuple struct: the elements back to back. `t.tuple()` is `()`. */
  tuple<const A extends readonly Schema<unknown>[]>(...items: A): TupleSchema<TupleValue<A>> {
    items.forEach((s, i) => requireSchema(s, `t.tuple element ${i}`));
    return node<TupleSchema<TupleValue<A>>>({ kind: "tuple", items: Object.freeze([...items]) });
  },

  /**
   * A named struct: the fields back to back, in the order written. Option
   * fields may be omitted from values.
   */
  struct<const F extends Fields>(fields: F): StructSchema<StructValue<F>> {
    return node<StructSchema<StructValue<F>>>({
      kind: "struct",
      fields: Object.freeze(fieldList(fields, "t.struct")),
    });
  },

  /**
   * An enum. Each variant is `t.unit` (unit variant), a schema (newtype
   * variant), an array of schemas (tuple variant) or an object of field
   * schemas (struct variant). Values are `{ tag }` or `{ tag, value }`.
   */
  enum<const V extends { readonly [name: string]: VariantSpec }>(
    variants: V,
  ): EnumSchema<EnumValue<V>> {
    if (typeof variants !== "object" || variants === null || isSchema(variants)) {
      throw new TypeError("Cannot build t.enum: expected an object of variants");
    }
    const list: VariantSchema[] = [];
    for (const name of Object.keys(variants)) {
      if (!IDENT.test(name)) {
        throw new TypeError(`Cannot build t.enum: variant name "${name}" is not an identifier`);
      }
      const spec = variants[name];
      const where = `t.enum variant "${name}"`;
      if (spec === unit) list.push({ name, shape: "unit" });
      else if (isSchema(spec)) list.push({ name, shape: "newtype", schema: spec });
      else if (Array.isArray(spec)) {
        // A one-element tuple variant is a Rust newtype variant on the wire
        // and in the method id; its value stays a one-element array.
        spec.forEach((s, i) => requireSchema(s, `${where} element ${i}`));
        list.push({ name, shape: "tuple", items: Object.freeze([...spec]) });
      } else {
        list.push({
          name,
          shape: "struct",
          fields: Object.freeze(fieldList(spec as Fields, where)),
        });
      }
    }
    if (list.length === 0) {
      throw new TypeError("Cannot build t.enum: an enum needs at least one variant");
    }
    return node<EnumSchema<EnumValue<V>>>({ kind: "enum", variants: Object.freeze(list) });
  },

  /**
   * A schema resolved on first use, for recursive types. Give the constant
   * an explicit type, since TypeScript cannot infer a self-referencing one.
   *
   * @example A linked list node
   * ```ts
   * import { type Schema, t } from "@roam/roam";
   *
   * interface Node { value: number; next?: Node | undefined }
   * const Node: Schema<Node> = t.struct({
   *   value: t.i32,
   *   next: t.option(t.lazy(() => Node)),
   * });
   * ```
   */
  lazy<T>(resolve: () => Schema<T>): LazySchema<T> {
    if (typeof resolve !== "function") {
      throw new TypeError("Cannot build t.lazy: expected a function returning a schema");
    }
    return node<LazySchema<T>>({ kind: "lazy", resolve });
  },
};

/**
 * Builds a channel end node of kind `kind` whose value type is `End`: the
 * codec encodes it as zero bytes and hands it to the channel hooks. For
 * the channel layer's `t.tx` and `t.rx`, which check `item` (with
 * `requireSchema`) and `credit` before calling it.
 *
 * @param kind `"tx"` or `"rx"`.
 * @param item The schema of the channel's items.
 * @param credit The initial credit, already checked by the caller.
 * @returns The frozen, branded node.
 */
export function channelEnd<T, D extends "tx" | "rx", End>(
  kind: D,
  item: Schema<T>,
  credit: number,
): ChannelEndSchema<T, D, End> {
  return node<ChannelEndSchema<T, D, End>>({ kind, item, credit });
}
