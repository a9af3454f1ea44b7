/**
 * roam for the browser: the RPC API of `@roam/roam` with the transports
 * that run in a page or a worker (WebSocket client, MessagePort, memory),
 * and a `connect(url)` that takes `ws://` and `wss://` addresses. No code
 * for TCP, Unix sockets, stdio or servers is reachable from here, not even
 * behind a dynamic import, so any bundler (esbuild, Vite, Rollup,
 * `bun build`, `deno bundle`) builds it for the browser with no options.
 *
 * `serve` and `cluster` are not here: a page does not listen or start
 * processes. Everything else `@roam/roam` exports is, under the same names;
 * `connect` and `reconnect` take `ws://` and `wss://` addresses.
 *
 * @example Calling a service from a page
 * ```ts
 * import { connect, service, t } from "@roam/roam/browser";
 *
 * const Calculator = service("Calculator", {
 *   add: { args: [t.i32, t.i32], returns: t.i32 },
 * });
 *
 * export async function add(a: number, b: number): Promise<number> {
 *   const session = await connect(new URL("/roam", location.href.replace(/^http/, "ws")));
 *   try {
 *     return await session.client(Calculator).add(a, b);
 *   } finally {
 *     await session.close();
 *   }
 * }
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
export { connect, reconnect } from "./lib/extras/connect_web.ts";
export { forwarder, proxy, PROXY_ERROR_KEY } from "./lib/extras/proxy.ts";
export type { Forwarder, ForwarderOptions, Proxy } from "./lib/extras/proxy.ts";
export { acceptByService, backendOptions, router, SERVICES_KEY } from "./lib/extras/router.ts";
export type { Router, RouterOptions } from "./lib/extras/router.ts";
export type { ConnectOptions } from "./lib/extras/serve.ts";
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

// Links, and the transports that run in browsers.
export { memoryLink } from "./lib/link/memory.ts";
export type { MemoryLinkOptions } from "./lib/link/memory.ts";
export type { DirectLink, Link, LinkFlow, PayloadSink } from "./lib/link/link.ts";
export { DEFAULT_MAX_FRAME_SIZE } from "./lib/link/framing/errors.ts";
export type { FramingOptions } from "./lib/link/framing/errors.ts";
export { connectWebSocket, websocketLink } from "./transports/websocket.ts";
export type { WebSocketConnectOptions, WebSocketLinkOptions } from "./transports/websocket.ts";
export { messageChannelLinks, messagePortLink } from "./transports/message_port.ts";
export type {
  EmitterEndpoint,
  MessageEndpoint,
  MessagePortLinkOptions,
} from "./transports/message_port.ts";
