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

/** `Option` tags (`None` / `Some`), as in a stable conduit frame's ack (wire-spec §5.2). */
export const OptionTag = { None: 0, Some: 1 } as const;

/**
 * The stable conduit's link handshake (wire-spec §5.1): a 25-byte raw
 * struct each way, little-endian, magic first (`ROCH` from the client,
 * `ROSH` from the server, read as a u32), then flags, a 16-byte resume key
 * and the last sequence number received.
 */
export const StableHello = {
  Size: 25,
  KeySize: 16,
  /** `ROCH` read as a little-endian u32. */
  ClientMagic: 0x4843_4f52,
  /** `ROSH` read as a little-endian u32. */
  ServerMagic: 0x4853_4f52,
  /** ClientHello flag: the resume key field is set. */
  ClientHasResumeKey: 0b01,
  /** ClientHello flag: the last-received field is set. */
  ClientHasLastReceived: 0b10,
  /** ServerHello flag: the server does not know the resume key. */
  ServerRejected: 0b01,
  /** ServerHello flag: the last-received field is set. */
  ServerHasLastReceived: 0b10,
} as const;
