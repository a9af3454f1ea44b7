/**
 * Forwarding between connections without knowing their schema: every call
 * one side makes on a connection goes, as bytes, to a connection of
 * another session, and the answer comes back the same way; each call's
 * channels are relayed message by message, credit grants included, so the
 * peers' credit holds end to end and a slow consumer behind the proxy
 * bounds the proxy's memory too. `NO_PROPAGATE` metadata is dropped on the
 * way. Request and channel ids are allocated on each side with its own
 * parity: the proxy never reuses the caller's ids.
 *
 * @module
 */

import type { Connection } from "../connection/connection.ts";
import {
  type Fallback,
  type RawCall,
  type RawChannel,
  type RawResponse,
  relayRaw,
} from "../connection/raw.ts";
import { forwardingFallback } from "../connection/forward.ts";
import { ClosedError, type RpcError } from "../wire/errors.ts";
import { ERROR_KEY, metadataEntry, propagatable } from "../wire/metadata.ts";
import { ResultTag, RoamErrorTag } from "../wire/tags.ts";
import type { Metadata } from "../wire/types.ts";

/**
 * The metadata key under which a proxy says why it could not forward a
 * call (`roam-error`, as every peer that answers `Cancelled` with a reason).
 */
export const PROXY_ERROR_KEY: string = ERROR_KEY;

/** A `Cancelled` response carrying why the proxy could not forward the call. */
function failed(why: string): RawResponse {
  return {
    ret: Uint8Array.of(ResultTag.Err, RoamErrorTag.Cancelled),
    metadata: [metadataEntry(PROXY_ERROR_KEY, why)],
  };
}

/** Forwards one raw call to `target`, its channels relayed; a failure is answered `Cancelled`. */
async function forwardCall(call: RawCall, target: Connection): Promise<RawResponse> {
  let out: RawChannel[] | undefined;
  if (call.channels.length > 0) {
    try {
      out = call.channels.map(() => target.rawChannel());
    } catch (e) {
      return failed(`cannot open the call's channels on the target: ${describe(e)}`);
    }
    call.channels.forEach((c, i) => relayRaw(c, out![i]!));
  }
  try {
    const r = await target.callRaw(call.methodId, call.args, {
      metadata: propagatable(call.metadata),
      ...(out === undefined ? {} : { channels: out }),
      signal: call.signal,
    });
    const metadata = propagatable(r.metadata);
    return metadata === r.metadata ? r : { ret: r.ret, metadata };
  } catch (e) {
    if (call.signal.aborted) throw e; // the caller cancelled: the session answers that
    return targetFailed(e);
  }
}

/** The answer to a call the target could not take or complete. */
function targetFailed(e: unknown): RawResponse {
  return failed(`the target failed the call: ${describe(e)}`);
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Options of {@linkcode forwarder}. */
export interface ForwarderOptions {
  /**
   * What a call does while no target is bound: `"wait"` (the default)
   * waits until one is, for as long as the caller lets it (its cancel or
   * timeout); `"fail"` answers at once with `Cancelled`, the reason in the
   * response metadata under {@linkcode PROXY_ERROR_KEY}.
   */
  readonly whileUnbound?: "wait" | "fail";
}

/**
 * A late-bound forwarder: serve it on connections now, bind its target
 * later (and rebind it). Every call for a method the connection does not
 * serve itself goes to the target.
 */
export interface Forwarder {
  /** The target calls go to now, if any. */
  readonly target: Connection | undefined;
  /**
   * Forwards the calls made on `connection` (as its fallback).
   *
   * @param connection Where calls come from.
   */
  serve(connection: Connection): void;
  /**
   * Makes `target` where calls go; calls waiting for a target go now. When
   * the target closes, the forwarder is unbound again.
   *
   * @param target Where calls go.
   */
  bind(target: Connection): void;
  /** Stops forwarding to the current target (calls wait or fail, by option). */
  unbind(): void;
}

/**
 * Makes a late-bound forwarder (see {@linkcode Forwarder}).
 *
 * @param options What a call does while no target is bound.
 * @returns The forwarder.
 * @throws {TypeError} For an unknown `whileUnbound`.
 *
 * @example A gateway that forwards to whichever backend is bound
 * ```ts
 * import { accept, forwarder, initiate, memoryLink } from "@roam/roam";
 *
 * const gateway = forwarder({ whileUnbound: "wait" });
 * const [clientLink, gatewayLink] = memoryLink();
 * const [client, front] = await Promise.all([initiate(clientLink), accept(gatewayLink)]);
 * gateway.serve(front.root);
 * // later: gateway.bind(backendSession.root); calls made meanwhile wait for it.
 * await client.close();
 * ```
 */
export function forwarder(options: ForwarderOptions = {}): Forwarder {
  const mode = options.whileUnbound ?? "wait";
  if (mode !== "wait" && mode !== "fail") {
    throw new TypeError(`Invalid whileUnbound: expected "wait" or "fail", got ${String(mode)}`);
  }
  let target: Connection | undefined;
  let waiters: (() => void)[] = [];
  const wake = (): void => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  const current = async (signal: AbortSignal): Promise<Connection | undefined> => {
    while (target === undefined || target.isClosed) {
      if (mode === "fail" || signal.aborted) return undefined;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          signal.removeEventListener("abort", done);
          resolve();
        };
        waiters.push(done);
        signal.addEventListener("abort", done, { once: true });
      });
    }
    return target;
  };
  const fallback: Fallback = async (call) => {
    const to = await current(call.signal);
    if (to === undefined) {
      if (call.signal.aborted) throw call.signal.reason;
      return failed("no target is bound");
    }
    return forwardCall(call, to);
  };
  return {
    get target() {
      return target;
    },
    serve(connection) {
      connection.serveFallback(fallback);
    },
    bind(next) {
      target = next;
      void next.closed.then(() => {
        if (target === next) target = undefined;
      });
      wake();
    },
    unbind() {
      target = undefined;
    },
  };
}

/** Two connections forwarded to each other (see {@linkcode proxy}). */
export interface Proxy extends AsyncDisposable {
  /**
   * Resolves when either side closed (and the other was closed with it),
   * with that side's reason.
   */
  readonly closed: Promise<RpcError | undefined>;
  /** Closes both connections. */
  close(): Promise<void>;
}

/**
 * Forwards calls both ways between two connections of two sessions,
 * without knowing any schema: calls, cancellation, metadata (minus
 * `NO_PROPAGATE` entries) and every channel, credit included. When either
 * side closes, the other is closed with the same metadata. A call the
 * proxy cannot forward (the other side is gone) fails with `Cancelled`,
 * the reason in the response metadata under {@linkcode PROXY_ERROR_KEY}.
 *
 * @param a One connection (e.g. a client's, accepted by this process).
 * @param b The other (e.g. to a backend).
 * @returns The proxy.
 *
 * @example An edge proxy in front of a backend
 * ```ts
 * import { accept, implement, initiate, memoryLink, proxy, service, t } from "@roam/roam";
 *
 * const Echo = service("Echo", { echo: { args: [t.string], returns: t.string } });
 * const [c1, p1] = memoryLink(); // client <-> proxy
 * const [p2, b2] = memoryLink(); // proxy <-> backend
 * const [client, front, back, backend] = await Promise.all([
 *   initiate(c1),
 *   accept(p1),
 *   initiate(p2),
 *   accept(b2, { services: [implement(Echo, { echo: (s) => s })] }),
 * ]);
 * await using _ = proxy(front.root, back.root);
 * console.log(await client.client(Echo).echo("through the proxy"));
 * await client.close();
 * await backend.closed;
 * ```
 */
export function proxy(a: Connection, b: Connection): Proxy {
  a.serveFallback(forwardingFallback(b, (call) => forwardCall(call, b), targetFailed));
  b.serveFallback(forwardingFallback(a, (call) => forwardCall(call, a), targetFailed));
  const closeOther = (other: Connection) => (reason: RpcError | undefined) => {
    const metadata: Metadata = reason instanceof ClosedError ? propagatable(reason.metadata) : [];
    void other.close(metadata).catch(() => {});
    return reason;
  };
  const closed = Promise.race([a.closed.then(closeOther(b)), b.closed.then(closeOther(a))]);
  const close = async (): Promise<void> => {
    await Promise.all([a.close().catch(() => {}), b.close().catch(() => {})]);
  };
  return { closed, close, [Symbol.asyncDispose]: close };
}
