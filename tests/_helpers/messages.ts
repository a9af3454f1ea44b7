/**
 * Wire messages a raw peer sends, ready made: the minimal `Hello`, calls
 * and responses, as messages or as encoded bytes.
 *
 * @module
 */

import { encode, t } from "../../mod.ts";
import { encodeMessage, type Message } from "../../wire.ts";

/** A version 7 `Hello` from an odd initiator, encoded: `00 00 07 00 40 00`. */
export const HELLO: Uint8Array = encodeMessage({
  connectionId: 0,
  payload: {
    type: "hello",
    version: 7,
    settings: { parity: "odd", maxConcurrentRequests: 64 },
    metadata: [],
  },
}).slice();

/** A `Call` message. */
export function callMessage(
  connectionId: number,
  requestId: number,
  methodId: bigint,
  args: Uint8Array = new Uint8Array(0),
): Message {
  return {
    connectionId,
    payload: {
      type: "request",
      id: requestId,
      body: { type: "call", methodId, channels: [], metadata: [], args },
    },
  };
}

/** A `Call` on the root connection, encoded, with the ids of the channels its args carry. */
export function callBytes(
  id: number,
  methodId: bigint,
  args: Uint8Array,
  channels: number[] = [],
): Uint8Array {
  return encodeMessage({
    connectionId: 0,
    payload: {
      type: "request",
      id,
      body: { type: "call", methodId, channels, metadata: [], args },
    },
  }).slice();
}

/** A `Response` message carrying `Ok(value bytes)`. */
export function okResponse(connectionId: number, requestId: number, value: Uint8Array): Message {
  const ret = new Uint8Array(value.length + 1);
  ret.set(value, 1);
  return {
    connectionId,
    payload: {
      type: "request",
      id: requestId,
      body: { type: "response", channels: [], metadata: [], ret },
    },
  };
}

/** The args of a method taking one u32 (and perhaps channels, which take no bytes). */
export function u32Args(n: number): Uint8Array {
  return encode(t.u32, n).slice();
}
