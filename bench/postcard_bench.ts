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

import { decode, encode, type Infer, type Schema, t } from "../postcard.ts";
// The codec's own string decoder, for the decode floor (it picks the fastest primitive per runtime).
import { utf8Decode } from "../lib/postcard/_utf8.ts";
import type { Row, Run } from "./_measure.ts";
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

/**
 * Reference series that bound a row from below: the same values, with only
 * the work no encoder (or decoder) of them can skip.
 */
interface Floors<T> {
  /** Names of the encode row's references. */
  encode: string[];
  /** Their runs over the values and their encodings. */
  encodeRuns(values: T[], encoded: Uint8Array[]): Run[];
  /** Names of the decode row's references. */
  decode: string[];
  /** Their runs over the values and their encodings. */
  decodeRuns(values: T[], encoded: Uint8Array[]): Run[];
}

/** Encode and decode rows of `values` (a power of two of them), taken in turn. */
function codecRows<T>(
  label: string,
  schema: Schema<T>,
  values: () => T[],
  count: number,
  floors?: Floors<T>,
): Row[] {
  const mask = count - 1;
  const what = `${count.toLocaleString("en")} distinct values`;
  return [
    {
      name: `encode ${label}`,
      group: GROUP,
      unit: "ops/s",
      sync: true,
      baseline: `JSON.stringify + TextEncoder, same ${what}`,
      ...(floors === undefined ? {} : { references: floors.encode }),
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
          ...(floors === undefined
            ? {}
            : { references: floors.encodeRuns(vs, vs.map((v) => encode(schema, v))) }),
        };
      },
    },
    {
      name: `decode ${label}`,
      group: GROUP,
      unit: "ops/s",
      sync: true,
      baseline: `TextDecoder + JSON.parse, same ${what}`,
      ...(floors === undefined ? {} : { references: floors.decode }),
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
          ...(floors === undefined ? {} : { references: floors.decodeRuns(vs, ours) }),
        };
      },
    },
  ];
}

/**
 * What encoding or decoding a small struct costs at the least, whatever the
 * codec: allocating each result (alone, then with its two strings copied in
 * by `charCodeAt`, unchecked: the result is not UTF-8 for a non-ASCII name);
 * and making each value's two strings from byte ranges known in advance, by
 * the codec's string decoder (the fastest primitive of each runtime for each
 * kind of string, measured), and the object, with nothing parsed or checked.
 */
const smallFloors: Floors<Infer<typeof Small>> = {
  encode: [
    "floor: new Uint8Array of each result's size, nothing written",
    "floor: new Uint8Array of each result's size, its two strings copied in by charCodeAt",
  ],
  encodeRuns(vs, encoded) {
    const mask = vs.length - 1;
    const sizes = encoded.map((b) => b.length);
    let i = 0;
    let j = 0;
    return [
      (n) => {
        for (let k = 0; k < n; k++) sink = new Uint8Array(sizes[i++ & mask]!);
      },
      (n) => {
        for (let k = 0; k < n; k++) {
          const v = vs[j & mask]!;
          const out = new Uint8Array(sizes[j++ & mask]!);
          const name = v.name;
          let p = 1;
          for (let c = 0; c < name.length; c++) out[p++] = name.charCodeAt(c);
          const email = v.email;
          if (email !== undefined) {
            p += 3;
            for (let c = 0; c < email.length; c++) out[p++] = email.charCodeAt(c);
          }
          sink = out;
        }
      },
    ];
  },
  decode: [
    "floor: each value's two strings made from known byte ranges by the codec's string decoder, and its object",
  ],
  decodeRuns(vs, encoded) {
    const mask = vs.length - 1;
    // Where each value's strings are: name length, name, age, option tag, email length, email.
    const at = encoded.map((b, k) => {
      if (b[0]! >= 0x80 || vs[k]!.age >= 0x80 || (b[b[0]! + 3] ?? 0) >= 0x80) {
        throw new Error("Cannot measure the decode floor: a length or age takes two bytes");
      }
      const email = b[0]! + 3;
      return { name: b[0]!, email: b[email - 1] === 1 ? email : -1 };
    });
    let i = 0;
    return [
      (n) => {
        for (let k = 0; k < n; k++) {
          const b = encoded[i & mask]!;
          const { name, email } = at[i & mask]!;
          sink = {
            name: utf8Decode(b, 1, 1 + name),
            age: b[1 + name],
            email: email < 0 ? undefined : utf8Decode(b, email + 1, b.length),
          };
          i++;
        }
      },
    ];
  },
};

/** The codec rows. */
export function postcardRows(): Row[] {
  void sink;
  const persons = () => people(PEOPLE, SEED);
  return [
    ...codecRows("small struct", Small, () => smallValues(PEOPLE, SEED), PEOPLE, smallFloors),
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
