/**
 * Runs every benchmark: `deno task bench` or `bun run bench/main.ts`.
 * Flags: `--json` (one JSON array), `--quick` (fewer, shorter samples),
 * `--filter TEXT` (only benchmarks whose name contains TEXT).
 *
 * @module
 */

import { Report } from "./_harness.ts";
import { postcardBench } from "./postcard_bench.ts";
import { sessionBench } from "./session_bench.ts";
import { tcpBench } from "./tcp_bench.ts";
import { channelBench } from "./channel_bench.ts";
import { websocketBench } from "./websocket_bench.ts";

const report = new Report();
postcardBench(report);
await sessionBench(report);
await tcpBench(report);
await channelBench(report);
await websocketBench(report);
report.finish();
