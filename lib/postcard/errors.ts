/**
 * The one error type decoding throws.
 *
 * @module
 */

/**
 * Thrown when bytes are not a valid postcard encoding of the expected type:
 * truncated input, an overlong or overflowing varint, an integer out of
 * range, invalid UTF-8, a bad bool or option byte, an unknown enum index,
 * an invalid `char`, trailing bytes, a length larger than the input, a
 * duplicate map key or set element, or more elements than the decode
 * allows (see `DecodeOptions.maxElements`).
 *
 * @example Telling a decode failure apart
 * ```ts
 * import { decode, DecodeError, t } from "@roam/roam";
 *
 * try {
 *   decode(t.bool, new Uint8Array([2]));
 * } catch (e) {
 *   if (e instanceof DecodeError) console.log(e.offset, e.reason);
 * }
 * ```
 */
export class DecodeError extends Error {
  /** Byte offset in the input where the problem was found. */
  readonly offset: number;
  /** What was being decoded, e.g. `u32` or `string`. */
  readonly what: string;
  /** Why decoding failed, e.g. `varint overflows 32 bits`. */
  readonly reason: string;

  /**
   * Creates a decode error.
   *
   * @param what What was being decoded.
   * @param reason Why it failed.
   * @param offset Byte offset of the problem.
   */
  constructor(what: string, reason: string, offset: number) {
    super(`Cannot decode ${what}: ${reason} at offset ${offset}`);
    this.name = "DecodeError";
    this.what = what;
    this.reason = reason;
    this.offset = offset;
  }
}
