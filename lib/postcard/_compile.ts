/**
 * Compiles a schema, once, into an encoder and a decoder made of closures.
 * No reflection happens per value.
 *
 * @module
 */

import {
  generateDecoder,
  generateEncoder,
  generateSmallDecoder,
  generateSmallEncoder,
} from "./_codegen.ts";
import { MAX_DEPTH, type Reader } from "./_reader.ts";
import { allocOut, SLOW_BUFFERS, type Writer } from "./_writer.ts";
import {
  type ArraySchema,
  type ChannelSchema,
  type EnumSchema,
  type FieldSchema,
  type LazySchema,
  type ListSchema,
  type MapSchema,
  type OptionSchema,
  resolveSchema,
  type Schema,
  type SetSchema,
  type StructSchema,
  type TupleSchema,
} from "./schema.ts";

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
   * For small values of fixed shape: encodes into a new array of the exact
   * size, or returns undefined for the ordinary path (see `generateSmallEncoder`).
   */
  readonly encodeSmall: ((value: unknown) => Uint8Array | undefined) | undefined;
  /**
   * For small values of fixed shape: decodes `buf[start, end)` inline, or
   * returns `NOT_SMALL` for the ordinary path (see `generateSmallDecoder`).
   */
  readonly decodeSmall: ((buf: Uint8Array, start: number, end: number) => unknown) | undefined;
}

/** Largest result the small-value encoder writes in place. */
const SMALL_MAX = 4096;

/** Largest count accepted for a sequence of zero-sized elements. */
export const ZERO_SIZED_LIMIT = 65_536;

/**
 * Hooks the RPC layer installs to see channel positions while a value is
 * encoded or decoded. Without hooks a channel encodes as nothing and
 * decodes as `undefined`.
 */
export interface ChannelHooks {
  /** Called for each channel position met while encoding, in wire order. */
  encode?(schema: ChannelSchema<unknown, "tx" | "rx">, value: unknown): void;
  /** Called for each channel position met while decoding; returns its value. */
  decode?(schema: ChannelSchema<unknown, "tx" | "rx">): unknown;
}

/**
 * An invalid value met while encoding. It collects the path on its way up
 * and becomes a `TypeError` or `RangeError` at the top.
 */
export class EncodeFault {
  /** Path segments, innermost first. */
  readonly path: string[] = [];
  /**
   * @param range True for a value of the right type but out of range.
   * @param type The schema type name.
   * @param reason What is wrong.
   */
  constructor(readonly range: boolean, readonly type: string, readonly reason: string) {}

  /** Turns the fault into the error thrown to users. */
  toError(root: string): TypeError | RangeError {
    const p = this.path.reverse();
    const where = root +
      (p.length > 24
        ? `${p.slice(0, 8).join("")}…(${p.length - 16} more)…${p.slice(-8).join("")}`
        : p.join(""));
    const message = `Cannot encode ${this.type} at ${where}: ${this.reason}`;
    return this.range ? new RangeError(message) : new TypeError(message);
  }
}

function typeFault(type: string, expected: string, v: unknown): never {
  throw new EncodeFault(false, type, `expected ${expected}, got ${show(v)}`);
}

function rangeFault(type: string, reason: string): never {
  throw new EncodeFault(true, type, reason);
}

/** Adds a path segment to a fault passing through, then rethrows. */
function along(e: unknown, segment: string): never {
  if (e instanceof EncodeFault) e.path.push(segment);
  throw e;
}

/** A short, safe description of a value for error messages. */
export function show(v: unknown): string {
  switch (typeof v) {
    case "string":
      return v.length > 32 ? `a string of length ${v.length}` : JSON.stringify(v);
    case "number":
    case "boolean":
      return String(v);
    case "bigint":
      return `${v}n`;
    case "undefined":
      return "undefined";
    case "function":
      return "a function";
    case "symbol":
      return "a symbol";
  }
  if (v === null) return "null";
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  const ctor = (v as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof ctor === "string" && ctor !== "Object" ? `a ${ctor}` : "an object";
}

const cache = new WeakMap<Schema<unknown>, Compiled>();
const preparedCache = new WeakMap<Schema<unknown>, Prepared>();
let lastSchema: Schema<unknown> | undefined;
let lastPrepared: Prepared | undefined;

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
  let p = preparedCache.get(schema);
  if (p === undefined) {
    const c = compile(schema);
    p = {
      ...c,
      fastEncode: generateEncoder(schema, compile) ?? c.encode,
      fastDecode: generateDecoder(schema, compile) ?? c.decode,
      encodeSmall: generateSmallEncoder(
        schema,
        compile,
        SLOW_BUFFERS ? allocOut : undefined,
        SMALL_MAX,
      ),
      decodeSmall: generateSmallDecoder(schema, compile),
    };
    preparedCache.set(schema, p);
  }
  lastSchema = schema;
  lastPrepared = p;
  return p;
}

function intEncoder(
  name: string,
  min: number,
  max: number,
  write: (w: Writer, v: number) => void,
): Encoder {
  return (w, v) => {
    if (typeof v !== "number") typeFault(name, "an integer", v);
    if (!Number.isInteger(v)) typeFault(name, "an integer", v);
    if (v < min || v > max) rangeFault(name, `${v} is outside ${min}..${max}`);
    write(w, v);
  };
}

function bigEncoder(
  name: string,
  min: bigint,
  max: bigint,
  write: (w: Writer, v: bigint) => void,
): Encoder {
  return (w, v) => {
    if (typeof v !== "bigint") typeFault(name, "a bigint", v);
    if (v < min || v > max) rangeFault(name, `${v}n is outside ${min}..${max}`);
    write(w, v);
  };
}

const U64_MAX = (1n << 64n) - 1n;
const U128_MAX = (1n << 128n) - 1n;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;
const I128_MIN = -(1n << 127n);
const I128_MAX = (1n << 127n) - 1n;

function scalar(name: string, encode: Encoder, decode: Decoder, minSize: number): Compiled {
  return { name, encode, decode, minSize };
}

function build(schema: Schema<unknown>): Compiled {
  switch (schema.kind) {
    case "bool":
      return scalar("bool", (w, v) => {
        if (typeof v !== "boolean") typeFault("bool", "a boolean", v);
        w.u8(v ? 1 : 0);
      }, (r) => {
        const b = r.u8("bool");
        if (b > 1) r.fail("bool", `invalid byte 0x${b.toString(16).padStart(2, "0")}`, r.pos - 1);
        return b === 1;
      }, 1);
    case "u8":
      return scalar(
        "u8",
        (w, v) => {
          if (typeof v !== "number" || (v & 0xff) !== v) {
            if (typeof v === "number" && Number.isInteger(v)) {
              rangeFault(
                "u8",
                `${v} is outside 0..255`,
              );
            }
            typeFault("u8", "an integer", v);
          }
          w.u8(v);
        },
        (r) => r.u8("u8"),
        1,
      );
    case "i8":
      return scalar(
        "i8",
        intEncoder("i8", -128, 127, (w, v) => w.u8(v & 0xff)),
        (r) => (r.u8("i8") << 24) >> 24,
        1,
      );
    case "u16":
      return scalar(
        "u16",
        intEncoder("u16", 0, 0xffff, (w, v) => w.varint(v)),
        (r) => r.varint32("u16", 0xffff),
        1,
      );
    case "u32":
      return scalar(
        "u32",
        (w, v) => {
          if (typeof v !== "number" || v >>> 0 !== v) {
            if (typeof v === "number" && Number.isInteger(v)) {
              rangeFault(
                "u32",
                `${v} is outside 0..4294967295`,
              );
            }
            typeFault("u32", "an integer", v);
          }
          w.varint(v);
        },
        (r) => r.varint32("u32"),
        1,
      );
    case "i16":
      return scalar(
        "i16",
        intEncoder("i16", -0x8000, 0x7fff, (w, v) => w.varint(((v << 1) ^ (v >> 31)) >>> 0)),
        (r) => {
          const n = r.varint32("i16", 0xffff);
          return (n >>> 1) ^ -(n & 1);
        },
        1,
      );
    case "i32":
      return scalar("i32", (w, v) => {
        if (typeof v !== "number" || (v | 0) !== v) {
          if (typeof v === "number" && Number.isInteger(v)) {
            rangeFault("i32", `${v} is outside -2147483648..2147483647`);
          }
          typeFault("i32", "an integer", v);
        }
        w.varint(((v << 1) ^ (v >> 31)) >>> 0);
      }, (r) => {
        const n = r.varint32("i32");
        return (n >>> 1) ^ -(n & 1);
      }, 1);
    case "u64":
      return scalar(
        "u64",
        bigEncoder("u64", 0n, U64_MAX, (w, v) => w.varintBig(v)),
        (r) => r.varintBig("u64", 64),
        1,
      );
    case "u128":
      return scalar(
        "u128",
        bigEncoder("u128", 0n, U128_MAX, (w, v) => w.varintBig(v)),
        (r) => r.varintBig("u128", 128),
        1,
      );
    case "i64":
      return scalar(
        "i64",
        bigEncoder(
          "i64",
          I64_MIN,
          I64_MAX,
          (w, v) => w.varintBig(v < 0n ? (-v << 1n) - 1n : v << 1n),
        ),
        (r) => {
          const n = r.varintBig("i64", 64);
          return (n & 1n) === 0n ? n >> 1n : -(n >> 1n) - 1n;
        },
        1,
      );
    case "i128":
      return scalar(
        "i128",
        bigEncoder(
          "i128",
          I128_MIN,
          I128_MAX,
          (w, v) => w.varintBig(v < 0n ? (-v << 1n) - 1n : v << 1n),
        ),
        (r) => {
          const n = r.varintBig("i128", 128);
          return (n & 1n) === 0n ? n >> 1n : -(n >> 1n) - 1n;
        },
        1,
      );
    case "f32":
      return scalar(
        "f32",
        (w, v) => {
          if (typeof v !== "number") typeFault("f32", "a number", v);
          w.f32(v);
        },
        (r) => r.f32("f32"),
        4,
      );
    case "f64":
      return scalar(
        "f64",
        (w, v) => {
          if (typeof v !== "number") typeFault("f64", "a number", v);
          w.f64(v);
        },
        (r) => r.f64("f64"),
        8,
      );
    case "string":
      return scalar(
        "string",
        (w, v) => {
          if (typeof v !== "string") typeFault("string", "a string", v);
          if (!w.string(v)) {
            typeFault(
              "string",
              "a well-formed string",
              "a string with a lone surrogate",
            );
          }
        },
        (r) => r.string("string"),
        1,
      );
    case "char":
      return scalar("char", (w, v) => {
        if (typeof v !== "string") typeFault("char", "a one-character string", v);
        const cp = v.codePointAt(0);
        if (cp === undefined || v.length !== (cp > 0xffff ? 2 : 1)) {
          typeFault("char", "exactly one code point", v);
        }
        if (cp >= 0xd800 && cp <= 0xdfff) {
          typeFault("char", "a Unicode scalar value", "a lone surrogate");
        }
        w.string(v);
      }, (r) => {
        const start = r.pos;
        const s = r.string("char");
        const cp = s.codePointAt(0);
        if (cp === undefined || s.length !== (cp > 0xffff ? 2 : 1)) {
          r.fail("char", "not exactly one code point", start);
        }
        return s;
      }, 2);
    case "bytes":
      return scalar("bytes", (w, v) => {
        if (!(v instanceof Uint8Array)) typeFault("bytes", "a Uint8Array", v);
        w.varint(v.length);
        w.raw(v);
      }, (r) => {
        const n = r.length("bytes", 1, 0);
        const view = r.view("bytes", n);
        return r.borrow ? view : view.slice();
      }, 1);
    case "unit":
      return scalar(
        "unit",
        (_w, v) => {
          if (v !== undefined && v !== null) typeFault("unit", "undefined", v);
        },
        () => undefined,
        0,
      );
    case "option":
      return buildOption(schema as OptionSchema<unknown>);
    case "list":
      return buildList(schema as ListSchema<unknown>);
    case "array":
      return buildArray(schema as ArraySchema<unknown>);
    case "map":
      return buildMap(schema as MapSchema<unknown, unknown>);
    case "set":
      return buildSet(schema as SetSchema<unknown>);
    case "tuple":
      return buildTuple(schema as TupleSchema<unknown>);
    case "struct":
      return buildStruct((schema as StructSchema<unknown>).fields, "struct");
    case "enum":
      return buildEnum(schema as EnumSchema<unknown>);
    case "lazy":
      return buildLazy(schema as LazySchema<unknown>);
    case "tx":
    case "rx":
      return buildChannel(schema as ChannelSchema<unknown, "tx" | "rx">);
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
      const n = r.length("list", min, ZERO_SIZED_LIMIT);
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
      const out = new Array(n);
      for (let i = 0; i < n; i++) out[i] = dec(r);
      return out;
    },
  };
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
      const start = r.pos;
      const n = r.length("map", min, ZERO_SIZED_LIMIT);
      const out = new Map<unknown, unknown>();
      for (let i = 0; i < n; i++) {
        const k = decK(r);
        out.set(k, decV(r));
      }
      if (out.size !== n) r.fail("map", "duplicate key", start);
      return out;
    },
  };
}

function buildSet(schema: SetSchema<unknown>): Compiled {
  const item = compile(schema.item);
  const enc = item.encode;
  const dec = item.decode;
  const min = item.minSize;
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
      const start = r.pos;
      const n = r.length("set", min, ZERO_SIZED_LIMIT);
      const out = new Set<unknown>();
      for (let i = 0; i < n; i++) out.add(dec(r));
      if (out.size !== n) r.fail("set", "duplicate element", start);
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

function buildChannel(schema: ChannelSchema<unknown, "tx" | "rx">): Compiled {
  return {
    name: schema.kind,
    minSize: 0,
    encode: (w, v) => w.channels?.encode?.(schema, v),
    decode: (r) => r.channels?.decode?.(schema),
  };
}
