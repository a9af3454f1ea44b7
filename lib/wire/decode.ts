/**
 * The decoder half of the session `Message` codec (wire-spec §2): reads
 * postcard bytes from a {@linkcode Reader} into {@linkcode Message} values.
 * Strict: malformed input of any kind is a `DecodeError` thrown by the
 * reader. Trailing payloads are views into the input, not copies;
 * metadata byte values are too when the input has its `ArrayBuffer` to
 * itself (see {@linkcode decodeMessage}).
 *
 * `wire.ts` (`@roam/roam/wire`) re-exports what users need.
 *
 * @module
 */

import { show } from "../postcard/_compile.ts";
import { Reader } from "../postcard/_reader.ts";
import type {
  ChannelBody,
  ConnectionSettings,
  Message,
  MessagePayload,
  Metadata,
  MetadataEntry,
  MetadataValue,
  RequestBody,
} from "./types.ts";
import { SENSITIVE } from "./types.ts";
import { SensitiveEntry } from "./sensitive.ts";
import { ChannelTag, MessageTag, MetadataValueTag, ParityTag, RequestTag } from "./tags.ts";

/** Shared empty results, so messages without metadata or channels allocate nothing for them. */
const EMPTY_METADATA: Metadata = Object.freeze([]);
const EMPTY_IDS: readonly number[] = Object.freeze([]);

function unknownVariant(r: Reader, what: string, index: number, at: number): never {
  r.fail(what, `unknown variant index ${index}`, at);
}

function readChannels(r: Reader): readonly number[] {
  const n = r.count("channels", 1, 0);
  if (n === 0) return EMPTY_IDS;
  const ids: number[] = [];
  for (let i = 0; i < n; i++) ids.push(r.safe("channel id"));
  return ids;
}

/**
 * Reads a `Metadata` list. String values are decoded; byte values are read
 * with `Reader.bytes`: views into the reader's input when it borrows and
 * the input has its `ArrayBuffer` to itself, copies otherwise. Entries
 * count against the reader's element budget. An entry flagged `SENSITIVE`
 * keeps its value readable through `entry.value` but hidden from every way
 * of printing it (`console.log`, `inspect`, `JSON.stringify`, `String()`…).
 *
 * @param r The reader, positioned at the entry count.
 * @returns The entries, in wire order (a shared frozen empty array when
 * there are none).
 * @throws {DecodeError} For truncated input, an overlong or overflowing
 * varint, invalid UTF-8, an unknown `MetadataValue` index, a u64 value
 * above 2^64-1, flags above 2^53-1, or more entries than the element
 * budget allows.
 *
 * @example Reading an empty list
 * ```ts
 * import { readMetadata } from "./decode.ts";
 * import { Reader } from "../postcard/_reader.ts";
 *
 * const entries = readMetadata(new Reader(new Uint8Array([0]))); // []
 * ```
 */
export function readMetadata(r: Reader): Metadata {
  // An entry is at least 4 bytes: key length, value index, value, flags.
  const n = r.count("metadata", 4, 0);
  if (n === 0) return EMPTY_METADATA;
  const out: MetadataEntry[] = [];
  for (let i = 0; i < n; i++) {
    const key = r.string("metadata key");
    const at = r.pos;
    const index = r.varint32("MetadataValue");
    let value: MetadataValue;
    switch (index) {
      case MetadataValueTag.String:
        value = r.string("metadata string value");
        break;
      case MetadataValueTag.Bytes:
        value = r.bytes("metadata bytes value", r.length("metadata bytes value", 1, 0));
        break;
      case MetadataValueTag.U64:
        value = r.varintBig("metadata u64 value", 64);
        break;
      default:
        unknownVariant(r, "MetadataValue", index, at);
    }
    const flags = r.safe("metadata flags");
    out.push(
      (flags & SENSITIVE) === 0 ? { key, value, flags } : new SensitiveEntry(key, value, flags),
    );
  }
  return out;
}

/**
 * Reads `ConnectionSettings`: a parity byte (0 odd, 1 even) and a u32
 * varint.
 *
 * @param r The reader, positioned at the parity.
 * @returns The settings.
 * @throws {DecodeError} For truncated input, a parity index other than 0
 * or 1, or a bad or out-of-range u32 varint.
 *
 * @example Reading `{Odd, 64}`
 * ```ts
 * import { readSettings } from "./decode.ts";
 * import { Reader } from "../postcard/_reader.ts";
 *
 * const s = readSettings(new Reader(new Uint8Array([0x00, 0x40])));
 * // { parity: "odd", maxConcurrentRequests: 64 }
 * ```
 */
export function readSettings(r: Reader): ConnectionSettings {
  const at = r.pos;
  const index = r.varint32("Parity");
  if (index !== ParityTag.Odd && index !== ParityTag.Even) {
    unknownVariant(r, "Parity", index, at);
  }
  const maxConcurrentRequests = r.varint32("max_concurrent_requests");
  return { parity: index === ParityTag.Odd ? "odd" : "even", maxConcurrentRequests };
}

/** Takes the rest of the input as a trailing payload view. */
function rest(r: Reader): Uint8Array {
  const start = r.pos;
  r.pos = r.end;
  return r.buf.subarray(start, r.end);
}

function readRequestBody(r: Reader): RequestBody {
  const at = r.pos;
  const index = r.varint32("RequestBody");
  switch (index) {
    case RequestTag.Call: {
      const methodId = r.varintBig("method id", 64);
      const channels = readChannels(r);
      const metadata = readMetadata(r);
      return { type: "call", methodId, channels, metadata, args: rest(r) };
    }
    case RequestTag.Response: {
      const channels = readChannels(r);
      const metadata = readMetadata(r);
      return { type: "response", channels, metadata, ret: rest(r) };
    }
    case RequestTag.Cancel:
      return { type: "cancel", metadata: readMetadata(r) };
    default:
      return unknownVariant(r, "RequestBody", index, at);
  }
}

function readChannelBody(r: Reader): ChannelBody {
  const at = r.pos;
  const index = r.varint32("ChannelBody");
  switch (index) {
    case ChannelTag.Item:
      return { type: "item", item: rest(r) };
    case ChannelTag.Close:
      return { type: "close", metadata: readMetadata(r) };
    case ChannelTag.Reset:
      return { type: "reset", metadata: readMetadata(r) };
    case ChannelTag.GrantCredit:
      return { type: "grantCredit", additional: r.varint32("GrantCredit.additional") };
    default:
      return unknownVariant(r, "ChannelBody", index, at);
  }
}

function readPayload(r: Reader): MessagePayload {
  const at = r.pos;
  const index = r.varint32("MessagePayload");
  switch (index) {
    case MessageTag.Hello: {
      const version = r.varint32("Hello.version");
      const settings = readSettings(r);
      return { type: "hello", version, settings, metadata: readMetadata(r) };
    }
    case MessageTag.HelloYourself: {
      const settings = readSettings(r);
      return { type: "helloYourself", settings, metadata: readMetadata(r) };
    }
    case MessageTag.ProtocolError:
      return { type: "protocolError", description: r.string("ProtocolError.description") };
    case MessageTag.ConnectionOpen: {
      const settings = readSettings(r);
      return { type: "connectionOpen", settings, metadata: readMetadata(r) };
    }
    case MessageTag.ConnectionAccept: {
      const settings = readSettings(r);
      return { type: "connectionAccept", settings, metadata: readMetadata(r) };
    }
    case MessageTag.ConnectionReject:
      return { type: "connectionReject", metadata: readMetadata(r) };
    case MessageTag.ConnectionClose:
      return { type: "connectionClose", metadata: readMetadata(r) };
    case MessageTag.Request: {
      const id = r.safe("request id");
      return { type: "request", id, body: readRequestBody(r) };
    }
    case MessageTag.Channel: {
      const id = r.safe("channel id");
      return { type: "channel", id, body: readChannelBody(r) };
    }
    case MessageTag.Ping:
      return { type: "ping", nonce: r.varintBig("Ping.nonce", 64) };
    case MessageTag.Pong:
      return { type: "pong", nonce: r.varintBig("Pong.nonce", 64) };
    default:
      return unknownVariant(r, "MessagePayload", index, at);
  }
}

/**
 * Decodes one message from a whole link payload. Strict: the bytes must be
 * exactly one canonical message. A trailing payload (`args`, `ret`,
 * `item`) is every byte after the fixed fields, returned as a view into
 * `bytes` (no copy); keep `bytes` unchanged while it is in use. A metadata
 * byte value is a view into `bytes` too when `bytes` spans its whole
 * `ArrayBuffer`, and otherwise a copy, so that it never shares memory
 * with anything but this message. `SENSITIVE` metadata values are readable
 * through `entry.value` and never shown when the message is printed.
 *
 * @param bytes The encoded message.
 * @returns The message.
 * @throws {DecodeError} For truncated input, an overlong or overflowing
 * varint, an unknown enum index at any level, a bad parity, invalid UTF-8,
 * an id or flags value above 2^53-1, a u32 field above 2^32-1, bytes
 * left after a message that has no trailing payload, or more than
 * 1,048,576 metadata entries and channel ids in all.
 * @throws {TypeError} When `bytes` is not a `Uint8Array`.
 *
 * @example Decoding a channel item
 * ```ts
 * import { decodeMessage } from "@roam/roam/wire";
 *
 * const msg = decodeMessage(new Uint8Array([0x00, 0x08, 0x01, 0x00, 0x02]));
 * if (msg.payload.type === "channel" && msg.payload.body.type === "item") {
 *   console.log(msg.payload.id, msg.payload.body.item); // 1 Uint8Array(1) [ 2 ]
 * }
 * ```
 */
export function decodeMessage(bytes: Uint8Array): Message {
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(`Cannot decode Message: expected a Uint8Array, got ${show(bytes)}`);
  }
  if (bytes.constructor !== Uint8Array) {
    bytes = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  const r = new Reader(bytes);
  r.borrow = true;
  const connectionId = r.safe("connection id");
  const payload = readPayload(r);
  if (r.pos !== r.end) r.fail("Message", `${r.end - r.pos} trailing bytes`);
  return { connectionId, payload };
}
