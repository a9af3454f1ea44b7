/**
 * The roam v7 session message, as TypeScript values (wire-spec §2).
 *
 * Connection, request and channel ids are `number`s: ids are allocated
 * from 1 upwards, so they stay far below 2^53; a decoder rejects larger
 * ones. Method ids use the full u64 range and are `bigint`s.
 *
 * @module
 */

/** Metadata flag: the value must never be logged or shown. */
export const SENSITIVE = 1;
/** Metadata flag: a proxy must not forward this entry. */
export const NO_PROPAGATE = 2;

/** A metadata value: a string, raw bytes or a u64. */
export type MetadataValue = string | Uint8Array | bigint;

/** One metadata entry. Keys are case-sensitive; duplicates are allowed. */
export interface MetadataEntry {
  /** The key. */
  readonly key: string;
  /** The value: `string` (String), `Uint8Array` (Bytes) or `bigint` (U64). */
  readonly value: MetadataValue;
  /** Flag bits: {@linkcode SENSITIVE}, {@linkcode NO_PROPAGATE}; at most 2^53-1. */
  readonly flags: number;
}

/** A metadata list, in wire order. */
export type Metadata = readonly MetadataEntry[];

/** Which ids a side allocates: odd (1, 3, 5, ...) or even (2, 4, 6, ...). */
export type Parity = "odd" | "even";

/** Settings each side announces for a connection. */
export interface ConnectionSettings {
  /** The parity of ids this side allocates. */
  readonly parity: Parity;
  /** How many requests this side accepts in flight on the connection (u32). */
  readonly maxConcurrentRequests: number;
}

/** The body of a request message (`RequestBody`). */
export type RequestBody =
  | {
    readonly type: "call";
    readonly methodId: bigint;
    readonly channels: readonly number[];
    readonly metadata: Metadata;
    /** Postcard bytes of the argument tuple (trailing, unprefixed). */
    readonly args: Uint8Array;
  }
  | {
    readonly type: "response";
    readonly channels: readonly number[];
    readonly metadata: Metadata;
    /** Postcard bytes of `Result<T, RoamError<E>>` (trailing, unprefixed). */
    readonly ret: Uint8Array;
  }
  | { readonly type: "cancel"; readonly metadata: Metadata };

/** The body of a channel message (`ChannelBody`). */
export type ChannelBody =
  | {
    readonly type: "item";
    /** Postcard bytes of one item (trailing, unprefixed). */
    readonly item: Uint8Array;
  }
  | { readonly type: "close"; readonly metadata: Metadata }
  | { readonly type: "reset"; readonly metadata: Metadata }
  | { readonly type: "grantCredit"; readonly additional: number };

/** The payload of a message (`MessagePayload`), by wire index. */
export type MessagePayload =
  | {
    readonly type: "hello";
    readonly version: number;
    readonly settings: ConnectionSettings;
    readonly metadata: Metadata;
  }
  | {
    readonly type: "helloYourself";
    readonly settings: ConnectionSettings;
    readonly metadata: Metadata;
  }
  | { readonly type: "protocolError"; readonly description: string }
  | {
    readonly type: "connectionOpen";
    readonly settings: ConnectionSettings;
    readonly metadata: Metadata;
  }
  | {
    readonly type: "connectionAccept";
    readonly settings: ConnectionSettings;
    readonly metadata: Metadata;
  }
  | { readonly type: "connectionReject"; readonly metadata: Metadata }
  | { readonly type: "connectionClose"; readonly metadata: Metadata }
  | { readonly type: "request"; readonly id: number; readonly body: RequestBody }
  | { readonly type: "channel"; readonly id: number; readonly body: ChannelBody }
  | { readonly type: "ping"; readonly nonce: bigint }
  | { readonly type: "pong"; readonly nonce: bigint };

/** A session message: a connection id and a payload. */
export interface Message {
  /** The connection the message belongs to; 0 is the root connection. */
  readonly connectionId: number;
  /** What the message says. */
  readonly payload: MessagePayload;
}

/** The protocol version this library speaks. */
export const PROTOCOL_VERSION = 7;
