/**
 * Generated fast paths for values of fixed shape (no lists, maps or
 * enums): an encoder that sizes the value, allocates the exact result and
 * writes straight into it, and a decoder that reads the value straight
 * from the input. Both step aside (returning undefined or
 * {@linkcode NOT_SMALL}) for anything unusual, and the ordinary codec
 * (`_codegen.ts`, then `_compile.ts`) encodes, decodes or reports it.
 *
 * @module
 */

import { allocFilledLater, LARGE } from "../_util/bytes.ts";
import { putAscii, putUtf8, utf8Decode, utf8Length } from "./_utf8.ts";
import { type CompileFn, Gen, make, objectKey, prop } from "./_codegen.ts";
import { type Schema, schemaNode } from "./schema.ts";

/** Most schema nodes a generated small-value encoder or decoder covers. */
const SMALL_BUDGET = 64;

// ---------------------------------------------------------------- encode

/** True where typed arrays are little-endian, as postcard floats are. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A JavaScript expression for the LEB128 size of the non-negative number `v` (below 2^32). */
function varintSizeOf(v: string): string {
  return `(${v} < 128 ? 1 : ${v} < 16384 ? 2 : ${v} < 2097152 ? 3 : ${v} < 268435456 ? 4 : 5)`;
}

/** Statements that write the LEB128 form of the non-negative number `v` (below 2^32) at `p`. */
function putVarint(g: Gen, v: string): string {
  const z = g.v();
  return `if (${v} < 128) out[p++] = ${v}; else { let ${z} = ${v}; while (${z} >= 128) { out[p++] = (${z} & 127) | 128; ${z} >>>= 7; } out[p++] = ${z}; }`;
}

/** The two passes of a small-value encoder for one node. */
interface Small {
  /** Reads the value into locals, checks it and adds its size to `n`. */
  size: string;
  /** Writes it into `out` at `p`. */
  write: string;
}

/**
 * Code for one node of a small-value encoder, or undefined for a schema
 * whose size is not cheap to know (lists, maps, enums, 64-bit integers,
 * channels). The size pass reads every field once into a local and checks
 * its type and range; anything unusual returns undefined and `encode`
 * takes the ordinary path, which reports the error.
 *
 * Strings are written one of two ways. With `exact` false, each is assumed
 * to be ASCII while sizing (one byte per UTF-16 unit, which is cheap to
 * know), and the write pass hands the whole value to `retry` (the exact
 * encoder) at the first other character. With `exact` true, the size pass
 * measures each string's UTF-8 form (a lone surrogate returns undefined, for
 * the ordinary path to report), and the write pass writes it.
 */
function small(
  g: Gen,
  schema: Schema<unknown>,
  x: string,
  locals: string[],
  exact: boolean,
  retry: string,
): Small | undefined {
  if (++g.nodes > SMALL_BUDGET) return undefined;
  const bail = "return undefined;";
  const s = schemaNode(schema);
  switch (s.kind) {
    case "bool":
      return {
        size: `if (${x} !== true && ${x} !== false) ${bail} n += 1;`,
        write: `out[p++] = ${x} ? 1 : 0;`,
      };
    case "u8":
    case "i8": {
      const ok = s.kind === "u8" ? `(${x} & 255) === ${x}` : `((${x} << 24) >> 24) === ${x}`;
      return {
        size: `if (typeof ${x} !== "number" || !(${ok})) ${bail} n += 1;`,
        write: `out[p++] = ${x} & 255;`,
      };
    }
    case "u16":
    case "u32": {
      const ok = s.kind === "u16" ? `(${x} & 65535) === ${x}` : `(${x} >>> 0) === ${x}`;
      return {
        size: `if (typeof ${x} !== "number" || !(${ok})) ${bail} n += ${varintSizeOf(x)};`,
        write: putVarint(g, x),
      };
    }
    case "i16":
    case "i32": {
      const ok = s.kind === "i16" ? `((${x} << 16) >> 16) === ${x}` : `(${x} | 0) === ${x}`;
      const z = g.v();
      locals.push(z);
      return {
        size:
          `if (typeof ${x} !== "number" || !(${ok})) ${bail} ${z} = ((${x} << 1) ^ (${x} >> 31)) >>> 0; n += ${
            varintSizeOf(z)
          };`,
        write: putVarint(g, z),
      };
    }
    case "f32":
    case "f64": {
      if (!LITTLE_ENDIAN) return undefined;
      const floats = s.kind === "f32" ? new Float32Array(1) : new Float64Array(1);
      const f = g.k(floats);
      const bytes = g.k(new Uint8Array(floats.buffer));
      let write = `${f}[0] = ${x};`;
      for (let i = 0; i < floats.BYTES_PER_ELEMENT; i++) write += ` out[p++] = ${bytes}[${i}];`;
      return {
        size: `if (typeof ${x} !== "number") ${bail} n += ${floats.BYTES_PER_ELEMENT};`,
        write,
      };
    }
    case "unit":
      return { size: `if (${x} !== undefined && ${x} !== null) ${bail}`, write: "" };
    case "string": {
      if (exact) {
        const z = g.v();
        locals.push(z);
        return {
          size: `if (typeof ${x} !== "string") ${bail} ${z} = ${
            g.k(utf8Length)
          }(${x}); if (${z} < 0) ${bail} n += ${z} + ${varintSizeOf(z)};`,
          write: `${putVarint(g, z)} p = ${g.k(putUtf8)}(out, p, ${x}, ${z});`,
        };
      }
      return {
        size: `if (typeof ${x} !== "string") ${bail} n += ${x}.length + ${
          varintSizeOf(`${x}.length`)
        };`,
        write: `${putVarint(g, `${x}.length`)} p = ${
          g.k(putAscii)
        }(out, p, ${x}); if (p < 0) ${retry}`,
      };
    }
    case "bytes":
      return {
        size: `if (!(${x} instanceof Uint8Array)) ${bail} n += ${x}.length + ${
          varintSizeOf(`${x}.length`)
        };`,
        write: `${putVarint(g, `${x}.length`)} out.set(${x}, p); p += ${x}.length;`,
      };
    case "option": {
      const inner = small(g, s.inner, x, locals, exact, retry);
      if (inner === undefined) return undefined;
      return {
        size: `n += 1; if (${x} !== undefined && ${x} !== null) { ${inner.size} }`,
        write:
          `if (${x} === undefined || ${x} === null) out[p++] = 0; else { out[p++] = 1; ${inner.write} }`,
      };
    }
    case "struct":
    case "tuple": {
      const parts: [string, Schema<unknown>][] = s.kind === "struct"
        ? s.fields.map((f) => [prop(f.name), f.schema])
        : s.items.map((item, i) => [`[${i}]`, item]);
      let size = s.kind === "struct"
        ? `if (typeof ${x} !== "object" || ${x} === null) ${bail}\n`
        : `if (!Array.isArray(${x}) || ${x}.length !== ${parts.length}) ${bail}\n`;
      let write = "";
      for (const [access, item] of parts) {
        const y = g.v();
        locals.push(y);
        const inner = small(g, item, y, locals, exact, retry);
        if (inner === undefined) return undefined;
        size += `${y} = ${x}${access}; ${inner.size}\n`;
        write += `${inner.write}\n`;
      }
      return { size, write };
    }
    default:
      return undefined;
  }
}

/** A generated encoder of values of fixed shape: the result, or undefined for the ordinary path. */
export type SmallEncoder = (
  x: unknown,
  alloc?: (n: number) => Uint8Array,
) => Uint8Array | undefined;

/** Allocates a result of `n` bytes that the encoder fills entirely. */
function allocResult(n: number): Uint8Array {
  return n < LARGE ? new Uint8Array(n) : allocFilledLater(n);
}

/** Generates one of the two small-value encoders (see `small`). */
function smallEncoder(
  schema: Schema<unknown>,
  compile: CompileFn,
  exact: boolean,
  retry: SmallEncoder | undefined,
): SmallEncoder | undefined {
  const g = new Gen(compile);
  const locals: string[] = [];
  const again = retry === undefined ? "return undefined;" : `return ${g.k(retry)}(x, alloc);`;
  const code = small(g, schema, "x", locals, exact, again);
  if (code === undefined) return undefined;
  const decl = locals.length > 0 ? `let ${locals.join(", ")};` : "";
  // A small result is allocated inline; a large one may skip zero-filling (every byte is written).
  return make<SmallEncoder>(
    g,
    `"use strict"; return function encodeSmall(x, alloc) {\nlet n = 0; ${decl}\n${code.size}\nconst out = alloc !== undefined ? alloc(n) : n < ${LARGE} ? new Uint8Array(n) : ${
      g.k(allocResult)
    }(n);\nlet p = 0;\n${code.write}\nreturn out;\n};`,
  );
}

/** The two encoders of a schema of fixed shape (see {@linkcode generateSmallEncoders}). */
export interface SmallEncoders {
  /** Takes strings to be ASCII and hands a value with another character to `exact`. */
  readonly optimistic: SmallEncoder;
  /** Measures each string's UTF-8 form before allocating: one allocation whatever the value. */
  readonly exact: SmallEncoder;
}

/**
 * Generates the encoders of values of fixed shape (no lists, maps or
 * enums): each reads and checks the value, allocates a result of the exact
 * size (a new `Uint8Array` with an `ArrayBuffer` of its own, or from
 * `alloc` when one is passed) and writes straight into it, with no
 * intermediate buffer and no copy. The optimistic one first takes strings
 * to be ASCII and, at another character, encodes the value again with the
 * exact one, which measures each string's UTF-8 form first: the better
 * choice where an allocation costs more than reading strings twice. Both
 * return undefined, for the ordinary encoder to take over, when the value
 * does not fit the schema or has a lone surrogate. Undefined for other
 * schemas.
 */
export function generateSmallEncoders(
  schema: Schema<unknown>,
  compile: CompileFn,
): SmallEncoders | undefined {
  const exact = smallEncoder(schema, compile, true, undefined);
  const optimistic = exact && smallEncoder(schema, compile, false, exact);
  return optimistic && { optimistic, exact: exact! };
}

// ---------------------------------------------------------------- decode

/** What a small-value decoder returns when the input needs the ordinary decoder. */
export const NOT_SMALL: unique symbol = Symbol("roam.postcard.notSmall");

/**
 * Reads the varint at `buf[p]` (below `end`) of at most 32 bits; -1 when
 * it is cut off, overlong or too large. The decoder accepts only the
 * shortest form, so the varint's length follows from its value.
 */
function varintAt(buf: Uint8Array, p: number, end: number): number {
  let result = 0;
  for (let shift = 0; shift < 28; shift += 7) {
    if (p >= end) return -1;
    const b = buf[p++]!;
    result |= (b & 0x7f) << shift;
    if (b < 0x80) return b === 0 && shift > 0 ? -1 : result >>> 0;
  }
  if (p >= end) return -1;
  const b = buf[p]!;
  // The fifth byte carries bits 28 to 31 only, and is not zero in a shortest form.
  if (b > 0x0f || b === 0) return -1;
  return (result >>> 0) + b * 0x1000_0000;
}

/**
 * Statements that read a varint of at most `max` into `to`: a one-byte
 * varint inline, a longer one through `varintAt`.
 */
function readVarint(g: Gen, to: string, max: number, bail: string): string {
  return `${to} = buf[p]; if (${to} < 128) p++; else { ${to} = ${
    g.k(varintAt)
  }(buf, p, end); if (${to} < 0 || ${to} > ${max}) ${bail} p += ${varintSizeOf(to)}; }`;
}

/**
 * Statements that decode one value of `schema` from `buf` at `p` into `to`,
 * all inline. Anything unusual (an invalid byte or string, the end of the
 * input) returns `NOT_SMALL`, and the ordinary decoder reads the value
 * again, decoding or reporting it. Undefined for schemas it does not cover.
 */
function smallDec(g: Gen, schema: Schema<unknown>, to: string): string | undefined {
  if (++g.nodes > SMALL_BUDGET) return undefined;
  const bail = `return ${g.k(NOT_SMALL)};`;
  const need = `if (p >= end) ${bail}`;
  const s = schemaNode(schema);
  switch (s.kind) {
    case "bool": {
      const b = g.v();
      return `${need} { const ${b} = buf[p++]; if (${b} > 1) ${bail} ${to} = ${b} === 1; }`;
    }
    case "u8":
      return `${need} ${to} = buf[p++];`;
    case "i8":
      return `${need} ${to} = (buf[p++] << 24) >> 24;`;
    case "u16":
    case "u32":
      return `${need} ${readVarint(g, to, s.kind === "u16" ? 0xffff : 0xffff_ffff, bail)}`;
    case "i16":
    case "i32":
      // Zigzag: an i16 is at most 65535 on the wire, an i32 at most 2^32 - 1.
      return `${need} ${
        readVarint(g, to, s.kind === "i16" ? 0xffff : 0xffff_ffff, bail)
      } ${to} = (${to} >>> 1) ^ -(${to} & 1);`;
    case "string": {
      const n = g.v();
      return `${need} { let ${n}; ${
        readVarint(g, n, 0xffff_ffff, bail)
      } if (${n} > end - p) ${bail} ${to} = ${
        g.k(utf8Decode)
      }(buf, p, p + ${n}); if (${to} === undefined) ${bail} p += ${n}; }`;
    }
    case "unit":
      return `${to} = undefined;`;
    case "option": {
      const inner = smallDec(g, s.inner, to);
      if (inner === undefined) return undefined;
      const tag = g.v();
      return `${need} { const ${tag} = buf[p++]; if (${tag} === 0) ${to} = undefined; else if (${tag} === 1) { ${inner} } else ${bail} }`;
    }
    case "struct": {
      const fields = s.fields;
      const vars = fields.map(() => g.v());
      let body = vars.length > 0 ? `let ${vars.join(", ")};` : "";
      for (let i = 0; i < fields.length; i++) {
        const inner = smallDec(g, fields[i]!.schema, vars[i]!);
        if (inner === undefined) return undefined;
        body += inner;
      }
      const obj = fields.map((f, i) => `${objectKey(f.name)}: ${vars[i]}`).join(", ");
      return `{ ${body} ${to} = { ${obj} }; }`;
    }
    case "tuple": {
      const items = s.items;
      const vars = items.map(() => g.v());
      let body = vars.length > 0 ? `let ${vars.join(", ")};` : "";
      for (let i = 0; i < items.length; i++) {
        const inner = smallDec(g, items[i]!, vars[i]!);
        if (inner === undefined) return undefined;
        body += inner;
      }
      return `{ ${body} ${to} = [${vars.join(", ")}]; }`;
    }
    default:
      return undefined;
  }
}

/**
 * Generates a decoder for small values of fixed shape (see `smallDec`):
 * `(buf, start, end)` returns the value of `buf[start, end)` or
 * `NOT_SMALL`. Undefined for other schemas.
 */
export function generateSmallDecoder(
  schema: Schema<unknown>,
  compile: CompileFn,
): ((buf: Uint8Array, start: number, end: number) => unknown) | undefined {
  const g = new Gen(compile);
  const body = smallDec(g, schema, "out");
  if (body === undefined) return undefined;
  const bail = g.k(NOT_SMALL);
  return make<(buf: Uint8Array, start: number, end: number) => unknown>(
    g,
    `"use strict"; return function decodeSmall(buf, start, end) {\nlet p = start; let out;\n${body}\nif (p !== end) return ${bail};\nreturn out;\n};`,
  );
}
