/**
 * Generated fast paths for small values of fixed shape (no lists, maps or
 * enums): an encoder that sizes the value, allocates the exact result and
 * writes straight into it, and a decoder that reads one-byte varints and
 * short ASCII strings inline. Both step aside (returning undefined or
 * {@linkcode NOT_SMALL}) for anything unusual, and the ordinary codec
 * (`_codegen.ts`, then `_compile.ts`) encodes, decodes or reports it.
 *
 * @module
 */

import { SHORT_STRING, shortAscii } from "./_reader.ts";
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

/**
 * Writes the ASCII string `s` into `out` at `p` and returns the position
 * after it, or -1 at the first other character. One small function that
 * every generated encoder shares, which JavaScript engines optimise better
 * than a loop inlined into each encoder.
 */
function putAscii(out: Uint8Array, p: number, s: string): number {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128) return -1;
    out[p + i] = c;
  }
  return p + n;
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
 * takes the ordinary path, which reports the error. Strings are assumed to
 * be ASCII while sizing; the write pass returns undefined at the first
 * other character.
 */
function small(g: Gen, schema: Schema<unknown>, x: string, locals: string[]): Small | undefined {
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
      const put = g.k(putAscii);
      return {
        size: `if (typeof ${x} !== "string") ${bail} n += ${x}.length + ${
          varintSizeOf(`${x}.length`)
        };`,
        write: `${putVarint(g, `${x}.length`)} p = ${put}(out, p, ${x}); if (p < 0) ${bail}`,
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
      const inner = small(g, s.inner, x, locals);
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
        const inner = small(g, item, y, locals);
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

/**
 * Generates an encoder for small values of fixed shape (no lists, maps or
 * enums): it reads and checks the value, allocates a result of the exact
 * size (a new `Uint8Array`, or from `alloc` when one is passed) and writes
 * straight into it, with no intermediate buffer and no copy. It returns
 * undefined, for the ordinary encoder to take over, when the value is
 * larger than `max` bytes, has a non-ASCII string or does not fit the
 * schema. Undefined for other schemas.
 */
export function generateSmallEncoder(
  schema: Schema<unknown>,
  compile: CompileFn,
  max: number,
): ((x: unknown, alloc?: (n: number) => Uint8Array) => Uint8Array | undefined) | undefined {
  const g = new Gen(compile);
  const locals: string[] = [];
  const code = small(g, schema, "x", locals);
  if (code === undefined) return undefined;
  const decl = locals.length > 0 ? `let ${locals.join(", ")};` : "";
  return make<(x: unknown, alloc?: (n: number) => Uint8Array) => Uint8Array | undefined>(
    g,
    `"use strict"; return function encodeSmall(x, alloc) {\nlet n = 0; ${decl}\n${code.size}\nif (n > ${max}) return undefined;\nconst out = alloc === undefined ? new Uint8Array(n) : alloc(n);\nlet p = 0;\n${code.write}\nreturn out;\n};`,
  );
}

// ---------------------------------------------------------------- decode

/** What a small-value decoder returns when the input needs the ordinary decoder. */
export const NOT_SMALL: unique symbol = Symbol("roam.postcard.notSmall");

/**
 * Statements that decode one value of `schema` from `buf` at `p` into `to`,
 * all inline, for the common shape of small values: one-byte varints and
 * short ASCII strings. Anything else (a longer varint, a long or non-ASCII
 * string, a bad byte, the end of the input) returns `NOT_SMALL`, and the
 * ordinary decoder reads the value again, decoding or reporting it.
 * Undefined for schemas it does not cover.
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
      return `${need} ${to} = buf[p++]; if (${to} >= 128) ${bail}`;
    case "i16":
    case "i32":
      return `${need} ${to} = buf[p++]; if (${to} >= 128) ${bail} ${to} = (${to} >>> 1) ^ -(${to} & 1);`;
    case "string": {
      const n = g.v();
      const a = g.k(shortAscii);
      return `${need} { const ${n} = buf[p]; if (${n} > ${SHORT_STRING} || p + 1 + ${n} > end) ${bail} ${to} = ${a}(buf, p + 1, p + 1 + ${n}); if (${to} === undefined) ${bail} p += 1 + ${n}; }`;
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
