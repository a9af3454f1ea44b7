/**
 * Compiles a schema, once, into an encoder and a decoder made of closures.
 * No reflection happens per value.
 *
 * @module
 */

import { generateDecoder, generateEncoder } from "./_codegen.ts";
import {
  generateSmallDecoder,
  generateSmallEncoders,
  type SmallEncoders,
} from "./_codegen_small.ts";
import { along, rangeFault, show, typeFault } from "./_faults.ts";
import { MAX_DEPTH, type Reader, ZERO_SIZED_LIMIT } from "./_reader.ts";
import { buildScalar } from "./_scalars.ts";
import type { Writer } from "./_writer.ts";
import {
  type AnyChannelSchema,
  type ArraySchema,
  type EnumSchema,
  type FieldSchema,
  type LazySchema,
  type ListSchema,
  type MapSchema,
  type OptionSchema,
  resolveSchema,
  type Schema,
  schemaNode,
  type SetSchema,
  type TupleSchema,
} from "./schema.ts";

export { EncodeFault, show } from "./_faults.ts";

/** Writes one value. Throws an {@linkcode EncodeFault} for a bad value. */
export type Encoder = (w: Writer, v: unknown) => void;
/** Reads one value. Throws a `DecodeError` for bad bytes. */
export type Decoder = (r: Reader) => unknown;

/** A compiled schema. */
export interface Compiled {
  /** Writes a value. */
  readonly encode: Encoder;
  /** Reads a value. */
  readonly decode: Decoder;
  /** The fewest bytes any value of the type encodes to. */
  readonly minSize: number;
  /** A short name of the type for messages, e.g. `u32` or `struct`. */
  readonly name: string;
}

/** A compiled schema ready for top-level use, with generated fast paths. */
export interface Prepared extends Compiled {
  /** Fastest available encoder; on a bad value it may throw a fault without a path. */
  readonly fastEncode: Encoder;
  /** Fastest available decoder. */
  readonly fastDecode: Decoder;
  /**
   * For values of fixed shape: encoders into a new array of the exact size
   * (from `alloc` when given), which return undefined for the ordinary path
   * (see `generateSmallEncoders`).
   */
  readonly encodeSmall: SmallEncoders | undefined;
  /**
   * For small values of fixed shape: decodes `buf[start, end)` inline, or
   * returns `NOT_SMALL` for the ordinary path (see `generateSmallDecoder`).
   */
  readonly decodeSmall: ((buf: Uint8Array, start: number, end: number) => unknown) | undefined;
}

/**
 * Hooks the RPC layer installs to see channel positions while a value is
 * encoded or decoded. Without hooks a channel encodes as nothing and
 * decodes as `undefined`.
 */
export interface ChannelHooks {
  /** Called for each channel position met while encoding, in wire order. */
  encode?(schema: AnyChannelSchema, value: unknown): void;
  /** Called for each channel position met while decoding; returns its value. */
  decode?(schema: AnyChannelSchema): unknown;
}

const cache = new WeakMap<Schema<unknown>, Compiled>();
const preparedCache = new WeakMap<Schema<unknown>, Prepared>();
// The two schemas used last (a call's args and its return value alternate on a served connection).
let lastSchema: Schema<unknown> | undefined;
let lastPrepared: Prepared | undefined;
let otherSchema: Schema<unknown> | undefined;
let otherPrepared: Prepared | undefined;

/** Returns the compiled form of `schema`, compiling it on first use. */
export function compile(schema: Schema<unknown>): Compiled {
  let c = cache.get(schema);
  if (c === undefined) {
    c = build(schema);
    cache.set(schema, c);
  }
  return c;
}

/**
 * Returns `schema` compiled for top-level use: the closures plus generated
 * straight-line code where the platform allows it.
 */
export function prepare(schema: Schema<unknown>): Prepared {
  // Hot loops encode one schema over and over: skip the WeakMap for it.
  if (schema === lastSchema) return lastPrepared!;
  if (schema === otherSchema) {
    const p = otherPrepared!;
    otherSchema = lastSchema;
    otherPrepared = lastPrepared;
    lastSchema = schema;
    lastPrepared = p;
    return p;
  }
  let p = preparedCache.get(schema);
  if (p === undefined) {
    const c = compile(schema);
    p = {
      ...c,
      fastEncode: generateEncoder(schema, compile) ?? c.encode,
      fastDecode: generateDecoder(schema, compile) ?? c.decode,
      encodeSmall: generateSmallEncoders(schema, compile),
      decodeSmall: generateSmallDecoder(schema, compile),
    };
    preparedCache.set(schema, p);
  }
  otherSchema = lastSchema;
  otherPrepared = lastPrepared;
  lastSchema = schema;
  lastPrepared = p;
  return p;
}

/** Compiles one schema node; the scalar kinds come from `_scalars.ts`. */
function build(schema: Schema<unknown>): Compiled {
  const s = schemaNode(schema);
  switch (s.kind) {
    case "option":
      return buildOption(s);
    case "list":
      return buildList(s);
    case "array":
      return buildArray(s);
    case "map":
      return buildMap(s);
    case "set":
      return buildSet(s);
    case "tuple":
      return buildTuple(s);
    case "struct":
      return buildStruct(s.fields, "struct");
    case "enum":
      return buildEnum(s);
    case "lazy":
      return buildLazy(s);
    case "tx":
    case "rx":
      return buildChannel(s);
    default:
      return buildScalar(s.kind);
  }
}

function buildOption(schema: OptionSchema<unknown>): Compiled {
  const inner = compile(schema.inner);
  const enc = inner.encode;
  const dec = inner.decode;
  return {
    name: "option",
    minSize: 1,
    encode: (w, v) => {
      if (v === undefined || v === null) {
        w.u8(0);
      } else {
        w.u8(1);
        enc(w, v);
      }
    },
    decode: (r) => {
      const tag = r.u8("option");
      if (tag === 0) return undefined;
      if (tag !== 1) {
        r.fail("option", `invalid tag 0x${tag.toString(16).padStart(2, "0")}`, r.pos - 1);
      }
      return dec(r);
    },
  };
}

function buildList(schema: ListSchema<unknown>): Compiled {
  const item = compile(schema.item);
  const enc = item.encode;
  const dec = item.decode;
  const min = item.minSize;
  return {
    name: "list",
    minSize: 1,
    encode: (w, v) => {
      if (!Array.isArray(v)) typeFault("list", "an array", v);
      const n = v.length;
      w.varint(n);
      for (let i = 0; i < n; i++) {
        try {
          enc(w, v[i]);
        } catch (e) {
          along(e, `[${i}]`);
        }
      }
    },
    decode: (r) => {
      const n = r.count("list", min, ZERO_SIZED_LIMIT);
      const out = new Array(n);
      for (let i = 0; i < n; i++) out[i] = dec(r);
      return out;
    },
  };
}

function buildArray(schema: ArraySchema<unknown>): Compiled {
  const item = compile(schema.item);
  const enc = item.encode;
  const dec = item.decode;
  const n = schema.length;
  return {
    name: `array of ${n}`,
    minSize: n * item.minSize,
    encode: (w, v) => {
      if (!Array.isArray(v)) typeFault(`array of ${n}`, "an array", v);
      if (v.length !== n) rangeFault(`array of ${n}`, `expected ${n} elements, got ${v.length}`);
      for (let i = 0; i < n; i++) {
        try {
          enc(w, v[i]);
        } catch (e) {
          along(e, `[${i}]`);
        }
      }
    },
    decode: (r) => {
      r.spend(`array of ${n}`, n);
      const out = new Array(n);
      for (let i = 0; i < n; i++) out[i] = dec(r);
      return out;
    },
  };
}

/**
 * True when decoded values of `schema` are primitives (or `undefined`), so
 * that a `Map` or `Set` holding them finds equal values equal by itself.
 */
function comparedByValue(schema: Schema<unknown>): boolean {
  const s = schemaNode(schema);
  switch (s.kind) {
    case "bool":
    case "u8":
    case "u16":
    case "u32":
    case "u64":
    case "u128":
    case "i8":
    case "i16":
    case "i32":
    case "i64":
    case "i128":
    case "f32":
    case "f64":
    case "char":
    case "string":
    case "unit":
      return true;
    case "option":
      return comparedByValue(s.inner);
    default:
      return false;
  }
}

/**
 * Remembers the encodings of the keys of one map (or the elements of one
 * set) whose decoded values are objects, which a `Map` compares by
 * identity: two such keys are equal exactly when their encodings are,
 * because the decoder accepts only canonical encodings (no overlong
 * varints, bool and option bytes 0 or 1, valid UTF-8; floats compare by
 * their bits, so `0` and `-0` fields are different keys). Each encoding
 * becomes a string of one character per byte, so the lookup is the
 * engine's own string hashing, which a peer cannot flood with collisions.
 */
class Encodings {
  readonly #seen = new Set<string>();

  /** Adds `buf[start, end)`; returns false when an equal range was added before. */
  add(buf: Uint8Array, start: number, end: number): boolean {
    let key = "";
    for (let i = start; i < end; i += 4096) {
      const chunk = buf.subarray(i, Math.min(end, i + 4096));
      key += String.fromCharCode.apply(null, chunk as unknown as number[]);
    }
    const seen = this.#seen;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  }
}

function keyText(k: unknown): string {
  return typeof k === "string" ? JSON.stringify(k) : typeof k === "bigint" ? `${k}n` : show(k);
}

function buildMap(schema: MapSchema<unknown, unknown>): Compiled {
  const key = compile(schema.key);
  const value = compile(schema.value);
  const encK = key.encode;
  const encV = value.encode;
  const decK = key.decode;
  const decV = value.decode;
  const min = key.minSize + value.minSize;
  const byValue = comparedByValue(schema.key);
  return {
    name: "map",
    minSize: 1,
    encode: (w, v) => {
      if (!(v instanceof Map)) typeFault("map", "a Map", v);
      w.varint(v.size);
      for (const [k, x] of v) {
        try {
          encK(w, k);
        } catch (e) {
          along(e, `.keys(${keyText(k)})`);
        }
        try {
          encV(w, x);
        } catch (e) {
          along(e, `.get(${keyText(k)})`);
        }
      }
    },
    decode: (r) => {
      const n = r.count("map", min, ZERO_SIZED_LIMIT);
      const out = new Map<unknown, unknown>();
      const seen = byValue || n < 2 ? undefined : new Encodings();
      for (let i = 0; i < n; i++) {
        const at = r.pos;
        const k = decK(r);
        if (seen !== undefined && !seen.add(r.buf, at, r.pos)) r.fail("map", "duplicate key", at);
        out.set(k, decV(r));
        if (out.size === i) r.fail("map", "duplicate key", at);
      }
      return out;
    },
  };
}

function buildSet(schema: SetSchema<unknown>): Compiled {
  const item = compile(schema.item);
  const enc = item.encode;
  const dec = item.decode;
  const min = item.minSize;
  const byValue = comparedByValue(schema.item);
  return {
    name: "set",
    minSize: 1,
    encode: (w, v) => {
      if (!(v instanceof Set)) typeFault("set", "a Set", v);
      w.varint(v.size);
      let i = 0;
      for (const x of v) {
        try {
          enc(w, x);
        } catch (e) {
          along(e, `.values()[${i}]`);
        }
        i++;
      }
    },
    decode: (r) => {
      const n = r.count("set", min, ZERO_SIZED_LIMIT);
      const out = new Set<unknown>();
      const seen = byValue || n < 2 ? undefined : new Encodings();
      for (let i = 0; i < n; i++) {
        const at = r.pos;
        const v = dec(r);
        if (seen !== undefined && !seen.add(r.buf, at, r.pos)) {
          r.fail("set", "duplicate element", at);
        }
        out.add(v);
        if (out.size === i) r.fail("set", "duplicate element", at);
      }
      return out;
    },
  };
}

function buildTuple(schema: TupleSchema<unknown>): Compiled {
  return tupleOf(schema.items, "tuple");
}

function tupleOf(items: readonly Schema<unknown>[], name: string): Compiled {
  const parts = items.map(compile);
  const encs = parts.map((p) => p.encode);
  const decs = parts.map((p) => p.decode);
  const n = parts.length;
  return {
    name,
    minSize: parts.reduce((a, p) => a + p.minSize, 0),
    encode: (w, v) => {
      if (!Array.isArray(v)) typeFault(name, `an array of ${n} elements`, v);
      if (v.length !== n) rangeFault(name, `expected ${n} elements, got ${v.length}`);
      for (let i = 0; i < n; i++) {
        try {
          encs[i]!(w, v[i]);
        } catch (e) {
          along(e, `[${i}]`);
        }
      }
    },
    decode: (r) => {
      const out = new Array(n);
      for (let i = 0; i < n; i++) out[i] = decs[i]!(r);
      return out;
    },
  };
}

function buildStruct(fields: readonly FieldSchema[], name: string): Compiled {
  const parts = fields.map((f) => compile(f.schema));
  const names = fields.map((f) => f.name);
  const segments = names.map((n) => `.${n}`);
  const encs = parts.map((p) => p.encode);
  const decs = parts.map((p) => p.decode);
  const n = parts.length;
  return {
    name,
    minSize: parts.reduce((a, p) => a + p.minSize, 0),
    encode: (w, v) => {
      if (typeof v !== "object" || v === null) typeFault(name, "an object", v);
      const o = v as Record<string, unknown>;
      for (let i = 0; i < n; i++) {
        try {
          encs[i]!(w, o[names[i]!]);
        } catch (e) {
          along(e, segments[i]!);
        }
      }
    },
    decode: names.includes("__proto__")
      ? (r) => {
        // Plain assignment to `__proto__` would set the prototype.
        const out: Record<string, unknown> = {};
        for (let i = 0; i < n; i++) {
          const value = decs[i]!(r);
          Object.defineProperty(out, names[i]!, {
            value,
            enumerable: true,
            writable: true,
            configurable: true,
          });
        }
        return out;
      }
      : (r) => {
        const out: Record<string, unknown> = {};
        for (let i = 0; i < n; i++) out[names[i]!] = decs[i]!(r);
        return out;
      },
  };
}

function buildEnum(schema: EnumSchema<unknown>): Compiled {
  const variants = schema.variants;
  const index = new Map<unknown, number>();
  const payloadEnc: (Encoder | undefined)[] = [];
  const decs: Decoder[] = [];
  let minPayload = Infinity;
  variants.forEach((v, i) => {
    index.set(v.name, i);
    const tag = v.name;
    let payload: Compiled | undefined;
    switch (v.shape) {
      case "unit":
        break;
      case "newtype":
        payload = compile(v.schema);
        break;
      case "tuple":
        payload = tupleOf(v.items, `${tag} variant`);
        break;
      case "struct":
        payload = buildStruct(v.fields, `${tag} variant`);
        break;
    }
    minPayload = Math.min(minPayload, payload?.minSize ?? 0);
    payloadEnc.push(payload?.encode);
    if (payload === undefined) {
      decs.push(() => ({ tag }));
    } else {
      const dec = payload.decode;
      decs.push((r) => ({ tag, value: dec(r) }));
    }
  });
  const count = variants.length;
  const tags = variants.map((v) => v.name).join(", ");
  return {
    name: "enum",
    minSize: 1 + minPayload,
    encode: (w, v) => {
      if (typeof v !== "object" || v === null) typeFault("enum", "an object with a tag", v);
      const tag = (v as { tag?: unknown }).tag;
      const i = index.get(tag);
      if (i === undefined) typeFault("enum", `a tag among ${tags}`, tag);
      w.varint(i);
      const enc = payloadEnc[i];
      if (enc !== undefined) {
        try {
          enc(w, (v as { value?: unknown }).value);
        } catch (e) {
          along(e, ".value");
        }
      }
    },
    decode: (r) => {
      const start = r.pos;
      const i = r.varint32("enum");
      if (i >= count) r.fail("enum", `unknown variant index ${i}`, start);
      return decs[i]!(r);
    },
  };
}

function buildLazy(schema: LazySchema<unknown>): Compiled {
  let target: Compiled | undefined;
  let fastDecode: Decoder | undefined;
  const get = (): Compiled => target ??= compile(resolveSchema(schema));
  return {
    name: "lazy",
    // Unknown without resolving, which could recurse forever: be conservative.
    minSize: 0,
    encode: (w, v) => {
      if (++w.depth > MAX_DEPTH) rangeFault(get().name, `nesting deeper than ${MAX_DEPTH} levels`);
      get().encode(w, v);
      w.depth--;
    },
    decode: (r) => {
      if (++r.depth > MAX_DEPTH) {
        r.fail(get().name, `nesting deeper than ${MAX_DEPTH} levels`);
      }
      const v = (fastDecode ??= prepare(resolveSchema(schema)).fastDecode)(r);
      r.depth--;
      return v;
    },
  };
}

function buildChannel(schema: AnyChannelSchema): Compiled {
  return {
    name: schema.kind,
    minSize: 0,
    encode: (w, v) => w.channels?.encode?.(schema, v),
    decode: (r) => r.channels?.decode?.(schema),
  };
}
