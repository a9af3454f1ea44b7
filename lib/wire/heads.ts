/**
 * Message heads for the hot path: everything of a call, a response, a
 * channel message, a cancel or a pong that comes before its payload,
 * written straight into the session's writer (so a call is encoded once,
 * with its arguments after it), and the head of an incoming message read
 * without building a `Message`. The full codec is `encode.ts` /
 * `decode.ts`; both use the tags of `tags.ts`.
 *
 * @module
 */

import { putVarint32, type Writer } from "../postcard/_writer.ts";
import { writeMetadata } from "./encode.ts";
import { ChannelTag, MessageTag, RequestTag, ResultTag, RoamErrorTag } from "./tags.ts";
import type { Metadata } from "./types.ts";

const idBytes = new WeakMap<object, Uint8Array>();
/** The method whose id was written last (pipelined calls repeat it), and its bytes. */
let lastKey: object | undefined;
let lastBytes: Uint8Array | undefined;

/** Ids up to this take the in-place heads (five varint bytes at most). */
const U32_MAX = 0xffff_ffff;

/** The varint bytes of a method id, computed once per method. */
export function methodIdBytes(key: object, id: bigint): Uint8Array {
  if (key === lastKey) return lastBytes!;
  let bytes = idBytes.get(key);
  if (bytes === undefined) {
    const out: number[] = [];
    let v = id;
    while (v >= 0x80n) {
      out.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    out.push(Number(v));
    bytes = Uint8Array.from(out);
    idBytes.set(key, bytes);
  }
  lastKey = key;
  lastBytes = bytes;
  return bytes;
}

function writeChannelIds(w: Writer, ids: readonly number[]): void {
  w.varint(ids.length);
  for (const id of ids) w.varint(id);
}

function writeMetadataOrNone(w: Writer, metadata: Metadata): void {
  if (metadata.length === 0) w.u8(0);
  else writeMetadata(w, metadata);
}

/**
 * Writes everything of a `Call` message before its args: connection id,
 * `RequestMessage`, request id, `Call`, method id, channels, metadata.
 */
export function writeCallHead(
  w: Writer,
  connectionId: number,
  requestId: number,
  methodId: Uint8Array,
  channels: readonly number[],
  metadata: Metadata,
): void {
  if (
    channels.length === 0 && metadata.length === 0 && connectionId <= U32_MAX &&
    requestId <= U32_MAX
  ) {
    // The common call: one bounds check, the bytes written in place.
    const n = methodId.length;
    w.ensure(14 + n);
    const buf = w.buf;
    let p = putVarint32(buf, w.pos, connectionId);
    buf[p++] = MessageTag.Request;
    p = putVarint32(buf, p, requestId);
    buf[p++] = RequestTag.Call;
    for (let i = 0; i < n; i++) buf[p++] = methodId[i]!;
    buf[p++] = 0; // no channels
    buf[p++] = 0; // no metadata
    w.pos = p;
    return;
  }
  w.varint(connectionId);
  w.u8(MessageTag.Request);
  w.varint(requestId);
  w.u8(RequestTag.Call);
  w.raw(methodId);
  writeChannelIds(w, channels);
  writeMetadataOrNone(w, metadata);
}

/**
 * Writes everything of a `Response` message before its `ret` payload:
 * connection id, `RequestMessage`, request id, `Response`, channels,
 * metadata.
 */
export function writeResponseHead(
  w: Writer,
  connectionId: number,
  requestId: number,
  metadata: Metadata,
): void {
  if (metadata.length === 0 && connectionId <= U32_MAX && requestId <= U32_MAX) {
    // The common response: one bounds check, the bytes written in place.
    w.ensure(13);
    const buf = w.buf;
    let p = putVarint32(buf, w.pos, connectionId);
    buf[p++] = MessageTag.Request;
    p = putVarint32(buf, p, requestId);
    buf[p++] = RequestTag.Response;
    buf[p++] = 0; // Rust never sends channels in a response.
    buf[p++] = 0; // no metadata
    w.pos = p;
    return;
  }
  w.varint(connectionId);
  w.u8(MessageTag.Request);
  w.varint(requestId);
  w.u8(RequestTag.Response);
  w.u8(0); // Rust never sends channels in a response.
  writeMetadataOrNone(w, metadata);
}

/** Writes the `Ok` tag of a response's `ret`; the value follows. */
export function writeOk(w: Writer): void {
  w.u8(ResultTag.Ok);
}

/** Writes `Err(User(...))` tags of a response's `ret`; the user error follows. */
export function writeUserError(w: Writer): void {
  w.u8(ResultTag.Err);
  w.u8(RoamErrorTag.User);
}

/** The `RoamError` a response may carry instead of a value or a user error. */
export type RoamErrorKind = "unknownMethod" | "invalidPayload" | "cancelled";

const ROAM_ERROR: Readonly<Record<RoamErrorKind, number>> = {
  unknownMethod: RoamErrorTag.UnknownMethod,
  invalidPayload: RoamErrorTag.InvalidPayload,
  cancelled: RoamErrorTag.Cancelled,
};

/** Writes a whole `Response` carrying `Err(<kind>)`. */
export function writeErrorResponse(
  w: Writer,
  connectionId: number,
  requestId: number,
  metadata: Metadata,
  kind: RoamErrorKind,
): void {
  writeResponseHead(w, connectionId, requestId, metadata);
  w.u8(ResultTag.Err);
  w.u8(ROAM_ERROR[kind]);
}

/** Writes a whole `Cancel` without metadata. */
export function writeCancel(w: Writer, connectionId: number, requestId: number): void {
  w.varint(connectionId);
  w.u8(MessageTag.Request);
  w.varint(requestId);
  w.u8(RequestTag.Cancel);
  w.u8(0); // no metadata
}

function writeChannelHead(w: Writer, connectionId: number, channelId: number, body: number): void {
  w.varint(connectionId);
  w.u8(MessageTag.Channel);
  w.varint(channelId);
  w.u8(body);
}

/** Writes everything of a channel `Item` before the item's bytes. */
export function writeItemHead(w: Writer, connectionId: number, channelId: number): void {
  writeChannelHead(w, connectionId, channelId, ChannelTag.Item);
}

/** Writes a whole channel `Close` (the sender is done) or `Reset` (the receiver asks it to stop). */
export function writeChannelEnd(
  w: Writer,
  connectionId: number,
  channelId: number,
  end: "close" | "reset",
  metadata: Metadata,
): void {
  writeChannelHead(
    w,
    connectionId,
    channelId,
    end === "close" ? ChannelTag.Close : ChannelTag.Reset,
  );
  writeMetadataOrNone(w, metadata);
}

/** Writes a whole `GrantCredit`. */
export function writeGrant(
  w: Writer,
  connectionId: number,
  channelId: number,
  additional: number,
): void {
  writeChannelHead(w, connectionId, channelId, ChannelTag.GrantCredit);
  w.varint(additional);
}

/** Writes a whole `Pong` whose nonce is the varint `nonce[start, end)`, copied as it is. */
export function writePong(w: Writer, connectionId: number, nonce: Uint8Array, start: number): void {
  w.varint(connectionId);
  w.u8(MessageTag.Pong);
  for (let i = start; i < nonce.length; i++) w.u8(nonce[i]!);
}

/**
 * The head of an incoming message of the kinds the hot path handles, read
 * by {@linkcode readHead} into a reusable object: no `Message` is built.
 */
export interface Head {
  /** The connection id. */
  cid: number;
  /** What follows: see {@linkcode HeadKind}. */
  kind: HeadKind;
  /** The request or channel id (0 for a ping). */
  id: number;
  /** The method id of a call. */
  methodId: bigint;
  /** Where the payload starts: a call's args, a response's `ret`, an item's bytes, a ping's nonce. */
  pos: number;
}

/**
 * The messages the hot path handles without building a `Message`: a call
 * or a response with no channels and no metadata, an item, a ping.
 */
export const HeadKind = { Other: 0, Call: 1, Response: 2, Item: 3, Ping: 4 } as const;

/** A value of {@linkcode HeadKind}. */
export type HeadKind = typeof HeadKind[keyof typeof HeadKind];

/** A fresh {@linkcode Head} to reuse with {@linkcode readHead}. */
export function newHead(): Head {
  return { cid: 0, kind: HeadKind.Other, id: 0, methodId: 0n, pos: 0 };
}

/** Where the last {@linkcode readSafe} stopped. */
let after = 0;

/**
 * Reads a u64 varint at `bytes[pos]` that fits a safe integer (an id), as
 * `Reader.safe` does; -1 when it is truncated, overlong or above 2^53-1.
 * Sets `after` to the position after it.
 */
function readSafe(bytes: Uint8Array, pos: number, end: number): number {
  if (pos >= end) return -1;
  let b = bytes[pos]!;
  if (b < 0x80) {
    after = pos + 1;
    return b;
  }
  let result = b & 0x7f;
  let mul = 128;
  for (let i = 1;; i++) {
    if (++pos >= end) return -1;
    b = bytes[pos]!;
    // The 8th byte carries bits 49..55: 2^53-1 allows at most 0x0f there, and no continuation.
    if (i === 7 && b > 0x0f) return -1;
    result += (b & 0x7f) * mul;
    if (b < 0x80) {
      if (b === 0) return -1;
      after = pos + 1;
      return result;
    }
    mul *= 128;
  }
}

/** Method ids read lately, by their first two bytes: a call does not parse its id's varint again. */
const ID_SLOTS = 64;
/** Up to 10 varint bytes per slot. */
const seenBytes = new Uint8Array(ID_SLOTS * 10);
const idLength = new Uint8Array(ID_SLOTS);
const idValue: (bigint | undefined)[] = new Array(ID_SLOTS).fill(undefined);

/** The slot of the method id whose varint starts at `bytes[pos]` (two bytes there at least). */
function idSlot(bytes: Uint8Array, pos: number): number {
  return (bytes[pos]! ^ (bytes[pos + 1]! << 1)) & (ID_SLOTS - 1);
}

/**
 * Reads the u64 varint of a method id at `bytes[pos]`, as
 * `Reader.varintBig` does; undefined when it is truncated, overlong or
 * overflows 64 bits. Sets `after` to the position after it.
 */
function readMethodId(bytes: Uint8Array, pos: number, end: number): bigint | undefined {
  if (pos + 1 < end) {
    // The same bytes as an id read before are the same (valid) varint.
    const slot = idSlot(bytes, pos);
    const n = idLength[slot]!;
    if (n !== 0 && pos + n <= end) {
      let i = 0;
      const base = slot * 10;
      while (i < n && bytes[pos + i] === seenBytes[base + i]) i++;
      if (i === n) {
        after = pos + n;
        return idValue[slot];
      }
    }
  }
  return parseMethodId(bytes, pos, end);
}

/** Parses a method id (see `readMethodId`) and remembers its bytes, without a view of them. */
function parseMethodId(bytes: Uint8Array, pos: number, end: number): bigint | undefined {
  const start = pos;
  let low = 0;
  let high = 0;
  let mul = 1;
  let b = 0;
  for (let shift = 0;; shift += 7) {
    if (pos >= end) return undefined;
    b = bytes[pos++]!;
    if (shift < 28) low |= (b & 0x7f) << shift;
    else {
      // The 10th byte carries bit 63 only.
      if (shift === 63 && b > 0x01) return undefined;
      high += (b & 0x7f) * mul;
      mul *= 128;
    }
    if (b < 0x80) break;
  }
  const n = pos - start;
  if (b === 0 && n > 1) return undefined;
  after = pos;
  // high < 2^36; the whole value is exact as a number below 2^53.
  const value = high < 0x200_0000
    ? BigInt(high * 0x1000_0000 + low)
    : (BigInt(high) << 28n) | BigInt(low);
  if (n > 1) {
    const slot = idSlot(bytes, start);
    const base = slot * 10;
    for (let i = 0; i < n; i++) seenBytes[base + i] = bytes[start + i]!;
    idLength[slot] = n;
    idValue[slot] = value;
  }
  return value;
}

/**
 * Reads the head of the message `bytes[start, end)` into `head`, without
 * a reader. `head.kind` is `HeadKind.Other` for anything else or anything
 * odd, in which case the full decoder takes the message (and reports its
 * faults).
 *
 * @param bytes The message's bytes.
 * @param start Where the message starts.
 * @param end Where it ends.
 * @param head Where the head goes.
 */
export function readHead(bytes: Uint8Array, start: number, end: number, head: Head): void {
  head.kind = HeadKind.Other;
  const cid = readSafe(bytes, start, end);
  if (cid < 0 || after >= end) return;
  head.cid = cid;
  const tag = bytes[after]!;
  if (tag === MessageTag.Ping) {
    head.id = 0;
    head.pos = after + 1;
    head.kind = HeadKind.Ping;
    return;
  }
  if (tag !== MessageTag.Request && tag !== MessageTag.Channel) return;
  const id = readSafe(bytes, after + 1, end);
  if (id < 0 || after >= end) return;
  head.id = id;
  const body = bytes[after]!;
  let p = after + 1;
  if (tag === MessageTag.Channel) {
    if (body !== ChannelTag.Item) return;
    head.pos = p;
    head.kind = HeadKind.Item;
    return;
  }
  if (body === RequestTag.Call) {
    const methodId = readMethodId(bytes, p, end);
    if (methodId === undefined) return;
    head.methodId = methodId;
    p = after;
  } else if (body !== RequestTag.Response) return;
  // No channels, no metadata: two zero bytes.
  if (p + 2 > end || bytes[p] !== 0 || bytes[p + 1] !== 0) return;
  head.pos = p + 2;
  head.kind = body === RequestTag.Call ? HeadKind.Call : HeadKind.Response;
}

/**
 * True when `bytes[start, end)` is one canonical varint of at most 10
 * bytes (a u64): a ping's nonce, echoed as it is in the pong.
 */
export function isCanonicalU64(bytes: Uint8Array, start: number): boolean {
  const end = bytes.length;
  const n = end - start;
  if (n < 1 || n > 10) return false;
  for (let i = start; i < end - 1; i++) if (bytes[i]! < 0x80) return false;
  const last = bytes[end - 1]!;
  return !(last >= 0x80 || (last === 0 && n > 1) || (n === 10 && last > 1));
}
