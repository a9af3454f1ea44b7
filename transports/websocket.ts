/**
 * WebSocket links (wire-spec §3.2): one payload per binary WebSocket
 * message, no length prefix, no subprotocol. Uses only the standard global
 * `WebSocket`, so it runs in browsers as well as on Deno, Bun and Node 22+.
 *
 * - A text message from the peer is a protocol violation: the link's
 *   readable errors with a `FramingError` (a protocol violation), and a session on the
 *   link answers with a `ProtocolError` before closing.
 * - A Close frame with code 1000, 1001 or 1005 ends the readable (its
 *   reason is not kept). A Close frame by which the peer closed on purpose
 *   with an application code (3000 to 4999) errors it with a
 *   {@linkcode WebSocketClosedError} whose `peerClosed` is true (a session
 *   on the link ends with `peer-closed`, saying the code and reason); an
 *   error code, the code of an aborted link (4000), or a connection lost
 *   without a Close frame (1006) errors it with `peerClosed` false (the
 *   session ends with `link-lost`).
 * - Closing the writable sends a Close frame (code 1000) once everything
 *   written has been handed to the network; `link.close(code, reason)`
 *   does the same with a code and reason of your own. A WebSocket cannot
 *   half-close: the peer answers with its own Close frame and the link
 *   ends in both directions. Aborting the writable closes at once with
 *   code 4000.
 * - Incoming messages are queued in the readable until read (the standard
 *   API cannot pause the socket); the layers above bound that memory with
 *   concurrency limits and channel credit, and a peer that sends more than
 *   `maxUnreadBytes` (default: `maxMessageSize` + 4 MiB, counting 512
 *   bytes of overhead per message) while nothing is read, such as one that
 *   floods requests and does not read the answers, errors the readable with
 *   a `FramingError`. Outgoing messages wait while more than 1 MiB is
 *   buffered in the socket.
 *
 * @example A session over WebSocket on loopback
 * ```ts
 * import { connectWebSocket } from "@roam/roam/transports/websocket";
 * import { listenWebSocket } from "@roam/roam/transports/websocket_server";
 * import { accept, initiate } from "@roam/roam";
 *
 * await using listener = await listenWebSocket();
 * const [link, serverLink] = await Promise.all([
 *   connectWebSocket(listener.url),
 *   listener.accept(),
 * ]);
 * const [client, server] = await Promise.all([initiate(link), accept(serverLink!)]);
 * await client.close();
 * await server.closed;
 * ```
 *
 * @module
 */

import { FramingError } from "../lib/link/framing/errors.ts";
import type { DirectLink, Link, LinkFlow } from "../lib/link/link.ts";
import { Inbox } from "./_websocket_inbox.ts";
import { SendBuffer } from "./_websocket_send.ts";
import {
  ABORT_CODE,
  checkClose,
  describeClose,
  isDeliberateClose,
  isEndOfStream,
  WebSocketClosedError,
} from "./_websocket_close.ts";

export { WebSocketClosedError } from "./_websocket_close.ts";

/**
 * A link over a WebSocket: a {@linkcode Link} that can also be closed with
 * a close code and reason of your own, which reach the peer.
 */
export interface WebSocketLink extends Link {
  /**
   * Hands what was sent to the network, then closes the WebSocket with
   * `code` and `reason` and waits (up to 10 s) for the peer's Close frame.
   * With code 1000 the peer's readable just ends; with an application code
   * it errors with a {@linkcode WebSocketClosedError} whose `peerClosed` is
   * true, and a session there ends with `peer-closed` and says the code
   * and reason. This side's readable ends. Idempotent once the socket is
   * closing.
   *
   * @param code 1000 (the default) or an application code from 3000 to 4999.
   * @param reason At most 123 bytes of UTF-8 (default empty).
   * @throws {RangeError} For another code or a longer reason.
   */
  close(code?: number, reason?: string): Promise<void>;
}

/** Default largest message accepted from the peer: 16 MiB. */
const DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024;

/** Unread bytes allowed beyond one largest message, by default. */
const UNREAD_SLACK = 4 * 1024 * 1024;

/**
 * Bytes buffered in the socket, each message counted with 1 KiB of
 * overhead, above which writes wait (for half as much): 1 MiB, or about
 * 1,024 small messages.
 */
const WRITE_HIGH_WATER = 1024 * 1024;
/** How long closing the writable waits for buffered data and the closing handshake. */
const CLOSE_TIMEOUT_MS = 10_000;

const CONNECTING = 0;
const OPEN = 1;

/** Options for {@linkcode websocketLink}. */
export interface WebSocketLinkOptions {
  /**
   * Largest message accepted from the peer, in bytes (default 16 MiB). A
   * larger one errors the readable with a `FramingError` (a protocol violation).
   */
  readonly maxMessageSize?: number;
  /**
   * Incoming bytes that may wait unread in the link (each message counted
   * with 512 bytes of overhead) before the readable errors with a
   * `FramingError`: a WebSocket cannot stop its peer from sending, so this
   * bounds what a peer that keeps sending while this side does not read
   * can make it hold. Default: `maxMessageSize` + 4 MiB.
   */
  readonly maxUnreadBytes?: number;
}

/** Options for {@linkcode connectWebSocket}. */
export interface WebSocketConnectOptions extends WebSocketLinkOptions {
  /** WebSocket subprotocols to offer (roam itself needs none). */
  readonly protocols?: string | readonly string[];
  /** Aborting it before the connection opens cancels the attempt. */
  readonly signal?: AbortSignal;
}

/** Checks a `maxMessageSize` option (undefined gives the default). */
function checkMaxMessageSize(value: number | undefined): number {
  const max = value ?? DEFAULT_MAX_MESSAGE_SIZE;
  if (typeof max !== "number" || !Number.isSafeInteger(max) || max < 1) {
    throw new RangeError(
      `Invalid maxMessageSize: expected a positive integer number of bytes, got ${String(max)}`,
    );
  }
  return max;
}

/** Checks a `maxUnreadBytes` option (undefined gives the default for `maxMessageSize`). */
function checkMaxUnreadBytes(value: number | undefined, maxMessageSize: number): number {
  const max = value ?? maxMessageSize + UNREAD_SLACK;
  if (typeof max !== "number" || !Number.isSafeInteger(max) || max < 1) {
    throw new RangeError(
      `Invalid maxUnreadBytes: expected a positive integer number of bytes, got ${String(max)}`,
    );
  }
  return max;
}

/** The parts of a `close` event used here (declared: not every `lib` setting has `CloseEvent`). */
interface WebSocketClose extends Event {
  readonly code: number;
  readonly reason: string;
  readonly wasClean: boolean;
}

/**
 * Adapts a standard `WebSocket` to a `Link`. The socket may be
 * open or still connecting (writes wait for it to open). The link sets
 * `binaryType` to `"arraybuffer"` and owns the socket from then on.
 *
 * @param ws The socket.
 * @param options The message size limit.
 * @returns The link, which can also be closed with a code and reason.
 * @throws {TypeError} When the socket is already closing or closed.
 * @throws {RangeError} For an invalid `maxMessageSize`.
 *
 * @example Wrapping a socket made elsewhere
 * ```ts
 * import { websocketLink } from "@roam/roam/transports/websocket";
 * import { listenWebSocket } from "@roam/roam/transports/websocket_server";
 * import { accept, initiate } from "@roam/roam";
 *
 * await using listener = await listenWebSocket();
 * const ws = new WebSocket(listener.url); // connecting: writes wait for it to open
 * const link = websocketLink(ws, { maxMessageSize: 1024 * 1024 });
 * const serverLink = await listener.accept();
 * const [client, server] = await Promise.all([initiate(link), accept(serverLink!)]);
 * await client.close();
 * await server.closed;
 * ```
 */
export function websocketLink(ws: WebSocket, options: WebSocketLinkOptions = {}): WebSocketLink {
  const max = checkMaxMessageSize(options.maxMessageSize);
  const maxUnread = checkMaxUnreadBytes(options.maxUnreadBytes, max);
  if (ws.readyState !== CONNECTING && ws.readyState !== OPEN) {
    throw new TypeError("Cannot make a link of a WebSocket that is closing or closed");
  }
  ws.binaryType = "arraybuffer";

  /** Set by the close event. */
  let closed = false;
  /** Set when this side started closing (the writable's close, or `close(code, reason)`). */
  let closingHere = false;
  let closeWaiters: (() => void)[] = [];
  const out = new SendBuffer(ws);
  /** Payloads sent through the fast path before the socket opened. */
  let early: Uint8Array[] | undefined;
  let sinkController: WritableStreamDefaultController | undefined;

  const closeSocket = (code: number, reason?: string): void => {
    try {
      if (reason === undefined) ws.close(code);
      else ws.close(code, reason);
    } catch {
      // Already closing.
    }
  };
  const stopReading = (): void => {
    ws.removeEventListener("message", onMessage);
  };
  const inbox = new Inbox({
    limit: maxUnread,
    full(unread) {
      violation(
        new FramingError(
          `the peer sent ${unread} bytes that were not read yet, above the limit of ${maxUnread} (is it reading what this side sends?)`,
        ),
      );
    },
    room() {},
    cancel() {
      stopReading();
      if (!closed) closeSocket(1000);
    },
  });
  const violation = (error: FramingError): void => {
    stopReading();
    inbox.fail(error);
  };
  function onMessage(ev: MessageEvent): void {
    const data: unknown = ev.data;
    let payload: Uint8Array;
    if (data instanceof ArrayBuffer) payload = new Uint8Array(data);
    else if (ArrayBuffer.isView(data)) {
      payload = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    } else if (typeof data === "string") {
      violation(new FramingError("text message received on a binary WebSocket link"));
      return;
    } else {
      stopReading();
      inbox.fail(
        new TypeError(`Unexpected WebSocket message data; binaryType must stay "arraybuffer"`),
      );
      return;
    }
    if (payload.length > max) {
      violation(
        new FramingError(`message of ${payload.length} bytes exceeds the limit of ${max}`),
      );
      return;
    }
    inbox.deliver(payload);
  }
  const onOpen = (): void => {
    ws.removeEventListener("open", onOpen);
    const held = early;
    early = undefined;
    out.opened();
    if (held === undefined) return;
    if (!out.open) {
      sendFailed();
      return;
    }
    for (const payload of held) out.sendQuick(payload);
  };
  const onClose = (ev: WebSocketClose): void => {
    closed = true;
    ws.removeEventListener("open", onOpen);
    ws.removeEventListener("close", onClose);
    ws.removeEventListener("error", onError);
    const waiters = closeWaiters;
    closeWaiters = [];
    for (const w of waiters) w();
    out.closed();
    stopReading();
    const deliberate = ev.wasClean && isDeliberateClose(ev.code);
    if (closingHere || (deliberate && isEndOfStream(ev.code))) inbox.end();
    else inbox.fail(new WebSocketClosedError(ev.code, ev.reason, deliberate));
  };
  const onError = (ev: Event): void => {
    stopReading();
    const detail = (ev as Event & { message?: string }).message;
    inbox.fail(new Error(`The WebSocket failed${detail ? `: ${detail}` : ""}`));
  };
  ws.addEventListener("message", onMessage);
  ws.addEventListener("close", onClose);
  ws.addEventListener("error", onError);
  if (ws.readyState === CONNECTING) ws.addEventListener("open", onOpen);

  /** Resolves once the socket has closed, or after `ms`. */
  const whenClosed = async (ms: number): Promise<void> => {
    if (closed || ms <= 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await new Promise<void>((r) => {
      closeWaiters.push(r);
      timer = setTimeout(r, ms);
    });
    clearTimeout(timer);
  };
  /** Resolves once the socket is no longer connecting. */
  const whenOpen = (): Promise<void> =>
    new Promise<void>((resolve) => {
      const done = (): void => {
        ws.removeEventListener("open", done);
        ws.removeEventListener("close", done);
        resolve();
      };
      ws.addEventListener("open", done);
      ws.addEventListener("close", done);
    });
  /** Waits (until the deadline) for everything sent to be handed to the network. */
  const flush = async (deadline: number): Promise<void> => {
    if (ws.readyState === CONNECTING) await whenOpen();
    await out.below(0, deadline - performance.now());
    if (ws.readyState !== OPEN && ws.bufferedAmount > 0) {
      throw new Error("The WebSocket closed with unsent data");
    }
  };
  /** A send through the fast path found the socket closed: the writable fails, as a write would. */
  const sendFailed = (): void => {
    if (!closingHere) sinkController?.error(new Error("Cannot send: the WebSocket is closed"));
  };
  /** Sends through the fast path on a socket that is not open: held until it opens, or failed. */
  const sendLater = (payload: Uint8Array): void => {
    if (out.connecting) {
      (early ??= []).push(payload);
      out.holdEarly(payload.length);
    } else sendFailed();
  };

  const writable = new WritableStream<Uint8Array>({
    start(controller) {
      sinkController = controller;
    },
    async write(payload): Promise<void> {
      if (ws.readyState === CONNECTING) await whenOpen();
      if (ws.readyState !== OPEN) throw new Error("Cannot send: the WebSocket is closed");
      const buffered = out.send(payload);
      if (buffered > WRITE_HIGH_WATER) await out.below(WRITE_HIGH_WATER >> 1);
    },
    async close() {
      closingHere = true;
      await flush(performance.now() + CLOSE_TIMEOUT_MS);
      closeSocket(1000);
      await whenClosed(CLOSE_TIMEOUT_MS);
    },
    abort() {
      closeSocket(ABORT_CODE, "link aborted");
    },
  });
  const close = async (code = 1000, reason = ""): Promise<void> => {
    checkClose(code, reason);
    closingHere = true;
    const deadline = performance.now() + CLOSE_TIMEOUT_MS;
    await flush(deadline).catch(() => {});
    closeSocket(code, reason);
    await whenClosed(deadline - performance.now());
  };
  const flow: LinkFlow = {
    buffered: () => out.buffered,
    whenBelow: (limit, f) => out.whenBelow(limit, f),
    pause: () => inbox.hold(),
    resume: () => inbox.unhold(),
  };
  const direct: DirectLink = {
    // The socket copies what it sends before `send` returns (the standard API takes a copy of
    // a view's bytes), so `sendCopy` needs no copy of its own once the socket is open.
    send: (payload) => out.open ? out.sendQuick(payload) : sendLater(payload),
    sendCopy: (bytes, length, start = 0) =>
      out.open
        ? out.sendQuick(bytes.subarray(start, start + length))
        : sendLater(bytes.slice(start, start + length)),
    receive: (sink) => inbox.receive(sink),
    flow,
  };
  return { readable: inbox.readable, writable, direct, close };
}

/**
 * Checks and normalises a WebSocket URL: `ws:` and `wss:` are taken as they
 * are, `http:` and `https:` become `ws:` and `wss:`. A relative URL is
 * resolved against the page's location in a browser.
 */
function checkWebSocketUrl(url: string | URL): string {
  let base: string | undefined;
  try {
    base = (globalThis as { location?: { href?: string } }).location?.href;
  } catch {
    // Deno without --location throws here.
  }
  let u: URL;
  try {
    u = new URL(url, base);
  } catch (e) {
    throw new TypeError(`Invalid WebSocket URL: cannot parse ${JSON.stringify(String(url))}`, {
      cause: e,
    });
  }
  if (u.protocol === "http:") u.protocol = "ws:";
  else if (u.protocol === "https:") u.protocol = "wss:";
  if (u.protocol !== "ws:" && u.protocol !== "wss:") {
    throw new TypeError(
      `Invalid WebSocket URL: expected the ws: or wss: scheme, got ${u.protocol} in ${u.href}`,
    );
  }
  if (u.hash !== "") {
    throw new TypeError(`Invalid WebSocket URL: a fragment is not allowed in ${u.href}`);
  }
  return u.href;
}

/**
 * Connects to a WebSocket server and returns a link once the connection is
 * open.
 *
 * @param url A `ws:` or `wss:` URL (`http:` and `https:` are converted).
 * @param options Subprotocols, the message size limit and an abort signal.
 * @returns The link, which can also be closed with a code and reason.
 * @throws {TypeError} For an invalid URL or subprotocol.
 * @throws {RangeError} For an invalid `maxMessageSize`.
 * @throws {Error} When the connection fails or closes before it opens.
 * Aborting `signal` rejects with its reason.
 *
 * @example Connecting with a timeout
 * ```ts
 * import { connectWebSocket } from "@roam/roam/transports/websocket";
 * import { listenWebSocket } from "@roam/roam/transports/websocket_server";
 *
 * await using listener = await listenWebSocket({ path: "/roam" });
 * const link = await connectWebSocket(listener.url, { signal: AbortSignal.timeout(5_000) });
 * await link.writable.close();
 *
 * // Nothing listens on port 1: the promise rejects with "Cannot connect to ws://127.0.0.1:1/: ..."
 * await connectWebSocket("ws://127.0.0.1:1/").catch((e: Error) => console.log(e.message));
 * ```
 */
export async function connectWebSocket(
  url: string | URL,
  options: WebSocketConnectOptions = {},
): Promise<WebSocketLink> {
  const target = checkWebSocketUrl(url);
  const maxMessageSize = checkMaxMessageSize(options.maxMessageSize);
  const maxUnreadBytes = checkMaxUnreadBytes(options.maxUnreadBytes, maxMessageSize);
  const signal = options.signal;
  signal?.throwIfAborted();
  let ws: WebSocket;
  try {
    const protocols = options.protocols;
    ws = protocols === undefined
      ? new WebSocket(target)
      : new WebSocket(target, typeof protocols === "string" ? protocols : [...protocols]);
  } catch (e) {
    throw new TypeError(`Cannot connect to ${target}: ${(e as Error).message}`, { cause: e });
  }
  ws.binaryType = "arraybuffer";
  return await new Promise<WebSocketLink>((resolve, reject) => {
    const cleanup = (): void => {
      ws.removeEventListener("open", onOpen);
      ws.removeEventListener("error", onError);
      ws.removeEventListener("close", onClose);
      signal?.removeEventListener("abort", onAbort);
    };
    const fail = (error: unknown): void => {
      cleanup();
      try {
        ws.close();
      } catch {
        // Already closed.
      }
      reject(error);
    };
    function onOpen(): void {
      cleanup();
      try {
        resolve(websocketLink(ws, { maxMessageSize, maxUnreadBytes }));
      } catch (e) {
        reject(e);
      }
    }
    function onError(ev: Event): void {
      const detail = (ev as Event & { message?: string }).message;
      fail(new Error(`Cannot connect to ${target}: ${detail || "the connection failed"}`));
    }
    function onClose(ev: WebSocketClose): void {
      fail(
        new Error(
          `Cannot connect to ${target}: the connection closed before opening (${
            describeClose(ev.code, ev.reason)
          })`,
        ),
      );
    }
    function onAbort(): void {
      fail(signal!.reason);
    }
    ws.addEventListener("open", onOpen);
    ws.addEventListener("error", onError);
    ws.addEventListener("close", onClose);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
