/**
 * Every tag of the roam v7 wire format, once (wire-spec §2): the variant
 * indexes of `MessagePayload`, `RequestBody`, `ChannelBody`,
 * `MetadataValue`, `Parity`, and of the `Result<T, RoamError<E>>` a
 * response carries. No other file writes or compares a literal tag.
 *
 * @module
 */

/** `MessagePayload` variant indexes (wire-spec §2.1; `Ping`/`Pong` come last on the wire). */
export const MessageTag = {
  Hello: 0,
  HelloYourself: 1,
  ProtocolError: 2,
  ConnectionOpen: 3,
  ConnectionAccept: 4,
  ConnectionReject: 5,
  ConnectionClose: 6,
  Request: 7,
  Channel: 8,
  Ping: 9,
  Pong: 10,
} as const;

/** `RequestBody` variant indexes, inside `MessagePayload::RequestMessage`. */
export const RequestTag = { Call: 0, Response: 1, Cancel: 2 } as const;

/** `ChannelBody` variant indexes, inside `MessagePayload::ChannelMessage`. */
export const ChannelTag = { Item: 0, Close: 1, Reset: 2, GrantCredit: 3 } as const;

/** `MetadataValue` variant indexes. */
export const MetadataValueTag = { String: 0, Bytes: 1, U64: 2 } as const;

/** `Parity` variant indexes. */
export const ParityTag = { Odd: 0, Even: 1 } as const;

/** `Result` variant indexes of a response's `ret` (wire-spec §2.7). */
export const ResultTag = { Ok: 0, Err: 1 } as const;

/** `RoamError` variant indexes inside `Err(...)` of a response (wire-spec §2.7). */
export const RoamErrorTag = { User: 0, UnknownMethod: 1, InvalidPayload: 2, Cancelled: 3 } as const;

/** Number of `MessagePayload` variants: an index at or above it is undecodable. */
export const MESSAGE_VARIANTS = 11;
