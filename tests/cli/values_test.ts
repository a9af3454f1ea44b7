/**
 * The value plumbing of the command line, in process: how the spy finds
 * the channels of a call it decodes, and JSON both ways.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { decode, encode, type Schema, service, t } from "../../mod.ts";
import { fromJson, toJson } from "../../lib/cli/_json.ts";
import { channelSlots, spySchema } from "../../lib/cli/_walk.ts";

const S = service("S", {
  m: { args: [t.option(t.tx(t.u8)), t.struct({ a: t.rx(t.string), n: t.u8 })] },
});

test("the spy tells a channel inside Some from None when it decodes a call's arguments", () => {
  const args = S.methods.m.args;
  const some = Uint8Array.of(1, 7); // Some(<channel: no bytes>), { a: <channel>, n: 7 }
  const none = Uint8Array.of(0, 7);
  const kinds = (bytes: Uint8Array, schema: Schema<unknown>) =>
    channelSlots(args, decode(schema, bytes)).map((s) => s.kind);
  assert.deepEqual(kinds(some, spySchema(args)), ["tx", "rx"]);
  assert.deepEqual(kinds(none, spySchema(args)), ["rx"]);
  // Decoded with the method's own schema, Some(channel) reads as None: why the copy exists.
  assert.deepEqual(kinds(some, args), ["rx"]);
});

test("JSON arguments read back as the values that print them", () => {
  const Node: Schema<{ v: bigint; next?: unknown }> = t.struct({
    v: t.u64,
    next: t.option(t.lazy(() => Node)),
  });
  const schema = t.tuple(
    Node,
    t.map(t.i64, t.bytes),
    t.set(t.string),
    t.enum({ A: t.unit, B: [t.f64, t.bool] }),
    t.f32,
  );
  const json = [
    { v: "18446744073709551615", next: { v: "1", next: null } },
    [["-9223372036854775808", "00ff"]],
    ["x", "y"],
    { tag: "B", value: [1.5, true] },
    "NaN",
  ];
  const value = fromJson(schema, json, "args", () => assert.fail("no channels here"));
  const bytes = encode(schema as Schema<unknown>, value);
  // As printed: through JSON.stringify (objects have no prototype, so a key may be `__proto__`).
  assert.deepEqual(JSON.parse(JSON.stringify(toJson(schema, decode(schema, bytes)))), json);
  assert.throws(
    () => fromJson(t.u64, 2 ** 60, "args[0]", () => undefined),
    /args\[0\]: expected an integer for u64, got \d+ \(write integers beyond 2\^53 as strings\)/,
  );
  assert.throws(
    () => fromJson(t.struct({ a: t.u8 }), { a: 1, b: 2 }, "args[1]", () => undefined),
    /args\[1\]: unknown field "b" \(fields: a\)/,
  );
});
