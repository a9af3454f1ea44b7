/**
 * The codec of the roam v7 session `Message` (wire-spec §2): postcard bytes
 * to {@linkcode Message} values and back, byte for byte as the Rust runtime
 * writes them.
 *
 * Decoding is strict: truncated input, overlong or overflowing varints,
 * unknown enum indexes, invalid UTF-8, out-of-range numbers and trailing
 * bytes are all {@linkcode DecodeError}s. The trailing payloads (`args`,
 * `ret`, `item`) and metadata byte values are views into the input, not
 * copies.
 *
 * The encoder lives in `_encode.ts` and the decoder in `_decode.ts`; this
 * module re-exports both halves, so importers have one path for the codec.
 *
 * @example Encoding and decoding a ping
 * ```ts
 * import { decodeMessage, encodeMessage } from "@roam/roam";
 *
 * const bytes = encodeMessage({ connectionId: 0, payload: { type: "ping", nonce: 1n } });
 * // bytes: 00 09 01
 * const msg = decodeMessage(bytes);
 * console.log(msg.payload.type); // "ping"
 * ```
 *
 * @module
 */

export { encodeMessage, writeMessage, writeMetadata, writeSettings } from "./encode.ts";
export { decodeMessage, readMetadata, readSettings } from "./decode.ts";
