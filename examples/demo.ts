/**
 * The demo: a typed Calculator server and client talking roam v7 over TCP
 * on loopback. Run with `deno task demo` or `bun run examples/demo.ts`.
 *
 * `--serve <url>` picks the server's address (default a free TCP port) and
 * `--connect <url>` the client's (default the server's), so the client can
 * go through `roam spy` (see the README's "Command line" section).
 *
 * @module
 */

import process from "node:process";
import { parseArgs } from "node:util";
import { connect, err, implement, ok, serve } from "../mod.ts";
import { Calculator } from "./calculator.ts";

const hex = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, "0")).join(" ");

const { values: where } = parseArgs({
  args: process.argv.slice(2),
  options: { serve: { type: "string" }, connect: { type: "string" } },
});

const server = await serve(where.serve ?? "tcp://127.0.0.1:0", {
  services: [
    implement(Calculator, {
      add: (a, b) => a + b,
      divide: (a, b) => (b === 0n ? err({ tag: "DivisionByZero" }) : ok(a / b)),
      translate: (p, d) => ({ x: p.x + d, y: p.y + d }),
    }),
  ],
});
console.log(`server listening on ${server.url}`);

const session = await connect(where.connect ?? server.url);
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
