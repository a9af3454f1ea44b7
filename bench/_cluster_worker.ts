/**
 * A worker of the cluster rows (`scale_bench.ts`): serves {@linkcode Pid}
 * on the TCP port given as its first argument with `reusePort`, until the
 * cluster stops it. Imported elsewhere, it only defines the service.
 *
 * @module
 */

import process from "node:process";
import { clusterWorker, implement, serve, service, t } from "../mod.ts";

/** What the workers serve. */
export const Pid = service("ClusterBench", {
  pid: { args: [], returns: t.u32 },
  add: { args: [t.u32, t.u32], returns: t.u32 },
  /** `rounds` rounds of integer hashing: a call that costs the server CPU. */
  spin: { args: [t.u32], returns: t.u32 },
});

function spin(rounds: number): number {
  let h = 2166136261;
  for (let i = 0; i < rounds; i++) h = Math.imul(h ^ i, 16777619) >>> 0;
  return h;
}

const worker = clusterWorker();
if (worker !== undefined) {
  // try/finally rather than `await using`, which Node 22 cannot parse.
  const server = await serve(`tcp://127.0.0.1:${Number(process.argv[2])}`, {
    reusePort: true,
    services: [implement(Pid, { pid: () => process.pid, add: (a, b) => a + b, spin })],
  });
  try {
    await worker.stopping;
  } finally {
    await server.close();
  }
}
