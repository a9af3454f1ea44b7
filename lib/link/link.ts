/**
 * Links: the bottom layer. A link moves whole payloads between two peers,
 * in order, with message boundaries, backpressure and graceful close, as a
 * pair of Web Streams. Links made by this library also offer a
 * {@linkcode DirectLink}: the same traffic without a promise per payload,
 * with flow control the session uses for back-pressure.
 *
 * @module
 */

/**
 * A bidirectional, message-oriented connection to one peer.
 *
 * - `readable` yields each payload the peer sent, in order; it closes when
 *   the peer closes its side, and errors when the link fails.
 * - `writable` takes payloads to send. Closing it is a graceful end of
 *   stream for the peer; aborting it is a failure. A payload written to a
 *   link belongs to the link: the writer must not change it afterwards.
 * - `direct`, optional: the fast path of the links this library makes.
 *   A link of your own needs only the two streams.
 *
 * Every transport (memory, TCP, Unix sockets, WebSocket, stdio,
 * MessagePort) provides this shape.
 */
export interface Link {
  /** Payloads from the peer. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Payloads to the peer. */
  readonly writable: WritableStream<Uint8Array>;
  /** The fast path, when the link has one (see {@linkcode DirectLink}). */
  readonly direct?: DirectLink;
}

/**
 * The fast path of a link: sending without a promise per payload, pushing
 * received payloads to a sink, and flow control. Failures still surface on
 * the link's streams. Offered by the links this library makes; the session
 * uses it when present and the two streams otherwise.
 */
export interface DirectLink {
  /** Sends one payload, like `writable.getWriter().write()`; the link owns it from now on. */
  send(payload: Uint8Array): void;
  /**
   * Optional: sends `bytes[start, start + length)` (`start` 0 when
   * omitted), copied before returning, so the caller may reuse `bytes` at
   * once (no allocation on the caller's side, not even a view).
   */
  readonly sendCopy?: (bytes: Uint8Array, length: number, start?: number) => void;
  /**
   * Optional: sends one payload given as `parts` (`total` bytes in all),
   * written or copied before returning, so the caller may change them at
   * once. A socket link writes large parts straight to the socket, so a
   * large `bytes` value is not first copied into a message buffer.
   */
  readonly sendParts?: (parts: readonly Uint8Array[], total: number) => void;
  /**
   * Optional: sends one payload made of `prefix[0, length)` (copied) and
   * `last`, passed by reference: the peer's session may hand that very
   * array to its application. Only links made to share large `bytes`
   * values offer it (see `MemoryLinkOptions.shareLargeBytes`).
   */
  readonly sendShared?: (prefix: Uint8Array, length: number, last: Uint8Array) => void;
  /**
   * Switches to push mode: from now on every payload (any still buffered
   * first) goes to `sink` as it arrives, and `readable` is no longer fed.
   */
  receive(sink: PayloadSink): void;
  /** Flow control for back-pressure. */
  readonly flow: LinkFlow;
}

/**
 * Flow control of a {@linkcode DirectLink}: how much it has buffered for
 * sending, a wake-up when that falls, and a way to stop taking payloads
 * from the peer (read back-pressure, which a byte-stream transport passes
 * on to the peer by not reading its socket).
 */
export interface LinkFlow {
  /** Bytes accepted for sending and not yet written to the transport. */
  buffered(): number;
  /** Calls `f` once when at most `limit` bytes are buffered (at once if so now), or the link failed. */
  whenBelow(limit: number, f: () => void): void;
  /** Stops delivering received payloads until `resume()`. */
  pause(): void;
  /** Delivers received payloads again. */
  resume(): void;
}

/** Where a link in push mode delivers what it receives. */
export interface PayloadSink {
  /** One payload. */
  payload(p: Uint8Array): void;
  /**
   * Optional: one payload, `bytes[start, end)`, lent for the duration of
   * the call only (the link reuses `bytes` afterwards): the sink copies
   * whatever it keeps. A link that reads payloads whole out of a buffer
   * of its own calls this, when the sink has it, instead of copying each
   * payload into an array for `payload`.
   */
  lent?(bytes: Uint8Array, start: number, end: number): void;
  /**
   * Optional: one payload made of `prefix` followed by `last`, where `last`
   * is an array the sender shared by reference. A sink without this method
   * receives such payloads joined into one array.
   */
  shared?(prefix: Uint8Array, last: Uint8Array): void;
  /** A graceful end of stream. */
  end(): void;
  /** The link failed. */
  error(e: unknown): void;
}

/**
 * What `read()` of a link's reader resolves with: the DOM's
 * `ReadableStreamReadResult`, spelled out because not every `lib` setting
 * of a user's `tsc` declares that name.
 */
export type PayloadRead =
  | { readonly done: false; readonly value: Uint8Array }
  | { readonly done: true; readonly value?: Uint8Array | undefined };

/** The parts of a link's stream reader used above the link layer. */
export interface PayloadReader {
  /** The next payload, or `done` at a graceful end of stream. */
  read(): Promise<PayloadRead>;
  /** Stops reading. */
  cancel(reason?: unknown): Promise<void>;
}

/** The parts of a link's stream writer used above the link layer. */
export interface PayloadWriter {
  /** Settles when the stream closes or fails. */
  readonly closed: Promise<unknown>;
  /** Queues one payload. */
  write(payload: Uint8Array): Promise<void>;
  /** Closes gracefully after what is queued. */
  close(): Promise<void>;
  /** Drops what is queued and fails the stream. */
  abort(reason?: unknown): Promise<void>;
}
