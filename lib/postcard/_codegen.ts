/**
 * Generates straight-line JavaScript for a schema's encoder and decoder:
 * field reads, type checks and buffer writes inlined, object literals for
 * structs (one hidden class per struct type). It is an optimisation of the
 * closure codec in `_compile.ts`, which stays the reference: whenever a
 * generated fast check fails, the generated code calls the closure encoder
 * for that value, which either encodes it or throws the precise error.
 *
 * Where `new Function` is not allowed (a strict Content Security Policy),
 * generation fails quietly and the closures are used.
 *
 * @module
 */

import type { Compiled, Decoder, Encoder } from "./_compile.ts";
import { ZERO_SIZED_LIMIT } from "./_compile.ts";
import { SHORT_STRING, shortAscii } from "./_reader.ts";
import { t } from "./builders.ts";
import { type FieldSchema, type Schema, schemaNode } from "./schema.ts";

/** Largest number of schema nodes inlined into one generated function. */
const NODE_BUDGET = 400;

type CompileFn = (schema: Schema<unknown>) => Compiled;

class Gen {
  readonly consts: unknown[] = [];
  #next = 0;
  nodes = 0;
  constructor(readonly compile: CompileFn) {}

  /** A name bound to a constant value in the generated function. */
  k(value: unknown): string {
    this.consts.push(value);
    return `k${this.consts.length - 1}`;
  }

  /** A fresh local variable name. */
  v(): string {
    return `v${this.#next++}`;
  }
}

const lit = (s: string): string => JSON.stringify(s);

function prop(name: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(name) ? `.${name}` : `[${lit(name)}]`;
}

function objectKey(name: string): string {
  // A literal `"__proto__": x` would set the prototype; a computed key does not.
  return name === "__proto__" ? `[${lit(name)}]` : lit(name);
}

// ---------------------------------------------------------------- encode

function enc(g: Gen, schema: Schema<unknown>, x: string): string {
  const fb = (): string => `${g.k(g.compile(schema).encode)}(w, ${x});`;
  if (++g.nodes > NODE_BUDGET) return fb();
  const s = schemaNode(schema);
  switch (s.kind) {
    case "bool":
      return `if (${x} === true) w.u8(1); else if (${x} === false) w.u8(0); else ${fb()}`;
    case "u8":
      return `if (typeof ${x} === "number" && (${x} & 255) === ${x}) w.u8(${x}); else ${fb()}`;
    case "i8":
      return `if (typeof ${x} === "number" && ((${x} << 24) >> 24) === ${x}) w.u8(${x} & 255); else ${fb()}`;
    case "u16":
      return `if (typeof ${x} === "number" && (${x} & 65535) === ${x}) w.varint(${x}); else ${fb()}`;
    case "u32":
      return `if (typeof ${x} === "number" && (${x} >>> 0) === ${x}) w.varint(${x}); else ${fb()}`;
    case "i16":
      return `if (typeof ${x} === "number" && ((${x} << 16) >> 16) === ${x}) w.varint(((${x} << 1) ^ (${x} >> 31)) >>> 0); else ${fb()}`;
    case "i32":
      return `if (typeof ${x} === "number" && (${x} | 0) === ${x}) w.varint(((${x} << 1) ^ (${x} >> 31)) >>> 0); else ${fb()}`;
    case "f32":
      return `if (typeof ${x} === "number") w.f32(${x}); else ${fb()}`;
    case "f64":
      return `if (typeof ${x} === "number") w.f64(${x}); else ${fb()}`;
    case "string":
      return `if (typeof ${x} !== "string" || !w.string(${x})) ${fb()}`;
    case "bytes":
      return `if (${x} instanceof Uint8Array) { w.varint(${x}.length); w.raw(${x}); } else ${fb()}`;
    case "unit":
      return `if (${x} !== undefined && ${x} !== null) ${fb()}`;
    case "option":
      return `if (${x} === undefined || ${x} === null) w.u8(0); else { w.u8(1); ${
        enc(g, s.inner, x)
      } }`;
    case "struct":
      return `if (typeof ${x} !== "object" || ${x} === null) ${fb()} else {${
        encFields(g, s.fields, x)
      }}`;
    case "tuple": {
      const items = s.items;
      let body = "";
      items.forEach((item, i) => {
        const y = g.v();
        body += `const ${y} = ${x}[${i}]; ${enc(g, item, y)}\n`;
      });
      return `if (!Array.isArray(${x}) || ${x}.length !== ${items.length}) ${fb()} else {${body}}`;
    }
    case "list":
    case "array": {
      const i = g.v();
      const y = g.v();
      const n = s.kind === "array" ? s.length : undefined;
      const check = n === undefined
        ? `!Array.isArray(${x})`
        : `!Array.isArray(${x}) || ${x}.length !== ${n}`;
      const count = n === undefined ? `w.varint(${x}.length);` : "";
      return `if (${check}) ${fb()} else { ${count} for (let ${i} = 0; ${i} < ${x}.length; ${i}++) { const ${y} = ${x}[${i}]; ${
        enc(g, s.item, y)
      } } }`;
    }
    case "enum": {
      const variants = s.variants;
      if (variants.length > 127) return fb();
      const at = g.v();
      const redo = `w.pos = ${at}; ${fb()}`;
      let cases = "";
      variants.forEach((variant, index) => {
        let body = `w.u8(${index});`;
        const y = g.v();
        switch (variant.shape) {
          case "unit":
            break;
          case "newtype":
            body += `const ${y} = ${x}.value; ${enc(g, variant.schema, y)}`;
            break;
          case "tuple":
            body +=
              `const ${y} = ${x}.value; if (!Array.isArray(${y}) || ${y}.length !== ${variant.items.length}) { ${redo} } else {`;
            variant.items.forEach((item, i) => {
              const z = g.v();
              body += `const ${z} = ${y}[${i}]; ${enc(g, item, z)}\n`;
            });
            body += "}";
            break;
          case "struct":
            body +=
              `const ${y} = ${x}.value; if (typeof ${y} !== "object" || ${y} === null) { ${redo} } else {${
                encFields(g, variant.fields, y)
              }}`;
            break;
        }
        cases += `case ${lit(variant.name)}: { ${body} break; }\n`;
      });
      return `const ${at} = w.pos; if (typeof ${x} !== "object" || ${x} === null) ${fb()} else switch (${x}.tag) {\n${cases}default: ${fb()} }`;
    }
    default:
      return fb();
  }
}

function encFields(g: Gen, fields: readonly FieldSchema[], x: string): string {
  let body = "";
  for (const f of fields) {
    const y = g.v();
    body += `const ${y} = ${x}${prop(f.name)}; ${enc(g, f.schema, y)}\n`;
  }
  return body;
}

// ---------------------------------------------------------------- small values

/** Most schema nodes a generated small-value encoder covers. */
const SMALL_BUDGET = 64;

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

/** Statements that decode one value of `schema` into the variable `to`. */
function dec(g: Gen, schema: Schema<unknown>, to: string): string {
  const fb = (): string => `${to} = ${g.k(g.compile(schema).decode)}(r);`;
  if (++g.nodes > NODE_BUDGET) return fb();
  const s = schemaNode(schema);
  switch (s.kind) {
    case "u8": {
      const q = g.v();
      return `{ const ${q} = r.pos; if (${q} < r.end) { ${to} = r.buf[${q}]; r.pos = ${q} + 1; } else ${to} = r.u8("u8"); }`;
    }
    case "u16":
      return oneByteVarint(g, to, `r.varint32("u16", 65535)`);
    case "u32":
      return oneByteVarint(g, to, `r.varint32("u32")`);
    case "i32":
      return `${oneByteVarint(g, to, `r.varint32("i32")`)} ${to} = (${to} >>> 1) ^ -(${to} & 1);`;
    case "string": {
      // A short ASCII string is read inline through the intern cache.
      const q = g.v();
      const n = g.v();
      const a = g.k(shortAscii);
      return `{ const ${q} = r.pos; const ${n} = ${q} < r.end ? r.buf[${q}] : 255; if (${n} <= ${SHORT_STRING} && ${q} + 1 + ${n} <= r.end && (${to} = ${a}(r.buf, ${q} + 1, ${q} + 1 + ${n})) !== undefined) r.pos = ${q} + 1 + ${n}; else ${to} = r.string("string"); }`;
    }
    case "f32":
      return `${to} = r.f32("f32");`;
    case "f64":
      return `${to} = r.f64("f64");`;
    case "unit":
      return `${to} = undefined;`;
    case "option": {
      const tag = g.v();
      const q = g.v();
      // A tag past the end or other than 0/1 goes to the closure decoder, which reports it.
      return `{ const ${q} = r.pos; const ${tag} = ${q} < r.end ? r.buf[${q}] : 2; if (${tag} === 0) { r.pos = ${q} + 1; ${to} = undefined; } else if (${tag} === 1) { r.pos = ${q} + 1; ${
        dec(g, s.inner, to)
      } } else { ${fb()} } }`;
    }
    case "struct":
      return decFields(g, s.fields, to);
    case "tuple": {
      const items = s.items;
      const vars = items.map(() => g.v());
      let body = vars.length > 0 ? `let ${vars.join(", ")};` : "";
      items.forEach((item, i) => {
        body += dec(g, item, vars[i]!);
      });
      return `{ ${body} ${to} = [${vars.join(", ")}]; }`;
    }
    case "list":
    case "array": {
      const n = g.v();
      const a = g.v();
      const i = g.v();
      const e = g.v();
      const count = s.kind === "array"
        ? `const ${n} = ${s.length}; r.spend(${lit(`array of ${s.length}`)}, ${n});`
        : `const ${n} = r.count("list", ${g.compile(s.item).minSize}, ${ZERO_SIZED_LIMIT});`;
      return `{ ${count} const ${a} = new Array(${n}); for (let ${i} = 0; ${i} < ${n}; ${i}++) { let ${e}; ${
        dec(g, s.item, e)
      } ${a}[${i}] = ${e}; } ${to} = ${a}; }`;
    }
    case "enum": {
      const variants = s.variants;
      const start = g.v();
      const ix = g.v();
      let cases = "";
      variants.forEach((variant, index) => {
        const tag = lit(variant.name);
        const y = g.v();
        switch (variant.shape) {
          case "unit":
            cases += `case ${index}: ${to} = { tag: ${tag} }; break;\n`;
            break;
          case "newtype":
            cases += `case ${index}: { let ${y}; ${
              dec(g, variant.schema, y)
            } ${to} = { tag: ${tag}, value: ${y} }; break; }\n`;
            break;
          case "tuple":
            cases += `case ${index}: { let ${y}; ${
              dec(g, t.tuple(...variant.items), y)
            } ${to} = { tag: ${tag}, value: ${y} }; break; }\n`;
            break;
          case "struct":
            cases += `case ${index}: { let ${y}; ${
              decFields(g, variant.fields, y)
            } ${to} = { tag: ${tag}, value: ${y} }; break; }\n`;
            break;
        }
      });
      return `{ const ${start} = r.pos; const ${ix} = r.varint32("enum"); switch (${ix}) {\n${cases}default: r.pos = ${start}; ${fb()} } }`;
    }
    default:
      return fb();
  }
}

/** Reads a varint into `to`: a one-byte varint inline, anything else through `slow`. */
function oneByteVarint(g: Gen, to: string, slow: string): string {
  const q = g.v();
  const b = g.v();
  return `{ const ${q} = r.pos; const ${b} = ${q} < r.end ? r.buf[${q}] : 128; if (${b} < 128) { ${to} = ${b}; r.pos = ${q} + 1; } else ${to} = ${slow}; }`;
}

function decFields(g: Gen, fields: readonly FieldSchema[], to: string): string {
  const vars = fields.map(() => g.v());
  let body = vars.length > 0 ? `let ${vars.join(", ")};` : "";
  fields.forEach((f, i) => {
    body += dec(g, f.schema, vars[i]!);
  });
  const obj = fields.map((f, i) => `${objectKey(f.name)}: ${vars[i]}`).join(", ");
  return `{ ${body} ${to} = { ${obj} }; }`;
}

// ---------------------------------------------------------------- small decode

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

// ---------------------------------------------------------------- build

let allowed = true;

function make<T>(g: Gen, source: string): T | undefined {
  if (!allowed) return undefined;
  try {
    const names = g.consts.map((_, i) => `k${i}`);
    return new Function(...names, source)(...g.consts) as T;
  } catch (e) {
    if (e instanceof SyntaxError) throw e; // a generator bug: fail loudly
    allowed = false; // e.g. EvalError under a Content Security Policy
    return undefined;
  }
}

/** Generates a fast encoder for `schema`, or returns undefined. */
export function generateEncoder(schema: Schema<unknown>, compile: CompileFn): Encoder | undefined {
  const g = new Gen(compile);
  const body = enc(g, schema, "x");
  return make<Encoder>(g, `"use strict"; return function encodeFast(w, x) {\n${body}\n};`);
}

/** Generates a fast decoder for `schema`, or returns undefined. */
export function generateDecoder(schema: Schema<unknown>, compile: CompileFn): Decoder | undefined {
  const g = new Gen(compile);
  const body = dec(g, schema, "out");
  return make<Decoder>(
    g,
    `"use strict"; return function decodeFast(r) {\nlet out;\n${body}\nreturn out;\n};`,
  );
}
