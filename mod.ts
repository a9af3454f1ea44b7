/**
 * roam for Deno and Bun: a TypeScript-native implementation of the roam v7
 * RPC protocol. A service defined in TypeScript is the schema; on the wire
 * it is byte-compatible with the Rust runtime.
 *
 * @example Defining a service and computing its method ids
 * ```ts
 * import { service, t } from "@roam/roam";
 *
 * const Testbed = service("Testbed", {
 *   echo: { args: [t.string], returns: t.string },
 * });
 * console.log(Testbed.methods.echo.id === 0x9aabc4ba61fd5df3n); // true
 * ```
 *
 * @module
 */

export { decode, encode } from "./lib/postcard/codec.ts";
export type { DecodeOptions, EncodeOptions } from "./lib/postcard/codec.ts";
export { DecodeError } from "./lib/postcard/errors.ts";
export { DEFAULT_CHANNEL_CREDIT, isSchema, t } from "./lib/postcard/schema.ts";
export type {
  ArraySchema,
  ChannelOptions,
  ChannelSchema,
  EnumSchema,
  EnumValue,
  Fields,
  FieldSchema,
  Infer,
  LazySchema,
  ListSchema,
  MapSchema,
  OptionalKeys,
  OptionSchema,
  ScalarKind,
  ScalarSchema,
  Schema,
  SchemaBuilders,
  SchemaKind,
  SetSchema,
  Simplify,
  StructSchema,
  StructValue,
  TupleSchema,
  TupleValue,
  UnitSchema,
  VariantSchema,
  VariantSpec,
  VariantValue,
} from "./lib/postcard/schema.ts";
export { blake3 } from "./lib/identity/blake3.ts";
export { kebabCase } from "./lib/identity/kebab.ts";
export { signatureOf } from "./lib/identity/signature.ts";
export { methodId } from "./lib/identity/method_id.ts";
export { service } from "./lib/identity/service.ts";
export type {
  ArgsOf,
  ErrorOf,
  MethodDescriptor,
  MethodSpec,
  MethodSpecs,
  ReturnOf,
  ServiceDescriptor,
} from "./lib/identity/service.ts";
export { encodeMessage } from "./lib/wire/encode.ts";
export { decodeMessage } from "./lib/wire/decode.ts";
export { NO_PROPAGATE, PROTOCOL_VERSION, SENSITIVE } from "./lib/wire/types.ts";
export type {
  ChannelBody,
  ConnectionSettings,
  Message,
  MessagePayload,
  Metadata,
  MetadataEntry,
  MetadataValue,
  Parity,
  RequestBody,
} from "./lib/wire/types.ts";
export { memoryLink } from "./lib/link/memory.ts";
export type { MemoryLinkOptions } from "./lib/link/memory.ts";
export type { DirectLink, Link, LinkFlow, PayloadSink } from "./lib/link/link.ts";
export {
  describeMetadata,
  EMPTY_METADATA,
  getMetadata,
  metadataEntry,
  propagatable,
  toMetadata,
} from "./lib/wire/metadata.ts";
export type { MetadataInit } from "./lib/wire/metadata.ts";
export {
  CancelledError,
  ClosedError,
  ConnectionRejectedError,
  HandshakeError,
  InvalidPayloadError,
  ProtocolError,
  RpcError,
  UnknownMethodError,
} from "./lib/wire/errors.ts";
export type { RpcErrorCode, RpcErrorOptions } from "./lib/wire/errors.ts";
export { Session } from "./lib/session/session.ts";
export { implement } from "./lib/session/options.ts";
export { accept, initiate } from "./lib/session/handshake.ts";
export type {
  ConnectionDecision,
  ConnectionRequest,
  InitiatorOptions,
  OpenConnectionOptions,
  ServiceImpl,
  SessionLimits,
  SessionOptions,
} from "./lib/session/options.ts";
export { Connection } from "./lib/connection/connection.ts";
export { err, ok } from "./lib/connection/api.ts";
export type {
  CallContext,
  CallOptions,
  CallResult,
  CallReturn,
  Client,
  Handler,
  HandlerReturn,
  Handlers,
  Result,
} from "./lib/connection/api.ts";
export { exposeMetadata } from "./lib/wire/metadata.ts";
export { connect, serve } from "./lib/extras/serve.ts";
export type { ConnectOptions, ServeOptions, Server } from "./lib/extras/serve.ts";
export { channel, ChannelResetError, Rx, Tx } from "./lib/channel/channel.ts";
export type { ReceiveOptions, SendOptions } from "./lib/channel/channel.ts";
export {
  pumpFromChannel,
  pumpToChannel,
  pumpTunnel,
  tunnel,
  TunnelSchema,
} from "./lib/extras/tunnel.ts";
export type { PumpOptions, TunnelEnds } from "./lib/extras/tunnel.ts";
export { DEFAULT_MAX_FRAME_SIZE, FramingError } from "./lib/link/framing/socket_link.ts";
export type { FramingOptions } from "./lib/link/framing/socket_link.ts";
