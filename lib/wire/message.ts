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

import { show } from "../postcard/_compile.ts";
import { Reader } from "../postcard/_reader.ts";
import { Writer } from "../postcard/_writer.ts";
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

const U32_MAX = 0xffff_ffff;
const U64_MAX = 0xffff_ffff_ffff_ffffn;

/** Scratch space to move u64 values between a bigint and two 32-bit halves. */

/** Shared empty results, so messages without metadata or channels allocate nothing for them. */
const EMPTY_METADATA: Metadata = Object.freeze([]);
const EMPTY_IDS: readonly number[] = Object.freeze([]);

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

/** Throws the error for an invalid value met while encoding. */
function fault(range: boolean, what: string, where: string, expected: string, v: unknown): never {
  const message = `Cannot encode ${what} at ${where}: expected ${expected}, got ${show(v)}`;
  throw range ? new RangeError(message) : new TypeError(message);
}

/** Checks that `v` is a non-negative safe integer (an id or flag bits). */
function checkSafe(v: unknown, what: string, where: string): number {
  if (typeof v !== "number" || !Number.isInteger(v)) {
    fault(false, what, where, "a non-negative safe integer", v);
  }
  if (v < 0 || v > Number.MAX_SAFE_INTEGER) {
    fault(true, what, where, "a non-negative safe integer", v);
  }
  return v;
}

/** Checks that `v` is an integer in `0..2^32-1`. */
function checkU32(v: unknown, what: string, where: string): number {
  if (typeof v !== "number" || !Number.isInteger(v)) fault(false, what, where, "a u32 integer", v);
  if (v < 0 || v > U32_MAX) fault(true, what, where, "an integer in 0..4294967295", v);
  return v;
}

/** Checks that `v` is a bigint in `0..2^64-1`. */
function checkU64(v: unknown, what: string, where: string): bigint {
  if (typeof v !== "bigint") fault(false, what, where, "a bigint", v);
  if (v < 0n || v > U64_MAX) fault(true, what, where, "a bigint in 0n..2n ** 64n - 1n", v);
  return v;
}

/** Checks that `v` is a byte array. */
function checkBytes(v: unknown, what: string, where: string): Uint8Array {
  if (!(v instanceof Uint8Array)) fault(false, what, where, "a Uint8Array", v);
  return v;
}

/** Checks that `v` is a non-null object. */
function checkObject(v: unknown, what: string, where: string): void {
  if (typeof v !== "object" || v === null) fault(false, what, where, "an object", v);
}

/** Writes a string, rejecting non-strings and strings with lone surrogates. */
function writeString(w: Writer, v: unknown, what: string, where: string): void {
  if (typeof v !== "string") fault(false, what, where, "a string", v);
  if (!w.string(v)) {
    throw new TypeError(
      `Cannot encode ${what} at ${where}: expected a well-formed string, got a lone surrogate`,
    );
  }
}

function writeSettingsAt(w: Writer, s: ConnectionSettings, what: string, where: string): void {
  checkObject(s, what, where);
  switch (s.parity) {
    case "odd":
      w.u8(0);
      break;
    case "even":
      w.u8(1);
      break;
    default:
      fault(false, what, `${where}.parity`, `"odd" or "even"`, s.parity);
  }
  w.varint(checkU32(s.maxConcurrentRequests, what, `${where}.maxConcurrentRequests`));
}

function writeMetadataAt(w: Writer, m: Metadata, what: string, where: string): void {
  if (!Array.isArray(m)) fault(false, what, where, "an array of metadata entries", m);
  const n = m.length;
  w.varint(n);
  for (let i = 0; i < n; i++) {
    const entry: unknown = m[i];
    if (typeof entry !== "object" || entry === null) {
      fault(false, what, `${where}[${i}]`, "a metadata entry object", entry);
    }
    const e = entry as MetadataEntry;
    writeString(w, e.key, what, `${where}[${i}].key`);
    const v: MetadataValue = e.value;
    switch (typeof v) {
      case "string":
        w.u8(0);
        writeString(w, v, what, `${where}[${i}].value`);
        break;
      case "bigint":
        w.u8(2);
        w.varintBig(checkU64(v, what, `${where}[${i}].value`));
        break;
      default:
        if (!(v instanceof Uint8Array)) {
          fault(false, what, `${where}[${i}].value`, "a string, Uint8Array or bigint", v);
        }
        w.u8(1);
        w.varint(v.length);
        w.raw(v);
    }
    w.varint(checkSafe(e.flags, what, `${where}[${i}].flags`));
  }
}

function writeChannels(w: Writer, ids: readonly number[], where: string): void {
  if (!Array.isArray(ids)) fault(false, "Message", where, "an array of channel ids", ids);
  const n = ids.length;
  w.varint(n);
  for (let i = 0; i < n; i++) {
    const id: unknown = ids[i];
    // Inline fast path for the common small id.
    if (typeof id === "number" && id >= 0 && id < 0x80 && (id | 0) === id) w.u8(id);
    else w.varint(checkSafe(id, "Message", `${where}[${i}]`));
  }
}

function writeRequestBody(w: Writer, body: RequestBody): void {
  checkObject(body, "Message", "payload.body");
  switch (body.type) {
    case "call":
      w.u8(0);
      w.varintBig(checkU64(body.methodId, "Message", "payload.body.methodId"));
      writeChannels(w, body.channels, "payload.body.channels");
      writeMetadataAt(w, body.metadata, "Message", "payload.body.metadata");
      w.raw(checkBytes(body.args, "Message", "payload.body.args"));
      return;
    case "response":
      w.u8(1);
      writeChannels(w, body.channels, "payload.body.channels");
      writeMetadataAt(w, body.metadata, "Message", "payload.body.metadata");
      w.raw(checkBytes(body.ret, "Message", "payload.body.ret"));
      return;
    case "cancel":
      w.u8(2);
      writeMetadataAt(w, body.metadata, "Message", "payload.body.metadata");
      return;
    default:
      fault(
        false,
        "Message",
        "payload.body.type",
        `"call", "response" or "cancel"`,
        (body as { type: unknown }).type,
      );
  }
}

function writeChannelBody(w: Writer, body: ChannelBody): void {
  checkObject(body, "Message", "payload.body");
  switch (body.type) {
    case "item":
      w.u8(0);
      w.raw(checkBytes(body.item, "Message", "payload.body.item"));
      return;
    case "close":
      w.u8(1);
      writeMetadataAt(w, body.metadata, "Message", "payload.body.metadata");
      return;
    case "reset":
      w.u8(2);
      writeMetadataAt(w, body.metadata, "Message", "payload.body.metadata");
      return;
    case "grantCredit":
      w.u8(3);
      w.varint(checkU32(body.additional, "Message", "payload.body.additional"));
      return;
    default:
      fault(
        false,
        "Message",
        "payload.body.type",
        `"item", "close", "reset" or "grantCredit"`,
        (body as { type: unknown }).type,
      );
  }
}

function writePayload(w: Writer, p: MessagePayload): void {
  checkObject(p, "Message", "payload");
  switch (p.type) {
    case "hello":
      w.u8(0);
      w.varint(checkU32(p.version, "Message", "payload.version"));
      writeSettingsAt(w, p.settings, "Message", "payload.settings");
      writeMetadataAt(w, p.metadata, "Message", "payload.metadata");
      return;
    case "helloYourself":
      w.u8(1);
      writeSettingsAt(w, p.settings, "Message", "payload.settings");
      writeMetadataAt(w, p.metadata, "Message", "payload.metadata");
      return;
    case "protocolError":
      w.u8(2);
      writeString(w, p.description, "Message", "payload.description");
      return;
    case "connectionOpen":
      w.u8(3);
      writeSettingsAt(w, p.settings, "Message", "payload.settings");
      writeMetadataAt(w, p.metadata, "Message", "payload.metadata");
      return;
    case "connectionAccept":
      w.u8(4);
      writeSettingsAt(w, p.settings, "Message", "payload.settings");
      writeMetadataAt(w, p.metadata, "Message", "payload.metadata");
      return;
    case "connectionReject":
      w.u8(5);
      writeMetadataAt(w, p.metadata, "Message", "payload.metadata");
      return;
    case "connectionClose":
      w.u8(6);
      writeMetadataAt(w, p.metadata, "Message", "payload.metadata");
      return;
    case "request":
      w.u8(7);
      w.varint(checkSafe(p.id, "Message", "payload.id"));
      writeRequestBody(w, p.body);
      return;
    case "channel":
      w.u8(8);
      w.varint(checkSafe(p.id, "Message", "payload.id"));
      writeChannelBody(w, p.body);
      return;
    case "ping":
      w.u8(9);
      w.varintBig(checkU64(p.nonce, "Message", "payload.nonce"));
      return;
    case "pong":
      w.u8(10);
      w.varintBig(checkU64(p.nonce, "Message", "payload.nonce"));
      return;
    default:
      fault(
        false,
        "Message",
        "payload.type",
        "a MessagePayload type",
        (p as { type: unknown }).type,
      );
  }
}

/**
 * Appends the postcard encoding of a message to `w`: the connection id,
 * the `MessagePayload` variant index and its fields. A trailing payload
 * (`args`, `ret` or `item`) is written raw, without a length prefix, as
 * the last bytes.
 *
 * @param w The writer to append to. On an error nothing is appended.
 * @param msg The message.
 * @throws {TypeError} When a field has the wrong type, e.g. a non-integer
 * id, a metadata value that is not a string, `Uint8Array` or bigint, a
 * string with a lone surrogate, or an unknown `type`.
 * @throws {RangeError} When a number is out of range: a negative or unsafe
 * id or flags value, a u32 field above 2^32-1, a u64 outside 0..2^64-1.
 *
 * @example Writing a message into a writer
 * ```ts
 * import { writeMessage } from "./message.ts";
 * import { Writer } from "../postcard/_writer.ts";
 *
 * const w = new Writer();
 * writeMessage(w, { connectionId: 0, payload: { type: "pong", nonce: 7n } });
 * const bytes = w.finish(); // 00 0a 07
 * ```
 */
export function writeMessage(w: Writer, msg: Message): void {
  const start = w.pos;
  const segments = w.segmentCount;
  try {
    checkObject(msg, "Message", "message");
    const c: unknown = msg.connectionId;
    if (typeof c === "number" && c >= 0 && c < 0x80 && (c | 0) === c) w.u8(c);
    else w.varint(checkSafe(c, "Message", "connectionId"));
    writePayload(w, msg.payload);
  } catch (e) {
    w.rewind(start, segments);
    throw e;
  }
}

const shared = new Writer(1024);

/**
 * Encodes a message and returns its postcard bytes (one link payload of
 * the bare conduit).
 *
 * @param msg The message.
 * @returns The encoded bytes, a new array (small results may share their
 * `ArrayBuffer` with other results; `slice()` it before transferring it).
 * @throws {TypeError} When a field has the wrong type or `type` is unknown.
 * @throws {RangeError} When a number is out of range.
 *
 * @example Encoding a minimal Hello
 * ```ts
 * import { encodeMessage } from "@roam/roam";
 *
 * const bytes = encodeMessage({
 *   connectionId: 0,
 *   payload: {
 *     type: "hello",
 *     version: 7,
 *     settings: { parity: "odd", maxConcurrentRequests: 64 },
 *     metadata: [],
 *   },
 * });
 * // bytes: 00 00 07 00 40 00
 * ```
 */
export function encodeMessage(msg: Message): Uint8Array {
  const w = shared.busy ? new Writer(256) : shared;
  w.busy = true;
  try {
    writeMessage(w, msg);
    return w.finish();
  } finally {
    w.reset();
    w.busy = false;
  }
}

/**
 * Appends a `Metadata` list: the entry count, then for each entry the key,
 * the `MetadataValue` (String = 0, Bytes = 1, U64 = 2) and the flags.
 *
 * @param w The writer to append to. On an error the writer may hold a
 * partial list; {@linkcode writeMessage} rolls it back.
 * @param m The metadata entries, in wire order.
 * @throws {TypeError} When an entry, key, value or flags has the wrong type.
 * @throws {RangeError} When flags are negative or above 2^53-1, or a bigint
 * value is outside 0..2^64-1.
 *
 * @example Writing one sensitive entry
 * ```ts
 * import { writeMetadata } from "./message.ts";
 * import { Writer } from "../postcard/_writer.ts";
 *
 * const w = new Writer();
 * writeMetadata(w, [{ key: "auth", value: new Uint8Array([0xde, 0xad]), flags: 1 }]);
 * const bytes = w.finish(); // 01 04 61 75 74 68 01 02 de ad 01
 * ```
 */
export function writeMetadata(w: Writer, m: Metadata): void {
  writeMetadataAt(w, m, "Metadata", "metadata");
}

/**
 * Appends `ConnectionSettings`: the parity (odd = 0, even = 1) and
 * `max_concurrent_requests` as a u32 varint.
 *
 * @param w The writer to append to.
 * @param s The settings.
 * @throws {TypeError} When the parity is not `"odd"` or `"even"`, or the
 * limit is not an integer.
 * @throws {RangeError} When the limit is outside 0..2^32-1.
 *
 * @example Writing even parity with a limit of 32
 * ```ts
 * import { writeSettings } from "./message.ts";
 * import { Writer } from "../postcard/_writer.ts";
 *
 * const w = new Writer();
 * writeSettings(w, { parity: "even", maxConcurrentRequests: 32 });
 * const bytes = w.finish(); // 01 20
 * ```
 */
export function writeSettings(w: Writer, s: ConnectionSettings): void {
  writeSettingsAt(w, s, "ConnectionSettings", "settings");
}

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

function unknownVariant(r: Reader, what: string, index: number, at: number): never {
  r.fail(what, `unknown variant index ${index}`, at);
}

function readChannels(r: Reader): readonly number[] {
  const n = r.length("channels", 1, 0);
  if (n === 0) return EMPTY_IDS;
  const ids: number[] = [];
  for (let i = 0; i < n; i++) ids.push(r.safe("channel id"));
  return ids;
}

/**
 * Reads a `Metadata` list. String values are decoded; byte values are
 * views into the reader's input.
 *
 * @param r The reader, positioned at the entry count.
 * @returns The entries, in wire order (a shared frozen empty array when
 * there are none).
 * @throws {DecodeError} For truncated input, an overlong or overflowing
 * varint, invalid UTF-8, an unknown `MetadataValue` index, a u64 value
 * above 2^64-1 or flags above 2^53-1.
 *
 * @example Reading an empty list
 * ```ts
 * import { readMetadata } from "./message.ts";
 * import { Reader } from "../postcard/_reader.ts";
 *
 * const entries = readMetadata(new Reader(new Uint8Array([0]))); // []
 * ```
 */
export function readMetadata(r: Reader): Metadata {
  // An entry is at least 4 bytes: key length, value index, value, flags.
  const n = r.length("metadata", 4, 0);
  if (n === 0) return EMPTY_METADATA;
  const out: MetadataEntry[] = [];
  for (let i = 0; i < n; i++) {
    const key = r.string("metadata key");
    const at = r.pos;
    const index = r.varint32("MetadataValue");
    let value: MetadataValue;
    switch (index) {
      case 0:
        value = r.string("metadata string value");
        break;
      case 1:
        value = r.view("metadata bytes value", r.length("metadata bytes value", 1, 0));
        break;
      case 2:
        value = r.varintBig("metadata u64 value", 64);
        break;
      default:
        unknownVariant(r, "MetadataValue", index, at);
    }
    const flags = r.safe("metadata flags");
    out.push({ key, value, flags });
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
 * import { readSettings } from "./message.ts";
 * import { Reader } from "../postcard/_reader.ts";
 *
 * const s = readSettings(new Reader(new Uint8Array([0x00, 0x40])));
 * // { parity: "odd", maxConcurrentRequests: 64 }
 * ```
 */
export function readSettings(r: Reader): ConnectionSettings {
  const at = r.pos;
  const index = r.varint32("Parity");
  if (index > 1) unknownVariant(r, "Parity", index, at);
  const maxConcurrentRequests = r.varint32("max_concurrent_requests");
  return { parity: index === 0 ? "odd" : "even", maxConcurrentRequests };
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
    case 0: {
      const methodId = r.varintBig("method id", 64);
      const channels = readChannels(r);
      const metadata = readMetadata(r);
      return { type: "call", methodId, channels, metadata, args: rest(r) };
    }
    case 1: {
      const channels = readChannels(r);
      const metadata = readMetadata(r);
      return { type: "response", channels, metadata, ret: rest(r) };
    }
    case 2:
      return { type: "cancel", metadata: readMetadata(r) };
    default:
      return unknownVariant(r, "RequestBody", index, at);
  }
}

function readChannelBody(r: Reader): ChannelBody {
  const at = r.pos;
  const index = r.varint32("ChannelBody");
  switch (index) {
    case 0:
      return { type: "item", item: rest(r) };
    case 1:
      return { type: "close", metadata: readMetadata(r) };
    case 2:
      return { type: "reset", metadata: readMetadata(r) };
    case 3:
      return { type: "grantCredit", additional: r.varint32("GrantCredit.additional") };
    default:
      return unknownVariant(r, "ChannelBody", index, at);
  }
}

function readPayload(r: Reader): MessagePayload {
  const at = r.pos;
  const index = r.varint32("MessagePayload");
  switch (index) {
    case 0: {
      const version = r.varint32("Hello.version");
      const settings = readSettings(r);
      return { type: "hello", version, settings, metadata: readMetadata(r) };
    }
    case 1: {
      const settings = readSettings(r);
      return { type: "helloYourself", settings, metadata: readMetadata(r) };
    }
    case 2:
      return { type: "protocolError", description: r.string("ProtocolError.description") };
    case 3: {
      const settings = readSettings(r);
      return { type: "connectionOpen", settings, metadata: readMetadata(r) };
    }
    case 4: {
      const settings = readSettings(r);
      return { type: "connectionAccept", settings, metadata: readMetadata(r) };
    }
    case 5:
      return { type: "connectionReject", metadata: readMetadata(r) };
    case 6:
      return { type: "connectionClose", metadata: readMetadata(r) };
    case 7: {
      const id = r.safe("request id");
      return { type: "request", id, body: readRequestBody(r) };
    }
    case 8: {
      const id = r.safe("channel id");
      return { type: "channel", id, body: readChannelBody(r) };
    }
    case 9:
      return { type: "ping", nonce: r.varintBig("Ping.nonce", 64) };
    case 10:
      return { type: "pong", nonce: r.varintBig("Pong.nonce", 64) };
    default:
      return unknownVariant(r, "MessagePayload", index, at);
  }
}

/**
 * Decodes one message from a whole link payload. Strict: the bytes must be
 * exactly one canonical message. A trailing payload (`args`, `ret`,
 * `item`) is every byte after the fixed fields, returned as a view into
 * `bytes` (no copy), as are metadata byte values; keep `bytes` unchanged
 * while they are in use.
 *
 * @param bytes The encoded message.
 * @returns The message.
 * @throws {DecodeError} For truncated input, an overlong or overflowing
 * varint, an unknown enum index at any level, a bad parity, invalid UTF-8,
 * an id or flags value above 2^53-1, a u32 field above 2^32-1, or bytes
 * left after a message that has no trailing payload.
 * @throws {TypeError} When `bytes` is not a `Uint8Array`.
 *
 * @example Decoding a channel item
 * ```ts
 * import { decodeMessage } from "@roam/roam";
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
  const r = new Reader(bytes);
  const connectionId = r.safe("connection id");
  const payload = readPayload(r);
  if (r.pos !== r.end) r.fail("Message", `${r.end - r.pos} trailing bytes`);
  return { connectionId, payload };
}
