/**
 * A roam service running in a worker thread, served to the thread that
 * started it over a MessagePort link on the worker's `self`. Started by
 * `examples/worker_demo.ts`; importing it from the main thread only
 * defines the service.
 *
 * @module
 */

import { accept, implement, service, t } from "../mod.ts";
import { type MessageEndpoint, messagePortLink } from "../transports/message_port.ts";

/** The service the worker serves. */
export const Greeter = service("Greeter", {
  greet: { args: [t.string], returns: t.string },
  sum: { args: [t.list(t.u32)], returns: t.u64 },
});

/** True inside a worker: `WorkerGlobalScope` on Deno and in browsers, `Bun.isMainThread` on Bun. */
function inWorker(): boolean {
  const g = globalThis as { WorkerGlobalScope?: unknown; Bun?: { isMainThread?: boolean } };
  if (typeof g.WorkerGlobalScope === "function") {
    return globalThis instanceof (g.WorkerGlobalScope as new () => object);
  }
  return g.Bun?.isMainThread === false;
}

if (inWorker()) {
  // Deno types `self` as a window; in a worker it has postMessage and message events.
  const port = globalThis as unknown as MessageEndpoint;
  const session = await accept(messagePortLink(port), {
    services: [
      implement(Greeter, {
        greet: (name) => `Hello, ${name}, from a worker!`,
        sum: (numbers) => numbers.reduce((a, n) => a + BigInt(n), 0n),
      }),
    ],
  });
  await session.closed; // the main thread closed the link
}
