/**
 * Metadata helpers: building metadata lists from plain objects, reading
 * values, hiding `SENSITIVE` values from logs and inspection, and dropping
 * `NO_PROPAGATE` entries when forwarding.
 *
 * @module
 */

import { NO_PROPAGATE, SENSITIVE } from "./types.ts";
import type { Metadata, MetadataEntry, MetadataValue } from "./types.ts";
import { REDACTED_TEXT, SensitiveEntry } from "./sensitive.ts";

/**
 * Metadata as callers write it: a list of entries, or a plain object of
 * key/value pairs (flags 0, in key order).
 */
export type MetadataInit = Metadata | { readonly [key: string]: MetadataValue };

/**
 * The response metadata key under which a peer says why it answered
 * `Cancelled` (an interceptor's rejection, a proxy that could not forward
 * the call); the caller's `CancelledError` carries it in its message.
 */
export const ERROR_KEY = "roam-error";

/** The empty metadata list, shared. */
export const EMPTY_METADATA: Metadata = Object.freeze([]) as Metadata;

/**
 * Makes one metadata entry. A `SENSITIVE` entry keeps its value readable
 * through `entry.value`, but no own property holds it: `console.log`,
 * `console.dir`, `console.table`, `%o`/`%O`/`%s`, `Deno.inspect`,
 * `util.inspect` (even with `showHidden`), `JSON.stringify`, `String()`,
 * spreading and `structuredClone` show `<redacted>` or nothing in its place.
 *
 * @param key The key (case-sensitive).
 * @param value A string, bytes or a u64 (`bigint`).
 * @param flags {@linkcode SENSITIVE}, {@linkcode NO_PROPAGATE}, or other bits.
 * @returns The entry.
 * @throws {TypeError} For a key that is not a string, a value of another
 * type, or flags that are not a non-negative safe integer.
 *
 * @example A sensitive token
 * ```ts
 * import { metadataEntry, SENSITIVE } from "@roam/roam";
 *
 * const auth = metadataEntry("authorization", "Bearer s3cret", SENSITIVE);
 * console.log(auth); // { key: "authorization", value: "<redacted>", flags: 1 }
 * ```
 */
export function metadataEntry(key: string, value: MetadataValue, flags = 0): MetadataEntry {
  if (typeof key !== "string") {
    throw new TypeError(`Invalid metadata key: expected a string, got ${typeof key}`);
  }
  if (typeof value !== "string" && typeof value !== "bigint" && !(value instanceof Uint8Array)) {
    throw new TypeError(
      `Invalid metadata value for "${key}": expected a string, Uint8Array or bigint`,
    );
  }
  if (typeof value === "bigint" && (value < 0n || value > 0xffff_ffff_ffff_ffffn)) {
    throw new RangeError(`Invalid metadata value for "${key}": a u64 must be in 0..2^64-1`);
  }
  if (!Number.isSafeInteger(flags) || flags < 0) {
    throw new TypeError(
      `Invalid metadata flags for "${key}": expected a non-negative safe integer`,
    );
  }
  if ((flags & SENSITIVE) === 0) return { key, value, flags };
  return new SensitiveEntry(key, value, flags);
}

/**
 * Normalises metadata given as entries or as a plain object into a
 * validated list.
 *
 * @param init Entries, a plain object, or undefined for none.
 * @returns The metadata list.
 * @throws {TypeError} For invalid keys, values or flags.
 *
 * @example From a plain object
 * ```ts
 * import { toMetadata } from "@roam/roam";
 *
 * const m = toMetadata({ "trace-id": "abc123", attempt: 2n });
 * ```
 */
export function toMetadata(init: MetadataInit | undefined): Metadata {
  if (init === undefined) return EMPTY_METADATA;
  if (Array.isArray(init)) {
    if (init.length === 0) return EMPTY_METADATA;
    return (init as Metadata).map((e) => metadataEntry(e?.key, e?.value, e?.flags ?? 0));
  }
  if (typeof init !== "object" || init === null) {
    throw new TypeError("Invalid metadata: expected an array of entries or an object");
  }
  const keys = Object.keys(init);
  if (keys.length === 0) return EMPTY_METADATA;
  return keys.map((k) => metadataEntry(k, (init as Record<string, MetadataValue>)[k]!));
}

/**
 * Returns the first value for `key`, or undefined.
 *
 * @param metadata The list.
 * @param key The key (case-sensitive).
 * @returns The value of the first entry with that key.
 *
 * @example Reading a trace id
 * ```ts
 * import { getMetadata, toMetadata } from "@roam/roam";
 *
 * getMetadata(toMetadata({ "trace-id": "abc" }), "trace-id"); // "abc"
 * ```
 */
export function getMetadata(metadata: Metadata, key: string): MetadataValue | undefined {
  for (const e of metadata) if (e.key === key) return e.value;
  return undefined;
}

/**
 * Returns the entries a proxy may forward: those without
 * {@linkcode NO_PROPAGATE}. Other flag bits are kept as they are.
 *
 * @param metadata The received list.
 * @returns The list to forward.
 *
 * @example Forwarding
 * ```ts
 * import { NO_PROPAGATE, propagatable, toMetadata } from "@roam/roam";
 *
 * const m = toMetadata([{ key: "hop", value: "a", flags: NO_PROPAGATE }, { key: "id", value: "1", flags: 0 }]);
 * propagatable(m).length; // 1
 * ```
 */
export function propagatable(metadata: Metadata): Metadata {
  if (!metadata.some((e) => (e.flags & NO_PROPAGATE) !== 0)) return metadata;
  return metadata.filter((e) => (e.flags & NO_PROPAGATE) === 0);
}

/**
 * Describes metadata for logs and error messages, with `SENSITIVE` values
 * redacted and byte values shown by length.
 *
 * @param metadata The list.
 * @returns For example `reason="busy", token=<redacted>`.
 *
 * @example Describing
 * ```ts
 * import { describeMetadata, toMetadata } from "./metadata.ts";
 *
 * describeMetadata(toMetadata({ reason: "busy" })); // 'reason="busy"'
 * ```
 */
export function describeMetadata(metadata: Metadata): string {
  return metadata.map((e) => {
    if ((e.flags & SENSITIVE) !== 0) return `${e.key}=${REDACTED_TEXT}`;
    const v = e.value;
    const shown = typeof v === "string"
      ? JSON.stringify(v.length > 64 ? `${v.slice(0, 64)}…` : v)
      : typeof v === "bigint"
      ? `${v}`
      : `<${v.length} bytes>`;
    return `${e.key}=${shown}`;
  }).join(", ");
}

/**
 * Returns `metadata` ready to hand to application code: entries flagged
 * `SENSITIVE` are replaced by entries whose value is hidden from
 * inspection (see {@linkcode metadataEntry}). Lists whose sensitive
 * entries are hidden already (every list the library receives, and lists
 * made with {@linkcode toMetadata}) are returned as they are.
 *
 * @param metadata A decoded list.
 * @returns The same entries, sensitive values protected.
 *
 * @example Protecting a received list
 * ```ts
 * import { exposeMetadata } from "./metadata.ts";
 * import { SENSITIVE } from "./types.ts";
 *
 * const m = exposeMetadata([{ key: "token", value: "s3cret", flags: SENSITIVE }]);
 * console.log(m); // [ { key: "token", value: "<redacted>", flags: 1 } ]
 * ```
 */
export function exposeMetadata(metadata: Metadata): Metadata {
  for (const e of metadata) {
    if ((e.flags & SENSITIVE) !== 0 && !(e instanceof SensitiveEntry)) {
      return metadata.map((x) =>
        (x.flags & SENSITIVE) !== 0 && !(x instanceof SensitiveEntry)
          ? new SensitiveEntry(x.key, x.value, x.flags)
          : x
      );
    }
  }
  return metadata;
}
