/**
 * The processes of the proxy rows (`scale_bench.ts`), run by `cluster()`
 * with one worker: `backend <port>` serves {@linkcode ProxyBench} on the
 * TCP port; `proxy <port> <backend port>` accepts sessions on the port
 * and forwards each, with `proxy()`, to a session of its own with the
 * backend. Imported elsewhere, it only defines the service.
 *
 * @module
 */

import process from "node:process";
import {
  clusterWorker,
  connect,
  forwarder,
  implement,
  proxy,
  serve,
  type Server,
  service,
  type Session,
  t,
} from "../mod.ts";

/** What the backend serves. */
export const ProxyBench = service("ProxyBench", {
  add: { args: [t.u32, t.u32], returns: t.u32 },
  upload: { args: [t.rx(t.i32)], returns: t.u32 },
  download: { args: [t.u32, t.tx(t.i32)], returns: t.unit },
});

/** The backend's handlers. */
export const proxyBenchImpl = implement(ProxyBench, {
  add: (a, b) => a + b,
  upload: async (rx) => {
    let n = 0;
    for await (const _ of rx) n++;
    return n;
  },
  download: async (n, tx) => {
    for (let i = 0; i < n; i++) await tx.send(i);
    await tx.close();
    return undefined;
  },
});

const worker = clusterWorker();
if (worker !== undefined) {
  const [mode, port, backendPort] = process.argv.slice(2);
  const url = `tcp://127.0.0.1:${port}`;
  const upstreams = new Set<Session>();
  let server: Server;
  if (mode === "backend") server = await serve(url, { services: [proxyBenchImpl] });
  else {
    server = await serve(url, {
      onSession: (session) => {
        // Calls that come before the backend's session is up wait for it.
        const early = forwarder();
        early.serve(session.root);
        void connect(`tcp://127.0.0.1:${backendPort}`).then((upstream) => {
          upstreams.add(upstream);
          early.bind(upstream.root);
          proxy(session.root, upstream.root);
        }, () => void session.close());
      },
    });
  }
  await worker.stopping;
  await server.close();
  await Promise.all([...upstreams].map((s) => s.close()));
}
