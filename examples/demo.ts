/**
 * The demo: defines a service, prints its method ids, and shows a few
 * values with their postcard bytes. Run with `deno task demo` or
 * `bun run examples/demo.ts`.
 *
 * @module
 */

import { decode, encode, type Infer, service, t } from "../mod.ts";

const hex = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, "0")).join(" ");

const MathError = t.enum({ DivisionByZero: t.unit, Overflow: t.unit });
const Point = t.struct({ x: t.i32, y: t.i32 });

const Calculator = service("Calculator", {
  add: { args: [t.i32, t.i32], returns: t.i32 },
  divide: { args: [t.i64, t.i64], returns: t.i64, error: MathError },
  sum: { args: [t.rx(t.i32)], returns: t.i64 },
  generate: { args: [t.u32, t.tx(t.i32)], returns: t.unit },
  translate: { args: [Point, t.i32], returns: Point },
});

console.log("Method ids of the Calculator service:");
for (const m of Object.values(Calculator.methods)) {
  console.log(
    `  ${m.name.padEnd(10)} 0x${m.id.toString(16).padStart(16, "0")}  sig ${hex(m.signature)}`,
  );
}

const p: Infer<typeof Point> = { x: 3, y: -4 };
const examples: [string, Uint8Array][] = [
  ["Point { x: 3, y: -4 }", encode(Point, p)],
  ["translate args (Point, 10)", encode(Calculator.methods.translate.args, [p, 10])],
  ["MathError::Overflow", encode(MathError, { tag: "Overflow" })],
  ['"héllo 世界 🦀"', encode(t.string, "héllo 世界 🦀")],
  ["u64::MAX", encode(t.u64, 0xffff_ffff_ffff_ffffn)],
];
console.log("\nPostcard encodings:");
for (const [label, bytes] of examples) console.log(`  ${label.padEnd(28)} ${hex(bytes)}`);

console.log("\nDecoded back:", decode(Point, examples[0]![1]));
