/**
 * Fairness between peers: a loop that keeps sending without ever waiting
 * for I/O (a channel with plenty of credit and a link that takes every
 * write at once) runs entirely in microtasks and would hold the event loop,
 * so no other socket is served meanwhile. Senders ask {@linkcode mustYield}
 * and, when it says so, continue in the next macrotask
 * ({@linkcode nextMacrotask}), where I/O callbacks have run.
 *
 * @module
 */

/** How long one turn of the event loop may spend sending, in milliseconds. */
export const TURN_BUDGET_MS = 4;

/** Sends between two looks at the clock (reading it costs more than a send's bookkeeping). */
const CHECK_EVERY = 32;

let turnStart = -1;
let counter = 0;
let exhausted = false;

const setImmediateFn = (globalThis as { setImmediate?: (f: () => void) => unknown }).setImmediate;

/**
 * Runs `f` in a later macrotask, after pending I/O callbacks: `setImmediate`
 * where the runtime has it (Deno, Bun, Node), else a `MessageChannel`
 * message (browsers), never a clamped `setTimeout`.
 */
export const nextMacrotask: (f: () => void) => void = typeof setImmediateFn === "function"
  ? (f) => void setImmediateFn(f)
  : (() => {
    const queue: (() => void)[] = [];
    let channel: InstanceType<typeof MessageChannel> | undefined;
    return (f: () => void): void => {
      if (channel === undefined) {
        channel = new MessageChannel();
        channel.port1.addEventListener("message", () => queue.shift()?.());
        channel.port1.start();
        // Must not keep a runtime alive on its own.
        (channel.port1 as { unref?: () => void }).unref?.();
      }
      queue.push(f);
      channel.port2.postMessage(0);
    };
  })();

const endTurn = (): void => {
  turnStart = -1;
  exhausted = false;
};

/**
 * True when the current turn of the event loop has sent for longer than
 * {@linkcode TURN_BUDGET_MS}: the caller should continue in
 * {@linkcode nextMacrotask}. Cheap: the clock is read once every few calls.
 */
export function mustYield(): boolean {
  if (exhausted) return true;
  if (++counter < CHECK_EVERY) return false;
  counter = 0;
  const now = performance.now();
  if (turnStart < 0) {
    turnStart = now;
    nextMacrotask(endTurn);
    return false;
  }
  exhausted = now - turnStart > TURN_BUDGET_MS;
  return exhausted;
}
