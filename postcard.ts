/**
 * The postcard codec on its own: schema builders, `encode`, `decode` and
 * `DecodeError`, byte-compatible with the Rust `postcard` format as roam v7
 * uses it.
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
export { isSchema, t } from "./lib/postcard/schema.ts";
export type * from "./lib/postcard/schema.ts";
export type { Rx, Tx } from "./lib/channel/channel.ts";
