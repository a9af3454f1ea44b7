/**
 * The handshake: `initiate` (send `Hello`, wait for `HelloYourself`) and
 * `accept` (wait for `Hello`, answer `HelloYourself` with the opposite
 * parity), with a timeout, and `ProtocolError` for a peer that breaks the
 * rules.
 *
 * @module
 */

import { resolveRetry } from "../_util/retry.ts";
import { BareConduit } from "../conduit/bare.ts";
import { checkInterceptors } from "../connection/intercept.ts";
import type { Conduit } from "../conduit/conduit.ts";
import { admit, ResumeRegistry } from "../conduit/registry.ts";
import { STABLE_RETRY, StableConduit } from "../conduit/stable.ts";
import { HandshakeError, ProtocolError } from "../wire/errors.ts";
import { isProtocolViolation } from "../link/framing/errors.ts";
import type { Link } from "../link/link.ts";
import { exposeMetadata, toMetadata } from "../wire/metadata.ts";
import { Writer } from "../postcard/_writer.ts";
import { type Session, SessionCore } from "./session.ts";
import {
  checkMs,
  checkU32,
  DEFAULTS,
  type InitiatorOptions,
  opposite,
  resolveKeepalive,
  resolveLimits,
  type SessionOptions,
} from "./options.ts";
import { writeMessage } from "../wire/encode.ts";
import { decodeMessage } from "../wire/decode.ts";
import {
  type ConnectionSettings,
  type Message,
  type MessagePayload,
  type Metadata,
  type Parity,
  PROTOCOL_VERSION,
} from "../wire/types.ts";

/** Reads the first message of the handshake, within the timeout. */
async function firstMessage(
  conduit: Conduit,
  timeout: number,
  expected: string,
  signal: AbortSignal | undefined,
): Promise<Message> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  const stopped = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new HandshakeError(`No ${expected} from the peer within ${timeout} ms`)),
      timeout,
    );
    onAbort = () =>
      reject(new HandshakeError("The handshake was aborted", { cause: signal!.reason }));
    if (signal?.aborted) onAbort();
    else signal?.addEventListener("abort", onAbort, { once: true });
  });
  let bytes: Uint8Array | undefined;
  try {
    bytes = (await Promise.race([conduit.recv(), stopped])).value;
  } catch (e) {
    if (e instanceof HandshakeError) throw e;
    if (isProtocolViolation(e)) {
      sendError(conduit, e.message); // e.g. an oversized frame or a text message
      throw new HandshakeError(
        `The peer broke the protocol during the handshake: ${e.message}`,
        {
          cause: e,
        },
      );
    }
    throw new HandshakeError(`The link failed during the handshake`, { cause: e });
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort!);
  }
  if (bytes === undefined) {
    throw new HandshakeError("The peer closed the link during the handshake");
  }
  try {
    return decodeMessage(bytes);
  } catch (e) {
    sendError(conduit, `undecodable handshake message: ${(e as Error).message}`);
    throw new HandshakeError(`Cannot decode the peer's ${expected}: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

/**
 * Reads the peer's first message and checks that it is of `type`; a
 * `ProtocolError` or any other message fails the handshake (the latter
 * answered with a `ProtocolError`).
 */
async function expect<K extends "hello" | "helloYourself">(
  conduit: Conduit,
  timeout: number,
  type: K,
  name: string,
  signal: AbortSignal | undefined,
): Promise<Extract<MessagePayload, { type: K }>> {
  const p = (await firstMessage(conduit, timeout, name, signal)).payload;
  if (p.type === "protocolError") {
    throw new HandshakeError(`The peer refused the handshake: ${p.description}`, {
      cause: new ProtocolError(p.description, true),
    });
  }
  if (p.type !== type) {
    sendError(conduit, `expected ${name}, got ${p.type}`);
    throw new HandshakeError(`Expected ${name} from the peer, got ${p.type}`);
  }
  return p as Extract<MessagePayload, { type: K }>;
}

function sendError(conduit: Conduit, description: string): void {
  const w = new Writer(64);
  writeMessage(w, { connectionId: 0, payload: { type: "protocolError", description } });
  conduit.send(w);
}

function settingsOf(options: SessionOptions, parity: Parity): ConnectionSettings {
  return {
    parity,
    maxConcurrentRequests: checkU32(
      "maxConcurrentRequests",
      options.maxConcurrentRequests ?? DEFAULTS.maxConcurrentRequests,
    ),
  };
}

/** How long a failed handshake waits for its `ProtocolError` to be taken by the link. */
const REFUSAL_FLUSH_MS = 100;

async function handshake<T>(conduit: Conduit, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    // Flush a ProtocolError if one was queued, but never wait on a peer that does not read.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const flushed = await Promise.race([
      conduit.close().then(() => true, () => true),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(false), REFUSAL_FLUSH_MS))),
    ]);
    clearTimeout(timer);
    if (!flushed) conduit.abort(e);
    throw e;
  }
}

/**
 * Starts a session as the initiator: sends `Hello`, waits for
 * `HelloYourself`.
 *
 * @param link The link to the peer.
 * @param options Session options.
 * @returns The established session.
 * @throws {HandshakeError} When the peer answers with anything but
 * `HelloYourself`, closes the link, or does not answer in time.
 *
 * @example A client and server over a memory link
 * ```ts
 * import { accept, implement, initiate, memoryLink, service, t } from "@roam/roam";
 *
 * const Adder = service("Adder", { add: { args: [t.u32, t.u32], returns: t.u32 } });
 * const [a, b] = memoryLink();
 * const [client, server] = await Promise.all([
 *   initiate(a),
 *   accept(b, { services: [implement(Adder, { add: (x, y) => x + y })] }),
 * ]);
 * console.log(await client.client(Adder).add(2, 3)); // 5
 * await client.close();
 * await server.closed;
 * ```
 */
export async function initiate(link: Link, options: InitiatorOptions = {}): Promise<Session> {
  resolveKeepalive(options.keepalive);
  checkInterceptors(options.interceptors);
  resolveLimits(options.limits);
  const parity = options.parity ?? "odd";
  if (parity !== "odd" && parity !== "even") {
    throw new TypeError(`Invalid parity: ${String(parity)}`);
  }
  const local = settingsOf(options, parity);
  const metadata = toMetadata(options.metadata);
  const timeout = checkMs(
    "handshakeTimeout",
    options.handshakeTimeout ?? DEFAULTS.handshakeTimeout,
  );
  const conduit = conduitKind(options) === "stable"
    ? await StableConduit.connect(link, {
      relink: options.stable?.relink,
      retry: resolveRetry("stable.retry", options.stable?.retry, STABLE_RETRY),
      handshakeTimeout: timeout,
    }, options.signal)
    : new BareConduit(link);
  return await handshake(conduit, async () => {
    const w = new Writer(64);
    writeMessage(w, {
      connectionId: 0,
      payload: { type: "hello", version: PROTOCOL_VERSION, settings: local, metadata },
    });
    conduit.send(w);
    const p = await expect(conduit, timeout, "helloYourself", "HelloYourself", options.signal);
    return start(conduit, "initiator", parity, local, p, options);
  });
}

/**
 * Starts a session as the acceptor: waits for `Hello`, answers
 * `HelloYourself` with the opposite parity.
 *
 * @param link The link to the peer.
 * @param options Session options.
 * @returns The established session.
 * @throws {HandshakeError} When the first message is not a version 7
 * `Hello` (the peer is sent a `ProtocolError`), the link closes, or no
 * `Hello` arrives in time.
 *
 * @example Serving a service
 * ```ts
 * import { accept, implement, memoryLink, service, t } from "@roam/roam";
 *
 * const Echo = service("Echo", { echo: { args: [t.string], returns: t.string } });
 * const [, serverLink] = memoryLink();
 * const pending = accept(serverLink, {
 *   services: [implement(Echo, { echo: (s) => s })],
 *   handshakeTimeout: 10,
 * });
 * await pending.catch(() => {}); // nobody connects here: the handshake times out
 * ```
 */
export async function accept(link: Link, options: SessionOptions = {}): Promise<Session> {
  resolveKeepalive(options.keepalive);
  checkInterceptors(options.interceptors);
  resolveLimits(options.limits);
  const metadata = toMetadata(options.metadata);
  const timeout = checkMs(
    "handshakeTimeout",
    options.handshakeTimeout ?? DEFAULTS.handshakeTimeout,
  );
  const maxConcurrent = settingsOf(options, "even").maxConcurrentRequests;
  if (conduitKind(options) === "stable") {
    const registry = options.stable?.registry;
    if (!(registry instanceof ResumeRegistry)) {
      throw new TypeError(
        "Cannot accept a stable session: options.stable.registry must be a ResumeRegistry",
      );
    }
    const admission = await admit(registry, link, timeout, options.signal);
    if (admission.resumed) {
      // The link resumes a session accepted before: that session it is.
      const earlier = stableSessions.get(admission.conduit);
      if (earlier === undefined) throw new HandshakeError("Cannot resume: the session is gone");
      return await earlier;
    }
    const accepted = acceptOn(admission.conduit, timeout, metadata, maxConcurrent, options);
    stableSessions.set(admission.conduit, accepted);
    accepted.catch(() => {}); // whoever awaits it sees the failure; the map's copy must not
    return await accepted;
  }
  return await acceptOn(new BareConduit(link), timeout, metadata, maxConcurrent, options);
}

/** The sessions of stable conduits, for the links that resume them. */
const stableSessions = new WeakMap<Conduit, Promise<Session>>();

/** The conduit under each session (internal: tests and diagnostics). */
const conduits = new WeakMap<Session, Conduit>();

/**
 * The conduit under a session made by `initiate` or `accept` (internal:
 * tests and diagnostics look at a stable conduit's replay buffer).
 *
 * @param session The session.
 * @returns Its conduit.
 */
export function conduitOf(session: Session): Conduit | undefined {
  return conduits.get(session);
}

/** The `conduit` option, checked. */
function conduitKind(options: SessionOptions): "bare" | "stable" {
  const kind = options.conduit ?? "bare";
  if (kind !== "bare" && kind !== "stable") {
    throw new TypeError(`Invalid conduit: expected "bare" or "stable", got ${String(kind)}`);
  }
  return kind;
}

/** The acceptor's side of the session handshake, on a conduit. */
function acceptOn(
  conduit: Conduit,
  timeout: number,
  metadata: Metadata,
  maxConcurrent: number,
  options: SessionOptions,
): Promise<Session> {
  return handshake(conduit, async () => {
    const p = await expect(conduit, timeout, "hello", "Hello", options.signal);
    if (p.version !== PROTOCOL_VERSION) {
      sendError(
        conduit,
        `unsupported protocol version ${p.version}, this peer speaks ${PROTOCOL_VERSION}`,
      );
      throw new HandshakeError(
        `The peer speaks protocol version ${p.version}, not ${PROTOCOL_VERSION}`,
      );
    }
    // The acceptor takes the opposite of the initiator's parity.
    const parity = opposite(p.settings.parity);
    const local: ConnectionSettings = { parity, maxConcurrentRequests: maxConcurrent };
    const w = new Writer(64);
    writeMessage(w, {
      connectionId: 0,
      payload: { type: "helloYourself", settings: local, metadata },
    });
    conduit.send(w);
    return start(conduit, "acceptor", parity, local, p, options);
  });
}

/** Creates the session once the peer's Hello or HelloYourself arrived, and starts it. */
function start(
  conduit: Conduit,
  role: "initiator" | "acceptor",
  parity: Parity,
  local: ConnectionSettings,
  peer: { settings: ConnectionSettings; metadata: Metadata },
  options: SessionOptions,
): Session {
  const session = new SessionCore(
    conduit,
    role,
    parity,
    local,
    peer.settings,
    exposeMetadata(peer.metadata),
    options,
  );
  conduits.set(session, conduit);
  session.start();
  return session;
}
