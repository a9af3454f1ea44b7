/**
 * The layer check (`scripts/check_layers.ts`) on made-up trees: an import
 * from a layer above, an import of a file outside every layer and a cycle
 * between folders are reported with their file and line; imports within a
 * folder and down the layers pass; comments do not count as imports.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { check, importsOf, layerOf, reach } from "../../scripts/check_layers.ts";

/** A tree of repository-relative paths and their sources. */
function tree(files: Record<string, string>): Map<string, string> {
  return new Map(Object.entries(files));
}

test("check() reports an import from a layer above with its file, line and target", () => {
  const violations = check(tree({
    "lib/_util/queue.ts": [
      "// A queue.",
      'import { Writer } from "./bytes.ts";',
      'import { SessionCore } from "../session/core.ts";',
      "export class Queue {}",
    ].join("\n"),
  }));
  assert.deepEqual(violations, [{
    file: "lib/_util/queue.ts",
    line: 3,
    target: "lib/session/core.ts",
    why: "lib/_util may not import lib/session",
  }]);
});

test("check() accepts imports from the own folder and from every layer below, however far", () => {
  const violations = check(tree({
    "lib/session/core.ts": [
      'import { Queue } from "../_util/queue.ts";',
      'import { encode } from "../postcard/codec.ts";',
      'import type { Message } from "../wire/types.ts";',
      'import { Pinger } from "./pinger.ts";',
      'export { ConnectionCore } from "../connection/core.ts";',
    ].join("\n"),
    "lib/connection/core.ts": 'import { Tx } from "../channel/tx.ts";\n',
  }));
  assert.deepEqual(violations, []);
});

test("check() reports both folders of a cycle, made by an upward import", () => {
  const violations = check(tree({
    "lib/postcard/codec.ts": 'import { Queue } from "../_util/queue.ts";\n',
    "lib/_util/queue.ts": 'import { encode } from "../postcard/codec.ts";\n',
  }));
  assert.deepEqual(
    violations.map((v) => v.why).sort(),
    [
      "cycle between lib/_util and lib/postcard",
      "cycle between lib/postcard and lib/_util",
      "lib/_util may not import lib/postcard",
    ],
  );
  assert.ok(violations.every((v) => v.file.startsWith("lib/")));
});

test("check() reports an import of a file outside every layer", () => {
  const violations = check(tree({
    "lib/wire/encode.ts": '\nimport { hex } from "../../tests/_helpers/mod.ts";\n',
  }));
  assert.deepEqual(violations, [{
    file: "lib/wire/encode.ts",
    line: 2,
    target: "tests/_helpers/mod.ts",
    why: "imports a file outside the layers",
  }]);
});

test("check() holds an entry point to the layers listed for it", () => {
  const ok = check(tree({ "postcard.ts": 'export { encode } from "./lib/postcard/codec.ts";\n' }));
  assert.deepEqual(ok, []);
  const violations = check(tree({
    "postcard.ts": 'export { encodeMessage } from "./lib/wire/encode.ts";\n',
  }));
  assert.equal(violations.length, 1);
  assert.equal(violations[0]!.file, "postcard.ts");
  assert.equal(violations[0]!.target, "lib/wire/encode.ts");
  assert.match(violations[0]!.why, /may not import lib\/wire/);
});

test("check() treats an import of an entry point as an import of the layers it re-exports", () => {
  const violations = check(tree({
    "lib/session/core.ts": 'import { encode } from "../../postcard.ts";\n',
    "lib/_util/bytes.ts": 'import { accept } from "../../mod.ts";\n',
  }));
  assert.deepEqual(violations.map((v) => `${v.file}: ${v.why}`), [
    "lib/_util/bytes.ts: lib/_util may not import lib/extras",
  ]);
});

test("check() ignores files outside every layer and non-relative imports", () => {
  const violations = check(tree({
    "tests/x_test.ts": 'import { SessionCore } from "../lib/session/core.ts";\n',
    "lib/_util/turn.ts": 'import process from "node:process";\nimport { x } from "@roam/roam";\n',
  }));
  assert.deepEqual(violations, []);
});

test("importsOf() finds static, side-effect, re-export and dynamic imports with the lines they start on", () => {
  const source = [
    'import { a } from "./a.ts";',
    'import "./side.ts";',
    'export * from "../b.ts";',
    "const c = await import(",
    '  "./c.ts");',
    'import { d } from "@roam/roam";',
  ].join("\n");
  assert.deepEqual(importsOf(source), [
    { spec: "./a.ts", line: 1 },
    { spec: "./side.ts", line: 2 },
    { spec: "../b.ts", line: 3 },
    { spec: "./c.ts", line: 4 }, // the line where the import starts
  ]);
});

test("importsOf() skips imports quoted in block comments and keeps the lines after them right", () => {
  const source = [
    "/**",
    " * @example",
    ' * import { Session } from "../session/session.ts";',
    " */",
    'import { a } from "./a.ts";',
  ].join("\n");
  assert.deepEqual(importsOf(source), [{ spec: "./a.ts", line: 5 }]);
});

test("layerOf() matches whole folder names only", () => {
  assert.equal(layerOf("lib/postcard/codec.ts"), "lib/postcard");
  assert.equal(layerOf("lib/postcard"), "lib/postcard");
  assert.equal(layerOf("transports/tcp.ts"), "transports");
  assert.equal(layerOf("lib/postcardish/codec.ts"), undefined);
  assert.equal(layerOf("tests/_helpers/mod.ts"), undefined);
});

test("reach() holds a layer, the layers it lists and theirs, and nothing above it", () => {
  const session = reach("lib/session");
  for (
    const below of ["lib/session", "lib/connection", "lib/channel", "lib/wire", "lib/postcard"]
  ) {
    assert.ok(session.has(below), `lib/session reaches ${below}`);
  }
  assert.ok(!session.has("lib/extras"));
  assert.deepEqual([...reach("lib/_util")], ["lib/_util"]);
});
