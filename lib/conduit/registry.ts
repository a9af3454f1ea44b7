/**
 * The server side of stable sessions: a {@linkcode ResumeRegistry} knows
 * every stable session by its current 16-byte resume key, reads the
 * ClientHello of each new link, and either starts a session, hands the
 * link to the session it resumes, or answers `REJECTED` for a key it does
 * not know (unknown, already replaced, or expired). A session whose link
 * dropped waits for its client for a while, not forever, and the sessions
 * waiting, and the bytes they hold for replay, are bounded: a registry is
 * not a memory hole.
 *
 * @module
 */

import { HandshakeError } from "../wire/errors.ts";
import { StableHello } from "../wire/tags.ts";
import type { Link } from "../link/link.ts";
import { LinkPort } from "./link_port.ts";
import { closeSoon, StableConduit, type StableHome } from "./stable.ts";
import { decodeHello, encodeServerHello } from "./stable_wire.ts";

/** Options of a {@linkcode ResumeRegistry}. */
export interface ResumeRegistryOptions {
  /**
   * Milliseconds a session whose link dropped waits for its client to
   * resume before it ends with `link-lost` (default 30000).
   */
  readonly timeout?: number;
  /**
   * Sessions that may wait for a resume at once (default 1024): beyond
   * it, the one waiting longest ends.
   */
  readonly maxDetached?: number;
  /**
   * Bytes the waiting sessions may hold for replay in all (default 64
   * MiB): beyond it, the sessions waiting longest end.
   */
  readonly maxDetachedBytes?: number;
}

const DEFAULT_TIMEOUT = 30_000;
const DEFAULT_MAX_DETACHED = 1024;
const DEFAULT_MAX_DETACHED_BYTES = 64 * 1024 * 1024;

/** A conduit waiting for a resume. */
interface Waiting {
  readonly timer: ReturnType<typeof setTimeout>;
  /** Its replay bytes as counted in the registry's total. */
  bytes: number;
}

/** A new link admitted by a registry. */
export interface Admission {
  /** The conduit the link now carries. */
  readonly conduit: StableConduit;
  /** True when the link resumed a session that already existed. */
  readonly resumed: boolean;
}

let admitLink: (
  registry: ResumeRegistry,
  link: Link,
  timeout: number,
  signal: AbortSignal | undefined,
) => Promise<Admission>;

/** Hex of a key, as a map key. */
function hexOf(key: Uint8Array): string {
  let s = "";
  for (const b of key) s += (b < 16 ? "0" : "") + b.toString(16);
  return s;
}

function checkCount(name: string, v: number, max: number): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1 || v > max) {
    throw new RangeError(`Invalid ${name}: expected an integer from 1 to ${max}, got ${String(v)}`);
  }
  return v;
}

/**
 * The resume registry of a server's stable sessions (wire-spec §5): every
 * link accepted with `conduit: "stable"` goes through one, so that a
 * client whose link dropped can come back on a new link, to the same
 * server process, and resume. `serve(url, { conduit: "stable" })` makes
 * one; pass your own to `accept` in `stable.registry`.
 *
 * Keys are 16 random bytes, renewed on every resume (the key a client
 * resumed with stays valid until a frame on its new link shows that it
 * received the new one). A client presenting a key the registry does not
 * know is answered `REJECTED` (its session ends with `session-lost`). A session whose link dropped waits
 * `timeout` ms; at most `maxDetached` sessions holding at most
 * `maxDetachedBytes` of replay buffers wait at once.
 *
 * @example Accepting stable sessions on a listener of your own
 * ```ts
 * import { accept, initiate, ResumeRegistry } from "@roam/roam";
 * import { connectTcp, listenTcp } from "@roam/roam/transports/tcp";
 *
 * const registry = new ResumeRegistry({ timeout: 10_000 });
 * const listener = await listenTcp({ port: 0 });
 * const { port } = listener.address as { port: number };
 * const [link, serverLink] = await Promise.all([connectTcp({ port }), listener.accept()]);
 * const [client, server] = await Promise.all([
 *   initiate(link, { conduit: "stable", stable: { relink: () => connectTcp({ port }) } }),
 *   accept(serverLink!, { conduit: "stable", stable: { registry } }),
 * ]);
 * await client.close();
 * await server.closed;
 * await listener.close();
 * ```
 */
export class ResumeRegistry {
  readonly #timeout: number;
  readonly #maxDetached: number;
  readonly #maxDetachedBytes: number;
  readonly #byKey = new Map<string, StableConduit>();
  /**
   * The keys of each session: the newest, and the one the client resumed
   * with, until a frame on the new link shows that the client has the
   * newest (a link cut during the handshake must not lose the session).
   */
  readonly #keysOf = new Map<StableConduit, { current: string; previous: string | undefined }>();
  /** Sessions waiting for a resume, the longest waiting first. */
  readonly #waiting = new Map<StableConduit, Waiting>();
  #waitingBytes = 0;
  readonly #home: StableHome = {
    detached: (c) => this.#detached(c),
    attached: (c) => this.#stopWaiting(c),
    grew: (c, bytes) => this.#grew(c, bytes),
    removed: (c) => this.#removed(c),
    confirmed: (c) => this.#confirmed(c),
  };

  static {
    admitLink = (registry, link, timeout, signal) => registry.#admit(link, timeout, signal);
  }

  /**
   * Makes a registry.
   *
   * @param options How long sessions wait for a resume, and how many and how many bytes may wait.
   * @throws {RangeError} For an option out of range.
   */
  constructor(options: ResumeRegistryOptions = {}) {
    const timeout = options.timeout ?? DEFAULT_TIMEOUT;
    if (typeof timeout !== "number" || !(timeout >= 0 && timeout <= 0x7fff_ffff)) {
      throw new RangeError(
        `Invalid timeout: expected 0 to 2147483647 milliseconds, got ${String(timeout)}`,
      );
    }
    this.#timeout = timeout;
    this.#maxDetached = checkCount(
      "maxDetached",
      options.maxDetached ?? DEFAULT_MAX_DETACHED,
      Number.MAX_SAFE_INTEGER,
    );
    this.#maxDetachedBytes = checkCount(
      "maxDetachedBytes",
      options.maxDetachedBytes ?? DEFAULT_MAX_DETACHED_BYTES,
      Number.MAX_SAFE_INTEGER,
    );
  }

  /** Stable sessions registered: those with a link and those waiting for a resume. */
  get size(): number {
    return this.#keysOf.size;
  }

  /** Sessions whose link dropped, waiting for their client to resume. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /** Bytes the waiting sessions hold for replay. */
  get waitingBytes(): number {
    return this.#waitingBytes;
  }

  /** Reads the ClientHello of `link` and admits it (see the class doc). */
  #admit(link: Link, timeout: number, signal: AbortSignal | undefined): Promise<Admission> {
    return new Promise<Admission>((resolve, reject) => {
      let settled = false;
      // deno-lint-ignore prefer-const -- assigned once the callbacks that clear it exist
      let timer: ReturnType<typeof setTimeout> | undefined;
      const finish = (): boolean => {
        if (settled) return false;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        return true;
      };
      const fail = (error: HandshakeError): void => {
        if (!finish()) return;
        port.abort(error);
        reject(error);
      };
      const onAbort = (): void =>
        fail(new HandshakeError("The handshake was aborted", { cause: signal!.reason }));
      const port = new LinkPort(link, {
        payload: (p) => {
          if (!finish()) return;
          try {
            resolve(this.#hello(port, p));
          } catch (e) {
            reject(e);
          }
        },
        down: (e) =>
          fail(
            new HandshakeError(
              e === undefined
                ? "The peer closed the link before its ClientHello"
                : "The link failed before the ClientHello",
              { cause: e },
            ),
          ),
      });
      timer = setTimeout(
        () => fail(new HandshakeError(`No ClientHello from the peer within ${timeout} ms`)),
        timeout,
      );
      if (signal?.aborted) onAbort();
      else signal?.addEventListener("abort", onAbort, { once: true });
      port.start();
    });
  }

  /** Admits the link whose first payload is `p`. */
  #hello(port: LinkPort, p: Uint8Array): Admission {
    const hello = decodeHello(p, "client");
    if (typeof hello === "string") {
      closeSoon(port);
      throw new HandshakeError(`Cannot start a stable conduit: ${hello}`);
    }
    const key = crypto.getRandomValues(new Uint8Array(StableHello.KeySize));
    if ((hello.flags & StableHello.ClientHasResumeKey) !== 0) {
      const conduit = this.#byKey.get(hexOf(hello.key));
      if (conduit === undefined || conduit.ended) {
        port.sendOwned(encodeServerHello(undefined, undefined, true));
        closeSoon(port);
        throw new HandshakeError("Cannot resume: the resume key is unknown or expired");
      }
      this.#setKey(conduit, key, hexOf(hello.key));
      conduit.attach(port, hello, key);
      return { conduit, resumed: true };
    }
    const conduit = StableConduit.server(this.#home);
    this.#setKey(conduit, key, undefined);
    conduit.attach(port, hello, key);
    return { conduit, resumed: false };
  }

  /** Makes `key` the newest key of `conduit`, keeping `presented` (the one it resumed with) for now. */
  #setKey(conduit: StableConduit, key: Uint8Array, presented: string | undefined): void {
    const old = this.#keysOf.get(conduit);
    if (old !== undefined) {
      if (old.current !== presented) this.#byKey.delete(old.current);
      if (old.previous !== undefined && old.previous !== presented) {
        this.#byKey.delete(old.previous);
      }
    }
    const hex = hexOf(key);
    this.#byKey.set(hex, conduit);
    this.#keysOf.set(conduit, { current: hex, previous: presented });
  }

  /** The client sent a frame on its new link: it has the newest key; the one it resumed with goes. */
  #confirmed(conduit: StableConduit): void {
    const keys = this.#keysOf.get(conduit);
    if (keys?.previous === undefined) return;
    this.#byKey.delete(keys.previous);
    keys.previous = undefined;
  }

  #detached(conduit: StableConduit): void {
    if (this.#waiting.has(conduit) || !this.#keysOf.has(conduit)) return;
    const timer = setTimeout(
      () =>
        conduit.expire(`The link failed and the client did not resume within ${this.#timeout} ms`),
      this.#timeout,
    );
    const bytes = conduit.replayBytes;
    this.#waiting.set(conduit, { timer, bytes });
    this.#waitingBytes += bytes;
    this.#enforce();
  }

  #grew(conduit: StableConduit, bytes: number): void {
    const w = this.#waiting.get(conduit);
    if (w === undefined) return;
    w.bytes += bytes;
    this.#waitingBytes += bytes;
    this.#enforce();
  }

  /** Ends the sessions waiting longest while the bounds are exceeded. */
  #enforce(): void {
    for (const conduit of this.#waiting.keys()) {
      if (
        this.#waiting.size <= this.#maxDetached && this.#waitingBytes <= this.#maxDetachedBytes
      ) return;
      const why = this.#waiting.size > this.#maxDetached
        ? `more than ${this.#maxDetached} sessions were waiting (maxDetached)`
        : `the waiting sessions held more than ${this.#maxDetachedBytes} bytes (maxDetachedBytes)`;
      conduit.expire(`The link failed and the session stopped waiting for a resume: ${why}`);
      this.#stopWaiting(conduit); // in case expiring did not remove it
    }
  }

  #stopWaiting(conduit: StableConduit): void {
    const w = this.#waiting.get(conduit);
    if (w === undefined) return;
    clearTimeout(w.timer);
    this.#waiting.delete(conduit);
    this.#waitingBytes -= w.bytes;
  }

  #removed(conduit: StableConduit): void {
    this.#stopWaiting(conduit);
    const keys = this.#keysOf.get(conduit);
    if (keys === undefined) return;
    this.#keysOf.delete(conduit);
    this.#byKey.delete(keys.current);
    if (keys.previous !== undefined) this.#byKey.delete(keys.previous);
  }
}

/**
 * Reads the ClientHello of a new link and admits it to `registry`: a new
 * session, or the session it resumes (internal: `accept` calls it).
 *
 * @param registry The registry.
 * @param link The new link.
 * @param timeout How long to wait for the ClientHello.
 * @param signal Aborts the wait.
 * @returns The conduit and whether it existed before.
 * @throws {HandshakeError} For a missing, late or malformed ClientHello, or a key the registry does not know.
 */
export function admit(
  registry: ResumeRegistry,
  link: Link,
  timeout: number,
  signal: AbortSignal | undefined,
): Promise<Admission> {
  return admitLink(registry, link, timeout, signal);
}
