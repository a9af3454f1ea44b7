/**
 * Tracing for roam calls without a tracing library: the `tracing()`
 * interceptor carries W3C Trace Context (`traceparent`, `tracestate`) in
 * call metadata, from a handler to the calls it makes. Uses
 * `AsyncLocalStorage` (`node:async_hooks`): Deno, Bun and Node, not
 * browsers.
 *
 * @example Installing it on a server and a client
 * ```ts
 * import { accept, initiate, memoryLink } from "@roam/roam";
 * import { tracing } from "@roam/roam/tracing";
 *
 * const trace = tracing({ onSpan: (s) => console.log(s.kind, s.name, s.traceId, s.duration) });
 * const [a, b] = memoryLink();
 * const [client, server] = await Promise.all([
 *   initiate(a, { interceptors: [trace] }),
 *   accept(b, { interceptors: [trace] }),
 * ]);
 * await client.close();
 * await server.closed;
 * ```
 *
 * @module
 */

export { currentSpan, parseTraceparent, tracing } from "./lib/extras/tracing.ts";
export type { FinishedSpan, Span, TracingOptions } from "./lib/extras/tracing.ts";
