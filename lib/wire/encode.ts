/**
 * The encoder half of the session `Message` codec (wire-spec §2): checks a
 * {@linkcode Message} value field by field and appends its postcard bytes
 * to a {@linkcode Writer}, byte for byte as the Rust runtime writes them.
 * Invalid values are `TypeError`s (wrong type) or `RangeError`s (out of
 * range) naming the field's path.
 *
 * `wire.ts` (`@roam/roam/wire`) re-exports what users need.
 *
 * @module
 */

import { show } from "../postcard/_compile.ts";
import { Writer } from "../postcard/_writer.ts";
import { ChannelTag, MessageTag, MetadataValueTag, ParityTag, RequestTag } from "./tags.ts";
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
      w.u8(ParityTag.Odd);
      break;
    case "even":
      w.u8(ParityTag.Even);
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
        w.u8(MetadataValueTag.String);
        writeString(w, v, what, `${where}[${i}].value`);
        break;
      case "bigint":
        w.u8(MetadataValueTag.U64);
        w.varintBig(checkU64(v, what, `${where}[${i}].value`));
        break;
      default:
        if (!(v instanceof Uint8Array)) {
          fault(false, what, `${where}[${i}].value`, "a string, Uint8Array or bigint", v);
        }
        w.u8(MetadataValueTag.Bytes);
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
      w.u8(RequestTag.Call);
      w.varintBig(checkU64(body.methodId, "Message", "payload.body.methodId"));
      writeChannels(w, body.channels, "payload.body.channels");
      writeMetadataAt(w, body.metadata, "Message", "payload.body.metadata");
      w.raw(checkBytes(body.args, "Message", "payload.body.args"));
      return;
    case "response":
      w.u8(RequestTag.Response);
      writeChannels(w, body.channels, "payload.body.channels");
      writeMetadataAt(w, body.metadata, "Message", "payload.body.metadata");
      w.raw(checkBytes(body.ret, "Message", "payload.body.ret"));
      return;
    case "cancel":
      w.u8(RequestTag.Cancel);
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
      w.u8(ChannelTag.Item);
      w.raw(checkBytes(body.item, "Message", "payload.body.item"));
      return;
    case "close":
      w.u8(ChannelTag.Close);
      writeMetadataAt(w, body.metadata, "Message", "payload.body.metadata");
      return;
    case "reset":
      w.u8(ChannelTag.Reset);
      writeMetadataAt(w, body.metadata, "Message", "payload.body.metadata");
      return;
    case "grantCredit":
      w.u8(ChannelTag.GrantCredit);
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
      w.u8(MessageTag.Hello);
      w.varint(checkU32(p.version, "Message", "payload.version"));
      writeSettingsAt(w, p.settings, "Message", "payload.settings");
      writeMetadataAt(w, p.metadata, "Message", "payload.metadata");
      return;
    case "helloYourself":
      w.u8(MessageTag.HelloYourself);
      writeSettingsAt(w, p.settings, "Message", "payload.settings");
      writeMetadataAt(w, p.metadata, "Message", "payload.metadata");
      return;
    case "protocolError":
      w.u8(MessageTag.ProtocolError);
      writeString(w, p.description, "Message", "payload.description");
      return;
    case "connectionOpen":
      w.u8(MessageTag.ConnectionOpen);
      writeSettingsAt(w, p.settings, "Message", "payload.settings");
      writeMetadataAt(w, p.metadata, "Message", "payload.metadata");
      return;
    case "connectionAccept":
      w.u8(MessageTag.ConnectionAccept);
      writeSettingsAt(w, p.settings, "Message", "payload.settings");
      writeMetadataAt(w, p.metadata, "Message", "payload.metadata");
      return;
    case "connectionReject":
      w.u8(MessageTag.ConnectionReject);
      writeMetadataAt(w, p.metadata, "Message", "payload.metadata");
      return;
    case "connectionClose":
      w.u8(MessageTag.ConnectionClose);
      writeMetadataAt(w, p.metadata, "Message", "payload.metadata");
      return;
    case "request":
      w.u8(MessageTag.Request);
      w.varint(checkSafe(p.id, "Message", "payload.id"));
      writeRequestBody(w, p.body);
      return;
    case "channel":
      w.u8(MessageTag.Channel);
      w.varint(checkSafe(p.id, "Message", "payload.id"));
      writeChannelBody(w, p.body);
      return;
    case "ping":
      w.u8(MessageTag.Ping);
      w.varintBig(checkU64(p.nonce, "Message", "payload.nonce"));
      return;
    case "pong":
      w.u8(MessageTag.Pong);
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
 * import { writeMessage } from "./encode.ts";
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
 * @returns The encoded bytes, a new array with an `ArrayBuffer` of its own.
 * @throws {TypeError} When a field has the wrong type or `type` is unknown.
 * @throws {RangeError} When a number is out of range.
 *
 * @example Encoding a minimal Hello
 * ```ts
 * import { encodeMessage } from "@roam/roam/wire";
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
 * import { writeMetadata } from "./encode.ts";
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
 * import { writeSettings } from "./encode.ts";
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
