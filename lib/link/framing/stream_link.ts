/**
 * Framed links over a pair of byte streams, such as a child process's
 * stdout and stdin (the stdio transport).
 *
 * @module
 */

import type { Link } from "../link.ts";
import type { FramingOptions } from "./errors.ts";
import { PauseGate, type RawSocket } from "./socket.ts";
import { socketLink } from "./socket_link.ts";

/**
 * Makes a framed link over a pair of byte streams, such as a child
 * process's stdout and stdin.
 *
 * @param readable Bytes from the peer.
 * @param writable Bytes to the peer.
 * @param options The frame size limit.
 * @returns The link.
 */
export function streamLink(
  readable: ReadableStream<Uint8Array>,
  writable: WritableStream<Uint8Array>,
  options: FramingOptions = {},
): Link {
  const reader = readable.getReader();
  const writer = writable.getWriter();
  const gate = new PauseGate();
  let stopped = false;
  const socket: RawSocket = {
    start(sink) {
      void (async () => {
        try {
          for (;;) {
            while (gate.paused && !stopped) await gate.wait();
            if (stopped) return;
            const { value, done } = await reader.read();
            if (done) {
              sink.end();
              return;
            }
            sink.data(value);
          }
        } catch (e) {
          try {
            if (!stopped) sink.error(e);
          } catch {
            // The sink's own failure must not become an unhandled rejection.
          }
        }
      })();
    },
    pause: () => gate.pause(),
    resume: () => gate.resume(),
    write(chunk) {
      const p = writer.write(chunk);
      // A caller may drop this promise (see `RawSocket.write`): a failed write shows on the next.
      p.catch(() => {});
      return p;
    },
    async closeWrite() {
      await writer.close();
    },
    close() {
      stopped = true;
      gate.release();
      reader.cancel().catch(() => {});
      writer.abort().catch(() => {});
    },
  };
  return socketLink(socket, options);
}
