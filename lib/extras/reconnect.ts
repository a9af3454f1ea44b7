/**
 * A client that stays connected: {@linkcode reconnect} makes a session to
 * a URL (or over links from a function of yours) and, whenever the
 * session ends, makes a new one by a retry policy, until you close it or
 * the policy gives up. `client(Service)` works on it as on a session:
 * calls go to the current session; calls made while it reconnects wait
 * for the next one (or fail at once, as you choose); calls in flight when
 * a bare session's link dies fail at once (they may have run). Services
 * in `options.services` are served again on every new session. With
 * `conduit: "stable"`, a dropped link is first resumed within the same
 * session (nothing in flight is lost); only a session that cannot resume
 * is replaced.
 *
 * @example A client that outlives its server's restarts
 * ```ts
 * import { implement, reconnect, type ReconnectEvent, serve, service, t } from "@roam/roam";
 *
 * const Adder = service("Adder", { add: { args: [t.u32, t.u32], returns: t.u32 } });
 * const server = await serve("tcp://127.0.0.1:0", {
 *   services: [implement(Adder, { add: (a, b) => a + b })],
 * });
 * await using client = reconnect(server.url, {
 *   retry: { initialDelay: 50, maxDelay: 2_000, maxElapsed: 60_000 },
 * });
 * client.addEventListener("state", (e) => console.log((e as ReconnectEvent).state));
 * console.log(await client.client(Adder).add(2, 3, { timeout: 5_000 })); // 5
 * await server.close();
 * ```
 *
 * @module
 */

import {
  type ResolvedRetry,
  resolveRetry,
  retryDelay,
  type RetryPolicy,
  sleep,
} from "../_util/retry.ts";
import type { CallOptions, Client } from "../connection/api.ts";
import type { MethodDescriptor, MethodSpecs, ServiceDescriptor } from "../identity/service.ts";
import type { LinkFactory } from "../conduit/stable.ts";
import { initiate } from "../session/handshake.ts";
import type { Session } from "../session/session.ts";
import { ClosedError } from "../wire/errors.ts";
import type { ConnectOptions } from "./serve.ts";

/** The state of a {@linkcode ReconnectingClient}. */
export type ReconnectState =
  /** Making its first session. */
  | "connecting"
  /** A session is up. */
  | "connected"
  /** The session ended; making a new one. */
  | "reconnecting"
  /** Closed by `close()`. */
  | "closed"
  /** The retry policy gave up (see `lastError`). */
  | "gave-up";

/** Options of {@linkcode reconnect}: those of `connect`, plus how to retry. */
export interface ReconnectOptions extends ConnectOptions {
  /**
   * How to retry after a failed attempt (default: 100 ms doubling to 5 s,
   * ± 20 %, without end). The budget (`maxAttempts`, `maxElapsed`) counts
   * from the start of each outage; the first attempt after a session ends
   * is made at once.
   */
  readonly retry?: RetryPolicy;
  /**
   * What a call does while no session is up: `"wait"` (the default) for
   * the next session, within its own `signal` and `timeout`, or `"fail"`
   * at once with a `ClosedError`.
   */
  readonly whileDisconnected?: "wait" | "fail";
}

/**
 * The event a {@linkcode ReconnectingClient} dispatches, as `"state"`,
 * on every change of state.
 *
 * @example Showing the connection state
 * ```ts
 * import { reconnect, ReconnectEvent } from "@roam/roam";
 *
 * export function watched(url: string): AsyncDisposable {
 *   const client = reconnect(url);
 *   client.addEventListener("state", (e) => {
 *     if (!(e instanceof ReconnectEvent)) return;
 *     if (e.state === "reconnecting") console.error("connection lost:", e.error);
 *     else console.error(e.state);
 *   });
 *   return client;
 * }
 * ```
 */
export class ReconnectEvent extends Event {
  /** The new state. */
  readonly state: ReconnectState;
  /** Why the previous session ended, or why the last attempt failed (for `reconnecting` and `gave-up`). */
  readonly error: unknown;

  /**
   * Makes the event.
   *
   * @param state The new state.
   * @param error The last error, if any.
   */
  constructor(state: ReconnectState, error?: unknown) {
    super("state");
    this.state = state;
    this.error = error;
  }
}

/**
 * One client over a succession of sessions (see {@linkcode reconnect}).
 * It dispatches a {@linkcode ReconnectEvent} named `"state"` on each
 * change of state.
 */
export interface ReconnectingClient extends EventTarget, AsyncDisposable {
  /** The current state. */
  readonly state: ReconnectState;
  /** The current session, while connected. */
  readonly session: Session | undefined;
  /** Why the last session ended or the last attempt failed. */
  readonly lastError: unknown;
  /** Resolves once closed or given up: undefined after `close()`, else the last error. Never rejects. */
  readonly closed: Promise<unknown>;
  /**
   * A typed client whose calls go to the current session (waiting for
   * one while reconnecting, unless `whileDisconnected` is `"fail"`).
   *
   * @param service The service descriptor.
   * @returns The client.
   */
  client<M extends MethodSpecs>(service: ServiceDescriptor<M>): Client<M>;
  /**
   * Waits for a session.
   *
   * @param options Stops waiting when `signal` aborts or after `timeout` ms.
   * @returns The session.
   * @throws {ClosedError} When the client is closed or gave up first.
   */
  ready(options?: { signal?: AbortSignal; timeout?: number }): Promise<Session>;
  /** Stops for good: no new session; the current one is closed gracefully. */
  close(): Promise<void>;
}

/** A typed client seen as what it is underneath: one function per method. */
type CallTable = Readonly<Record<string, (...a: unknown[]) => Promise<unknown>>>;

/** A call waiting for a session. */
interface Waiter {
  resolve(session: Session): void;
  reject(error: unknown): void;
}

/** The retry policy of a reconnecting client by default. */
const DEFAULT_RETRY: ResolvedRetry = resolveRetry("retry", {
  initialDelay: 100,
  maxDelay: 5000,
  multiplier: 2,
  jitter: 0.2,
});

/** True for what may stand in the call options position: undefined or a plain object. */
function isOptions(v: unknown): v is CallOptions | undefined {
  if (v === undefined) return true;
  if (typeof v !== "object" || v === null) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

class Reconnecting extends EventTarget implements ReconnectingClient {
  readonly #factory: LinkFactory;
  readonly #options: ReconnectOptions;
  readonly #retry: ResolvedRetry;
  readonly #stop = new AbortController();
  #state: ReconnectState = "connecting";
  #session: Session | undefined;
  #lastError: unknown;
  #waiters = new Set<Waiter>();
  readonly #clients = new WeakMap<Session, Map<ServiceDescriptor<MethodSpecs>, CallTable>>();
  readonly closed: Promise<unknown>;
  #resolveClosed!: (e: unknown) => void;
  readonly #loop: Promise<void>;

  constructor(factory: LinkFactory, options: ReconnectOptions) {
    super();
    this.#factory = factory;
    this.#options = options;
    this.#retry = resolveRetry("retry", options.retry, DEFAULT_RETRY);
    const mode = options.whileDisconnected ?? "wait";
    if (mode !== "wait" && mode !== "fail") {
      throw new TypeError(
        `Invalid whileDisconnected: expected "wait" or "fail", got ${String(mode)}`,
      );
    }
    this.closed = new Promise((r) => (this.#resolveClosed = r));
    this.#loop = this.#run();
  }

  get state(): ReconnectState {
    return this.#state;
  }

  get session(): Session | undefined {
    return this.#session;
  }

  get lastError(): unknown {
    return this.#lastError;
  }

  #set(state: ReconnectState, error?: unknown): void {
    this.#state = state;
    try {
      this.dispatchEvent(new ReconnectEvent(state, error));
    } catch {
      // A listener that throws must not stop the client.
    }
  }

  /** Makes sessions, one after the other, until closed or out of retries. */
  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    const policy = this.#retry;
    for (;;) {
      const started = performance.now();
      let session: Session | undefined;
      for (let attempt = 1;; attempt++) {
        if (signal.aborted) return;
        try {
          session = await this.#attempt(signal);
          break;
        } catch (e) {
          if (signal.aborted) return;
          this.#lastError = e;
          const wait = retryDelay(policy, attempt, Math.random());
          if (
            attempt >= policy.maxAttempts || performance.now() - started + wait > policy.maxElapsed
          ) {
            this.#giveUp(e);
            return;
          }
          if (!(await sleep(wait, signal))) return;
        }
      }
      this.#session = session;
      this.#set("connected");
      for (const w of this.#waiters) w.resolve(session);
      this.#waiters.clear();
      const reason = await session.closed;
      this.#session = undefined;
      if (signal.aborted) return;
      this.#lastError = reason;
      this.#set("reconnecting", reason);
    }
  }

  /** One attempt: a link, then a session on it. */
  async #attempt(signal: AbortSignal): Promise<Session> {
    const link = await this.#factory(signal);
    const options = this.#options;
    const stable = options.conduit === "stable" && options.stable?.relink === undefined
      ? { stable: { ...options.stable, relink: this.#factory } }
      : {};
    const session = await initiate(link, {
      ...options,
      ...stable,
      signal: options.signal === undefined ? signal : AbortSignal.any([options.signal, signal]),
    });
    if (signal.aborted) {
      await session.close();
      throw signal.reason;
    }
    return session;
  }

  #giveUp(error: unknown): void {
    this.#set("gave-up", error);
    const e = new ClosedError(
      "link-lost",
      `The client gave up reconnecting: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
    for (const w of this.#waiters) w.reject(e);
    this.#waiters.clear();
    this.#resolveClosed(error);
  }

  /** Why a call cannot wait: the client is closed or gave up. */
  #ended(): ClosedError | undefined {
    if (this.#state === "closed") return new ClosedError("session-closed", "The client is closed");
    if (this.#state === "gave-up") {
      const e = this.#lastError;
      return new ClosedError(
        "link-lost",
        `The client gave up reconnecting: ${e instanceof Error ? e.message : String(e)}`,
        { cause: e },
      );
    }
    return undefined;
  }

  ready(options: { signal?: AbortSignal; timeout?: number } = {}): Promise<Session> {
    const session = this.#session;
    if (session !== undefined && !session.isClosed) return Promise.resolve(session);
    const ended = this.#ended();
    if (ended !== undefined) return Promise.reject(ended);
    const { signal, timeout } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<Session>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = (): void => {
        this.#waiters.delete(waiter);
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      const waiter: Waiter = {
        resolve: (s) => {
          done();
          resolve(s);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      };
      const onAbort = (): void => waiter.reject(signal!.reason);
      this.#waiters.add(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
      if (timeout !== undefined) {
        timer = setTimeout(
          () =>
            waiter.reject(
              new DOMException(`No session within ${timeout} ms (${this.#state})`, "TimeoutError"),
            ),
          timeout,
        );
      }
    });
  }

  client<M extends MethodSpecs>(service: ServiceDescriptor<M>): Client<M> {
    const client: Record<string, unknown> = {};
    for (const name of Object.keys(service.methods)) {
      const method = service.methods[name as keyof M & string] as unknown as MethodDescriptor;
      const arity = method.args.items.length;
      client[name] = (...a: unknown[]) => this.#call(service, name, arity, a);
    }
    return Object.freeze(client) as Client<M>;
  }

  /** A call: on the current session, or on the next one. */
  async #call<M extends MethodSpecs>(
    service: ServiceDescriptor<M>,
    name: string,
    arity: number,
    a: unknown[],
  ): Promise<unknown> {
    let session = this.#session;
    if (session === undefined || session.isClosed) {
      const ended = this.#ended();
      if (ended !== undefined) throw ended;
      if (this.#options.whileDisconnected === "fail") {
        throw new ClosedError(
          "link-lost",
          `Cannot call ${service.name}.${name}: not connected (${this.#state})`,
        );
      }
      const options = a.length === arity + 1 && isOptions(a[arity]) ? a[arity] : undefined;
      const started = performance.now();
      const wait: { signal?: AbortSignal; timeout?: number } = {};
      if (options?.signal !== undefined) wait.signal = options.signal;
      if (options?.timeout !== undefined) wait.timeout = options.timeout;
      session = await this.ready(wait);
      if (options?.timeout !== undefined) {
        // The call's timeout counts the wait for the session.
        const left = Math.max(0, options.timeout - (performance.now() - started));
        a = [...a.slice(0, arity), { ...options, timeout: left }];
      }
    }
    return this.#clientOn(session, service)[name]!(...a);
  }

  /** The client of `service` on `session`, made once per session, as a table of calls. */
  #clientOn<M extends MethodSpecs>(session: Session, service: ServiceDescriptor<M>): CallTable {
    let clients = this.#clients.get(session);
    if (clients === undefined) this.#clients.set(session, clients = new Map());
    const key = service as unknown as ServiceDescriptor<MethodSpecs>;
    let client = clients.get(key);
    if (client === undefined) {
      client = session.client(service) as unknown as CallTable;
      clients.set(key, client);
    }
    return client;
  }

  async close(): Promise<void> {
    if (this.#state !== "closed" && this.#state !== "gave-up") {
      this.#stop.abort(new ClosedError("session-closed", "The client is closed"));
      this.#set("closed");
      const e = new ClosedError("session-closed", "The client is closed");
      for (const w of this.#waiters) w.reject(e);
      this.#waiters.clear();
      this.#resolveClosed(undefined);
    }
    const session = this.#session;
    if (session !== undefined) await session.close();
    await this.#loop;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Starts a reconnecting client over links from `factory` (internal: the
 * `reconnect` of `@roam/roam` and of `@roam/roam/browser` turn a URL into
 * a factory with their own transports).
 *
 * @param factory Makes each new link.
 * @param options Session options, the retry policy, what calls do while disconnected.
 * @returns The client; it starts connecting at once.
 */
export function reconnecting(
  factory: LinkFactory,
  options: ReconnectOptions,
): ReconnectingClient {
  return new Reconnecting(factory, options);
}
