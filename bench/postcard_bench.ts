/**
 * Postcard codec benchmarks against `JSON.stringify` + `TextEncoder` and
 * `TextDecoder` + `JSON.parse` on the same values, and a 1 MiB `bytes`
 * value against a plain copy.
 *
 * @module
 */

import { decode, encode, t } from "../postcard.ts";
import { opsPerSecond, opsPerSecondPair, type Report } from "./_harness.ts";

const Person = t.struct({ name: t.string, age: t.u32, email: t.option(t.string) });
const Point = t.struct({ x: t.i32, y: t.i32 });
const Points = t.list(Point);

const person = { name: "Ada Lovelace", age: 36, email: "ada@example.com" };
const points = Array.from({ length: 100 }, (_, i) => ({ x: i * 7 - 300, y: 1000 - i * 13 }));

const te = new TextEncoder();
const td = new TextDecoder();
let sink: unknown;

function pair<T>(
  report: Report,
  label: string,
  schema: Parameters<typeof encode<T>>[0],
  value: T,
): void {
  if (report.wants(`encode ${label}`)) {
    const [ours, json] = opsPerSecondPair(() => {
      sink = encode(schema, value);
    }, () => {
      sink = te.encode(JSON.stringify(value));
    });
    report.add(`encode ${label}`, ours, "ops/s", json, "JSON.stringify+TextEncoder");
  }
  if (report.wants(`decode ${label}`)) {
    const bytes = encode(schema, value);
    const text = te.encode(JSON.stringify(value));
    const [ours, json] = opsPerSecondPair(() => {
      sink = decode(schema, bytes);
    }, () => {
      sink = JSON.parse(td.decode(text));
    });
    report.add(`decode ${label}`, ours, "ops/s", json, "TextDecoder+JSON.parse");
  }
}

/** Runs the postcard benchmarks into `report`. */
export function postcardBench(report: Report): void {
  report.header("postcard codec");
  pair(report, "person struct", Person, person);
  pair(report, "100 points", Points, points);
  if (report.wants("encode person struct, pooled")) {
    // `pooled` may carve small results from a shared buffer (Deno); the default owns its buffer.
    const [ours, json] = opsPerSecondPair(() => {
      sink = encode(Person, person, { pooled: true });
    }, () => {
      sink = te.encode(JSON.stringify(person));
    });
    report.add("encode person struct, pooled", ours, "ops/s", json, "JSON.stringify+TextEncoder");
  }

  const MiB = 1024 * 1024;
  const big = new Uint8Array(MiB).map((_, i) => i * 31);
  const bigEncoded = encode(t.bytes, big);
  const copyRate = opsPerSecond(() => {
    sink = big.slice();
  }) * MiB / 1e9;
  if (report.wants("encode 1 MiB bytes")) {
    const rate = opsPerSecond(() => {
      sink = encode(t.bytes, big);
    }) * MiB / 1e9;
    report.add("encode 1 MiB bytes", rate, "GB/s", copyRate, "Uint8Array.slice copy");
  }
  if (report.wants("decode 1 MiB bytes")) {
    const rate = opsPerSecond(() => {
      sink = decode(t.bytes, bigEncoded);
    }) * MiB / 1e9;
    report.add("decode 1 MiB bytes", rate, "GB/s", copyRate, "Uint8Array.slice copy");
  }
  void sink;
}
