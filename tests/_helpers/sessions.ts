/**
 * Library sessions for tests: a pair of sessions over a memory link, a
 * way to close several and wait for them, and small services (`Echo`,
 * `Greeter`, `Hold`) with their implementations.
 *
 * @module
 */

import {
  accept,
  encode,
  implement,
  initiate,
  type InitiatorOptions,
  memoryLink,
  service,
  type ServiceImpl,
  type Session,
  type SessionOptions,
  t,
} from "../../mod.ts";
import { until, within } from "./timing.ts";

/** Two library sessions over a memory link. */
export interface SessionPair {
  /** The initiator. */
  readonly client: Session;
  /** The acceptor. */
  readonly server: Session;
  /** Closes the initiator gracefully and waits until both ends have ended. */
  close(): Promise<void>;
}

/** An initiator and an acceptor over a new memory link, handshake done. */
export async function sessionPair(
  initiatorOptions: InitiatorOptions = {},
  acceptorOptions: SessionOptions = {},
): Promise<SessionPair> {
  const [a, b] = memoryLink();
  const [client, server] = await within(
    Promise.all([initiate(a, initiatorOptions), accept(b, acceptorOptions)]),
    2000,
    "the handshake",
  );
  return {
    client,
    server,
    close: async () => {
      await client.close();
      await within(server.closed, 2000, "the acceptor's closed");
    },
  };
}

/** Closes sessions and waits until each has ended. */
export async function closeAll(...sessions: Session[]): Promise<void> {
  for (const s of sessions) await within(s.close(), 5000, "session.close()");
  for (const s of sessions) await within(s.closed, 2000, "session.closed");
}

/** `Echo.echo(string) -> string`. */
export const Echo = service("Echo", { echo: { args: [t.string], returns: t.string } });

/** `Greeter.greet(string) -> string`. */
export const Greeter = service("Greeter", { greet: { args: [t.string], returns: t.string } });

/** `Hold.hold() -> ()`: a call that runs until released or aborted. */
export const Hold = service("Hold", { hold: { args: [], returns: t.unit } });

/** An `Echo` implementation. */
export const echoImpl: ServiceImpl = implement(Echo, { echo: (s) => s });

/** The payload bytes of `Echo.echo(s)`'s args. */
export function echoArgs(s: string): Uint8Array {
  return encode(t.string, s).slice();
}

/** A `Greeter` implementation that says who greets. */
export function greeterImpl(who: string): ServiceImpl {
  return implement(Greeter, { greet: (name) => `${who} greets ${name}` });
}

/**
 * A `Hold` implementation that records its calls: each call runs until
 * `release()` or until its `ctx.signal` aborts (then it rejects with the
 * signal's reason).
 */
export function holdImpl(): {
  impl: ServiceImpl;
  started: number;
  aborted: unknown[];
  whenStarted(n?: number): Promise<void>;
  release(): void;
} {
  const waiters: (() => void)[] = [];
  const state = {
    started: 0,
    aborted: [] as unknown[],
    impl: implement(Hold, {
      hold: (ctx) =>
        new Promise<undefined>((resolve, reject) => {
          state.started++;
          ctx.signal.addEventListener("abort", () => {
            state.aborted.push(ctx.signal.reason);
            reject(ctx.signal.reason);
          }, { once: true });
          waiters.push(() => resolve(undefined));
        }),
    }),
    whenStarted: (n = 1) => until(() => state.started >= n, `${n} Hold.hold call(s) to start`),
    release: () => {
      for (const w of waiters.splice(0)) w();
    },
  };
  return state;
}
