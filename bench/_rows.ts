/**
 * Every row of the benchmark tool, in the order they run. Defining a row
 * opens nothing: its sockets and sessions are opened when it runs.
 *
 * @module
 */

import type { Row } from "./_measure.ts";
import { postcardRows } from "./postcard_bench.ts";
import { sessionRows } from "./session_bench.ts";
import { tcpRows } from "./tcp_bench.ts";
import { channelRows } from "./channel_bench.ts";
import { websocketRows } from "./websocket_bench.ts";
import { scaleRows } from "./scale_bench.ts";
import { stableRows } from "./stable_bench.ts";

/**
 * Every row, in the order they run.
 *
 * @param quick Whether `--quick` was given (some rows use fewer connections).
 * @returns The rows.
 * @throws {Error} When two rows have the same name.
 */
export function allRows(quick: boolean): Row[] {
  const rows = [
    ...postcardRows(),
    ...sessionRows(),
    ...tcpRows(quick),
    ...channelRows(quick),
    ...websocketRows(),
    ...scaleRows(),
    ...stableRows(),
  ];
  const names = new Set<string>();
  for (const r of rows) {
    if (names.has(r.name)) throw new Error(`Two rows are named ${r.name}`);
    names.add(r.name);
  }
  return rows;
}
