/**
 * MessagePort links: one payload per message over a `MessagePort`, a
 * `Worker`, or a worker's own global scope (`self`). Only web platform
 * APIs, so it runs in browsers as well as in Deno, Bun and Node (where a
 * `node:worker_threads` `Worker`, an event emitter, is taken as it is).
 *
 * Each payload is posted as a `Uint8Array`, its buffer transferred rather
 * than copied when the link owns all of it. A port has no end of stream of
 * its own, so two control messages, plain objects, stand for one:
 *
 * - `{ roam: "close" }`: the sender closed its writable (graceful end);
 * - `{ roam: "abort", reason: string }`: the sender aborted it (failure).
 *
 * Any other message that is not an `ArrayBuffer` or a `Uint8Array` is a
 * protocol violation: the readable errors with a {@linkcode FramingError}
 * and the session answers with a `ProtocolError`. A `MessagePort` is
 * closed once both directions of its link are done; a `Worker` or a
 * worker's `self` is left open (terminate the worker yourself). Incoming
 * messages cannot be paused: the session's concurrency limits and channel
 * credit are what bound the memory they take.
 *
 * @example A session with a worker
 * ```ts
 * import { initiate, service, t } from "@roam/roam";
 * import { messagePortLink } from "@roam/roam/transports/message_port";
 *
 * const Echo = service("Echo", { echo: { args: [t.string], returns: t.string } });
 *
 * export async function echoInWorker(url: URL, text: string): Promise<string> {
 *   const worker = new Worker(url, { type: "module" });
 *   try {
 *     const session = await initiate(messagePortLink(worker));
 *     const reply = await session.client(Echo).echo(text);
 *     await session.close();
 *     return reply;
 *   } finally {
 *     worker.terminate();
 *   }
 * }
 * ```
 *
 * @module
 */

import { FramingError } from "../lib/link/framing/errors.ts";
import type { Link } from "../lib/link/link.ts";

export { FramingError } from "../lib/link/framing/errors.ts";
export type { Link } from "../lib/link/link.ts";

/**
 * What a MessagePort link needs from its endpoint. A `MessagePort`, a
 * `Worker` and a worker's global scope (`self`) all have this shape.
 */
export interface MessageEndpoint {
  /** Posts one message, transferring the listed buffers. */
  postMessage(message: unknown, transfer: ArrayBuffer[]): void;
  /** Adds a listener (`message`, `messageerror`, and `error` on a `Worker`). */
  addEventListener(type: string, listener: (event: Event) => void): void;
  /** Removes a listener added with `addEventListener`. */
  removeEventListener(type: string, listener: (event: Event) => void): void;
  /** Starts delivering messages (a `MessagePort` needs it). */
  start?(): void;
}

/**
 * An endpoint with Node's event emitter methods instead of
 * `addEventListener`: a `Worker` of `node:worker_threads`, on the side
 * that created it. (Inside the worker, `parentPort` is a `MessagePort`.)
 */
export interface EmitterEndpoint {
  /** Posts one message, transferring the listed buffers. */
  postMessage(message: unknown, transfer: ArrayBuffer[]): void;
  /** Adds a listener: `message` gets the data itself, `error` an `Error`. */
  on(type: string, listener: (value: unknown) => void): unknown;
  /** Removes a listener added with `on`. */
  off(type: string, listener: (value: unknown) => void): unknown;
}

/** Options of {@linkcode messagePortLink}. */
export interface MessagePortLinkOptions {
  /**
   * Transfer payload buffers instead of copying them (default true). A
   * payload that is a view into a larger buffer is copied first, and the
   * copy transferred: a buffer the link does not own entirely is never
   * transferred.
   */
  readonly transfer?: boolean;
}

/** The control message that ends the stream. */
const CLOSE = { roam: "close" } as const;

function describe(data: unknown): string {
  if (data === null) return "null";
  if (Array.isArray(data)) return "an array";
  if (ArrayBuffer.isView(data)) return `a ${data.constructor.name}`;
  const type = typeof data;
  if (type === "object") {
    const name = (data as { constructor?: { name?: unknown } }).constructor?.name;
    return typeof name === "string" && name !== "Object" ? `a ${name}` : "an object";
  }
  return `a ${type}`;
}

function controlOf(data: unknown): { kind: "close" } | { kind: "abort"; reason: string } | null {
  if (typeof data !== "object" || data === null || ArrayBuffer.isView(data)) return null;
  const roam = (data as { roam?: unknown }).roam;
  if (roam === "close") return { kind: "close" };
  if (roam === "abort") {
    const reason = (data as { reason?: unknown }).reason;
    return { kind: "abort", reason: typeof reason === "string" ? reason : "no reason given" };
  }
  return null;
}

/** A plain copy of `payload` in a buffer of its own (not `slice()`: Bun's `Buffer` slices by view). */
function ownCopy(payload: Uint8Array): Uint8Array<ArrayBuffer> {
  const copy = new Uint8Array(payload.byteLength);
  copy.set(payload);
  return copy;
}

/** True when `payload` covers the whole of a plain, fixed-length `ArrayBuffer`. */
function ownsBuffer(payload: Uint8Array): payload is Uint8Array<ArrayBuffer> {
  const buf = payload.buffer;
  return buf instanceof ArrayBuffer && payload.byteOffset === 0 &&
    payload.byteLength === buf.byteLength && !(buf as { resizable?: boolean }).resizable;
}

/** A global class, looked up so that `tsc` needs neither the DOM's types nor Node's. */
function globalClass(name: "MessagePort" | "Worker"): (abstract new () => object) | undefined {
  const c = (globalThis as Record<string, unknown>)[name];
  return typeof c === "function" ? c as abstract new () => object : undefined;
}

function isMessagePort(endpoint: MessageEndpoint): endpoint is MessageEndpoint & { close(): void } {
  const MessagePortClass = globalClass("MessagePort");
  return MessagePortClass !== undefined && endpoint instanceof MessagePortClass;
}

function isWorker(endpoint: MessageEndpoint): boolean {
  const WorkerClass = globalClass("Worker");
  return WorkerClass !== undefined && endpoint instanceof WorkerClass;
}

function isEmitter(port: unknown): port is EmitterEndpoint {
  const e = port as Partial<EmitterEndpoint> & { addEventListener?: unknown } | null;
  return typeof e === "object" && e !== null && typeof e.postMessage === "function" &&
    typeof e.addEventListener !== "function" && typeof e.on === "function" &&
    typeof e.off === "function";
}

/** Presents an event emitter endpoint as a `MessageEndpoint` whose events carry `data` or `message`. */
function fromEmitter(emitter: EmitterEndpoint): MessageEndpoint {
  const wrapped = new Map<string, Map<(event: Event) => void, (value: unknown) => void>>();
  return {
    postMessage: (message, transfer) => emitter.postMessage(message, transfer),
    addEventListener(type, listener) {
      const f = type === "error"
        ? (e: unknown) =>
          listener({ message: e instanceof Error ? e.message : String(e) } as unknown as Event)
        : (data: unknown) => listener({ data } as unknown as Event);
      let byListener = wrapped.get(type);
      if (byListener === undefined) wrapped.set(type, byListener = new Map());
      byListener.set(listener, f);
      emitter.on(type, f);
    },
    removeEventListener(type, listener) {
      const f = wrapped.get(type)?.get(listener);
      if (f === undefined) return;
      wrapped.get(type)!.delete(listener);
      emitter.off(type, f);
    },
  };
}

/**
 * Makes a link over a `MessagePort`, a `Worker` (on the side that created
 * it) or a worker's `self` (inside the worker), and on Node a
 * `node:worker_threads` `Worker` or its `parentPort`: each payload is one
 * message. Closing the writable posts `{ roam: "close" }`; aborting it
 * posts `{ roam: "abort", reason }`. A `MessagePort` is closed once both
 * directions are done.
 *
 * @param port The endpoint. Nothing else should post binary data or
 * `roam` control objects on it while the link is open.
 * @param options Whether payload buffers are transferred (default) or copied.
 * @returns The link.
 * @throws {TypeError} When `port` has no `postMessage`, or neither
 * `addEventListener` nor `on` and `off`, or `transfer` is not a boolean.
 *
 * @example In a worker: serving a service to the thread that started it
 * ```ts
 * import { accept, implement, service, t } from "@roam/roam";
 * import { type MessageEndpoint, messagePortLink } from "@roam/roam/transports/message_port";
 *
 * const Echo = service("Echo", { echo: { args: [t.string], returns: t.string } });
 *
 * export async function serveParent(): Promise<void> {
 *   const session = await accept(messagePortLink(self as unknown as MessageEndpoint), {
 *     services: [implement(Echo, { echo: (s) => s })],
 *   });
 *   await session.closed;
 * }
 * ```
 */
export function messagePortLink(
  port: MessageEndpoint | EmitterEndpoint,
  options: MessagePortLinkOptions = {},
): Link {
  const emitter = isEmitter(port);
  const endpoint = emitter ? fromEmitter(port) : port as MessageEndpoint;
  if (
    typeof endpoint !== "object" || endpoint === null ||
    typeof endpoint.postMessage !== "function" || typeof endpoint.addEventListener !== "function"
  ) {
    throw new TypeError(
      "Cannot make a MessagePort link: expected a MessagePort, a Worker or an object with postMessage and addEventListener (or on and off)",
    );
  }
  const transfer = options.transfer ?? true;
  if (typeof transfer !== "boolean") {
    throw new TypeError(`Invalid transfer option: expected a boolean, got ${String(transfer)}`);
  }
  // A Worker (web or `node:worker_threads`) reports its failures as `error` events.
  const worker = emitter || isWorker(endpoint);
  let readDone = false;
  let writeDone = false;
  let released = false;
  let onMessage: (event: Event) => void = () => {};
  let onMessageError: (event: Event) => void = () => {};
  let onError: (event: Event) => void = () => {};
  let failReadable: (e: Error) => void = () => {};

  /** Detaches from the endpoint once both directions are done. */
  const release = (force: boolean): void => {
    if (released || !(force || (readDone && writeDone))) return;
    released = true;
    endpoint.removeEventListener("message", onMessage);
    endpoint.removeEventListener("messageerror", onMessageError);
    if (worker) endpoint.removeEventListener("error", onError);
    if (isMessagePort(endpoint)) endpoint.close();
  };

  const readable = new ReadableStream<Uint8Array>({
    start(controller) {
      const fail = (e: Error): void => {
        if (readDone) return;
        readDone = true;
        controller.error(e);
        release(false);
      };
      failReadable = fail;
      onMessage = (event) => {
        if (readDone) return;
        const data = (event as Event & { data?: unknown }).data;
        if (data instanceof Uint8Array) {
          controller.enqueue(
            data.constructor === Uint8Array
              ? data
              : new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
          );
          return;
        }
        if (data instanceof ArrayBuffer) {
          controller.enqueue(new Uint8Array(data));
          return;
        }
        const control = controlOf(data);
        if (control?.kind === "close") {
          readDone = true;
          controller.close();
          release(false);
        } else if (control?.kind === "abort") {
          fail(new Error(`The peer aborted the MessagePort link: ${control.reason}`));
        } else {
          fail(
            new FramingError(
              `Cannot receive on a MessagePort link: expected an ArrayBuffer or a Uint8Array, got ${
                describe(data)
              }`,
            ),
          );
        }
      };
      onMessageError = () =>
        fail(
          new Error("Cannot receive on a MessagePort link: a message could not be deserialized"),
        );
      onError = (event) => {
        const message = (event as Event & { message?: unknown }).message;
        fail(new Error(`The worker failed${message ? `: ${message}` : ""}`));
      };
      endpoint.addEventListener("message", onMessage);
      endpoint.addEventListener("messageerror", onMessageError);
      if (worker) endpoint.addEventListener("error", onError);
      endpoint.start?.();
    },
    cancel() {
      readDone = true;
      release(false);
    },
  });

  const post = (message: unknown, list: ArrayBuffer[]): void => {
    endpoint.postMessage(message, list);
  };
  const writable = new WritableStream<Uint8Array>({
    write(payload) {
      if (!(payload instanceof Uint8Array)) {
        throw new TypeError(
          `Cannot send on a MessagePort link: expected a Uint8Array, got ${describe(payload)}`,
        );
      }
      if (ownsBuffer(payload)) post(payload, transfer ? [payload.buffer] : []);
      else {
        const copy = ownCopy(payload);
        post(copy, transfer ? [copy.buffer] : []);
      }
    },
    close() {
      writeDone = true;
      try {
        post(CLOSE, []);
      } finally {
        release(false);
      }
    },
    abort(reason) {
      writeDone = true;
      try {
        post({
          roam: "abort",
          reason: reason instanceof Error ? reason.message : String(reason),
        }, []);
      } catch {
        // The endpoint is gone: nothing to tell.
      }
      // A failed link ends in both directions.
      failReadable(new Error("The MessagePort link was aborted", { cause: reason }));
      release(true);
    },
  });
  return { readable, writable };
}

/**
 * Creates two connected MessagePort links over a new `MessageChannel`, for
 * tests and in-process use (or to hand one port to a worker: make the
 * channel yourself and post the port).
 *
 * @param options Whether payload buffers are transferred (default) or copied.
 * @returns The two ends.
 * @throws {TypeError} When `transfer` is not a boolean.
 *
 * @example A client and a server in one process
 * ```ts
 * import { accept, implement, initiate, service, t } from "@roam/roam";
 * import { messageChannelLinks } from "@roam/roam/transports/message_port";
 *
 * const Adder = service("Adder", { add: { args: [t.u32, t.u32], returns: t.u32 } });
 * const [a, b] = messageChannelLinks();
 * const [client, server] = await Promise.all([
 *   initiate(a),
 *   accept(b, { services: [implement(Adder, { add: (x, y) => x + y })] }),
 * ]);
 * console.log(await client.client(Adder).add(2, 3)); // 5
 * await client.close();
 * await server.closed;
 * ```
 */
export function messageChannelLinks(options: MessagePortLinkOptions = {}): [Link, Link] {
  const channel = new MessageChannel();
  return [messagePortLink(channel.port1, options), messagePortLink(channel.port2, options)];
}
