/**
 * Routing virtual connections by service name. A client opens a
 * connection for a service (`session.open(Service)`); a router accepts it
 * and proxies it, without knowing any schema, to a connection it opens on
 * a live backend that serves that service. Backends say what they serve
 * in their handshake metadata ({@linkcode SERVICES_KEY}, set by
 * {@linkcode backendOptions}), whichever side dialled; the router learns
 * them from the sessions it is given (`router.onSession`, `router.add`).
 *
 * @module
 */

import type { Connection } from "../connection/connection.ts";
import type { Session } from "../session/session.ts";
import {
  type ConnectionDecision,
  type ConnectionRequest,
  SERVICE_KEY,
  type ServiceImpl,
  type SessionOptions,
} from "../session/options.ts";
import { ClosedError } from "../wire/errors.ts";
import { getMetadata, metadataEntry, propagatable, toMetadata } from "../wire/metadata.ts";
import type { Metadata } from "../wire/types.ts";
import { forwarder, proxy, PROXY_ERROR_KEY } from "./proxy.ts";

/**
 * The handshake metadata key under which a backend lists the services it
 * serves: their names, separated by commas (see {@linkcode backendOptions}).
 */
export const SERVICES_KEY = "roam-services";

/** A rejection with a reason the opener reads as `getMetadata(error.metadata, "reason")`. */
function reject(reason: string): ConnectionDecision {
  return { accept: false, metadata: { reason } };
}

const NO_SERVICE = "the connection names no service: open it with session.open(service)";

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The services a peer lists in its handshake metadata. */
function servicesOf(metadata: Metadata): string[] {
  const v = getMetadata(metadata, SERVICES_KEY);
  if (typeof v !== "string") return [];
  return v.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

/**
 * Makes an `onConnection` that accepts a virtual connection opened for one
 * of `services` (by `session.open(service)`) and serves that service on
 * it; a connection for another service, or for none, is rejected with a
 * reason the opener can read (`getMetadata(error.metadata, "reason")`).
 *
 * @param services The services, each with its handlers.
 * @param otherwise Decides connections that name none of `services` (default: reject them).
 * @returns The `onConnection` option.
 * @throws {TypeError} When two services have the same name.
 *
 * @example Serving services by name on virtual connections
 * ```ts
 * import { acceptByService, accept, implement, initiate, memoryLink, service, t } from "@roam/roam";
 *
 * const Echo = service("Echo", { echo: { args: [t.string], returns: t.string } });
 * const [a, b] = memoryLink();
 * const [client, server] = await Promise.all([
 *   initiate(a),
 *   accept(b, { onConnection: acceptByService([implement(Echo, { echo: (s) => s })]) }),
 * ]);
 * await using conn = await client.open(Echo);
 * console.log(await conn.client(Echo).echo("hi")); // "hi"
 * await client.open("Nope").catch((e) => console.log(e.message)); // rejected: unknown service
 * await client.close();
 * await server.closed;
 * ```
 */
export function acceptByService(
  services: readonly ServiceImpl[],
  otherwise?: SessionOptions["onConnection"],
): (request: ConnectionRequest) => ConnectionDecision | Promise<ConnectionDecision> {
  const byName = new Map<string, ServiceImpl>();
  for (const s of services) {
    if (typeof s?.name !== "string" || typeof s.install !== "function") {
      throw new TypeError("Cannot accept by service: expected implementations made by implement()");
    }
    if (byName.has(s.name)) {
      throw new TypeError(`Cannot accept by service: ${s.name} is listed twice`);
    }
    byName.set(s.name, s);
  }
  return (request) => {
    const impl = request.service === undefined ? undefined : byName.get(request.service);
    if (impl !== undefined) return { accept: true, services: [impl] };
    if (otherwise !== undefined) return otherwise(request);
    if (request.service === undefined) return reject(NO_SERVICE);
    return reject(`unknown service ${JSON.stringify(request.service)}`);
  };
}

/**
 * Session options for a backend of a {@linkcode router}: `options` plus
 * the list of `services` in the handshake metadata (under
 * {@linkcode SERVICES_KEY}) and an `onConnection` that serves each of them
 * on the virtual connections the router opens for it (see
 * {@linkcode acceptByService}; connections for other services go to
 * `options.onConnection`, if any). Use them where the backend's session
 * is made: `connect(routerUrl, …)` when backends dial the router,
 * `serve(url, …)` when the router dials them.
 *
 * @param services The services this backend serves.
 * @param options Other session options.
 * @returns The options.
 * @throws {TypeError} For no services, a name with a comma, or a name listed twice.
 *
 * @example A backend that dials its router
 * ```ts
 * import { backendOptions, connect, implement, service, t } from "@roam/roam";
 *
 * const Echo = service("Echo", { echo: { args: [t.string], returns: t.string } });
 * const echo = implement(Echo, { echo: (s) => s });
 * // const session = await connect("tcp://router.internal:4001", backendOptions([echo]));
 * // await session.closed; // redial with backoff when the router goes away
 * ```
 */
export function backendOptions<O extends SessionOptions>(
  services: readonly ServiceImpl[],
  options: O = {} as O,
): O {
  if (services.length === 0) throw new TypeError("Cannot make backend options: no services");
  for (const s of services) {
    if (typeof s?.name === "string" && s.name.includes(",")) {
      throw new TypeError(`Cannot make backend options: the name ${s.name} has a comma`);
    }
  }
  const onConnection = acceptByService(services, options.onConnection);
  const listed = metadataEntry(SERVICES_KEY, services.map((s) => s.name).join(","));
  return { ...options, metadata: [listed, ...toMetadata(options.metadata)], onConnection };
}

/** Options of {@linkcode router}. */
export interface RouterOptions {
  /**
   * How a backend is chosen among the live ones that serve the service:
   * `"least-loaded"` (the default), the one with the fewest connections
   * routed to it (ties in turn), or `"round-robin"`, each in turn.
   */
  readonly balance?: "least-loaded" | "round-robin";
}

/** A router of virtual connections by service name (see {@linkcode router}). */
export interface Router extends AsyncDisposable {
  /**
   * The `onConnection` option of the sessions clients open connections
   * on: routes each to a backend.
   */
  readonly onConnection: (request: ConnectionRequest) => Promise<ConnectionDecision>;
  /**
   * The `onSession` option of a server that backends dial: each session
   * whose peer lists services ({@linkcode SERVICES_KEY}) becomes a backend
   * (other sessions are left alone: clients may dial the same server).
   */
  readonly onSession: (session: Session) => void;
  /** Service name to the number of live backends serving it. */
  readonly services: ReadonlyMap<string, number>;
  /**
   * Makes `session` a backend until it ends.
   *
   * @param session A session with the backend (either side may have dialled).
   * @param services What it serves (default: what its peer lists under {@linkcode SERVICES_KEY}).
   * @throws {TypeError} When it serves nothing, is a backend already, or the router is closed.
   */
  add(session: Session, services?: readonly (string | { readonly name: string })[]): void;
  /**
   * Stops routing: new connections are rejected and every routed one is
   * closed on both sides (the sessions stay open).
   */
  close(): Promise<void>;
}

interface Backend {
  readonly session: Session;
  readonly services: ReadonlySet<string>;
  /** Connections routed to it and opens in progress. */
  load: number;
}

interface Route {
  readonly client: Connection;
  readonly backend: Connection;
}

/**
 * Makes a router: it accepts a virtual connection a client opens for a
 * service (`session.open(Service)`) and proxies it, schema-blind (see
 * {@linkcode proxy}), to a connection it opens for the same service on a
 * live backend that serves it; the client's metadata goes along (minus
 * `NO_PROPAGATE` entries) and the backend's accept metadata comes back.
 * A service no live backend serves is rejected with a reason the caller
 * can read (`getMetadata(error.metadata, "reason")`); so is a connection
 * that names none. A backend that rejects the open, or is gone, is skipped
 * for the next one. When a backend's session ends, only the connections
 * routed to it are closed, with the reason under {@linkcode PROXY_ERROR_KEY}
 * in the close metadata (their calls in flight fail with a `ClosedError`
 * or a `CancelledError` carrying it); new connections go to the others.
 *
 * Backends are sessions whose peer lists its services
 * ({@linkcode backendOptions}); give them to the router with `onSession`
 * (for a server backends dial) or `add` (for sessions made otherwise, such
 * as the router dialling a backend). Anyone who can become a backend can
 * take a service's traffic: let backends dial a listener clients cannot
 * reach.
 *
 * @param options How backends are chosen.
 * @returns The router.
 * @throws {TypeError} For an unknown `balance`.
 *
 * @example A router with a private port for backends and a public one for clients
 * ```ts
 * import { router, serve } from "@roam/roam";
 *
 * await using r = router();
 * await using backends = await serve("tcp://127.0.0.1:0", { onSession: r.onSession });
 * await using front = await serve("tcp://127.0.0.1:0", { onConnection: r.onConnection });
 * // A backend: await connect(backends.url, backendOptions([impl]))
 * // A client:  const conn = await (await connect(front.url)).open(Service)
 * ```
 */
export function router(options: RouterOptions = {}): Router {
  const balance = options.balance ?? "least-loaded";
  if (balance !== "least-loaded" && balance !== "round-robin") {
    throw new TypeError(
      `Invalid balance: expected "least-loaded" or "round-robin", got ${String(balance)}`,
    );
  }
  let backends: Backend[] = [];
  const turns = new Map<string, number>();
  const routes = new Set<Route>();
  let closed = false;

  const pick = (service: string, tried: ReadonlySet<Backend>): Backend | undefined => {
    const live = backends.filter((b) =>
      b.services.has(service) && !b.session.isClosed && !tried.has(b)
    );
    if (live.length === 0) return undefined;
    const turn = turns.get(service) ?? 0;
    turns.set(service, (turn + 1) % 0x7fff_ffff);
    if (balance === "round-robin") return live[turn % live.length];
    let best: Backend | undefined;
    for (let i = 0; i < live.length; i++) {
      const b = live[(turn + i) % live.length]!;
      if (best === undefined || b.load < best.load) best = b;
    }
    return best;
  };

  /** The accept decision of a connection routed to `to` on `backend`. */
  const routed = (to: Backend, backend: Connection, service: string): ConnectionDecision => {
    let opened = false;
    // Calls the backend makes before the client's side exists wait for it.
    const early = forwarder({ whileUnbound: "wait" });
    early.serve(backend);
    // The client's session may end before it takes the decision: then
    // `onOpen` never runs, and the backend's connection is not kept.
    setTimeout(() => {
      if (opened) return;
      to.load--;
      void backend.close().catch(() => {});
    }, 0);
    return {
      accept: true,
      metadata: propagatable(backend.peerMetadata),
      maxConcurrentRequests: backend.peerSettings.maxConcurrentRequests,
      onOpen: (client) => {
        opened = true;
        const route: Route = { client, backend };
        routes.add(route);
        // Registered before the proxy's own watch, so that when the
        // backend's session ends the client hears why (the proxy passes on
        // the metadata of a close the backend sent itself).
        void backend.closed.then((reason) => {
          if (reason === undefined || closed) return;
          if (reason instanceof ClosedError && reason.code === "connection-closed") return;
          const why = `the backend of ${service} was lost: ${describe(reason)}`;
          void client.close({ [PROXY_ERROR_KEY]: why }).catch(() => {});
        });
        early.bind(client);
        void proxy(client, backend).closed.then(() => {
          to.load--;
          routes.delete(route);
        });
      },
    };
  };

  const onConnection = async (request: ConnectionRequest): Promise<ConnectionDecision> => {
    if (closed) return reject("the router is closed");
    const service = request.service;
    if (service === undefined) return reject(NO_SERVICE);
    const metadata = propagatable(request.metadata).filter((e) => e.key !== SERVICE_KEY);
    const tried = new Set<Backend>();
    const failures: string[] = [];
    for (let to = pick(service, tried); to !== undefined; to = pick(service, tried)) {
      tried.add(to);
      to.load++;
      let backend: Connection;
      try {
        backend = await to.session.open(service, {
          metadata,
          maxConcurrentRequests: request.settings.maxConcurrentRequests,
        });
      } catch (e) {
        to.load--;
        failures.push(describe(e));
        continue;
      }
      if (closed) {
        to.load--;
        void backend.close().catch(() => {});
        return reject("the router is closed");
      }
      return routed(to, backend, service);
    }
    if (tried.size === 0) {
      return reject(`unknown service ${JSON.stringify(service)}: no live backend serves it`);
    }
    return reject(`no backend of ${service} took the connection: ${failures.join("; ")}`);
  };

  const add = (
    session: Session,
    services?: readonly (string | { readonly name: string })[],
  ): void => {
    if (closed) throw new TypeError("Cannot add a backend: the router is closed");
    if (backends.some((b) => b.session === session)) {
      throw new TypeError("Cannot add a backend: the session is a backend already");
    }
    const names = services === undefined
      ? servicesOf(session.peerMetadata)
      : services.map((s) => (typeof s === "string" ? s : s.name));
    if (names.length === 0) {
      throw new TypeError(
        `Cannot add a backend: it serves no services (its peer lists none under ${SERVICES_KEY})`,
      );
    }
    if (session.isClosed) return;
    const backend: Backend = { session, services: new Set(names), load: 0 };
    backends.push(backend);
    void session.closed.then(() => {
      backends = backends.filter((b) => b !== backend);
    });
  };

  const close = async (): Promise<void> => {
    closed = true;
    backends = [];
    const all = [...routes];
    routes.clear();
    await Promise.all(all.map(async ({ client, backend }) => {
      await client.close({ [PROXY_ERROR_KEY]: "the router closed" }).catch(() => {});
      await backend.close().catch(() => {});
    }));
  };

  return {
    onConnection,
    onSession: (session) => {
      if (!closed && servicesOf(session.peerMetadata).length > 0) add(session);
    },
    get services() {
      const counts = new Map<string, number>();
      for (const b of backends) {
        if (b.session.isClosed) continue;
        for (const s of b.services) counts.set(s, (counts.get(s) ?? 0) + 1);
      }
      return counts;
    },
    add,
    close,
    [Symbol.asyncDispose]: close,
  };
}
