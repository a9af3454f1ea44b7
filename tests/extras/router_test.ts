/**
 * Virtual connections by service name (`session.open`, `request.service`,
 * `acceptByService`) and the router that proxies them to backends: by
 * name, balanced, an unknown service rejected with a reason, and a backend
 * that dies (here: a child process killed mid-load) failing only its own
 * calls while the others and new connections go on.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import {
  accept,
  acceptByService,
  backendOptions,
  ClosedError,
  connect,
  type Connection,
  ConnectionRejectedError,
  type ConnectionRequest,
  getMetadata,
  implement,
  initiate,
  memoryLink,
  NO_PROPAGATE,
  PROXY_ERROR_KEY,
  type Router,
  router,
  RpcError,
  serve,
  service,
  SERVICE_KEY,
  type Session,
  t,
} from "../../mod.ts";
import { SELF, selfExecPath, startFixture } from "../fixtures/runtimes.ts";
import { Work } from "../fixtures/router_backend.ts";

const Echo = service("Echo", { echo: { args: [t.string], returns: t.string } });
const Who = service("Who", { who: { args: [], returns: t.string } });

/** What a `Who` backend answers: its name and the metadata keys its connection was opened with. */
function who(name: string) {
  return implement(Who, {
    who: (ctx) => `${name}:${ctx.connection.peerMetadata.map((e) => e.key).join(",")}`,
  });
}

function reasonOf(e: unknown): unknown {
  return e instanceof RpcError ? getMetadata(e.metadata, "reason") : undefined;
}

async function rejection(p: Promise<unknown>): Promise<ConnectionRejectedError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ConnectionRejectedError, `expected a rejection, got ${e}`);
    return e;
  }
  assert.fail("the open was not rejected");
}

test("session.open names the service; acceptByService serves it and rejects others with a reason", async () => {
  const [a, b] = memoryLink();
  const seen: ConnectionRequest[] = [];
  const byService = acceptByService([implement(Echo, { echo: (s) => s })]);
  const [client, server] = await Promise.all([
    initiate(a),
    accept(b, {
      onConnection: (request) => {
        seen.push(request);
        return byService(request);
      },
    }),
  ]);
  try {
    const conn = await client.open(Echo, { metadata: { tenant: "a" } });
    assert.equal(await conn.client(Echo).echo("hi"), "hi");
    assert.equal(seen[0]!.service, "Echo");
    assert.equal(getMetadata(seen[0]!.metadata, SERVICE_KEY), "Echo");
    assert.equal(getMetadata(seen[0]!.metadata, "tenant"), "a");
    assert.equal(seen[0]!.metadata.find((e) => e.key === SERVICE_KEY)!.flags, NO_PROPAGATE);

    const unknown = await rejection(client.open("Nope"));
    assert.equal(reasonOf(unknown), 'unknown service "Nope"');
    assert.match(unknown.message, /unknown service/);
    const unnamed = await rejection(client.openConnection());
    assert.match(String(reasonOf(unnamed)), /names no service: open it with session\.open/);
    assert.equal(seen[2]!.service, undefined);

    await assert.rejects(client.open(""), TypeError);
    await assert.rejects(
      client.open("Echo", { metadata: { [SERVICE_KEY]: "Other" } }),
      /its metadata names a service already/,
    );
    assert.throws(
      () =>
        acceptByService([implement(Echo, { echo: (s) => s }), implement(Echo, { echo: (s) => s })]),
      TypeError,
    );
  } finally {
    await client.close();
    await server.closed;
  }
});

/** A router with its clients and backends on memory links. */
async function memoryRouter(balance?: "least-loaded" | "round-robin") {
  const r = router(balance === undefined ? {} : { balance });
  const sessions: Session[] = [];
  /** A backend dialling the router. */
  const backend = async (impls: Parameters<typeof backendOptions>[0]) => {
    const [bl, rl] = memoryLink();
    const [b, routerSide] = await Promise.all([
      initiate(bl, backendOptions(impls)),
      accept(rl),
    ]);
    r.onSession(routerSide);
    sessions.push(b, routerSide);
    return b;
  };
  const [cl, fl] = memoryLink();
  const [client, front] = await Promise.all([
    initiate(cl),
    accept(fl, { onConnection: r.onConnection }),
  ]);
  sessions.push(client, front);
  return {
    r,
    client,
    backend,
    async close() {
      await r.close();
      for (const s of sessions) await s.close();
    },
  };
}

test("a router routes connections by name to the backends that serve the service, balanced", async () => {
  const m = await memoryRouter();
  try {
    await m.backend([implement(Echo, { echo: (s) => `one:${s}` }), who("one")]);
    const two = await m.backend([who("two")]);
    assert.deepEqual(Object.fromEntries(m.r.services), { Echo: 1, Who: 2 });

    // Least loaded: four connections, two on each backend.
    const whos: Connection[] = [];
    for (let i = 0; i < 4; i++) {
      whos.push(
        await m.client.open(Who, {
          metadata: [
            { key: "tenant", value: "a", flags: 0 },
            { key: "hop", value: "x", flags: NO_PROPAGATE },
          ],
        }),
      );
    }
    const answers = await Promise.all(whos.map((c) => c.client(Who).who()));
    assert.deepEqual(answers.map((s) => s.split(":")[0]).sort(), ["one", "one", "two", "two"]);
    // The backend sees the service named and the client's metadata, minus NO_PROPAGATE entries.
    for (const s of answers) assert.equal(s.split(":")[1], `${SERVICE_KEY},tenant`);
    const echo = await m.client.open(Echo);
    assert.equal(await echo.client(Echo).echo("x"), "one:x");

    const unknown = await rejection(m.client.open("Nope"));
    assert.equal(reasonOf(unknown), 'unknown service "Nope": no live backend serves it');
    const unnamed = await rejection(m.client.openConnection());
    assert.match(String(reasonOf(unnamed)), /names no service/);

    // A backend that goes away closes only the connections routed to it, with the reason.
    const onTwo = whos.filter((_, i) => answers[i]!.startsWith("two"));
    await two.close();
    for (const c of onTwo) {
      const reason = await c.closed;
      assert.ok(reason instanceof ClosedError);
      assert.match(
        String(getMetadata(reason.metadata, PROXY_ERROR_KEY)),
        /backend of Who was lost/,
      );
    }
    assert.deepEqual(Object.fromEntries(m.r.services), { Echo: 1, Who: 1 });
    for (const [i, c] of whos.entries()) {
      if (answers[i]!.startsWith("one")) assert.match(await c.client(Who).who(), /^one:/);
    }
    const again = await m.client.open(Who);
    assert.match(await again.client(Who).who(), /^one:/);
  } finally {
    await m.close();
  }
});

test("a round-robin router takes the backends in turn, and a closed router rejects", async () => {
  const m = await memoryRouter("round-robin");
  try {
    await m.backend([who("one")]);
    await m.backend([who("two")]);
    const names: string[] = [];
    for (let i = 0; i < 4; i++) {
      const c = await m.client.open(Who);
      names.push((await c.client(Who).who()).split(":")[0]!);
      await c.close(); // round-robin ignores load
    }
    assert.deepEqual(names.sort(), ["one", "one", "two", "two"]);
    const open = await m.client.open(Who);
    await m.r.close();
    const reason = await open.closed;
    assert.equal(
      getMetadata((reason as ClosedError).metadata, PROXY_ERROR_KEY),
      "the router closed",
    );
    assert.equal(reasonOf(await rejection(m.client.open(Who))), "the router is closed");
  } finally {
    await m.close();
  }
});

test("a router adds only sessions that list services, once", async () => {
  const r: Router = router();
  const [a, b] = memoryLink();
  const [x, y] = await Promise.all([initiate(a), accept(b)]);
  try {
    r.onSession(y); // a client: left alone
    assert.equal(r.services.size, 0);
    assert.throws(() => r.add(y), /serves no services/);
    r.add(y, [Echo]);
    assert.throws(() => r.add(y, ["Echo"]), /a backend already/);
    assert.deepEqual(Object.fromEntries(r.services), { Echo: 1 });
    assert.throws(() => router({ balance: "random" as never }), TypeError);
  } finally {
    await r.close();
    await x.close();
    await y.closed;
  }
});

test("the router with two backend processes: killing one mid-load fails only its calls", {
  timeout: 30_000,
}, async () => {
  const r = router();
  const backends = await serve("tcp://127.0.0.1:0", { onSession: r.onSession, keepalive: false });
  const front = await serve("tcp://127.0.0.1:0", { onConnection: r.onConnection });
  const fixture = new URL("../fixtures/router_backend.ts", import.meta.url).pathname;
  const children = [0, 1].map(() => startFixture(SELF, selfExecPath(), fixture, [backends.url]));
  let client: Session | undefined;
  try {
    await Promise.all(children.map((c) => c.nextLine(20_000, "the backend's pid")));
    for (let i = 0; i < 200 && r.services.get("Work") !== 2; i++) {
      await new Promise((res) => setTimeout(res, 10));
    }
    assert.equal(r.services.get("Work"), 2);
    client = await connect(front.url);
    const conns: Connection[] = [];
    for (let i = 0; i < 4; i++) conns.push(await client.open(Work));
    const pids = await Promise.all(conns.map((c) => c.client(Work).whoami()));
    const [victim, survivor] = [children[0]!.pid, children[1]!.pid];
    assert.deepEqual(pids.filter((p) => p === victim).length, 2, `pids ${pids}`);

    // Load: on every connection, 8 calls in flight at all times until stopped.
    let stop = false;
    let killedAt = Infinity;
    const load = conns.map(async (c, i) => {
      const work = c.client(Work);
      let done = 0;
      let afterKill = 0;
      const errors: unknown[] = [];
      await Promise.all(Array.from({ length: 8 }, async () => {
        while (!stop && errors.length === 0) {
          try {
            assert.equal(await work.slow(20), pids[i]);
            done++;
            if (performance.now() > killedAt) afterKill++;
          } catch (e) {
            errors.push(e);
          }
        }
      }));
      return { pid: pids[i]!, done, afterKill, errors };
    });
    await new Promise((res) => setTimeout(res, 300));
    killedAt = performance.now();
    process.kill(victim, "SIGKILL");
    await new Promise((res) => setTimeout(res, 500));
    stop = true;
    const results = await Promise.all(load);

    for (const res of results) {
      assert.ok(res.done > 0, "every connection carried calls before the kill");
      if (res.pid === survivor) {
        assert.deepEqual(res.errors, [], "the survivor's calls all succeed");
        assert.ok(res.afterKill > 0, "the survivor kept answering after the kill");
        continue;
      }
      assert.ok(res.errors.length > 0, "the victim's calls fail");
      for (const e of res.errors) {
        assert.ok(e instanceof RpcError, `a clear error, got ${e}`);
        const why = String(getMetadata(e.metadata, PROXY_ERROR_KEY));
        assert.match(why, /backend of Work was lost|the target failed the call/, e.message);
      }
    }
    assert.equal(r.services.get("Work"), 1);
    // New connections go to the survivor.
    const fresh = await client.open(Work);
    assert.equal(await fresh.client(Work).slow(1), survivor);
  } finally {
    await client?.close();
    await front.close();
    await r.close();
    await backends.close();
    await Promise.all(children.map((c) => c.stop(2000)));
  }
});
