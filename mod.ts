/**
 * roam for Deno, Bun, Node and browsers: a TypeScript-native implementation of the roam v7
 * RPC protocol. A service defined in TypeScript is the schema; on the wire
 * it is byte-compatible with the Rust runtime.
 *
 * This module is the RPC API: schemas and services, sessions and
 * connections, calls, channels, errors and metadata, and connecting by
 * URL. The codec alone is `@roam/roam/postcard`; the wire format (message
 * codec, method ids) is `@roam/roam/wire`; each transport is
 * `@roam/roam/transports/<name>`.
 *
 * @example A service, a server and a client over a memory link
 * ```ts
 * import { accept, implement, initiate, memoryLink, service, t } from "@roam/roam";
 *
 * const Calculator = service("Calculator", {
 *   add: { args: [t.i32, t.i32], returns: t.i32 },
 * });
 * const [a, b] = memoryLink();
 * const [client, server] = await Promise.all([
 *   initiate(a),
 *   accept(b, { services: [implement(Calculator, { add: (x, y) => x + y })] }),
 * ]);
 * console.log(await client.client(Calculator).add(2, 3)); // 5
 * await client.close();
 * await server.closed;
 * ```
 *
 * @module
 */

// Schemas and values.
export { t } from "./lib/channel/schema.ts";
export { decode, encode } from "./lib/postcard/codec.ts";
export type { DecodeOptions, EncodeOptions } from "./lib/postcard/codec.ts";
export { DecodeError } from "./lib/postcard/errors.ts";
export { isSchema } from "./lib/postcard/schema.ts";
export { DEFAULT_CHANNEL_CREDIT } from "./lib/channel/schema.ts";
export type { ChannelOptions, ChannelSchema, SchemaBuilders } from "./lib/channel/schema.ts";
export type { Infer, Schema } from "./lib/postcard/schema.ts";

// Services.
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

// Sessions and connections.
export { accept, initiate } from "./lib/session/handshake.ts";
export type { Session, SessionStats } from "./lib/session/session.ts";
export { implement, SERVICE_KEY } from "./lib/session/options.ts";
export type {
  ConnectionDecision,
  ConnectionRequest,
  InitiatorOptions,
  OpenConnectionOptions,
  ServiceImpl,
  SessionLimits,
  SessionOptions,
  StableOptions,
} from "./lib/session/options.ts";
export { ResumeRegistry } from "./lib/conduit/registry.ts";
export type { ResumeRegistryOptions } from "./lib/conduit/registry.ts";
export type { LinkFactory } from "./lib/conduit/stable.ts";
export type { RetryPolicy } from "./lib/_util/retry.ts";
export type { Connection, ConnectionStats } from "./lib/connection/connection.ts";
export type { CallInfo, Interceptor, ItemInfo } from "./lib/connection/intercept.ts";
export { RawChannel } from "./lib/connection/raw.ts";
export type {
  Fallback,
  RawCall,
  RawCallOptions,
  RawChannelMessage,
  RawResponse,
  RawResult,
} from "./lib/connection/raw.ts";
export { connect, reconnect, serve } from "./lib/extras/serve.ts";
export { forwarder, proxy, PROXY_ERROR_KEY } from "./lib/extras/proxy.ts";
export type { Forwarder, ForwarderOptions, Proxy } from "./lib/extras/proxy.ts";
export { acceptByService, backendOptions, router, SERVICES_KEY } from "./lib/extras/router.ts";
export type { Router, RouterOptions } from "./lib/extras/router.ts";
export { cluster, clusterWorker } from "./lib/extras/cluster.ts";
export type { Cluster, ClusterOptions, ClusterWorker, WorkerExit } from "./lib/extras/cluster.ts";
export type { ConnectOptions, ServeOptions, Server } from "./lib/extras/serve.ts";
export { ReconnectEvent } from "./lib/extras/reconnect.ts";
export type {
  ReconnectingClient,
  ReconnectOptions,
  ReconnectState,
} from "./lib/extras/reconnect.ts";

// Calls.
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

// Channels and tunnels.
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

// Errors.
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
export type { ClosedErrorCode, RpcErrorCode, RpcErrorOptions } from "./lib/wire/errors.ts";
export { FramingError } from "./lib/link/framing/errors.ts";

// Metadata.
export { getMetadata, metadataEntry, propagatable, toMetadata } from "./lib/wire/metadata.ts";
export type { MetadataInit } from "./lib/wire/metadata.ts";
export { NO_PROPAGATE, SENSITIVE } from "./lib/wire/types.ts";
export type {
  ConnectionSettings,
  Metadata,
  MetadataEntry,
  MetadataValue,
  Parity,
} from "./lib/wire/types.ts";

// Links (transports are in `@roam/roam/transports/*`).
export { memoryLink } from "./lib/link/memory.ts";
export type { MemoryLinkOptions } from "./lib/link/memory.ts";
export type { DirectLink, Link, LinkFlow, PayloadSink } from "./lib/link/link.ts";
export { DEFAULT_MAX_FRAME_SIZE } from "./lib/link/framing/errors.ts";
export type { FramingOptions } from "./lib/link/framing/errors.ts";
