/**
 * Echoes every payload back on the same link until it closes: the raw
 * link baseline of the memory-link and WebSocket rows.
 *
 * @module
 */

import type { Link } from "../mod.ts";

/** Echoes every payload back on the same link until it closes or fails. */
export async function echo(link: Link): Promise<void> {
  const reader = link.readable.getReader();
  const writer = link.writable.getWriter();
  for (;;) {
    const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
    if (done) break;
    writer.write(value).catch(() => {});
  }
  await writer.close().catch(() => {});
}

/**
 * A client of an echoing link: `run(n)` writes `inFlight` payloads without
 * waiting, reads as many replies, `n` times.
 */
export function roundTrips(link: Link, payload: Uint8Array, inFlight: number): {
  run: (n: number) => Promise<void>;
  close: () => Promise<void>;
} {
  const reader = link.readable.getReader();
  const writer = link.writable.getWriter();
  return {
    run: async (n) => {
      for (let b = 0; b < n; b++) {
        for (let i = 0; i < inFlight; i++) writer.write(payload).catch(() => {});
        for (let i = 0; i < inFlight; i++) {
          if ((await reader.read()).done) throw new Error("Cannot read an echo: the link closed");
        }
      }
    },
    close: async () => {
      await writer.close().catch(() => {});
      reader.releaseLock();
    },
  };
}
