/**
 * Walking a schema on the command line: following `t.lazy`, finding the
 * channels in a value in wire order, a copy of a schema that tells a
 * channel inside `Some` from `None` when decoding, and hex.
 *
 * @module
 */

import type {
  ChannelEndSchema,
  EnumSchema,
  LazySchema,
  OptionSchema,
  Schema,
  StructSchema,
  TupleSchema,
  VariantSchema,
} from "../../postcard.ts";
import { t } from "../../mod.ts";

/** A channel position in a value: which way it carries items, and their schema. */
export interface ChannelSlot {
  /** `tx`: the handler sends to the caller; `rx`: the handler receives from the caller. */
  readonly kind: "tx" | "rx";
  /** The schema of one item. */
  readonly item: Schema<unknown>;
}

/** Channel ids to show at channel positions, consumed in walk order. */
export interface ChannelIds {
  readonly ids: readonly number[];
  next: number;
}

/** Follows `t.lazy` to the real schema. */
export function resolve(schema: Schema<unknown>): Schema<unknown> {
  let s = schema;
  for (let hops = 0; s.kind === "lazy" && hops < 64; hops++) {
    s = (s as LazySchema<unknown>).resolve();
  }
  return s;
}

/** Each schema with channels, and its copy that decodes channel positions as `[]`. */
const spyable = new WeakMap<Schema<unknown>, Schema<unknown>>();
const CHANNEL_MARK: Schema<unknown> = t.tuple();

function hasChannels(schema: Schema<unknown>, seen: Set<Schema<unknown>>): boolean {
  const s = resolve(schema);
  if (seen.has(s)) return false;
  seen.add(s);
  switch (s.kind) {
    case "tx":
    case "rx":
      return true;
    case "option":
      return hasChannels((s as OptionSchema<unknown>).inner, seen);
    case "tuple":
      return (s as TupleSchema<unknown>).items.some((x) => hasChannels(x, seen));
    case "struct":
      return (s as StructSchema<unknown>).fields.some((f) => hasChannels(f.schema, seen));
    case "enum":
      return (s as EnumSchema<unknown>).variants.some((v) =>
        v.shape === "newtype"
          ? hasChannels(v.schema, seen)
          : v.shape === "tuple"
          ? v.items.some((x) => hasChannels(x, seen))
          : v.shape === "struct"
          ? v.fields.some((f) => hasChannels(f.schema, seen))
          : false
      );
  }
  return false;
}

/**
 * A schema that decodes the same bytes as `schema`, with every channel
 * position (zero bytes on the wire) read as an empty array instead of
 * `undefined`, so a channel inside `Some` is told apart from `None`.
 * Schemas without channels are returned as they are.
 *
 * @param schema The schema (a method's argument tuple).
 * @returns The schema to decode with.
 */
export function spySchema(schema: Schema<unknown>): Schema<unknown> {
  if (!hasChannels(schema, new Set())) return schema;
  return mirror(schema);
}

function mirror(schema: Schema<unknown>): Schema<unknown> {
  const done = spyable.get(schema);
  if (done !== undefined) return done;
  if (schema.kind === "lazy") {
    const lazy = t.lazy(() => mirror(resolve(schema)));
    spyable.set(schema, lazy);
    return lazy;
  }
  const s = schema;
  let out: Schema<unknown>;
  switch (s.kind) {
    case "tx":
    case "rx":
      out = CHANNEL_MARK;
      break;
    case "option":
      out = t.option(mirror((s as OptionSchema<unknown>).inner));
      break;
    case "tuple":
      out = t.tuple(...(s as TupleSchema<unknown>).items.map(mirror));
      break;
    case "struct":
      out = t.struct(mirrorFields((s as StructSchema<unknown>).fields));
      break;
    case "enum": {
      const variants: Record<
        string,
        Schema<unknown> | Schema<unknown>[] | Record<string, Schema<unknown>>
      > = {};
      for (const v of (s as EnumSchema<unknown>).variants) {
        variants[v.name] = v.shape === "unit"
          ? t.unit
          : v.shape === "newtype"
          ? mirror(v.schema)
          : v.shape === "tuple"
          ? v.items.map(mirror)
          : mirrorFields(v.fields);
      }
      out = t.enum(variants);
      break;
    }
    default:
      out = s; // collections never hold channels
  }
  spyable.set(schema, out);
  return out;
}

function mirrorFields(
  fields: readonly { name: string; schema: Schema<unknown> }[],
): Record<string, Schema<unknown>> {
  const o: Record<string, Schema<unknown>> = {};
  for (const f of fields) o[f.name] = mirror(f.schema);
  return o;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/**
 * Bytes as lowercase hex without separators.
 *
 * @param bytes The bytes.
 * @param max Show at most this many bytes.
 * @returns The hex digits.
 */
export function hex(bytes: Uint8Array, max = Infinity): string {
  const n = Math.min(bytes.length, max);
  let s = "";
  for (let i = 0; i < n; i++) s += HEX[bytes[i]!];
  return s;
}

/** The next channel id to show, or null when there is none. */
export function channelId(ids: ChannelIds | undefined): number | null {
  if (ids === undefined || ids.next >= ids.ids.length) return null;
  return ids.ids[ids.next++]!;
}

/**
 * The channel positions of a value, in wire order (wire-spec §2.6): tuple
 * elements and struct fields in order, the active variant's fields, an
 * option's value when present; never inside collections.
 *
 * @param schema The schema.
 * @param value A value of it (channel positions may hold anything).
 * @returns The positions, in order.
 */
export function channelSlots(schema: Schema<unknown>, value: unknown): ChannelSlot[] {
  const out: ChannelSlot[] = [];
  const walk = (schema: Schema<unknown>, value: unknown): void => {
    const s = resolve(schema);
    switch (s.kind) {
      case "tx":
      case "rx":
        out.push({ kind: s.kind, item: (s as ChannelEndSchema<unknown, "tx", unknown>).item });
        return;
      case "option":
        if (value !== undefined && value !== null) walk((s as OptionSchema<unknown>).inner, value);
        return;
      case "tuple": {
        const items = (s as TupleSchema<unknown>).items;
        items.forEach((item, i) => walk(item, (value as unknown[] | undefined)?.[i]));
        return;
      }
      case "struct":
        for (const f of (s as StructSchema<unknown>).fields) {
          walk(f.schema, (value as Record<string, unknown> | undefined)?.[f.name]);
        }
        return;
      case "enum": {
        const v = value as { tag?: unknown; value?: unknown } | undefined;
        const variant = (s as EnumSchema<unknown>).variants.find((x) => x.name === v?.tag);
        if (variant !== undefined) walkVariant(variant, v?.value, walk);
        return;
      }
    }
  };
  walk(schema, value);
  return out;
}

function walkVariant(
  variant: VariantSchema,
  value: unknown,
  walk: (s: Schema<unknown>, v: unknown) => void,
): void {
  if (variant.shape === "newtype") walk(variant.schema, value);
  else if (variant.shape === "tuple") {
    variant.items.forEach((item, i) => walk(item, (value as unknown[] | undefined)?.[i]));
  } else if (variant.shape === "struct") {
    for (const f of variant.fields) {
      walk(f.schema, (value as Record<string, unknown> | undefined)?.[f.name]);
    }
  }
}
