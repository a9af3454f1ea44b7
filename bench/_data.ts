/**
 * Varied, realistic input for the codec rows, generated from a seeded
 * PRNG: people with names (some not ASCII), emails, ids, an address and
 * tags, and lists of points. Thousands of distinct values, so that no
 * cache in a decoder (of strings, say) hits on every value as it would on
 * one constant input.
 *
 * @module
 */

import { type Infer, t } from "../postcard.ts";

/** A small struct of realistic shape: ids, names, an optional email, a nested struct, tags. */
export const Person = t.struct({
  id: t.u32,
  name: t.string,
  email: t.option(t.string),
  age: t.u8,
  active: t.bool,
  address: t.struct({ street: t.string, city: t.string, postcode: t.string }),
  tags: t.list(t.string),
});

/** The small struct of the codec rows: a name, an age, an optional email. */
export const Small = t.struct({ name: t.string, age: t.u32, email: t.option(t.string) });

/** A person value. */
export type PersonValue = Infer<typeof Person>;

/** A point. */
export const Point = t.struct({ x: t.i32, y: t.i32 });

/** A list of points. */
export const Points = t.list(Point);

/** A random number in [0, 1). */
export type Rng = () => number;

/**
 * mulberry32: a small, fast PRNG with a 32-bit state.
 *
 * @param seed Any 32-bit integer.
 * @returns The generator.
 */
export function prng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const FIRST = [
  "Ada",
  "Alan",
  "Grace",
  "Edsger",
  "Barbara",
  "Donald",
  "Margaret",
  "Ken",
  "Dennis",
  "Frances",
  "John",
  "Radia",
  "Niklaus",
  "Leslie",
  "Shafi",
  "Tim",
  "Sophie",
  "Linus",
  "Guido",
  "Bjarne",
  "Zoë",
  "José",
  "Łukasz",
  "Søren",
  "Chloé",
  "Jürgen",
  "Ayşe",
  "Nguyễn",
  "Mei",
  "Hiroshi",
  "Olga",
  "Priya",
  "Kwame",
  "Amara",
  "Mateo",
  "Ingrid",
  "Rafael",
  "Yusuf",
  "Elena",
  "Tomás",
  "Hannah",
  "Omar",
  "Fatima",
  "Lars",
  "Anika",
  "Diego",
  "Keiko",
  "Samir",
];
const LAST = [
  "Lovelace",
  "Turing",
  "Hopper",
  "Dijkstra",
  "Liskov",
  "Knuth",
  "Hamilton",
  "Thompson",
  "Ritchie",
  "Allen",
  "McCarthy",
  "Perlman",
  "Wirth",
  "Lamport",
  "Goldwasser",
  "Berners-Lee",
  "Wilson",
  "Torvalds",
  "van Rossum",
  "Stroustrup",
  "Müller",
  "García",
  "Kowalski",
  "Jensen",
  "Dubois",
  "Schmidt",
  "Yılmaz",
  "Trần",
  "Wang",
  "Tanaka",
  "Ivanova",
  "Sharma",
  "Mensah",
  "Okafor",
  "Fernández",
  "Larsen",
  "Costa",
  "Haddad",
  "Petrova",
  "Silva",
  "Cohen",
  "Nasser",
  "Rahman",
  "Nilsson",
  "Kapoor",
  "Romero",
  "Sato",
  "Aziz",
];
const DOMAINS = ["example.com", "mail.example.org", "corp.example.net", "uni.example.edu"];
const STREETS = ["Main", "Oak", "Station", "Church", "Mill", "Harbour", "Königs", "Rue de la Paix"];
const SUFFIXES = ["Street", "Road", "Lane", "Avenue", "Way"];
const CITIES = [
  "London",
  "Berlin",
  "Paris",
  "Lisbon",
  "Kraków",
  "Aarhus",
  "Zürich",
  "Osaka",
  "Lagos",
  "Montréal",
  "São Paulo",
  "Istanbul",
  "Hanoi",
  "Pune",
  "Accra",
  "Austin",
];
const TAGS = ["admin", "beta", "billing", "support", "ops", "research", "sales", "verified"];

function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[Math.floor(rng() * xs.length)]!;
}

function ascii(s: string): string {
  return s.normalize("NFKD").replace(/[^a-zA-Z]/g, "").toLowerCase();
}

/**
 * `count` people from the seed: distinct ids and emails, names drawn from
 * 2,304 combinations, 10% without an email, zero to three tags.
 *
 * @param count How many.
 * @param seed The PRNG seed.
 * @returns The people.
 */
export function people(count: number, seed: number): PersonValue[] {
  const rng = prng(seed);
  const out: PersonValue[] = [];
  for (let i = 0; i < count; i++) {
    const first = pick(rng, FIRST);
    const last = pick(rng, LAST);
    const tags: string[] = [];
    for (let k = Math.floor(rng() * 4); k > 0; k--) tags.push(pick(rng, TAGS));
    const hasEmail = rng() >= 0.1;
    out.push({
      id: 100_000 + i * 7 + Math.floor(rng() * 7),
      name: `${first} ${last}`,
      email: hasEmail ? `${ascii(first)}.${ascii(last)}${i}@${pick(rng, DOMAINS)}` : undefined,
      age: 18 + Math.floor(rng() * 70),
      active: rng() < 0.8,
      address: {
        street: `${1 + Math.floor(rng() * 400)} ${pick(rng, STREETS)} ${pick(rng, SUFFIXES)}`,
        city: pick(rng, CITIES),
        postcode: String(10000 + Math.floor(rng() * 90000)),
      },
      tags,
    });
  }
  return out;
}

/**
 * The small struct's fields of `count` people from the seed (see {@linkcode people}).
 *
 * @param count How many.
 * @param seed The PRNG seed.
 * @returns The values.
 */
export function smallValues(count: number, seed: number): Infer<typeof Small>[] {
  return people(count, seed).map((p) => ({ name: p.name, age: p.age, email: p.email }));
}

/**
 * `count` lists of `length` points from the seed, coordinates within ±100,000.
 *
 * @param count How many lists.
 * @param length Points per list.
 * @param seed The PRNG seed.
 * @returns The lists.
 */
export function pointLists(
  count: number,
  length: number,
  seed: number,
): { x: number; y: number }[][] {
  const rng = prng(seed);
  const coordinate = () => Math.floor(rng() * 200_001) - 100_000;
  return Array.from(
    { length: count },
    () => Array.from({ length }, () => ({ x: coordinate(), y: coordinate() })),
  );
}
