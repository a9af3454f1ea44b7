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

/** Bytes queued in the readable before the socket is paused. */
const READ_HIGH_WATER = 1024 * 1024;
/**
 * What a queued message costs beyond its bytes, counted toward the high-water
 * mark, so a flood of tiny messages pauses the socket too.
 */
const MESSAGE_OVERHEAD = 512;
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
  #ws: BunServerWebSocket | undefined;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #readDone = false;
  #paused = false;
  #closed = false;
  /** Set when this side started closing (the writable's close, or `close(code, reason)`). */
  #closingHere = false;
  #drained: { resolve(): void; reject(e: Error): void } | undefined;
  #closeWaiters: (() => void)[] = [];

  constructor(maxMessageSize: number) {
    this.#max = maxMessageSize;
    const readable = new ReadableStream<Uint8Array>({
      start: (c) => {
        this.#controller = c;
      },
      pull: () => this.#resume(),
      cancel: () => {
        this.#stopReading();
        this.#close(1000);
      },
    }, {
      highWaterMark: READ_HIGH_WATER,
      size: (chunk) => (chunk?.byteLength ?? 0) + MESSAGE_OVERHEAD,
    });
    const writable = new WritableStream<Uint8Array>({
      write: (payload) => this.#write(payload),
      close: () => this.#end(1000, ""),
      abort: () => this.#close(ABORT_CODE, "link aborted"),
    });
    this.link = {
      readable,
      writable,
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
    if (this.#readDone) return;
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
    // A plain view (not a Buffer) of the message's own memory.
    const c = this.#controller;
    c.enqueue(new Uint8Array(message.buffer, message.byteOffset, message.byteLength));
    if (!this.#paused && (c.desiredSize ?? 1) <= 0) {
      const ws = this.#ws;
      if (ws !== undefined && typeof ws.pause === "function") {
        this.#paused = true;
        ws.pause();
      }
    }
  }

  onClose(code: number, reason: string): void {
    this.#closed = true;
    this.#paused = false;
    for (const w of this.#closeWaiters.splice(0)) w();
    const d = this.#drained;
    this.#drained = undefined;
    d?.reject(new Error("The WebSocket closed with unsent data"));
    if (this.#readDone) return;
    this.#readDone = true;
    // Bun does not say whether the closing handshake completed: 1006 says it did not.
    const deliberate = code !== ABNORMAL_CLOSURE && isDeliberateClose(code);
    if (this.#closingHere || (deliberate && isEndOfStream(code))) {
      this.#controller.close();
    } else if (code === 1009 || /too big/i.test(reason)) {
      // Bun enforces maxPayloadLength itself and drops the connection.
      this.#controller.error(
        new FramingError(`a message from the peer exceeded the limit of ${this.#max} bytes`),
      );
    } else this.#controller.error(new WebSocketClosedError(code, reason, deliberate));
  }

  /** A callback threw: the readable fails with the error, and writers stop waiting. */
  crashed(e: unknown): void {
    const d = this.#drained;
    this.#drained = undefined;
    d?.reject(e instanceof Error ? e : new Error(String(e)));
    if (this.#readDone) return;
    this.#readDone = true;
    try {
      this.#controller.error(e);
    } catch {
      // The readable is already done.
    }
  }

  onDrain(): void {
    const d = this.#drained;
    this.#drained = undefined;
    d?.resolve();
  }

  #violation(error: FramingError): void {
    this.#stopReading();
    this.#controller.error(error);
  }

  /** Ignores further messages; keeps the socket reading so the closing handshake completes. */
  #stopReading(): void {
    this.#readDone = true;
    this.#resume();
  }

  #resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    if (!this.#closed) this.#ws?.resume?.();
  }

  #write(payload: Uint8Array): void | Promise<void> {
    const ws = this.#ws;
    if (ws === undefined || this.#closed) throw new Error("Cannot send: the WebSocket is closed");
    const sent = ws.sendBinary(payload, false);
    if (sent === 0) throw new Error("Cannot send: the WebSocket connection is closed");
    if (sent === -1) {
      return new Promise<void>((resolve, reject) => (this.#drained = { resolve, reject }));
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
    ws.data.crashed(e);
    try {
      ws.close(1011, "internal error");
    } catch {
      // Already closed.
    }
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
      message: (ws, message) => guarded(ws, () => ws.data.onMessage(message)),
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
