/**
 * Tracing without a tracing library: W3C Trace Context (`traceparent`,
 * `tracestate`) carried in call metadata. On the serving side the
 * interceptor reads the caller's `traceparent` (or starts a trace), and
 * runs the handler inside that span; on the calling side it writes a
 * `traceparent` whose parent is the current span, so calls a handler makes
 * continue the trace across roam hops and proxies (which forward the
 * metadata). The current span follows the handler through `await` by way
 * of `AsyncLocalStorage` (Deno, Bun, Node; not browsers).
 *
 * @module
 */

import { AsyncLocalStorage } from "node:async_hooks";
import type { CallInfo, Interceptor } from "../connection/intercept.ts";
import { getMetadata } from "../wire/metadata.ts";

/** One span of a trace: a call, as one side saw it. */
export interface Span {
  /** 32 lowercase hex digits, shared by every span of the trace. */
  readonly traceId: string;
  /** 16 lowercase hex digits, this span's own. */
  readonly spanId: string;
  /** The parent span's id, if any. */
  readonly parentId: string | undefined;
  /** The trace flags (bit 0: sampled). */
  readonly flags: number;
  /** The vendor `tracestate`, passed on unchanged. */
  readonly traceState: string | undefined;
  /** `"client"` for a call made, `"server"` for a call served. */
  readonly kind: "client" | "server";
  /** The method, as `Service.method`. */
  readonly name: string;
  /** When the span started (`performance.now()`). */
  readonly start: number;
}

/** A span that ended. */
export interface FinishedSpan extends Span {
  /** How long it took, in ms. */
  readonly duration: number;
  /** The error that ended it, if it failed. */
  readonly error: unknown;
}

/** Options of {@linkcode tracing}. */
export interface TracingOptions {
  /** Receives each span when it ends (export it, log it…). */
  readonly onSpan?: (span: FinishedSpan) => void;
}

const storage = new AsyncLocalStorage<Span>();

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

function randomHex(bytes: number): string {
  const b = crypto.getRandomValues(new Uint8Array(bytes));
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return /^0+$/.test(s) ? randomHex(bytes) : s;
}

/**
 * Reads a W3C `traceparent` (version 00): trace id, parent id and flags;
 * undefined when it is missing or malformed (all-zero ids included).
 *
 * @param value The header's value.
 * @returns Its parts, or undefined.
 */
export function parseTraceparent(
  value: unknown,
): { traceId: string; parentId: string; flags: number } | undefined {
  if (typeof value !== "string") return undefined;
  const m = TRACEPARENT.exec(value.trim());
  if (m === null) return undefined;
  const [, traceId, parentId, flags] = m;
  if (/^0+$/.test(traceId!) || /^0+$/.test(parentId!)) return undefined;
  return { traceId: traceId!, parentId: parentId!, flags: parseInt(flags!, 16) };
}

/**
 * The span the current code runs in: the call being served, when called
 * from a handler (or from code it awaits) under the {@linkcode tracing}
 * interceptor; undefined elsewhere.
 *
 * @returns The current span.
 */
export function currentSpan(): Span | undefined {
  return storage.getStore();
}

/**
 * An interceptor that carries W3C Trace Context across calls: install it
 * on every session (client and server) of a service mesh.
 *
 * @param options Where finished spans go.
 * @returns The interceptor.
 * @throws {TypeError} When `onSpan` is not a function.
 *
 * @example Traces across two services
 * ```ts
 * import { accept, initiate, memoryLink } from "@roam/roam";
 * import { currentSpan, tracing } from "@roam/roam/tracing";
 *
 * const spans: string[] = [];
 * const trace = tracing({ onSpan: (s) => spans.push(`${s.kind} ${s.name} ${s.traceId}`) });
 * const [a, b] = memoryLink();
 * const [client, server] = await Promise.all([
 *   initiate(a, { interceptors: [trace] }),
 *   accept(b, { interceptors: [trace] }),
 * ]);
 * // In a handler, currentSpan() is the served call's span; calls it makes carry its trace id.
 * console.log(currentSpan()); // undefined outside a handler
 * await client.close();
 * await server.closed;
 * ```
 */
export function tracing(options: TracingOptions = {}): Interceptor {
  const onSpan = options.onSpan;
  if (onSpan !== undefined && typeof onSpan !== "function") {
    throw new TypeError("Invalid onSpan: expected a function");
  }
  const finish = async (span: Span, run: () => Promise<unknown>): Promise<unknown> => {
    let error: unknown;
    try {
      return await run();
    } catch (e) {
      error = e;
      throw e;
    } finally {
      if (onSpan !== undefined) {
        try {
          onSpan({ ...span, duration: performance.now() - span.start, error });
        } catch {
          // A span sink that throws must not change the call's outcome.
        }
      }
    }
  };
  return {
    call(info: CallInfo, next: () => Promise<unknown>): Promise<unknown> {
      const start = performance.now();
      if (info.side === "server") {
        const parent = parseTraceparent(getMetadata(info.metadata, "traceparent"));
        const state = getMetadata(info.metadata, "tracestate");
        const span: Span = {
          traceId: parent?.traceId ?? randomHex(16),
          spanId: randomHex(8),
          parentId: parent?.parentId,
          flags: parent?.flags ?? 1,
          traceState: typeof state === "string" ? state : undefined,
          kind: "server",
          name: info.method,
          start,
        };
        return finish(span, () => storage.run(span, next));
      }
      const current = storage.getStore();
      const span: Span = {
        traceId: current?.traceId ?? randomHex(16),
        spanId: randomHex(8),
        parentId: current?.spanId,
        flags: current?.flags ?? 1,
        traceState: current?.traceState,
        kind: "client",
        name: info.method,
        start,
      };
      const flags = span.flags.toString(16).padStart(2, "0");
      info.addMetadata([
        { key: "traceparent", value: `00-${span.traceId}-${span.spanId}-${flags}`, flags: 0 },
        ...(span.traceState === undefined
          ? []
          : [{ key: "tracestate", value: span.traceState, flags: 0 }]),
      ]);
      return finish(span, next);
    },
  };
}
