/**
 * The WebSocket server on Bun: `Bun.serve` with WebSocket handlers, whose
 * callbacks are adapted to a pull-based link with backpressure both ways.
 * Loaded only on Bun, by dynamic import. The few Bun types used are
 * declared here.
 *
 * @module
 */

import { FramingError } from "../lib/link/framing/errors.ts";
import type { ServerConfig, ServerHandle } from "./_websocket_adapter.ts";
import {
  ABORT_CODE,
  checkClose,
  isDeliberateClose,
  isEndOfStream,
  WebSocketClosedError,
} from "./_websocket_close.ts";
import type { WebSocketLink } from "./websocket.ts";
import { Inbox } from "./_websocket_inbox.ts";
import type { LinkFlow } from "../lib/link/link.ts";

/** The parts of Bun's `ServerWebSocket` used here. */
interface BunServerWebSocket {
  readonly data: Connection;
  binaryType?: string;
  /** Bytes sent (> 0), -1 when queued under backpressure, 0 when dropped. */
  sendBinary(data: Uint8Array, compress?: boolean): number;
  close(code?: number, reason?: string): void;
  /** Present since Bun 1.2-ish; checked at run time. */
  pause?(): void;
  resume?(): void;
  /** Bytes queued for sending; checked at run time. */
  getBufferedAmount?(): number;
}

interface BunServer {
  readonly port: number;
  readonly hostname: string;
  upgrade(request: Request, options: { data: Connection }): boolean;
  stop(closeActiveConnections?: boolean): Promise<void> | void;
}

interface BunServeOptions {
  hostname: string;
  port: number;
  fetch(request: Request, server: BunServer): Response | Promise<Response> | undefined;
  websocket: {
    maxPayloadLength: number;
    backpressureLimit: number;
    open(ws: BunServerWebSocket): void;
    message(ws: BunServerWebSocket, message: string | Uint8Array): void;
    close(ws: BunServerWebSocket, code: number, reason: string): void;
    drain(ws: BunServerWebSocket): void;
  };
}

const Bun = (globalThis as unknown as { Bun: { serve(options: BunServeOptions): BunServer } })
  .Bun;

/** Bytes queued unread (each message with 512 bytes of overhead) before the socket is paused. */
const READ_HIGH_WATER = 1024 * 1024;
/**
 * Bun's own cap on buffered outgoing bytes (it drops messages beyond it).
 * Writers wait far below it; this only has to exceed one large message.
 */
const BACKPRESSURE_LIMIT = 2 ** 31 - 1;
/** How long closing the writable waits for the closing handshake. */
const CLOSE_TIMEOUT_MS = 10_000;
/** Code of a connection lost without a Close frame. */
const ABNORMAL_CLOSURE = 1006;

/** One upgraded connection: the state behind `ws.data` and its link. */
class Connection {
  readonly link: WebSocketLink;
  readonly #max: number;
  readonly #inbox: Inbox;
  #ws: BunServerWebSocket | undefined;
  #paused = false;
  #closed = false;
  /** Set when this side started closing (the writable's close, or `close(code, reason)`). */
  #closingHere = false;
  #sinkController: WritableStreamDefaultController | undefined;
  /** Bytes sent since Bun last reported back-pressure (a Bun without `getBufferedAmount`). */
  #backlog = 0;
  #drainWaiters: { readonly limit: number; readonly f: () => void }[] = [];
  #closeWaiters: (() => void)[] = [];

  constructor(maxMessageSize: number) {
    this.#max = maxMessageSize;
    this.#inbox = new Inbox({
      limit: READ_HIGH_WATER,
      full: () => this.#pause(),
      room: () => this.#resume(),
      cancel: () => this.#close(1000),
    });
    const writable = new WritableStream<Uint8Array>({
      start: (controller) => {
        this.#sinkController = controller;
      },
      write: (payload) => this.#write(payload),
      close: () => this.#end(1000, ""),
      abort: () => this.#close(ABORT_CODE, "link aborted"),
    });
    const flow: LinkFlow = {
      buffered: () => this.#buffered(),
      whenBelow: (limit, f) => this.#whenBelow(limit, f),
      pause: () => this.#inbox.hold(),
      resume: () => this.#inbox.unhold(),
    };
    this.link = {
      readable: this.#inbox.readable,
      writable,
      direct: {
        send: (payload) => this.#send(payload),
        // Bun copies what it sends (to the socket, or to its buffer) before returning.
        sendCopy: (bytes, length, start = 0) => this.#send(bytes.subarray(start, start + length)),
        receive: (sink) => this.#inbox.receive(sink),
        flow,
      },
      close: async (code = 1000, reason = "") => {
        checkClose(code, reason);
        await this.#end(code, reason);
      },
    };
  }

  onOpen(ws: BunServerWebSocket): void {
    this.#ws = ws;
    try {
      ws.binaryType = "uint8array";
    } catch {
      // Older Bun: messages arrive as Buffer, a Uint8Array too.
    }
  }

  onMessage(message: string | Uint8Array): void {
    if (this.#inbox.done) return;
    if (typeof message === "string") {
      this.#violation(new FramingError("text message received on a binary WebSocket link"));
      return;
    }
    if (message.length > this.#max) {
      this.#violation(
        new FramingError(`message of ${message.length} bytes exceeds the limit of ${this.#max}`),
      );
      return;
    }
    // A plain Uint8Array (binaryType "uint8array"); an older Bun's Buffer becomes a plain view
    // of its memory. (Asking a Uint8Array for its `.buffer` is slow: only a Buffer is asked.)
    this.#inbox.deliver(
      Object.getPrototypeOf(message) === Uint8Array.prototype
        ? message
        : new Uint8Array(message.buffer, message.byteOffset, message.byteLength),
    );
  }

  onClose(code: number, reason: string): void {
    this.#closed = true;
    this.#paused = false;
    for (const w of this.#closeWaiters.splice(0)) w();
    this.#wake(true);
    // Bun does not say whether the closing handshake completed: 1006 says it did not.
    const deliberate = code !== ABNORMAL_CLOSURE && isDeliberateClose(code);
    if (this.#closingHere || (deliberate && isEndOfStream(code))) {
      this.#inbox.end();
    } else if (code === 1009 || /too big/i.test(reason)) {
      // Bun enforces maxPayloadLength itself and drops the connection.
      this.#inbox.fail(
        new FramingError(`a message from the peer exceeded the limit of ${this.#max} bytes`),
      );
    } else this.#inbox.fail(new WebSocketClosedError(code, reason, deliberate));
  }

  /** A callback threw: the readable fails with the error, and writers stop waiting. */
  crashed(e: unknown): void {
    this.#wake(true);
    this.#inbox.fail(e);
  }

  onDrain(): void {
    this.#backlog = 0;
    this.#wake(false);
  }

  #violation(error: FramingError): void {
    // Dropping what is queued resumes the socket, so the closing handshake completes.
    this.#inbox.fail(error);
    this.#resume();
  }

  #pause(): void {
    const ws = this.#ws;
    if (this.#paused || this.#closed || ws === undefined || typeof ws.pause !== "function") return;
    this.#paused = true;
    ws.pause();
  }

  #resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    if (!this.#closed) this.#ws?.resume?.();
  }

  /** Bytes Bun holds for sending. */
  #buffered(): number {
    if (this.#closed) return 0;
    const ws = this.#ws;
    if (ws !== undefined && typeof ws.getBufferedAmount === "function") {
      return ws.getBufferedAmount();
    }
    return this.#backlog;
  }

  #whenBelow(limit: number, f: () => void): void {
    if (this.#closed || this.#buffered() <= limit) f();
    else this.#drainWaiters.push({ limit, f });
  }

  /** Calls the drain waiters whose limit is reached (all of them when `all`). */
  #wake(all: boolean): void {
    if (this.#drainWaiters.length === 0) return;
    const now = all ? 0 : this.#buffered();
    const ready = this.#drainWaiters.filter((w) => now <= w.limit);
    if (ready.length === 0) return;
    this.#drainWaiters = this.#drainWaiters.filter((w) => now > w.limit);
    for (const w of ready) w.f();
  }

  /** Sends one payload; returns what Bun did with it (see `sendBinary`). */
  #transmit(ws: BunServerWebSocket, payload: Uint8Array): number {
    const sent = ws.sendBinary(payload, false);
    if (sent === -1 || this.#backlog > 0) this.#backlog += payload.length;
    return sent;
  }

  /** The fast path's send. */
  #send(payload: Uint8Array): void {
    const ws = this.#ws;
    if (ws === undefined || this.#closed || this.#transmit(ws, payload) === 0) {
      if (!this.#closingHere) {
        this.#sinkController?.error(new Error("Cannot send: the WebSocket is closed"));
      }
    }
  }

  #write(payload: Uint8Array): void | Promise<void> {
    const ws = this.#ws;
    if (ws === undefined || this.#closed) throw new Error("Cannot send: the WebSocket is closed");
    const sent = this.#transmit(ws, payload);
    if (sent === 0) throw new Error("Cannot send: the WebSocket connection is closed");
    if (sent === -1) {
      return new Promise<void>((resolve, reject) =>
        this.#whenBelow(0, () => {
          if (this.#closed) reject(new Error("The WebSocket closed with unsent data"));
          else resolve();
        })
      );
    }
  }

  async #end(code: number, reason: string): Promise<void> {
    this.#closingHere = true;
    if (this.#closed) return;
    this.#resume();
    this.#close(code, reason);
    if (this.#closed) return; // Bun may call the close handler from within close()
    let timer: ReturnType<typeof setTimeout> | undefined;
    await new Promise<void>((r) => {
      this.#closeWaiters.push(r);
      timer = setTimeout(r, CLOSE_TIMEOUT_MS);
    });
    clearTimeout(timer);
  }

  #close(code: number, reason?: string): void {
    if (this.#closed) return;
    this.#resume();
    try {
      this.#ws?.close(code, reason);
    } catch {
      // Already closing.
    }
  }
}

/**
 * Runs a WebSocket callback's work so that nothing it throws escapes into
 * Bun's event loop: the connection is dropped instead (code 1011).
 */
function guarded(ws: BunServerWebSocket, work: () => void): void {
  try {
    work();
  } catch (e) {
    crash(ws, e);
  }
}

/** A callback threw: the link fails with the error and the connection is dropped (code 1011). */
function crash(ws: BunServerWebSocket, e: unknown): void {
  ws.data.crashed(e);
  try {
    ws.close(1011, "internal error");
  } catch {
    // Already closed.
  }
}

/**
 * Starts the server.
 *
 * @param config Address, routing and the link sink.
 * @returns The running server.
 */
export function serve(config: ServerConfig): ServerHandle {
  const server = Bun.serve({
    hostname: config.hostname,
    port: config.port,
    fetch(request, server) {
      const routed = config.route(request);
      if (routed !== undefined) return routed;
      if (server.upgrade(request, { data: new Connection(config.maxMessageSize) })) {
        return undefined;
      }
      return new Response("Bad Request: the WebSocket upgrade failed\n", { status: 400 });
    },
    websocket: {
      maxPayloadLength: config.maxMessageSize,
      backpressureLimit: BACKPRESSURE_LIMIT,
      open: (ws) =>
        guarded(ws, () => {
          ws.data.onOpen(ws);
          config.deliver(ws.data.link);
        }),
      message(ws, message) {
        // The hot path: `guarded` without a closure per message.
        try {
          ws.data.onMessage(message);
        } catch (e) {
          crash(ws, e);
        }
      },
      close: (ws, code, reason) => guarded(ws, () => ws.data.onClose(code, reason)),
      drain: (ws) => guarded(ws, () => ws.data.onDrain()),
    },
  });
  return {
    hostname: server.hostname,
    port: server.port,
    async close() {
      // Closes the upgraded WebSockets too (code 1001).
      await server.stop(true);
    },
  };
}
