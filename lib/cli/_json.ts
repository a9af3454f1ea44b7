/**
 * Values of a schema as JSON, both ways: for `--json`, and for the results
 * and arguments of `roam call`.
 *
 * Conventions: 64- and 128-bit integers are strings (numbers up to 2^53
 * are read too), `bytes` are hex strings (arrays of numbers are read too),
 * `()` and `None` are `null`, enums are `{ "tag", "value" }` (a unit
 * variant may be read from its bare tag), maps are objects when their keys
 * are strings and arrays of `[key, value]` pairs otherwise (objects are
 * read for any key that has a text form), sets are arrays, channels are
 * `{ "tx": id }` / `{ "rx": id }` when shown and `null` when read.
 *
 * @module
 */

import type {
  ChannelEndSchema,
  EnumSchema,
  ListSchema,
  MapSchema,
  OptionSchema,
  Schema,
  SetSchema,
  StructSchema,
  TupleSchema,
  VariantSchema,
} from "../../postcard.ts";
import { channelId, type ChannelIds, type ChannelSlot, hex, resolve } from "./_walk.ts";

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function isWide(kind: string): boolean {
  return kind === "u64" || kind === "i64" || kind === "u128" || kind === "i128";
}

function isStringKey(schema: Schema<unknown>): boolean {
  const k = resolve(schema).kind;
  return k === "string" || k === "char";
}

function floatJson(n: number): Json {
  return Number.isFinite(n) ? n : String(n); // "NaN", "Infinity", "-Infinity"
}

/**
 * A decoded value as JSON.
 *
 * @param schema The value's schema.
 * @param value The value.
 * @param ids Channel ids to show at channel positions (`{ "tx": id }`).
 * @returns The JSON value.
 */
export function toJson(schema: Schema<unknown>, value: unknown, ids?: ChannelIds): Json {
  const s = resolve(schema);
  switch (s.kind) {
    case "bool":
      return value as boolean;
    case "f32":
    case "f64":
      return floatJson(value as number);
    case "u8":
    case "u16":
    case "u32":
    case "i8":
    case "i16":
    case "i32":
      return value as number;
    case "u64":
    case "i64":
    case "u128":
    case "i128":
      return String(value);
    case "char":
    case "string":
      return value as string;
    case "bytes":
      return hex(value as Uint8Array);
    case "unit":
      return null;
    case "option":
      return value === undefined ? null : toJson((s as OptionSchema<unknown>).inner, value, ids);
    case "list":
    case "array":
      return (value as unknown[]).map((x) => toJson((s as ListSchema<unknown>).item, x, ids));
    case "set":
      return [...(value as Set<unknown>)].map((x) => toJson((s as SetSchema<unknown>).item, x));
    case "map": {
      const m = s as MapSchema<unknown, unknown>;
      const entries = [...(value as Map<unknown, unknown>)];
      if (isStringKey(m.key)) {
        const o: { [key: string]: Json } = Object.create(null);
        for (const [k, v] of entries) o[k as string] = toJson(m.value, v);
        return o;
      }
      return entries.map(([k, v]) => [toJson(m.key, k), toJson(m.value, v)]);
    }
    case "tuple": {
      const items = (s as TupleSchema<unknown>).items;
      return items.map((item, i) => toJson(item, (value as unknown[])[i], ids));
    }
    case "struct": {
      const o: { [key: string]: Json } = Object.create(null);
      const v = value as Record<string, unknown>;
      for (const f of (s as StructSchema<unknown>).fields) {
        o[f.name] = toJson(f.schema, v[f.name], ids);
      }
      return o;
    }
    case "enum": {
      const v = value as { tag: string; value?: unknown };
      const variant = (s as EnumSchema<unknown>).variants.find((x) => x.name === v.tag);
      if (variant === undefined || variant.shape === "unit") return { tag: v.tag };
      return { tag: v.tag, value: variantJson(variant, v.value, ids) };
    }
    case "tx":
    case "rx":
      return { [s.kind]: channelId(ids) };
  }
  return null;
}

function variantJson(variant: VariantSchema, value: unknown, ids: ChannelIds | undefined): Json {
  if (variant.shape === "newtype") return toJson(variant.schema, value, ids);
  if (variant.shape === "tuple") {
    return variant.items.map((item, i) => toJson(item, (value as unknown[])[i], ids));
  }
  if (variant.shape === "struct") {
    const o: { [key: string]: Json } = Object.create(null);
    const v = value as Record<string, unknown>;
    for (const f of variant.fields) o[f.name] = toJson(f.schema, v[f.name], ids);
    return o;
  }
  return null;
}

/** A JSON argument that does not fit its schema. */
export class ValueError extends TypeError {
  /**
   * @param path Where in the arguments, e.g. `args[0].x`.
   * @param message What is wrong.
   */
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = "ValueError";
  }
}

function kindOf(json: unknown): string {
  if (json === null) return "null";
  if (Array.isArray(json)) return "an array";
  if (typeof json === "object") return "an object";
  return `${typeof json} ${JSON.stringify(json)}`;
}

const INT = /^-?[0-9]+$/;
const HEX_INT = /^0x[0-9a-f]+$/i;

function bigintOf(json: unknown, path: string, kind: string): bigint {
  if (typeof json === "number") {
    if (!Number.isSafeInteger(json)) {
      throw new ValueError(
        path,
        `expected an integer for ${kind}, got ${json} (write integers beyond 2^53 as strings)`,
      );
    }
    return BigInt(json);
  }
  if (typeof json === "string" && (INT.test(json) || HEX_INT.test(json))) return BigInt(json);
  throw new ValueError(
    path,
    `expected an integer (a number or a string) for ${kind}, got ${kindOf(json)}`,
  );
}

function numberOf(json: unknown, path: string, kind: string): number {
  if (typeof json === "number") return json;
  if (typeof json === "string") {
    if (kind.startsWith("f") && (json === "NaN" || json === "Infinity" || json === "-Infinity")) {
      return Number(json);
    }
    if (INT.test(json) || HEX_INT.test(json)) return Number(json);
  }
  throw new ValueError(path, `expected a number for ${kind}, got ${kindOf(json)}`);
}

function bytesOf(json: unknown, path: string): Uint8Array {
  if (typeof json === "string") {
    const digits = json.startsWith("0x") ? json.slice(2) : json;
    if (digits.length % 2 !== 0 || !/^[0-9a-f]*$/i.test(digits)) {
      throw new ValueError(
        path,
        `expected bytes as an even number of hex digits, got ${JSON.stringify(json)}`,
      );
    }
    const out = new Uint8Array(digits.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(digits.slice(2 * i, 2 * i + 2), 16);
    return out;
  }
  if (Array.isArray(json)) {
    json.forEach((b, i) => {
      if (!Number.isInteger(b) || b < 0 || b > 255) {
        throw new ValueError(`${path}[${i}]`, `expected a byte from 0 to 255, got ${kindOf(b)}`);
      }
    });
    return Uint8Array.from(json as number[]);
  }
  throw new ValueError(
    path,
    `expected bytes as a hex string or an array of numbers, got ${kindOf(json)}`,
  );
}

/** Makes the value of a channel position (the caller's end to pass to the call). */
export type ChannelMaker = (slot: ChannelSlot, path: string) => unknown;

function isObject(json: unknown): json is Record<string, unknown> {
  return typeof json === "object" && json !== null && !Array.isArray(json);
}

function fieldsOf(
  fields: readonly { name: string; schema: Schema<unknown> }[],
  json: unknown,
  path: string,
  makeChannel: ChannelMaker,
): Record<string, unknown> {
  if (!isObject(json)) throw new ValueError(path, `expected an object, got ${kindOf(json)}`);
  const known = new Set(fields.map((f) => f.name));
  for (const k of Object.keys(json)) {
    if (!known.has(k)) {
      throw new ValueError(
        path,
        `unknown field ${JSON.stringify(k)} (fields: ${[...known].join(", ")})`,
      );
    }
  }
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    const kind = resolve(f.schema).kind;
    if (
      !(f.name in json) && kind !== "option" && kind !== "unit" && kind !== "tx" && kind !== "rx"
    ) {
      throw new ValueError(path, `missing field ${JSON.stringify(f.name)}`);
    }
    out[f.name] = fromJson(f.schema, json[f.name], `${path}.${f.name}`, makeChannel);
  }
  return out;
}

function keyOf(schema: Schema<unknown>, key: string, path: string): unknown {
  const kind = resolve(schema).kind;
  if (kind === "string" || kind === "char") return key;
  if (kind === "bool" && (key === "true" || key === "false")) return key === "true";
  if (isWide(kind)) return bigintOf(key, path, kind);
  if (/^[ui](8|16|32)$/.test(kind)) return numberOf(key, path, kind);
  throw new ValueError(
    path,
    `a map with ${kind} keys is written as an array of [key, value] pairs`,
  );
}

/**
 * Reads a value of `schema` from JSON (see the module doc for the
 * conventions; 64-bit integers may also be numbers up to 2^53, enums with
 * a unit variant may be the bare tag string).
 *
 * @param schema The schema.
 * @param json The parsed JSON.
 * @param path Where in the input, for error messages.
 * @param makeChannel Makes the value of each channel position.
 * @returns The value, ready to encode (the encoder checks ranges).
 * @throws {ValueError} When the JSON does not fit the schema.
 */
export function fromJson(
  schema: Schema<unknown>,
  json: unknown,
  path: string,
  makeChannel: ChannelMaker,
): unknown {
  const s = resolve(schema);
  switch (s.kind) {
    case "bool":
      if (typeof json !== "boolean") {
        throw new ValueError(path, `expected true or false, got ${kindOf(json)}`);
      }
      return json;
    case "u8":
    case "u16":
    case "u32":
    case "i8":
    case "i16":
    case "i32":
    case "f32":
    case "f64":
      return numberOf(json, path, s.kind);
    case "u64":
    case "i64":
    case "u128":
    case "i128":
      return bigintOf(json, path, s.kind);
    case "char":
    case "string":
      if (typeof json !== "string") {
        throw new ValueError(path, `expected a string, got ${kindOf(json)}`);
      }
      return json;
    case "bytes":
      return bytesOf(json, path);
    case "unit":
      if (json !== null && json !== undefined) {
        throw new ValueError(path, `expected null for (), got ${kindOf(json)}`);
      }
      return undefined;
    case "option":
      if (json === null || json === undefined) return undefined;
      return fromJson((s as OptionSchema<unknown>).inner, json, path, makeChannel);
    case "list":
    case "array":
    case "set": {
      if (!Array.isArray(json)) {
        throw new ValueError(path, `expected an array, got ${kindOf(json)}`);
      }
      const item = (s as ListSchema<unknown>).item;
      const values = json.map((x, i) => fromJson(item, x, `${path}[${i}]`, makeChannel));
      return s.kind === "set" ? new Set(values) : values;
    }
    case "map": {
      const m = s as MapSchema<unknown, unknown>;
      const out = new Map<unknown, unknown>();
      if (Array.isArray(json)) {
        json.forEach((pair, i) => {
          if (!Array.isArray(pair) || pair.length !== 2) {
            throw new ValueError(
              `${path}[${i}]`,
              `expected a [key, value] pair, got ${kindOf(pair)}`,
            );
          }
          const at = `${path}[${i}]`;
          out.set(
            fromJson(m.key, pair[0], `${at}[0]`, makeChannel),
            fromJson(m.value, pair[1], `${at}[1]`, makeChannel),
          );
        });
        return out;
      }
      if (!isObject(json)) {
        throw new ValueError(
          path,
          `expected an object or an array of [key, value] pairs, got ${kindOf(json)}`,
        );
      }
      for (const [k, v] of Object.entries(json)) {
        const at = `${path}[${JSON.stringify(k)}]`;
        out.set(keyOf(m.key, k, at), fromJson(m.value, v, at, makeChannel));
      }
      return out;
    }
    case "tuple": {
      const items = (s as TupleSchema<unknown>).items;
      if (!Array.isArray(json) || json.length !== items.length) {
        throw new ValueError(path, `expected an array of ${items.length}, got ${kindOf(json)}`);
      }
      return items.map((item, i) => fromJson(item, json[i], `${path}[${i}]`, makeChannel));
    }
    case "struct":
      return fieldsOf((s as StructSchema<unknown>).fields, json, path, makeChannel);
    case "enum":
      return enumOf(s as EnumSchema<unknown>, json, path, makeChannel);
    case "tx":
    case "rx":
      if (json !== null && json !== undefined) {
        throw new ValueError(path, `a channel is written as null, got ${kindOf(json)}`);
      }
      return makeChannel({
        kind: s.kind,
        item: (s as ChannelEndSchema<unknown, "tx", unknown>).item,
      }, path);
  }
  throw new ValueError(path, `cannot read a ${s.kind} from JSON`);
}

function enumOf(
  s: EnumSchema<unknown>,
  json: unknown,
  path: string,
  makeChannel: ChannelMaker,
): unknown {
  const names = s.variants.map((v) => v.name);
  const tag = typeof json === "string" ? json : isObject(json) ? json.tag : undefined;
  if (typeof tag !== "string") {
    throw new ValueError(
      path,
      `expected { "tag": …, "value": … } (variants: ${names.join(", ")}), got ${kindOf(json)}`,
    );
  }
  const variant = s.variants.find((v) => v.name === tag);
  if (variant === undefined) {
    throw new ValueError(
      path,
      `unknown variant ${JSON.stringify(tag)} (variants: ${names.join(", ")})`,
    );
  }
  const value = isObject(json) ? json.value : undefined;
  const at = `${path}.value`;
  switch (variant.shape) {
    case "unit":
      return { tag };
    case "newtype":
      return { tag, value: fromJson(variant.schema, value, at, makeChannel) };
    case "tuple": {
      if (!Array.isArray(value) || value.length !== variant.items.length) {
        throw new ValueError(
          at,
          `expected an array of ${variant.items.length}, got ${kindOf(value)}`,
        );
      }
      return {
        tag,
        value: variant.items.map((x, i) => fromJson(x, value[i], `${at}[${i}]`, makeChannel)),
      };
    }
    case "struct":
      return { tag, value: fieldsOf(variant.fields, value, at, makeChannel) };
  }
}
