/**
 * Interceptors on both sides of a call, W3C tracing across hops, and the
 * counters of sessions and connections.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  accept,
  CancelledError,
  channel,
  err,
  getMetadata,
  implement,
  initiate,
  type Interceptor,
  memoryLink,
  ok,
  proxy,
  RpcError,
  service,
  type SessionOptions,
  t,
} from "../../mod.ts";
import { currentSpan, type FinishedSpan, parseTraceparent, tracing } from "../../tracing.ts";
import { type SessionPair, sessionPair, until } from "../_helpers/mod.ts";

const Shop = service("Shop", {
  price: { args: [t.string], returns: t.u32 },
  buy: { args: [t.string, t.u32], returns: t.u32, error: t.enum({ OutOfStock: t.unit }) },
  stream: { args: [t.u32, t.tx(t.u32)], returns: t.unit },
});

const shop = implement(Shop, {
  price: (item, ctx) => {
    ctx.setResponseMetadata({ currency: "EUR" });
    return item.length * 100 + (getMetadata(ctx.metadata, "discount") === "yes" ? 0 : 1);
  },
  buy: (_item, n) => n > 10 ? err({ tag: "OutOfStock" as const }) : ok(n),
  async stream(n, tx) {
    for (let i = 0; i < n; i++) await tx.send(i);
    await tx.close();
  },
});

/** Two sessions on a memory link, the acceptor serving `Shop`. */
function pair(client: SessionOptions, server: SessionOptions): Promise<SessionPair> {
  return sessionPair(client, { services: [shop], ...server });
}

/** An interceptor that records what it sees into `log`. */
function recorder(name: string, log: string[]): Interceptor {
  return {
    async call(info, next) {
      log.push(`${name}>${info.side}:${info.method}`);
      try {
        const v = await next();
        log.push(`${name}<ok`);
        return v;
      } catch (e) {
        log.push(`${name}<${(e as Error).name}`);
        throw e;
      }
    },
  };
}

test("interceptors run around calls on both sides, in order, the first outermost", async () => {
  const log: string[] = [];
  const { client: c, close } = await pair(
    { interceptors: [recorder("c1", log), recorder("c2", log)] },
    { interceptors: [recorder("s1", log), recorder("s2", log)] },
  );
  try {
    assert.equal(await c.client(Shop).price("tea"), 301);
    assert.deepEqual(log, [
      "c1>client:Shop.price",
      "c2>client:Shop.price",
      "s1>server:Shop.price",
      "s2>server:Shop.price",
      "s2<ok",
      "s1<ok",
      "c2<ok",
      "c1<ok",
    ]);
  } finally {
    await close();
  }
});

test("interceptors read and add metadata: the client's reach the handler, the server's the caller", async () => {
  const seen: string[] = [];
  const client: Interceptor = {
    call(info, next) {
      info.addMetadata({ discount: "yes" });
      return next();
    },
  };
  const server: Interceptor = {
    call(info, next) {
      seen.push(String(getMetadata(info.metadata, "discount")));
      info.addMetadata({ "served-by": "interceptor" });
      return next();
    },
  };
  const { client: c, close } = await pair({ interceptors: [client] }, { interceptors: [server] });
  try {
    const r = await c.root.call(Shop.methods.price, ["tea"]);
    assert.equal(r.value, 300);
    assert.deepEqual(seen, ["yes"]);
    assert.equal(getMetadata(r.metadata, "currency"), "EUR");
    assert.equal(getMetadata(r.metadata, "served-by"), "interceptor");
  } finally {
    await close();
  }
});

test("a server interceptor rejects a call with an RpcError: the caller reads why, nothing is reported", async () => {
  const reported: unknown[] = [];
  let ran = false;
  const auth: Interceptor = {
    call(info, next) {
      if (getMetadata(info.metadata, "token") !== "secret") {
        throw new RpcError("cancelled", `${info.method}: not authorised`);
      }
      ran = true;
      return next();
    },
  };
  const { client: c, close } = await pair({}, {
    interceptors: [auth],
    onError: (e) => reported.push(e),
  });
  try {
    const e = await c.client(Shop).price("tea").then(() => undefined, (e) => e);
    assert.ok(e instanceof CancelledError, String(e));
    assert.match(e.message, /Shop\.price failed on the peer: Shop\.price: not authorised/);
    assert.equal(getMetadata(e.metadata, "roam-error"), "Shop.price: not authorised");
    assert.equal(await c.client(Shop).price("tea", { metadata: { token: "secret" } }), 301);
    assert.ok(ran);
    assert.deepEqual(reported, []);
  } finally {
    await close();
  }
});

test("a server interceptor's signal is the call's: aborted by the caller's cancel, asked before or after it", async () => {
  const Slow = service("Slow", {
    early: { args: [], returns: t.unit },
    late: { args: [], returns: t.unit },
    quick: { args: [], returns: t.u32 },
  });
  const gate = Promise.withResolvers<void>();
  let early: AbortSignal | undefined;
  let handlerSignal: AbortSignal | undefined;
  let late: AbortSignal | undefined;
  const watcher: Interceptor = {
    async call(info, next) {
      if (info.method === "Slow.early") early = info.signal;
      try {
        return await next();
      } finally {
        // Asked only once the handler settled: the cancel came before anyone wanted the signal.
        if (info.method === "Slow.late") late = info.signal;
      }
    },
  };
  const { client: c, server: s, close } = await sessionPair({}, { interceptors: [watcher] });
  s.serve(Slow, {
    early: (ctx) =>
      new Promise<void>((resolve) => {
        handlerSignal = ctx.signal;
        ctx.signal.addEventListener("abort", () => resolve(), { once: true });
      }),
    late: () => gate.promise,
    quick: () => 1,
  });
  try {
    const slow = c.client(Slow);
    const stop = new AbortController();
    const calls = [slow.early({ signal: stop.signal }), slow.late({ signal: stop.signal })]
      .map((p) => p.then(() => "done", (e) => e));
    assert.equal(await slow.quick(), 1); // both calls have reached the server
    assert.equal(early?.aborted, false);
    assert.equal(early, handlerSignal, "the interceptor and the handler share one signal");
    stop.abort(new Error("enough"));
    assert.equal(await slow.quick(), 1); // the cancels have reached the server
    gate.resolve();
    for (const r of await Promise.all(calls)) assert.ok(r instanceof Error, String(r));
    assert.equal(early?.aborted, true);
    await until(() => late !== undefined, "the late call to settle");
    assert.equal(late?.aborted, true);
  } finally {
    gate.resolve();
    await close();
  }
});

test("a server interceptor may answer a fallible method with its typed error, without the handler", async () => {
  let handled = false;
  const limit: Interceptor = {
    call(info, next) {
      if (info.method === "Shop.buy" && (info.args[1] as number) > 3) {
        return Promise.resolve(err({ tag: "OutOfStock" }));
      }
      handled = true;
      return next();
    },
  };
  const { client: c, close } = await pair({}, { interceptors: [limit] });
  try {
    assert.deepEqual(await c.client(Shop).buy("tea", 5), {
      ok: false,
      error: { tag: "OutOfStock" },
    });
    assert.equal(handled, false);
    assert.deepEqual(await c.client(Shop).buy("tea", 2), { ok: true, value: 2 });
  } finally {
    await close();
  }
});

test("an interceptor sees the outcome: the value, a user error, or the failure", async () => {
  const outcomes: string[] = [];
  const logger: Interceptor = {
    async call(info, next) {
      const start = performance.now();
      try {
        const v = await next();
        outcomes.push(`${info.method} ok ${JSON.stringify(v)}`);
        return v;
      } catch (e) {
        outcomes.push(`${info.method} failed ${(e as Error).name}`);
        throw e;
      } finally {
        assert.ok(performance.now() - start >= 0);
      }
    },
  };
  const { client: c, close } = await pair({ interceptors: [logger] }, {});
  try {
    await c.client(Shop).price("ab");
    await c.client(Shop).buy("x", 20);
    const Missing = service("Shop", { gone: { args: [], returns: t.unit } });
    await c.client(Missing).gone().catch(() => {});
    assert.deepEqual(outcomes, [
      "Shop.price ok 201",
      `Shop.buy ok {"ok":false,"error":{"tag":"OutOfStock"}}`,
      "Shop.gone failed UnknownMethodError",
    ]);
  } finally {
    await close();
  }
});

test("interceptors see every channel item, sent and received", async () => {
  const counts = { clientReceived: 0, serverSent: 0 };
  const { client: c, close } = await pair(
    { interceptors: [{ item: (i) => i.direction === "received" && counts.clientReceived++ }] },
    { interceptors: [{ item: (i) => i.direction === "sent" && counts.serverSent++ }] },
  );
  try {
    const [tx, rx] = channel<number>();
    const done = c.client(Shop).stream(100, tx);
    let n = 0;
    for await (const _ of rx) n++;
    await done;
    assert.equal(n, 100);
    assert.deepEqual(counts, { clientReceived: 100, serverSent: 100 });
  } finally {
    await close();
  }
});

test("bad interceptors are a TypeError, and next() called twice fails the call", async () => {
  const [a] = memoryLink();
  await assert.rejects(initiate(a, { interceptors: [42 as never] }), TypeError);
  await assert.rejects(initiate(a, { interceptors: [{ call: "no" as never }] }), TypeError);
  await assert.rejects(initiate(a, { interceptors: {} as never }), TypeError);
  const twice: Interceptor = {
    async call(_info, next) {
      await next();
      return next();
    },
  };
  const { client: c, close } = await pair({ interceptors: [twice] }, {});
  try {
    await assert.rejects(c.client(Shop).price("x"), /next\(\) called twice/);
  } finally {
    await close();
  }
});

// ------------------------------------------------------------------ tracing

const Front = service("Front", { order: { args: [t.string], returns: t.u32 } });

test("tracing carries one trace from a client through a handler's own call and a proxy", async () => {
  const spans: FinishedSpan[] = [];
  const trace = tracing({ onSpan: (s) => spans.push(s) });
  // The back end: Shop, behind a proxy.
  const [bl, sl] = memoryLink();
  const [back, shopServer] = await Promise.all([
    initiate(bl),
    accept(sl, { services: [shop], interceptors: [trace] }),
  ]);
  const [pl, ql] = memoryLink();
  const [toProxy, proxyFront] = await Promise.all([
    initiate(pl, { interceptors: [trace] }),
    accept(ql),
  ]);
  proxy(proxyFront.root, back.root);
  // The front end: Front.order calls Shop.price through the proxy.
  let inHandler: string | undefined;
  const front = implement(Front, {
    order: async (item) => {
      inHandler = currentSpan()?.traceId;
      return await toProxy.client(Shop).price(item);
    },
  });
  const [fl, gl] = memoryLink();
  const [client, frontServer] = await Promise.all([
    initiate(fl, { interceptors: [trace] }),
    accept(gl, { services: [front], interceptors: [trace] }),
  ]);
  try {
    assert.equal(await client.client(Front).order("tea"), 301);
    const by = (kind: string, name: string) =>
      spans.find((s) => s.kind === kind && s.name === name)!;
    const c1 = by("client", "Front.order");
    const s1 = by("server", "Front.order");
    const c2 = by("client", "Shop.price");
    const s2 = by("server", "Shop.price");
    for (const s of [s1, c2, s2]) assert.equal(s.traceId, c1.traceId);
    assert.equal(inHandler, c1.traceId);
    assert.equal(s1.parentId, c1.spanId);
    assert.equal(c2.parentId, s1.spanId);
    assert.equal(s2.parentId, c2.spanId); // the proxy passed traceparent on unchanged
    assert.equal(c1.parentId, undefined);
  } finally {
    await client.close();
    await frontServer.closed;
    await toProxy.close();
    await proxyFront.closed;
    await back.close();
    await shopServer.closed;
  }
});

test("a served call without a valid traceparent starts its own trace", async () => {
  const spans: FinishedSpan[] = [];
  const { client: c, close } = await pair({}, {
    interceptors: [tracing({ onSpan: (s) => spans.push(s) })],
  });
  try {
    await c.client(Shop).price("x", { metadata: { traceparent: "00-zz-bad" } });
    assert.equal(spans.length, 1);
    assert.match(spans[0]!.traceId, /^[0-9a-f]{32}$/);
    assert.equal(spans[0]!.parentId, undefined);
  } finally {
    await close();
  }
});

test("parseTraceparent accepts version 00 only, and no all-zero ids", () => {
  const ok = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  assert.deepEqual(parseTraceparent(ok), {
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    parentId: "00f067aa0ba902b7",
    flags: 1,
  });
  for (
    const bad of [
      "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
      undefined,
      42,
    ]
  ) assert.equal(parseTraceparent(bad), undefined, String(bad));
  assert.throws(() => tracing({ onSpan: 1 as never }), TypeError);
});

// ------------------------------------------------------------------ stats

test("session and connection stats count messages, bytes, calls, channels and the last round trip", async () => {
  // The receive window off, so that no grant adds to the messages counted here.
  const creditOnly = { limits: { receiveWindowItems: 0 } };
  const { client: c, server: s, close } = await pair(creditOnly, creditOnly);
  try {
    const before = c.stats();
    assert.equal(before.callsCompleted, 0);
    assert.equal(before.lastRtt, undefined);
    for (let i = 0; i < 10; i++) await c.client(Shop).price("x");
    const [tx, rx] = channel<number>();
    const done = c.client(Shop).stream(5, tx);
    const it = rx[Symbol.asyncIterator]();
    await it.next();
    assert.equal(c.root.stats().channelsOpen, 1);
    for (let r = await it.next(); !r.done; r = await it.next());
    await done;
    const rtt = await c.ping();
    const after = c.stats();
    assert.equal(after.callsCompleted, 11);
    assert.equal(after.callsInFlight, 0);
    assert.equal(after.channelsOpen, 0);
    assert.equal(after.lastRtt, rtt);
    assert.equal(after.messagesOut, 12, "11 calls and a ping");
    assert.equal(after.messagesIn, 18, "11 responses, 5 items, a close and a pong");
    assert.ok(after.bytesOut > 0 && after.bytesIn > 0);
    assert.equal(after.queuedBytes, 0);
    assert.equal(s.stats().callsServed, 11);
    assert.equal(s.root.stats().callsServing, 0);
    assert.deepEqual(s.root.stats(), {
      callsInFlight: 0,
      callsCompleted: 0,
      callsServing: 0,
      callsServed: 11,
      channelsOpen: 0,
    });
  } finally {
    await close();
  }
});
