/**
 * Hot-path message writers: a call or a response written straight into a
 * buffer, header and payload together, so a call is encoded once.
 *
 * @module
 */

import type { Writer } from "../postcard/_writer.ts";
import { writeMetadata } from "./message.ts";
import type { Metadata } from "./types.ts";

const REQUEST_MESSAGE = 7;
const CALL = 0;
const RESPONSE = 1;

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
  w.u8(REQUEST_MESSAGE);
  w.varint(requestId);
  w.u8(CALL);
  w.raw(methodId);
  writeChannelIds(w, channels);
  if (metadata.length === 0) w.u8(0);
  else writeMetadata(w, metadata);
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
  w.u8(REQUEST_MESSAGE);
  w.varint(requestId);
  w.u8(RESPONSE);
  w.u8(0); // Rust never sends channels in a response.
  if (metadata.length === 0) w.u8(0);
  else writeMetadata(w, metadata);
}

/** `RoamError` indexes inside `Err(...)` of a response (wire-spec §2.7). */
export const RoamErrorIndex = {
  User: 0,
  UnknownMethod: 1,
  InvalidPayload: 2,
  Cancelled: 3,
} as const;
