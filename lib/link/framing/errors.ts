/**
 * What a framed link's peer can get wrong, and the frame size limit: small
 * on purpose, so a browser-safe transport can name `FramingError` without
 * loading the framing code.
 *
 * @module
 */

/** Default largest frame accepted: 16 MiB. */
export const DEFAULT_MAX_FRAME_SIZE = 16 * 1024 * 1024;

/**
 * The link's peer broke the framing rules (a frame above the limit). The
 * session answers with a `ProtocolError` before closing.
 *
 * @example A frame above the limit
 * ```ts
 * import { FramingError } from "@roam/roam";
 * import { connectTcp } from "@roam/roam/transports/tcp";
 *
 * export async function readOne(port: number): Promise<Uint8Array | undefined> {
 *   const link = await connectTcp({ port, maxFrameSize: 1024 });
 *   const reader = link.readable.getReader();
 *   try {
 *     return (await reader.read()).value;
 *   } catch (e) {
 *     if (e instanceof FramingError) console.error("the peer sent a frame above 1 KiB");
 *     throw e;
 *   } finally {
 *     reader.releaseLock();
 *     await link.writable.close();
 *   }
 * }
 * ```
 */
export class FramingError extends Error {
  /** Always true: the session treats this as a protocol violation. */
  readonly protocolViolation = true;

  /**
   * Creates the error.
   *
   * @param message What was wrong.
   */
  constructor(message: string) {
    super(message);
    this.name = "FramingError";
  }
}

/** True when a link failed because the peer broke the framing rules (see {@linkcode FramingError}). */
export function isProtocolViolation(e: unknown): e is Error {
  return (e as { protocolViolation?: unknown } | null)?.protocolViolation === true;
}

/**
 * True when a link ended because its peer closed it on purpose, saying
 * why (a WebSocket Close frame with an application code or a reason): a
 * session on the link ends with `peer-closed` and the error's message.
 */
export function isPeerClose(e: unknown): e is Error {
  return (e as { peerClosed?: unknown } | null)?.peerClosed === true;
}

/** Options for framed links. */
export interface FramingOptions {
  /** Largest payload accepted from the peer, in bytes (default 16 MiB). */
  readonly maxFrameSize?: number;
}
