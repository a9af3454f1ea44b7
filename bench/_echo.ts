/**
 * Echoes every payload back on the same link until it closes: the raw link
 * baseline of the memory-link benchmarks.
 *
 * @module
 */

import type { Link } from "../mod.ts";

/** Echoes every payload back on the same link until it closes. */
export async function echo(link: Link): Promise<void> {
  const reader = link.readable.getReader();
  const writer = link.writable.getWriter();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    writer.write(value).catch(() => {});
  }
  await writer.close().catch(() => {});
}
