/**
 * The roam v7 wire format, for tools and peers that work below the RPC
 * API: the session `Message` codec, byte for byte as the Rust runtime
 * writes it, every tag, and how method ids are computed (kebab-case,
 * signature encoding, BLAKE3). `@roam/roam` is the RPC API on top.
 *
 * @example Encoding and decoding a message, computing a method id
 * ```ts
 * import { decodeMessage, encodeMessage, methodId, signatureOf } from "@roam/roam/wire";
 * import { t } from "@roam/roam";
 *
 * const bytes = encodeMessage({ connectionId: 0, payload: { type: "ping", nonce: 1n } });
 * console.log(decodeMessage(bytes).payload); // { type: "ping", nonce: 1n }
 * const signature = [...signatureOf(t.tuple(t.string)), ...signatureOf(t.string)]; // 25 01 0f 0f
 * const id = methodId("Testbed", "echo", Uint8Array.from(signature));
 * console.log(id === 0x9aabc4ba61fd5df3n); // true
 * ```
 *
 * @module
 */

export { encodeMessage } from "./lib/wire/encode.ts";
export { decodeMessage } from "./lib/wire/decode.ts";
export { NO_PROPAGATE, PROTOCOL_VERSION, SENSITIVE } from "./lib/wire/types.ts";
export type {
  ChannelBody,
  ConnectionSettings,
  Message,
  MessagePayload,
  Metadata,
  MetadataEntry,
  MetadataValue,
  Parity,
  RequestBody,
} from "./lib/wire/types.ts";
export {
  ChannelTag,
  MessageTag,
  MetadataValueTag,
  ParityTag,
  RequestTag,
  ResultTag,
  RoamErrorTag,
} from "./lib/wire/tags.ts";
export { blake3 } from "./lib/identity/blake3.ts";
export { kebabCase } from "./lib/identity/kebab.ts";
export { signatureOf } from "./lib/identity/signature.ts";
export { methodId } from "./lib/identity/method_id.ts";
