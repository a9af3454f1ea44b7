/**
 * Values of a schema as compact, readable text for the spy's human
 * output: Rust-like (`Tag(value)` enums, `(a, b)` tuples, options without
 * `Some`), cut at a length budget so a huge value costs no more than a
 * line.
 *
 * @module
 */

import type {
  ArraySchema,
  EnumSchema,
  ListSchema,
  MapSchema,
  OptionSchema,
  Schema,
  StructSchema,
  TupleSchema,
} from "../../postcard.ts";
import { channelId, type ChannelIds, hex, resolve } from "./_walk.ts";

/** Text being built up to a length budget. */
class Text {
  readonly #parts: string[] = [];
  #length = 0;
  readonly #max: number;
  constructor(max: number) {
    this.#max = max;
  }
  /** True once the budget is spent: callers stop descending. */
  get full(): boolean {
    return this.#length > this.#max;
  }
  add(s: string): void {
    if (this.full) return;
    this.#parts.push(s);
    this.#length += s.length;
  }
  toString(): string {
    const s = this.#parts.join("");
    return s.length > this.#max ? `${s.slice(0, this.#max)}…` : s;
  }
}

/** Longest string value shown whole in text. */
const TEXT_STRING_MAX = 80;
/** Most bytes of a `bytes` value shown in text. */
const TEXT_BYTES_MAX = 24;

function quoted(s: string): string {
  return JSON.stringify(s.length > TEXT_STRING_MAX ? `${s.slice(0, TEXT_STRING_MAX)}…` : s);
}

/**
 * Compact text for a bytes value: `<deadbeef>`, or the first bytes and the
 * length for a long one.
 *
 * @param bytes The bytes.
 * @returns The text.
 */
export function bytesText(bytes: Uint8Array): string {
  if (bytes.length <= TEXT_BYTES_MAX) return `<${hex(bytes)}>`;
  return `<${hex(bytes, TEXT_BYTES_MAX)}… ${bytes.length} bytes>`;
}

/**
 * A decoded value as compact, readable text (Rust-like: `Some`-free
 * options, `Tag(value)` enums, `(a, b)` tuples), cut at `max` characters.
 *
 * @param schema The value's schema.
 * @param value The value.
 * @param max Longest text returned (plus an ellipsis).
 * @param ids Channel ids to show at channel positions (`tx#3`).
 * @returns The text.
 */
export function toText(
  schema: Schema<unknown>,
  value: unknown,
  max: number,
  ids?: ChannelIds,
): string {
  const out = new Text(max);
  writeText(out, schema, value, ids);
  return out.toString();
}

/**
 * Several values (a call's arguments) as `a, b, c`.
 *
 * @param schema The tuple schema.
 * @param values The values.
 * @param max Longest text returned (plus an ellipsis).
 * @param ids Channel ids to show at channel positions.
 * @returns The text.
 */
export function tupleText(
  schema: TupleSchema<unknown>,
  values: readonly unknown[],
  max: number,
  ids?: ChannelIds,
): string {
  const out = new Text(max);
  writeSeq(out, schema.items.map((item, i) => [item, values[i]]), ids);
  return out.toString();
}

function writeSeq(
  out: Text,
  pairs: readonly (readonly [Schema<unknown>, unknown])[],
  ids: ChannelIds | undefined,
): void {
  for (let i = 0; i < pairs.length && !out.full; i++) {
    if (i > 0) out.add(", ");
    writeText(out, pairs[i]![0], pairs[i]![1], ids);
  }
}

function writeFields(
  out: Text,
  fields: readonly { name: string; schema: Schema<unknown> }[],
  value: Record<string, unknown>,
  ids: ChannelIds | undefined,
): void {
  out.add("{");
  for (let i = 0; i < fields.length && !out.full; i++) {
    const f = fields[i]!;
    out.add(i > 0 ? `, ${f.name}: ` : `${f.name}: `);
    writeText(out, f.schema, value[f.name], ids);
  }
  out.add("}");
}

function writeText(
  out: Text,
  schema: Schema<unknown>,
  value: unknown,
  ids: ChannelIds | undefined,
): void {
  if (out.full) return;
  const s = resolve(schema);
  switch (s.kind) {
    case "char":
    case "string":
      return out.add(quoted(value as string));
    case "bytes":
      return out.add(bytesText(value as Uint8Array));
    case "unit":
      return out.add("()");
    case "option":
      if (value === undefined) return out.add("None");
      return writeText(out, (s as OptionSchema<unknown>).inner, value, ids);
    case "list":
    case "array":
    case "set": {
      const item = (s as ListSchema<unknown> | ArraySchema<unknown>).item;
      out.add("[");
      let i = 0;
      for (const x of value as Iterable<unknown>) {
        if (out.full) break;
        if (i++ > 0) out.add(", ");
        writeText(out, item, x, undefined);
      }
      return out.add("]");
    }
    case "map": {
      const m = s as MapSchema<unknown, unknown>;
      out.add("{");
      let i = 0;
      for (const [k, v] of value as Map<unknown, unknown>) {
        if (out.full) break;
        if (i++ > 0) out.add(", ");
        writeText(out, m.key, k, undefined);
        out.add(": ");
        writeText(out, m.value, v, undefined);
      }
      return out.add("}");
    }
    case "tuple": {
      const items = (s as TupleSchema<unknown>).items;
      out.add("(");
      writeSeq(out, items.map((item, i) => [item, (value as unknown[])[i]]), ids);
      return out.add(")");
    }
    case "struct":
      return writeFields(out, (s as StructSchema<unknown>).fields, value as never, ids);
    case "enum": {
      const v = value as { tag: string; value?: unknown };
      const variant = (s as EnumSchema<unknown>).variants.find((x) => x.name === v.tag);
      out.add(v.tag);
      if (variant === undefined || variant.shape === "unit") return;
      if (variant.shape === "struct") {
        return writeFields(out, variant.fields, v.value as never, ids);
      }
      out.add("(");
      if (variant.shape === "newtype") writeText(out, variant.schema, v.value, ids);
      else writeSeq(out, variant.items.map((item, i) => [item, (v.value as unknown[])[i]]), ids);
      return out.add(")");
    }
    case "tx":
    case "rx": {
      const id = channelId(ids);
      return out.add(id === null ? s.kind : `${s.kind}#${id}`);
    }
  }
  out.add(String(value)); // numbers, bigints, booleans
}
