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
 * The fast paths for small values of fixed shape, which skip the `Writer`
 * and the `Reader` altogether, are in `_codegen_small.ts`.
 *
 * @module
 */

import type { Compiled, Decoder, Encoder } from "./_compile.ts";
import { ZERO_SIZED_LIMIT } from "./_reader.ts";
import { utf8Decode } from "./_utf8.ts";
import { t } from "./builders.ts";
import { type FieldSchema, type Schema, schemaNode } from "./schema.ts";

/** Largest number of schema nodes inlined into one generated function. */
const NODE_BUDGET = 400;

/** Compiles a schema to closures: the fallback of generated code. */
export type CompileFn = (schema: Schema<unknown>) => Compiled;

/** The state of one generated function: its constants, locals and node count. */
export class Gen {
  /** Values the generated function sees as `k0`, `k1`, … */
  readonly consts: unknown[] = [];
  #next = 0;
  /** Schema nodes generated so far, against a budget. */
  nodes = 0;

  /** The closure compiler, for fallbacks. */
  readonly compile: CompileFn;

  /**
   * Starts a function.
   *
   * @param compile The closure compiler, for fallbacks.
   */
  constructor(compile: CompileFn) {
    this.compile = compile;
  }

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

/** A JavaScript string literal. */
export const lit = (s: string): string => JSON.stringify(s);

/** A property access for `name`: `.name`, or `["name"]` for other names. */
export function prop(name: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(name) ? `.${name}` : `[${lit(name)}]`;
}

/** An object literal key for `name` that never sets the prototype. */
export function objectKey(name: string): string {
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
      // A string with a one-byte length is read inline; `r.string` reads
      // any other, and reports invalid UTF-8.
      const q = g.v();
      const n = g.v();
      const u = g.k(utf8Decode);
      return `{ const ${q} = r.pos; const ${n} = ${q} < r.end ? r.buf[${q}] : 255; if (${n} < 128 && ${q} + 1 + ${n} <= r.end && (${to} = ${u}(r.buf, ${q} + 1, ${q} + 1 + ${n})) !== undefined) r.pos = ${q} + 1 + ${n}; else ${to} = r.string("string"); }`;
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

// ---------------------------------------------------------------- build

let allowed = true;

/**
 * Makes the function whose body is `source`, with the constants of `g`
 * bound; undefined where `new Function` is not allowed.
 */
export function make<T>(g: Gen, source: string): T | undefined {
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
