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

import type { Reader } from "../postcard/_reader.ts";
import type { Writer } from "../postcard/_writer.ts";
import { writeMetadata } from "./encode.ts";
import { ChannelTag, MessageTag, RequestTag, ResultTag, RoamErrorTag } from "./tags.ts";
import type { Metadata } from "./types.ts";

const idBytes = new WeakMap<object, Uint8Array>();

/** The varint bytes of a method id, computed once per method. */
export function methodIdBytes(key: object, id: bigint): Uint8Array {
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

/**
 * Reads the head of `r`'s message into `head`. `head.kind` is
 * `HeadKind.Other` for anything else or anything odd, in which case the
 * full decoder takes the message (and reports its faults); no error is
 * thrown.
 *
 * @param r A reader at the start of the message.
 * @param head Where the head goes.
 */
export function readHead(r: Reader, head: Head): void {
  head.kind = HeadKind.Other;
  let body: number;
  try {
    head.cid = r.safe("connection id");
    const tag = r.u8("MessagePayload");
    if (tag === MessageTag.Ping) {
      head.id = 0;
      head.pos = r.pos;
      head.kind = HeadKind.Ping;
      return;
    }
    if (tag !== MessageTag.Request && tag !== MessageTag.Channel) return;
    head.id = r.safe("id");
    body = r.u8("body");
    if (tag === MessageTag.Channel) {
      if (body !== ChannelTag.Item) return;
      head.pos = r.pos;
      head.kind = HeadKind.Item;
      return;
    }
    if (body === RequestTag.Call) head.methodId = r.varintBig("method id", 64);
    else if (body !== RequestTag.Response) return;
  } catch {
    return;
  }
  // No channels, no metadata: two zero bytes.
  const bytes = r.buf;
  const p = r.pos;
  if (p + 2 > bytes.length || bytes[p] !== 0 || bytes[p + 1] !== 0) return;
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
