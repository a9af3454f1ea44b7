/**
 * `encode` and `decode`: postcard bytes for a value of a schema, exactly as
 * the Rust runtime writes them.
 *
 * @module
 */

import { type ChannelHooks, EncodeFault, prepare } from "./_compile.ts";
import { NOT_SMALL } from "./_codegen.ts";
import { Reader } from "./_reader.ts";
import { Writer } from "./_writer.ts";
import type { Schema } from "./schema.ts";

const shared = new Writer(1024);
const EMPTY = new Uint8Array(0);
const sharedReader = new Reader(EMPTY);
let readerBusy = false;

/**
 * Encodes `value` with `schema` and returns a new byte array.
 *
 * @param schema The value's schema.
 * @param value The value to encode.
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
 */
export function encode<T>(schema: Schema<T>, value: NoInfer<T>): Uint8Array {
  // A small value of fixed shape is written straight into a result of its
  // exact size, with no shared buffer and no copy.
  const small = prepare(schema).encodeSmall;
  if (small !== undefined) {
    const out = small(value);
    if (out !== undefined) return out;
  }
  const w = shared.busy ? new Writer(256) : shared;
  w.busy = true;
  try {
    encodeWith(w, schema, value, "value");
    return w.finish();
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
 * Decodes a whole byte array as a value of `schema`.
 *
 * @param schema The expected schema.
 * @param bytes The postcard bytes; every byte must be used.
 * @returns The decoded value.
 * @throws {DecodeError} For malformed input or trailing bytes.
 *
 * @example Decoding a list
 * ```ts
 * import { decode, t } from "@roam/roam";
 *
 * decode(t.list(t.u32), new Uint8Array([3, 1, 2, 3])); // [1, 2, 3]
 * ```
 */
export function decode<T>(schema: Schema<T>, bytes: Uint8Array): T {
  return decodeRange(schema, bytes, 0, bytes.length);
}

/**
 * Decodes `bytes[start, end)` as exactly one value of `schema`.
 *
 * @param schema The expected schema.
 * @param bytes The input.
 * @param start First byte of the value.
 * @param end End of the value (exclusive); bytes left before it are an error.
 * @param channels Hooks that supply channel positions.
 * @param borrow Return `bytes` values as views of `bytes` rather than
 * copies (only for buffers nobody will change).
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
): T {
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(`Cannot decode: expected a Uint8Array, got ${typeof bytes}`);
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
