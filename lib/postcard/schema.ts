/**
 * Schema types: a schema built with the `t.*` builders (`builders.ts`)
 * describes a postcard type exactly as the Rust runtime lays it out, and
 * `Infer<typeof schema>` gives the matching TypeScript value type.
 *
 * The public {@linkcode Schema} type is what users annotate with; code that
 * walks a schema turns it into an {@linkcode AnySchema}, the union of every
 * node type discriminated by `kind`, with {@linkcode schemaNode} or
 * {@linkcode resolveSchema}, and narrows it with `switch (node.kind)`.
 *
 * The channel kinds `tx` and `rx` are generic here
 * ({@linkcode ChannelEndSchema}): the codec writes nothing for them and
 * hands them to the hooks of the layer that owns channels
 * (`lib/channel/schema.ts` builds them).
 *
 * @module
 */

/** Key of the brand that marks an object as a schema node. */
export const SCHEMA_BRAND = "~roam";

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
 * Build schemas with the `t` builders; read the value type with
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
 * A channel end in a value: `kind` `"tx"` or `"rx"`, zero bytes on the
 * wire. The codec knows nothing of channels: it calls the encode and
 * decode hooks of the layer that builds these nodes, and the value type
 * `End` is that layer's (`Tx<T>` or `Rx<T>` for `t.tx` and `t.rx` of
 * `@roam/roam`).
 */
export interface ChannelEndSchema<T, D extends "tx" | "rx", End> extends Schema<End> {
  /** `"tx"`: the handler sends; `"rx"`: the handler receives. */
  readonly kind: D;
  /** The item schema. */
  readonly item: Schema<T>;
  /**
   * Items the sender may send before the receiver grants more credit.
   * Kept for the channel layer; the codec ignores it.
   */
  readonly credit: number;
}

/** A channel end of either direction, as a schema walker sees it. */
export type AnyChannelSchema = ChannelEndSchema<unknown, "tx" | "rx", unknown>;

/**
 * Every schema node, discriminated by `kind`: what a schema walker
 * switches on. Get one from a {@linkcode Schema} with
 * {@linkcode schemaNode} (or {@linkcode resolveSchema}, which also follows
 * `t.lazy`).
 */
export type AnySchema =
  | ScalarSchema<unknown>
  | OptionSchema<unknown>
  | ListSchema<unknown>
  | ArraySchema<unknown>
  | MapSchema<unknown, unknown>
  | SetSchema<unknown>
  | TupleSchema<unknown>
  | StructSchema<unknown>
  | EnumSchema<unknown>
  | LazySchema<unknown>
  | AnyChannelSchema;

/** A schema node other than `t.lazy`: what {@linkcode resolveSchema} returns. */
export type ResolvedSchema = Exclude<AnySchema, LazySchema<unknown>>;

/** Every schema kind, checked against {@linkcode SchemaKind} by the compiler. */
const KINDS: Readonly<Record<SchemaKind, true>> = {
  bool: true,
  u8: true,
  u16: true,
  u32: true,
  u64: true,
  u128: true,
  i8: true,
  i16: true,
  i32: true,
  i64: true,
  i128: true,
  f32: true,
  f64: true,
  char: true,
  string: true,
  bytes: true,
  unit: true,
  option: true,
  list: true,
  array: true,
  map: true,
  set: true,
  tuple: true,
  struct: true,
  enum: true,
  lazy: true,
  tx: true,
  rx: true,
};

/**
 * Returns true when `value` is a schema built by `t`.
 *
 * @param value Anything.
 * @returns Whether it carries the brand of the `t` builders.
 *
 * @example Telling a schema from a plain object
 * ```ts
 * import { isSchema, t } from "@roam/roam/postcard";
 *
 * isSchema(t.u32); // true
 * isSchema({ kind: "u32" }); // false
 * ```
 */
export function isSchema(value: unknown): value is Schema<unknown> {
  return typeof value === "object" && value !== null && SCHEMA_BRAND in value;
}

/** True when `schema` has one of the known kinds, so it is one of the {@linkcode AnySchema} nodes. */
function isNode(schema: Schema<unknown>): schema is AnySchema {
  return Object.hasOwn(KINDS, schema.kind);
}

/**
 * Returns `schema` as the node of its kind, for a walker to narrow with
 * `switch (node.kind)`. A `t.lazy` node stays lazy (see
 * {@linkcode resolveSchema}).
 *
 * @param schema A schema.
 * @returns The same object, typed as the union of every node.
 * @throws {TypeError} For an object whose kind is none of the schema kinds.
 */
export function schemaNode(schema: Schema<unknown>): AnySchema {
  if (!isNode(schema)) {
    throw new TypeError(`Cannot read a schema: unknown kind ${JSON.stringify(schema.kind)}`);
  }
  return schema;
}

/**
 * Returns `value` when it is a schema built with `t.*`.
 *
 * @param value What a builder was given.
 * @param where The builder, for the message (e.g. `t.list`).
 * @returns `value`, typed as a schema.
 * @throws {TypeError} "Cannot build <where>: expected a schema built with t.*, got …"
 */
export function requireSchema(value: unknown, where: string): Schema<unknown> {
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

/**
 * Follows `t.lazy` references to the real schema and returns it as the
 * node of its kind.
 *
 * @param schema A schema, lazy or not.
 * @returns The first schema along the `t.lazy` chain that is not lazy.
 * @throws {TypeError} When a lazy schema resolves to something other than
 * a schema, or only to lazy schemas.
 */
export function resolveSchema(schema: Schema<unknown>): ResolvedSchema {
  let s = schemaNode(schema);
  for (let hops = 0; s.kind === "lazy"; hops++) {
    if (hops > 64) throw new TypeError("Cannot resolve t.lazy: it refers only to itself");
    s = schemaNode(requireSchema(s.resolve(), "t.lazy result"));
  }
  return s;
}
