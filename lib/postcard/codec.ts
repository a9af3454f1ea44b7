/**
 * `encode` and `decode`: postcard bytes for a value of a schema, exactly as
 * the Rust runtime writes them.
 *
 * @module
 */

import { type ChannelHooks, EncodeFault, prepare } from "./_compile.ts";
import { NOT_SMALL } from "./_codegen_small.ts";
import { DEFAULT_MAX_ELEMENTS, Reader } from "./_reader.ts";
import { allocPooled, SLOW_BUFFERS } from "../_util/bytes.ts";
import { Writer } from "./_writer.ts";
import type { Schema } from "./schema.ts";

const shared = new Writer(1024);
const EMPTY = new Uint8Array(0);
const sharedReader = new Reader(EMPTY);
let readerBusy = false;

/** Options of {@linkcode encode}. */
export interface EncodeOptions {
  /**
   * When true, a small result may be a view into a 64 KiB buffer shared
   * with other results of `encode` made with this option (and with nothing
   * else): on Deno, where allocating an `ArrayBuffer` costs about half a
   * microsecond, this makes encoding small values several times faster.
   * Its `.buffer` is then larger than the result and holds those other
   * results: do not transfer, hash or wrap it, and `slice()` the result
   * before handing it to code that might. Ignored on runtimes where
   * allocating is cheap. Default false: every result has an `ArrayBuffer`
   * of its own.
   */
  readonly pooled?: boolean;
}

/** Options of {@linkcode decode}. */
export interface DecodeOptions {
  /**
   * Most elements the decoded value may hold: list, set and array elements
   * and map entries, nested ones included (default 1,048,576). A longer
   * input is a `DecodeError` found before its elements are allocated, so a
   * small input cannot make a huge value (an empty list is one byte on the
   * wire and an object in memory). Whatever the limit, one sequence has at
   * most 16,777,216 elements, as in the Rust runtime.
   */
  readonly maxElements?: number;
}

/**
 * Encodes `value` with `schema` and returns a new byte array with an
 * `ArrayBuffer` of its own.
 *
 * @param schema The value's schema.
 * @param value The value to encode.
 * @param options `pooled: true` for a faster result that may share its
 * `ArrayBuffer` with other pooled results (see {@linkcode EncodeOptions}).
 * @returns The postcard bytes.
 * @throws {TypeError} When the value does not have the schema's shape; the
 * message names the path, e.g. `value.points[3].x`.
 * @throws {RangeError} When a number is out of the type's range, or a tuple
 * or array has the wrong length.
 *
 * @example Encoding a struct
 * ```ts
 * import { encode, t } from "@roam/roam";
 *
 * const Point = t.struct({ x: t.i32, y: t.i32 });
 * encode(Point, { x: 1, y: -1 }); // Uint8Array [2, 1]
 * ```
 *
 * @example Encoding many small values on Deno
 * ```ts
 * import { encode, t } from "@roam/roam";
 *
 * const Point = t.struct({ x: t.i32, y: t.i32 });
 * const encoded = [1, 2, 3].map((x) => encode(Point, { x, y: 0 }, { pooled: true }));
 * // Each result may be a view into one shared buffer: copy one before transferring it.
 * const own = encoded[0]!.slice();
 * ```
 */
export function encode<T>(
  schema: Schema<T>,
  value: NoInfer<T>,
  options?: EncodeOptions,
): Uint8Array {
  const pooled = options?.pooled === true;
  // A value of fixed shape is written straight into a result of its exact
  // size, with no shared buffer and no copy. Where allocating is slow, a
  // result of its own is allocated once, after measuring its strings.
  const small = prepare(schema).encodeSmall;
  if (small !== undefined) {
    const out = !SLOW_BUFFERS
      ? small.optimistic(value)
      : pooled
      ? small.optimistic(value, allocPooled)
      : small.exact(value);
    if (out !== undefined) return out;
  }
  const w = shared.busy ? new Writer(256) : shared;
  w.busy = true;
  try {
    encodeWith(w, schema, value, "value");
    return w.finish(pooled);
  } finally {
    w.reset();
    w.busy = false;
  }
}

/**
 * Appends the encoding of `value` to `w`. Used by the wire layer to write
 * a payload straight into a message buffer.
 *
 * @param w The writer.
 * @param schema The value's schema.
 * @param value The value.
 * @param root The name of the value in error messages, e.g. `args`.
 * @param channels Hooks that see channel positions, in wire order.
 */
export function encodeWith<T>(
  w: Writer,
  schema: Schema<T>,
  value: NoInfer<T>,
  root: string,
  channels?: ChannelHooks,
): void {
  const start = w.pos;
  const segments = w.segmentCount;
  const p = prepare(schema);
  w.channels = channels;
  w.depth = 0;
  try {
    p.fastEncode(w, value);
  } catch (e) {
    w.rewind(start, segments);
    if (!(e instanceof EncodeFault)) throw e;
    throw explain(p.encode, w, value, e).toError(root);
  } finally {
    w.channels = undefined;
  }
}

/**
 * The generated encoder reports a bad value without its path; the closure
 * encoder, run again on the same value, finds the path.
 */
function explain(
  encode: (w: Writer, v: unknown) => void,
  w: Writer,
  value: unknown,
  fault: EncodeFault,
): EncodeFault {
  const start = w.pos;
  const segments = w.segmentCount;
  const hooks = w.channels;
  w.channels = undefined;
  w.depth = 0;
  try {
    encode(w, value);
  } catch (e) {
    if (e instanceof EncodeFault) return e;
    throw e;
  } finally {
    w.rewind(start, segments);
    w.channels = hooks;
  }
  return fault;
}

/**
 * Decodes a whole byte array as a value of `schema`. Every `bytes` value in
 * the result is a copy with an `ArrayBuffer` of its own: the input may be
 * reused at once.
 *
 * @param schema The expected schema.
 * @param bytes The postcard bytes; every byte must be used.
 * @param options `maxElements`: the most elements the value may hold (see
 * {@linkcode DecodeOptions}).
 * @returns The decoded value.
 * @throws {DecodeError} For malformed input, trailing bytes, a duplicate
 * map key or set element, or more elements than `maxElements`.
 * @throws {TypeError} When `bytes` is not a `Uint8Array`.
 * @throws {RangeError} When `maxElements` is not an integer from 0 to
 * 4294967295.
 *
 * @example Decoding a list
 * ```ts
 * import { decode, t } from "@roam/roam";
 *
 * decode(t.list(t.u32), new Uint8Array([3, 1, 2, 3])); // [1, 2, 3]
 * ```
 *
 * @example Bounding what untrusted input may allocate
 * ```ts
 * import { decode, DecodeError, t } from "@roam/roam";
 *
 * try {
 *   decode(t.list(t.list(t.u8)), new Uint8Array([3, 0, 0, 0]), { maxElements: 2 });
 * } catch (e) {
 *   console.log(e instanceof DecodeError); // true: 3 elements, 2 allowed
 * }
 * ```
 */
export function decode<T>(schema: Schema<T>, bytes: Uint8Array, options?: DecodeOptions): T {
  let max = DEFAULT_MAX_ELEMENTS;
  if (options?.maxElements !== undefined) {
    max = options.maxElements;
    if (!Number.isInteger(max) || max < 0 || max > 0xffff_ffff) {
      throw new RangeError(
        `Cannot decode: maxElements must be an integer from 0 to 4294967295, got ${max}`,
      );
    }
  }
  return decodeRange(schema, bytes, 0, bytes?.length, undefined, false, max);
}

/**
 * Decodes `bytes[start, end)` as exactly one value of `schema`.
 *
 * @param schema The expected schema.
 * @param bytes The input.
 * @param start First byte of the value.
 * @param end End of the value (exclusive); bytes left before it are an error.
 * @param channels Hooks that supply channel positions.
 * @param borrow Let `bytes` values be views of `bytes` rather than copies
 * (only for buffers nobody will change); a view never shares an
 * `ArrayBuffer` with anything but `bytes` (see `Reader.bytes`).
 * @param maxElements The most elements the value may hold (see
 * {@linkcode DecodeOptions}).
 * @returns The decoded value.
 * @throws {DecodeError} For malformed input or trailing bytes.
 */
export function decodeRange<T>(
  schema: Schema<T>,
  bytes: Uint8Array,
  start: number,
  end: number,
  channels?: ChannelHooks,
  borrow = false,
  maxElements: number = DEFAULT_MAX_ELEMENTS,
): T {
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(`Cannot decode: expected a Uint8Array, got ${typeof bytes}`);
  }
  // Values are plain arrays even from a subclass such as a Node `Buffer`.
  if (bytes.constructor !== Uint8Array) {
    bytes = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  const c = prepare(schema);
  // A small value of fixed shape is read inline; anything unusual takes the ordinary path.
  if (c.decodeSmall !== undefined && channels === undefined) {
    const v = c.decodeSmall(bytes, start, end);
    if (v !== NOT_SMALL) return v as T;
  }
  // One reader serves every decode; a nested decode (from a channel hook) gets its own.
  const r = readerBusy ? new Reader(bytes, start, end) : sharedReader.reset(bytes, start, end);
  const own = r === sharedReader;
  if (own) readerBusy = true;
  try {
    r.channels = channels;
    r.borrow = borrow;
    r.limit(maxElements);
    const v = c.fastDecode(r);
    if (r.pos !== end) r.fail(c.name, `${end - r.pos} trailing bytes`);
    return v as T;
  } finally {
    if (own) {
      readerBusy = false;
      r.buf = EMPTY; // do not keep the input alive
    }
  }
}
