import { test } from "node:test";
import assert from "node:assert/strict";
import { type Schema, service, t } from "../../mod.ts";
import { signatureOf } from "../../wire.ts";
import { toHex } from "../_helpers/mod.ts";

const MathError = t.enum({ DivisionByZero: t.unit, Overflow: t.unit });
const Testbed = service("Testbed", {
  echo: { args: [t.string], returns: t.string },
  divide: { args: [t.i64, t.i64], returns: t.i64, error: MathError },
  sum: { args: [t.rx(t.i32)], returns: t.i64 },
  generate: { args: [t.u32, t.tx(t.i32)] },
});

test("service() computes the four upstream-verified Testbed method ids", () => {
  assert.equal(Testbed.methods.echo.id, 0x9aabc4ba61fd5df3n);
  assert.equal(Testbed.methods.divide.id, 0xc3964cbee4b1d590n);
  assert.equal(Testbed.methods.sum.id, 0x855b3a25d97bfefdn);
  assert.equal(Testbed.methods.generate.id, 0x54d2273d8cdb9c38n);
});

test("service() signatures match wire-spec §6.4 byte for byte", () => {
  assert.equal(toHex(Testbed.methods.echo.signature), "25 01 0f 0f");
  assert.equal(toHex(Testbed.methods.divide.signature), "25 02 0a 0a 10");
  assert.equal(toHex(Testbed.methods.sum.signature), "25 01 27 09 0a");
  assert.equal(toHex(Testbed.methods.generate.signature), "25 02 04 26 09 10");
});

test("service() ids for zero-argument and unsigned methods match the computed references", () => {
  const Adder = service("Adder", { add: { args: [t.u32, t.u32], returns: t.u32 } });
  const Ping = service("Ping", { ping: { args: [], returns: t.u64 } });
  assert.equal(Adder.methods.add.id, 0x9779c2f07703fab4n);
  assert.equal(Ping.methods.ping.id, 0xe9902a970bb69986n);
  assert.equal(toHex(Ping.methods.ping.signature), "10 05");
});

test("method ids ignore the case style of service and method names", () => {
  const a = service("TemplateHost", { loadTemplate: { args: [t.string], returns: t.string } });
  const b = service("template_host", { load_template: { args: [t.string], returns: t.string } });
  assert.equal(a.methods.loadTemplate.id, b.methods.load_template.id);
});

test("fallible methods hash their return type as unit, whatever T and E are", () => {
  const A = service("S", { m: { args: [t.u8], returns: t.string, error: t.u32 } });
  const B = service("S", { m: { args: [t.u8], returns: t.i64, error: MathError } });
  const C = service("S", { m: { args: [t.u8] } });
  assert.equal(A.methods.m.id, B.methods.m.id);
  assert.equal(A.methods.m.id, C.methods.m.id);
});

test("channel credit is not part of the method id", () => {
  const A = service("S", { m: { args: [t.rx(t.i32)] } });
  const B = service("S", { m: { args: [t.rx(t.i32, { credit: 64 })] } });
  assert.equal(A.methods.m.id, B.methods.m.id);
});

test("byId finds every method by its id", () => {
  for (const m of Object.values(Testbed.methods)) assert.equal(Testbed.byId.get(m.id), m);
});

test("signatureOf() encodes scalars with their tags", () => {
  const kinds: [Schema<unknown>, number][] = [
    [t.bool, 0x01],
    [t.u8, 0x02],
    [t.u16, 0x03],
    [t.u32, 0x04],
    [t.u64, 0x05],
    [t.u128, 0x06],
    [t.i8, 0x07],
    [t.i16, 0x08],
    [t.i32, 0x09],
    [t.i64, 0x0a],
    [t.i128, 0x0b],
    [t.f32, 0x0c],
    [t.f64, 0x0d],
    [t.char, 0x0e],
    [t.string, 0x0f],
    [t.unit, 0x10],
    [t.bytes, 0x11],
    [t.tuple(), 0x10],
  ];
  for (const [schema, tag] of kinds) assert.deepEqual([...signatureOf(schema)], [tag]);
});

test("signatureOf() encodes containers, with Vec<u8> as bytes", () => {
  assert.equal(toHex(signatureOf(t.list(t.u8))), "11");
  assert.equal(toHex(signatureOf(t.list(t.u16))), "20 03");
  assert.equal(toHex(signatureOf(t.option(t.string))), "21 0f");
  assert.equal(toHex(signatureOf(t.array(t.u8, 32))), "22 20 02");
  assert.equal(toHex(signatureOf(t.array(t.u8, 300))), "22 ac 02 02");
  assert.equal(toHex(signatureOf(t.map(t.string, t.u64))), "23 0f 05");
  assert.equal(toHex(signatureOf(t.set(t.i32))), "24 09");
  assert.equal(toHex(signatureOf(t.tuple(t.u8, t.bool))), "25 02 02 01");
  assert.equal(toHex(signatureOf(t.tx(t.i32))), "26 09");
  assert.equal(toHex(signatureOf(t.rx(t.string))), "27 0f");
});

test("signatureOf() encodes struct field names but not the struct name", () => {
  const Point = t.struct({ x: t.i32, y: t.i32 });
  assert.equal(toHex(signatureOf(Point)), "30 02 01 78 09 01 79 09");
  // The same type twice without recursion is expanded both times.
  const Rect = t.struct({ a: Point, b: Point });
  assert.equal(
    toHex(signatureOf(Rect)),
    "30 02 01 61 30 02 01 78 09 01 79 09 01 62 30 02 01 78 09 01 79 09",
  );
});

test("signatureOf() encodes every enum variant shape", () => {
  const E = t.enum({
    A: t.unit,
    B: t.u8,
    C: [t.u8, t.bool],
    D: { x: t.u8 },
    E: [t.u8],
  });
  assert.equal(
    toHex(signatureOf(E)),
    [
      "31 05",
      "01 41 00",
      "01 42 01 02",
      "01 43 02 02 01 30 02 01 31 01",
      "01 44 02 01 01 78 02",
      "01 45 01 02",
    ].join(" "),
  );
});

test("signatureOf() writes a back-reference for a recursive type", () => {
  interface Node {
    next?: Node | undefined;
  }
  const Node: Schema<Node> = t.struct({ next: t.option(t.lazy(() => Node)) });
  assert.equal(toHex(signatureOf(Node)), "30 01 04 6e 65 78 74 21 32 00");
});

test("back-reference depth counts every enclosing user type, tuples included", () => {
  interface Tree {
    kids: [number, Tree | undefined];
  }
  const Tree: Schema<Tree> = t.struct({
    kids: t.tuple(t.i32, t.option(t.lazy(() => Tree))),
  });
  // Tree > tuple > (back to Tree): depth 1.
  assert.equal(toHex(signatureOf(Tree)), "30 01 04 6b 69 64 73 25 02 09 21 32 01");
});

test("service() rejects channels in return types, errors and collections", () => {
  assert.throws(() => service("S", { m: { args: [], returns: t.tx(t.u8) } }), TypeError);
  assert.throws(() => service("S", { m: { args: [], error: t.rx(t.u8) } }), TypeError);
  assert.throws(() => service("S", { m: { args: [t.list(t.tx(t.u8))] } }), /collections/);
  assert.throws(() => service("S", { m: { args: [t.map(t.u8, t.rx(t.u8))] } }), /collections/);
  assert.throws(() => service("S", { m: { args: [t.tx(t.tx(t.u8))] } }), /collections|channels/);
});

test("service() accepts channels in structs, enums and options inside arguments", () => {
  const Pipe = t.struct({ input: t.rx(t.u8), output: t.option(t.tx(t.u8)) });
  const s = service("S", { m: { args: [Pipe, t.enum({ A: t.tx(t.u8), B: t.unit })] } });
  assert.equal(typeof s.methods.m.id, "bigint");
});

test("service() rejects bad definitions with clear errors", () => {
  assert.throws(() => service("", {}), /name/);
  assert.throws(() => service("S", { m: {} as never }), /args/);
  assert.throws(
    () => service("S", { loadTemplate: { args: [] }, load_template: { args: [] } }),
    /kebab-case/,
  );
  assert.throws(() => service("S", { m: { args: [42 as never] } }), TypeError);
});
