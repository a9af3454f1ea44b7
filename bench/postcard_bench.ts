/**
 * Postcard codec rows against `JSON.stringify` + `TextEncoder` and
 * `TextDecoder` + `JSON.parse` on the same values, taken in turn from a
 * seeded PRNG's output (see `_data.ts`): 4,096 distinct small structs
 * (name, age, email), 4,096 distinct people (ids, names, an email, an
 * address, tags) and 1,024 distinct lists of 100 points; and a 1 MiB
 * `bytes` value against a plain copy.
 *
 * @module
 */

import { decode, encode, type Schema, t } from "../postcard.ts";
import type { Row } from "./_measure.ts";
import { people, Person, pointLists, Points, Small, smallValues } from "./_data.ts";

const GROUP = "postcard codec";
const SEED = 0x5eed_0019;
const PEOPLE = 4096;
const POINT_LISTS = 1024;
const MiB = 1024 * 1024;

const te = new TextEncoder();
const td = new TextDecoder();
/** Results land here, so that no engine drops the work as dead code. */
let sink: unknown;

/** Encode and decode rows of `values` (a power of two of them), taken in turn. */
function codecRows<T>(label: string, schema: Schema<T>, values: () => T[], count: number): Row[] {
  const mask = count - 1;
  const what = `${count.toLocaleString("en")} distinct values`;
  return [
    {
      name: `encode ${label}`,
      group: GROUP,
      unit: "ops/s",
      sync: true,
      baseline: `JSON.stringify + TextEncoder, same ${what}`,
      open() {
        const vs = values();
        let i = 0;
        let j = 0;
        return {
          subject: (n) => {
            for (let k = 0; k < n; k++) sink = encode(schema, vs[i++ & mask]!);
          },
          baseline: (n) => {
            for (let k = 0; k < n; k++) sink = te.encode(JSON.stringify(vs[j++ & mask]));
          },
        };
      },
    },
    {
      name: `decode ${label}`,
      group: GROUP,
      unit: "ops/s",
      sync: true,
      baseline: `TextDecoder + JSON.parse, same ${what}`,
      open() {
        const vs = values();
        const ours = vs.map((v) => encode(schema, v));
        const json = vs.map((v) => te.encode(JSON.stringify(v)));
        let i = 0;
        let j = 0;
        return {
          subject: (n) => {
            for (let k = 0; k < n; k++) sink = decode(schema, ours[i++ & mask]!);
          },
          baseline: (n) => {
            for (let k = 0; k < n; k++) sink = JSON.parse(td.decode(json[j++ & mask]));
          },
        };
      },
    },
  ];
}

/** The codec rows. */
export function postcardRows(): Row[] {
  void sink;
  const persons = () => people(PEOPLE, SEED);
  return [
    ...codecRows("small struct", Small, () => smallValues(PEOPLE, SEED), PEOPLE),
    ...codecRows("person struct", Person, persons, PEOPLE),
    {
      name: "encode person struct, pooled",
      group: GROUP,
      unit: "ops/s",
      sync: true,
      baseline: `JSON.stringify + TextEncoder, same ${PEOPLE.toLocaleString("en")} distinct values`,
      open() {
        // `pooled` may carve small results from a shared buffer (Deno); the default owns its buffer.
        const vs = persons();
        const mask = PEOPLE - 1;
        let i = 0;
        let j = 0;
        return {
          subject: (n) => {
            for (let k = 0; k < n; k++) sink = encode(Person, vs[i++ & mask]!, { pooled: true });
          },
          baseline: (n) => {
            for (let k = 0; k < n; k++) sink = te.encode(JSON.stringify(vs[j++ & mask]));
          },
        };
      },
    },
    ...codecRows("100 points", Points, () => pointLists(POINT_LISTS, 100, SEED), POINT_LISTS),
    {
      name: "encode 1 MiB bytes",
      group: GROUP,
      unit: "GB/s",
      scale: MiB / 1e9,
      sync: true,
      baseline: "Uint8Array.slice copy of 1 MiB",
      open() {
        const big = new Uint8Array(MiB).map((_, i) => i * 31);
        return {
          subject: (n) => {
            for (let k = 0; k < n; k++) sink = encode(t.bytes, big);
          },
          baseline: (n) => {
            for (let k = 0; k < n; k++) sink = big.slice();
          },
        };
      },
    },
    {
      name: "decode 1 MiB bytes",
      group: GROUP,
      unit: "GB/s",
      scale: MiB / 1e9,
      sync: true,
      baseline: "Uint8Array.slice copy of 1 MiB",
      open() {
        const big = new Uint8Array(MiB).map((_, i) => i * 31);
        const encoded = encode(t.bytes, big);
        return {
          subject: (n) => {
            for (let k = 0; k < n; k++) sink = decode(t.bytes, encoded);
          },
          baseline: (n) => {
            for (let k = 0; k < n; k++) sink = big.slice();
          },
        };
      },
    },
  ];
}
