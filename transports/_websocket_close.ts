/**
 * WebSocket close codes as roam links read them, shared by the client
 * link and the servers: which Close frames end a link gracefully (the
 * peer closed it on purpose) and which mean it failed, the error that
 * carries a peer's code and reason, and the checks of an explicit close.
 *
 * @module
 */

/** Close code sent when a link's writable is aborted (private-use range, allowed for every client). */
export const ABORT_CODE = 4000;

/** Longest close reason, in UTF-8 bytes (a Close frame's payload is at most 125 bytes). */
const MAX_REASON_BYTES = 123;

/** True for the codes of an ordinary end of stream: normal closure, going away, no code. */
export function isEndOfStream(code: number): boolean {
  return code === 1000 || code === 1001 || code === 1005;
}

/**
 * True for a Close frame by which the peer ended the link on purpose: an
 * ordinary end, or an application's own code (3000 to 4999), except the
 * code of an aborted link. Protocol and server errors (1002, 1003,
 * 1007 to 1015) and a connection lost without a Close frame (1006) are
 * failures.
 */
export function isDeliberateClose(code: number): boolean {
  return isEndOfStream(code) || (code >= 3000 && code <= 4999 && code !== ABORT_CODE);
}

/** Describes a close code and reason for an error message. */
export function describeClose(code: number, reason: string): string {
  return reason === "" ? `code ${code}` : `code ${code}: ${reason}`;
}

/**
 * A WebSocket link ended by a Close frame that is not a plain end of
 * stream: the readable errors with it. `peerClosed` tells a peer that
 * closed on purpose (an application code such as 4001; a session on the
 * link ends with `peer-closed` and this message) from a
 * failure (an abnormal closure, 1006, or an error code; `link-lost`).
 *
 * @example Telling why the server closed the socket
 * ```ts
 * import { initiate } from "@roam/roam";
 * import { connectWebSocket, WebSocketClosedError } from "@roam/roam/transports/websocket";
 *
 * export async function watch(url: string): Promise<void> {
 *   const session = await initiate(await connectWebSocket(url));
 *   const error = await session.closed; // a ClosedError, or undefined after our own close
 *   const cause = error?.cause;
 *   if (cause instanceof WebSocketClosedError && cause.peerClosed) {
 *     console.error(`the server closed with code ${cause.code}: ${cause.reason}`);
 *   }
 * }
 * ```
 */
export class WebSocketClosedError extends Error {
  /** The close code. */
  readonly code: number;
  /** The close reason (may be empty). */
  readonly reason: string;
  /** True when the peer closed the link on purpose, false when it failed. */
  readonly peerClosed: boolean;

  /**
   * Creates the error.
   *
   * @param code The close code.
   * @param reason The close reason.
   * @param peerClosed Whether the peer closed on purpose.
   */
  constructor(code: number, reason: string, peerClosed: boolean) {
    super(
      peerClosed
        ? `The peer closed the WebSocket (${describeClose(code, reason)})`
        : `The WebSocket closed abnormally (${describeClose(code, reason)})`,
    );
    this.name = "WebSocketClosedError";
    this.code = code;
    this.reason = reason;
    this.peerClosed = peerClosed;
  }
}

/**
 * Checks the arguments of an explicit close: 1000 or 3000 to 4999, and a
 * reason of at most 123 UTF-8 bytes.
 *
 * @throws {RangeError} For anything else.
 */
export function checkClose(code: number, reason: string): void {
  if (!Number.isInteger(code) || !(code === 1000 || (code >= 3000 && code <= 4999))) {
    throw new RangeError(`Invalid close code: expected 1000 or 3000 to 4999, got ${String(code)}`);
  }
  if (typeof reason !== "string") {
    throw new RangeError(`Invalid close reason: expected a string, got ${typeof reason}`);
  }
  const bytes = new TextEncoder().encode(reason).length;
  if (bytes > MAX_REASON_BYTES) {
    throw new RangeError(
      `Invalid close reason: ${bytes} bytes of UTF-8, more than ${MAX_REASON_BYTES}`,
    );
  }
}
