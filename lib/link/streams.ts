/**
 * The fast path of a link that has only its two streams (a WebSocket, a
 * MessagePort, a link of your own): a {@linkcode DirectLink} built on its
 * reader and writer, so the layers above use one interface for every link.
 * Flow control counts the bytes of writes not yet completed, each with a
 * fixed overhead; pausing stops the read loop; a long burst of queued
 * payloads yields to the event loop.
 *
 * @module
 */

import { Queue } from "../_util/queue.ts";
import { mustYield, nextMacrotask } from "../_util/turn.ts";
import type {
  DirectLink,
  LinkFlow,
  PayloadRead,
  PayloadReader,
  PayloadSink,
  PayloadWriter,
} from "./link.ts";

/**
 * What a payload waiting in a link's writable stream costs beyond its
 * bytes (the chunk's view, the queue entry, the write's promise), counted
 * toward `buffered` so that many tiny payloads are bounded too.
 */
const PAYLOAD_OVERHEAD = 1024;

/**
 * Makes the fast path of a link from its reader and writer (which the
 * caller took and keeps for reading before push mode, closing and
 * aborting).
 *
 * @param reader The link's reader.
 * @param writer The link's writer.
 * @param onWriteError Called once when a write fails.
 * @returns The fast path.
 */
export function streamsDirect(
  reader: PayloadReader,
  writer: PayloadWriter,
  onWriteError: (e: unknown) => void,
): DirectLink & { stop(): void } {
  let pending = 0;
  const sizes = new Queue<number>();
  let low: { readonly limit: number; readonly f: () => void }[] = [];
  let failed = false;
  let paused = false;
  let stopped = false;
  let wake: (() => void) | undefined;
  const progress = (): void => {
    if (low.length === 0) return;
    const ready = low.filter((w) => pending <= w.limit);
    if (ready.length === 0) return;
    low = low.filter((w) => pending > w.limit);
    for (const w of ready) w.f();
  };
  const written = (): void => {
    pending -= sizes.shift() ?? 0;
    progress();
  };
  const fail = (e: unknown): void => {
    if (failed) return;
    failed = true;
    pending = 0;
    sizes.drain();
    progress();
    onWriteError(e);
  };
  const wakeReader = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const flow: LinkFlow = {
    buffered: () => pending,
    whenBelow(limit, f) {
      if (failed || pending <= limit) f();
      else low.push({ limit, f });
    },
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
      wakeReader();
    },
  };
  return {
    send(payload) {
      if (failed) return;
      const n = payload.length + PAYLOAD_OVERHEAD;
      pending += n;
      sizes.push(n);
      writer.write(payload).then(written, fail);
    },
    receive(sink: PayloadSink) {
      void (async () => {
        for (;;) {
          while (paused && !stopped) await new Promise<void>((r) => (wake = r));
          if (stopped) return;
          let r: PayloadRead;
          try {
            r = await reader.read();
          } catch (e) {
            sink.error(e);
            return;
          }
          if (r.done) {
            sink.end();
            return;
          }
          sink.payload(r.value);
          if (stopped) return;
          // A long burst of queued payloads must not hold the event loop.
          if (mustYield()) await new Promise<void>((r) => nextMacrotask(r));
        }
      })();
    },
    flow,
    stop() {
      stopped = true;
      wakeReader();
    },
  };
}
