/**
 * The demo: a typed Calculator server and client talking roam v7 over TCP
 * on loopback. Run with `deno task demo` or `bun run examples/demo.ts`.
 *
 * @module
 */

import { connect, err, implement, ok, serve, service, t } from "../mod.ts";

const hex = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, "0")).join(" ");

const MathError = t.enum({ DivisionByZero: t.unit, Overflow: t.unit });
const Point = t.struct({ x: t.i32, y: t.i32 });

/** The service definition is the schema: both sides get their types from it. */
const Calculator = service("Calculator", {
  add: { args: [t.i32, t.i32], returns: t.i32 },
  divide: { args: [t.i64, t.i64], returns: t.i64, error: MathError },
  translate: { args: [Point, t.i32], returns: Point },
});

const server = await serve("tcp://127.0.0.1:0", {
  services: [
    implement(Calculator, {
      add: (a, b) => a + b,
      divide: (a, b) => (b === 0n ? err({ tag: "DivisionByZero" }) : ok(a / b)),
      translate: (p, d) => ({ x: p.x + d, y: p.y + d }),
    }),
  ],
});
console.log(`server listening on ${server.url}`);

const session = await connect(server.url);
const calc = session.client(Calculator);

console.log("add(2, 3)            =", await calc.add(2, 3));
console.log("divide(7, 2)         =", await calc.divide(7n, 2n));
console.log("divide(1, 0)         =", await calc.divide(1n, 0n));
console.log("translate({1,2}, 10) =", await calc.translate({ x: 1, y: 2 }, 10));

const started = performance.now();
const sums = await Promise.all(Array.from({ length: 1000 }, (_, i) => calc.add(i, i)));
const ms = performance.now() - started;
console.log(`1000 pipelined calls in ${ms.toFixed(1)} ms (last = ${sums[999]})`);
console.log(`ping round trip: ${(await session.ping()).toFixed(3)} ms`);

console.log("\nMethod ids (same as the Rust runtime computes):");
for (const m of Object.values(Calculator.methods)) {
  console.log(
    `  Calculator.${m.name.padEnd(10)} 0x${m.id.toString(16).padStart(16, "0")}  sig ${
      hex(m.signature)
    }`,
  );
}

await session.close();
await server.close();
console.log("\nclosed cleanly");
