/**
 * Calls a service running in a worker thread (`examples/worker_service.ts`)
 * over a MessagePort link, then closes the session and terminates the
 * worker. Run with `deno run --allow-read examples/worker_demo.ts` or
 * `bun run examples/worker_demo.ts`.
 *
 * @module
 */

import { initiate } from "../mod.ts";
import { messagePortLink } from "../transports/message_port.ts";
import { Greeter } from "./worker_service.ts";

const worker = new Worker(new URL("./worker_service.ts", import.meta.url), { type: "module" });
try {
  const session = await initiate(messagePortLink(worker));
  const greeter = session.client(Greeter);
  console.log(await greeter.greet("main thread"));
  console.log(
    "1 + 2 + ... + 100 =",
    await greeter.sum(Array.from({ length: 100 }, (_, i) => i + 1)),
  );
  await session.close();
} finally {
  worker.terminate();
}
