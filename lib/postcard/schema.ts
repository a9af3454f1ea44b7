/**
 * Schema builders: a TypeScript value built with `t.*` describes a postcard
 * type exactly as the Rust runtime lays it out, and `Infer<typeof schema>`
 * gives the matching TypeScript value type.
 *
 * @module
 */

import type { Rx, Tx } from "../channel/channel.ts";

/** Key of the brand that marks an object as a schema node. */
const SCHEMA = "~roam";

/** The kinds of scalar a schema can describe. */
export type ScalarKind =
  | "bool"
  | "u8"
  | "u16"
  | "u32"
  | "u64"
  | "u128"
  | "i8"
  | "i16"
  | "i32"
  | "i64"
  | "i128"
  | "f32"
  | "f64"
  | "char"
  | "string"
  | "bytes"
  | "unit";

/** Every schema kind. */
export type SchemaKind =
  | ScalarKind
  | "option"
  | "list"
  | "array"
  | "map"
  | "set"
  | "tuple"
  | "struct"
  | "enum"
  | "lazy"
  | "tx"
  | "rx";

/**
 * A postcard type description whose values have the TypeScript type `T`.
 *
 * Build schemas with the {@linkcode t} builders; read the value type with
 * {@linkcode Infer}.
 */
export interface Schema<T = unknown> {
  /** Which kind of type this is. */
  readonly kind: SchemaKind;
  /** Brand set by the builders. */
  readonly "~roam": true;
  /** Phantom: the value type. Never present at run time. */
  readonly "~value"?: T;
}

/**
 * The TypeScript value type of a schema.
 *
 * @example Reading a struct's value type
 * ```ts
 * import { type Infer, t } from "@roam/roam";
 *
 * const Point = t.struct({ x: t.i32, y: t.i32 });
 * const p: Infer<typeof Point> = { x: 1, y: 2 };
 * ```
 */
export type Infer<S> = S extends Schema<infer T> ? T : never;

/** A scalar schema. */
export interface ScalarSchema<T> extends Schema<T> {
  /** The scalar kind. */
  readonly kind: ScalarKind;
}

/** The unit type `()`: zero bytes on the wire. */
export interface UnitSchema extends ScalarSchema<undefined> {
  /** Always `"unit"`. */
  readonly kind: "unit";
}

/** `Option<T>`: `undefined` is None. */
export interface OptionSchema<T> extends Schema<T | undefined> {
  /** Always `"option"`. */
  readonly kind: "option";
  /** The schema of the present value. */
  readonly inner: Schema<T>;
}

/** `Vec<T>`: a JavaScript array. */
export interface ListSchema<T> extends Schema<T[]> {
  /** Always `"list"`. */
  readonly kind: "list";
  /** The element schema. */
  readonly item: Schema<T>;
}

/** `[T; N]`: an array of exactly `length` elements, no count on the wire. */
export interface ArraySchema<T> extends Schema<T[]> {
  /** Always `"array"`. */
  readonly kind: "array";
  /** The element schema. */
  readonly item: Schema<T>;
  /** The fixed element count. */
  readonly length: number;
}

/** A map: a JavaScript `Map`. */
export interface MapSchema<K, V> extends Schema<Map<K, V>> {
  /** Always `"map"`. */
  readonly kind: "map";
  /** The key schema. */
  readonly key: Schema<K>;
  /** The value schema. */
  readonly value: Schema<V>;
}

/** A set: a JavaScript `Set`. */
export interface SetSchema<T> extends Schema<Set<T>> {
  /** Always `"set"`. */
  readonly kind: "set";
  /** The element schema. */
  readonly item: Schema<T>;
}

/** The value type of a tuple of schemas. */
export type TupleValue<A extends readonly Schema<unknown>[]> = {
  -readonly [I in keyof A]: Infer<A[I]>;
};

/** A tuple (or a Rust tuple struct): elements back to back. */
export interface TupleSchema<T> extends Schema<T> {
  /** Always `"tuple"`. */
  readonly kind: "tuple";
  /** The element schemas, in order. */
  readonly items: readonly Schema<unknown>[];
}

/** Named struct fields, in declaration order. */
export type Fields = { readonly [name: string]: Schema<unknown> };

/** Flattens an intersection into one object type (for readable hovers). */
export type Simplify<T> = { [K in keyof T]: T[K] } & unknown;

/** The keys of `F` whose schemas are options. */
export type OptionalKeys<F extends Fields> = {
  [K in keyof F]: F[K] extends OptionSchema<unknown> ? K : never;
}[keyof F];

/** The value type of a struct with fields `F`: option fields may be omitted. */
export type StructValue<F extends Fields> = Simplify<
  & { -readonly [K in Exclude<keyof F, OptionalKeys<F>>]: Infer<F[K]> }
  & { -readonly [K in OptionalKeys<F>]?: Infer<F[K]> }
>;

/** A named struct: fields back to back in declaration order. */
export interface StructSchema<T> extends Schema<T> {
  /** Always `"struct"`. */
  readonly kind: "struct";
  /** The fields, in declaration order. */
  readonly fields: readonly FieldSchema[];
}

/** One named field of a struct or struct variant. */
export interface FieldSchema {
  /** The field name, as the Rust type spells it. */
  readonly name: string;
  /** The field's schema. */
  readonly schema: Schema<unknown>;
}

/**
 * How an enum variant carries data: `t.unit` for a unit variant, a schema
 * for a newtype variant, an array of schemas for a tuple variant, or an
 * object of field schemas for a struct variant.
 */
export type VariantSpec = Schema<unknown> | readonly Schema<unknown>[] | Fields;

/** The value type of one enum variant `K` declared as `S`. */
export type VariantValue<K extends string, S> = S extends UnitSchema ? { tag: K }
  : S extends Schema<infer T> ? { tag: K; value: T }
  : S extends readonly Schema<unknown>[] ? { tag: K; value: TupleValue<S> }
  : S extends Fields ? { tag: K; value: StructValue<S> }
  : never;

/** The value type of an enum with variants `V`. */
export type EnumValue<V extends { readonly [name: string]: VariantSpec }> = {
  [K in keyof V & string]: VariantValue<K, V[K]>;
}[keyof V & string];

/** One variant of an enum schema. */
export type VariantSchema =
  | { readonly name: string; readonly shape: "unit" }
  | { readonly name: string; readonly shape: "newtype"; readonly schema: Schema<unknown> }
  | { readonly name: string; readonly shape: "tuple"; readonly items: readonly Schema<unknown>[] }
  | { readonly name: string; readonly shape: "struct"; readonly fields: readonly FieldSchema[] };

/** An enum: varint variant index, then the variant's payload. */
export interface EnumSchema<T> extends Schema<T> {
  /** Always `"enum"`. */
  readonly kind: "enum";
  /** The variants, in declaration order (the order is the wire index). */
  readonly variants: readonly VariantSchema[];
}

/** A deferred schema, for recursive types. */
export interface LazySchema<T> extends Schema<T> {
  /** Always `"lazy"`. */
  readonly kind: "lazy";
  /** Returns the real schema; called once, on first use. */
  readonly resolve: () => Schema<T>;
}

/**
 * A channel end carried in a method's arguments. It encodes as zero bytes;
 * the channel id travels in the call's channel list. Its value is a
 * {@linkcode Tx} for `t.tx` and an {@linkcode Rx} for `t.rx`, on both the
 * calling and the handling side.
 */
export interface ChannelSchema<T, D extends "tx" | "rx">
  extends Schema<D extends "tx" ? Tx<T> : Rx<T>> {
  /** `"tx"`: the handler sends; `"rx"`: the handler receives. */
  readonly kind: D;
  /** The item schema. */
  readonly item: Schema<T>;
  /** Items the sender may send before the receiver grants more credit. */
  readonly credit: number;
}

/** Options for a channel schema. */
export interface ChannelOptions {
  /** Initial credit, 1 to 2^32-1 items (default 16). Not part of the method id. */
  readonly credit?: number;
}

/** Default initial credit of a channel, as in the Rust runtime. */
export const DEFAULT_CHANNEL_CREDIT = 16;

/** Returns true when `value` is a schema built by `t`. */
export function isSchema(value: unknown): value is Schema<unknown> {
  return typeof value === "object" && value !== null && SCHEMA in value;
}

function node<S extends Schema<unknown>>(fields: Omit<S, "~roam">): S {
  return Object.freeze({ ...fields, [SCHEMA]: true }) as unknown as S;
}

function scalar<T, K extends ScalarKind>(kind: K): ScalarSchema<T> & { readonly kind: K } {
  return node<ScalarSchema<T> & { readonly kind: K }>({ kind } as Omit<
    ScalarSchema<T> & { readonly kind: K },
    "~roam"
  >);
}

function requireSchema(value: unknown, where: string): Schema<unknown> {
  if (!isSchema(value)) {
    throw new TypeError(
      `Cannot build ${where}: expected a schema built with t.*, got ${describe(value)}`,
    );
  }
  return value;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : typeof value;
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

function checkCredit(options: ChannelOptions | undefined, where: string): number {
  const credit = options?.credit ?? DEFAULT_CHANNEL_CREDIT;
  if (!Number.isInteger(credit) || credit < 1 || credit > 0xffff_ffff) {
    throw new RangeError(
      `Cannot build ${where}: credit must be an integer from 1 to 4294967295, got ${credit}`,
    );
  }
  return credit;
}

/** A unit enum variant or the `()` type. */
const unit: UnitSchema = scalar<undefined, "unit">("unit") as UnitSchema;

/** The type of the {@linkcode t} schema builders. */
export interface SchemaBuilders {
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
  /** `Tx<T>` in a method's arguments: the handler sends items of `T` to the caller. Encodes as zero bytes. */
  tx<T>(item: Schema<T>, options?: ChannelOptions): ChannelSchema<T, "tx">;
  /** `Rx<T>` in a method's arguments: the handler receives items of `T` from the caller. Encodes as zero bytes. */
  rx<T>(item: Schema<T>, options?: ChannelOptions): ChannelSchema<T, "rx">;
}

/**
 * The schema builders.
 *
 * Integers up to 32 bits and floats are `number`; 64- and 128-bit integers
 * are `bigint`; `bytes` is a `Uint8Array`; `char` is a string of exactly one
 * code point. Struct field names and enum variant names are part of a
 * method's id, so a schema that mirrors a Rust type must use the Rust names
 * (for example `snake_case` field names).
 *
 * @example Describing a Rust struct and enum
 * ```ts
 * import { decode, encode, t } from "@roam/roam";
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
export const t: SchemaBuilders = {
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

  /**
   * `Tx<T>` in a method's arguments: the handler sends items of `T` to the
   * caller. Encodes as zero bytes.
   */
  tx<T>(item: Schema<T>, options?: ChannelOptions): ChannelSchema<T, "tx"> {
    return node<ChannelSchema<T, "tx">>({
      kind: "tx",
      item: requireSchema(item, "t.tx") as Schema<T>,
      credit: checkCredit(options, "t.tx"),
    });
  },

  /**
   * `Rx<T>` in a method's arguments: the handler receives items of `T` from
   * the caller. Encodes as zero bytes.
   */
  rx<T>(item: Schema<T>, options?: ChannelOptions): ChannelSchema<T, "rx"> {
    return node<ChannelSchema<T, "rx">>({
      kind: "rx",
      item: requireSchema(item, "t.rx") as Schema<T>,
      credit: checkCredit(options, "t.rx"),
    });
  },
};

/** Follows `t.lazy` references to the real schema. */
export function resolveSchema(schema: Schema<unknown>): Schema<unknown> {
  let s = schema;
  for (let hops = 0; s.kind === "lazy"; hops++) {
    if (hops > 64) throw new TypeError("Cannot resolve t.lazy: it refers only to itself");
    s = requireSchema((s as LazySchema<unknown>).resolve(), "t.lazy result");
  }
  return s;
}
