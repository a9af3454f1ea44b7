/**
 * The postcard codec on its own: schema builders, `encode`, `decode` and
 * `DecodeError`, byte-compatible with the Rust `postcard` format as roam v7
 * uses it.
 *
 * This entry point knows nothing of channels: its `t` has every postcard
 * type but `t.tx` and `t.rx`, and it exports neither `Tx` nor `Rx`. For
 * channel ends in a method's arguments, use `t` from `@roam/roam`, which
 * is this `t` plus `t.tx` and `t.rx` (their nodes are the generic
 * `ChannelEndSchema`, which encodes as zero bytes).
 *
 * @example Round-tripping a value
 * ```ts
 * import { decode, encode, t } from "@roam/roam/postcard";
 *
 * const Person = t.struct({ name: t.string, age: t.u32, email: t.option(t.string) });
 * const bytes = encode(Person, { name: "Ada", age: 36 });
 * const ada = decode(Person, bytes); // { name: "Ada", age: 36, email: undefined }
 * ```
 *
 * @module
 */

export { decode, encode } from "./lib/postcard/codec.ts";
export type { DecodeOptions, EncodeOptions } from "./lib/postcard/codec.ts";
export { DecodeError } from "./lib/postcard/errors.ts";
export { t } from "./lib/postcard/builders.ts";
export type { CodecSchemaBuilders } from "./lib/postcard/builders.ts";
export { isSchema } from "./lib/postcard/schema.ts";
export type {
  ArraySchema,
  ChannelEndSchema,
  EnumSchema,
  EnumValue,
  Fields,
  FieldSchema,
  Infer,
  LazySchema,
  ListSchema,
  MapSchema,
  OptionalKeys,
  OptionSchema,
  ScalarKind,
  ScalarSchema,
  Schema,
  SchemaKind,
  SetSchema,
  Simplify,
  StructSchema,
  StructValue,
  TupleSchema,
  TupleValue,
  UnitSchema,
  VariantSchema,
  VariantSpec,
  VariantValue,
} from "./lib/postcard/schema.ts";
