/**
 * Raw calls, fallbacks and the schema-blind forwarding proxy: the same
 * traffic direct and through one and two proxy hops gives the same
 * results — values, user errors, metadata (minus `NO_PROPAGATE`),
 * cancellation, channels both ways with credit end to end — and a slow
 * consumer behind a proxy bounds what the proxy holds.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  accept,
  CancelledError,
  channel,
  type Connection,
  encode,
  err,
  forwarder,
  getMetadata,
  implement,
  initiate,
  memoryLink,
  type Metadata,
  NO_PROPAGATE,
  ok,
  proxy,
  PROXY_ERROR_KEY,
  RawChannel,
  service,
  type Session,
  t,
  UnknownMethodError,
} from "../../mod.ts";
import { decode } from "../../postcard.ts";
import { delay } from "../_helpers/mod.ts";

const MathError = t.enum({ DivisionByZero: t.unit });
const Lab = service("Lab", {
  add: { args: [t.i32, t.i32], returns: t.i32 },
  divide: { args: [t.i64, t.i64], returns: t.i64, error: MathError },
  whoami: { args: [], returns: t.string },
  hold: { args: [], returns: t.unit },
  sum: { args: [t.rx(t.u32)], returns: t.u64 },
  count: { args: [t.u32, t.tx(t.u32)], returns: t.unit },
});

function lab(state: { cancelled: number }) {
  return implement(Lab, {
    add: (a, b) => a + b,
    divide: (a, b) => b === 0n ? err({ tag: "DivisionByZero" as const }) : ok(a / b),
    whoami: (ctx) => {
      ctx.setResponseMetadata({ answered: "backend" });
      const seen = ctx.metadata.map((e) => e.key).sort().join(",");
      return seen;
    },
    hold: (ctx) =>
      new Promise<undefined>((_, reject) => {
        ctx.signal.addEventListener("abort", () => {
          state.cancelled++;
          reject(ctx.signal.reason);
        }, { once: true });
      }),
    async sum(rx) {
      let total = 0n;
      for await (const n of rx) total += BigInt(n);
      return total;
    },
    async count(n, tx) {
      for (let i = 0; i < n; i++) await tx.send(i);
      await tx.close();
    },
  });
}

/** A chain: a client, `hops` proxies, a backend. Returns the client and a closer. */
async function chain(hops: number, state = { cancelled: 0 }): Promise<{
  client: Session;
  proxies: Connection[];
  close(): Promise<void>;
}> {
  const sessions: Session[] = [];
  const [bl, sl] = memoryLink();
  const backend = accept(sl, { services: [lab(state)] });
  let upstream: Session = await initiate(bl);
  sessions.push(upstream, await backend);
  const fronts: Connection[] = [];
  for (let i = 0; i < hops; i++) {
    const [cl, pl] = memoryLink();
    const [c, front] = await Promise.all([initiate(cl), accept(pl)]);
    proxy(front.root, upstream.root);
    fronts.push(front.root);
    sessions.push(c, front);
    upstream = c;
  }
  return {
    client: upstream,
    proxies: fronts,
    async close() {
      for (const s of sessions) await s.close();
    },
  };
}

for (const hops of [0, 1, 2]) {
  const via = hops === 0 ? "direct" : `through ${hops} proxy hop${hops > 1 ? "s" : ""}`;

  test(`calls, user errors and unknown methods behave the same ${via}`, async () => {
    const c = await chain(hops);
    try {
      const lab = c.client.client(Lab);
      assert.equal(await lab.add(2, 3), 5);
      assert.deepEqual(await lab.divide(7n, 2n), { ok: true, value: 3n });
      assert.deepEqual(await lab.divide(1n, 0n), { ok: false, error: { tag: "DivisionByZero" } });
      const Other = service("Other", { nope: { args: [], returns: t.unit } });
      await assert.rejects(c.client.client(Other).nope(), UnknownMethodError);
    } finally {
      await c.close();
    }
  });

  test(`metadata crosses ${via}, without NO_PROPAGATE entries`, async () => {
    const c = await chain(hops);
    try {
      const r = await c.client.root.call(Lab.methods.whoami, [], {
        metadata: [
          { key: "trace", value: "abc", flags: 0 },
          { key: "hop-local", value: "x", flags: NO_PROPAGATE },
        ],
      });
      assert.equal(r.value, hops === 0 ? "hop-local,trace" : "trace");
      assert.equal(getMetadata(r.metadata, "answered"), "backend");
    } finally {
      await c.close();
    }
  });

  test(`cancelling a call cancels the backend's handler ${via}`, async () => {
    const state = { cancelled: 0 };
    const c = await chain(hops, state);
    try {
      const controller = new AbortController();
      const call = c.client.client(Lab).hold({ signal: controller.signal });
      await delay(20);
      controller.abort(new Error("changed my mind"));
      await assert.rejects(call, /changed my mind/);
      for (let i = 0; i < 100 && state.cancelled === 0; i++) {
        await delay(5);
      }
      assert.equal(state.cancelled, 1);
    } finally {
      await c.close();
    }
  });

  test(`100,000 channel items each way arrive once and in order ${via}`, {
    timeout: 60_000,
  }, async () => {
    const c = await chain(hops);
    try {
      const labc = c.client.client(Lab);
      const [tx, rx] = channel<number>();
      const total = labc.sum(rx);
      for (let i = 0; i < 100_000; i++) await tx.send(i);
      await tx.close();
      assert.equal(await total, 4_999_950_000n);
      const [tx2, rx2] = channel<number>();
      const done = labc.count(100_000, tx2);
      let expected = 0;
      for await (const n of rx2) assert.equal(n, expected++);
      assert.equal(expected, 100_000);
      await done;
    } finally {
      await c.close();
    }
  });
}

test("callRaw returns the raw Result bytes and metadata; serveFallback answers unknown methods raw", async () => {
  const [a, b] = memoryLink();
  const [client, server] = await Promise.all([initiate(a), accept(b)]);
  try {
    const seen: bigint[] = [];
    server.root.serveFallback((call) => {
      seen.push(call.methodId);
      const [x, y] = decode(t.tuple(t.i32, t.i32), call.args);
      return { ret: Uint8Array.of(0, ...encode(t.i32, x * y)), metadata: { by: "fallback" } };
    });
    // A typed client against the fallback: the bytes are what Lab.add expects.
    assert.equal(await client.client(Lab).add(6, 7), 42);
    const raw = await client.root.callRaw(
      Lab.methods.add.id,
      encode(t.tuple(t.i32, t.i32), [3, 4]),
    );
    assert.deepEqual([...raw.ret], [0, ...encode(t.i32, 12)]);
    assert.equal(getMetadata(raw.metadata, "by"), "fallback");
    assert.deepEqual(seen, [Lab.methods.add.id, Lab.methods.add.id]);
  } finally {
    await client.close();
    await server.closed;
  }
});

test("raw channels carry items, credit and close between a raw caller and a typed handler", async () => {
  const [a, b] = memoryLink();
  const [client, server] = await Promise.all([
    initiate(a),
    accept(b, { services: [lab({ cancelled: 0 })] }),
  ]);
  try {
    const ch = client.root.rawChannel();
    assert.ok(ch instanceof RawChannel);
    const items: number[] = [];
    let closed = false;
    ch.listen((m) => {
      if (m.type === "item") {
        items.push(decode(t.u32, m.item));
        void ch.send({ type: "grantCredit", additional: 1 });
      } else if (m.type === "close") closed = true;
    });
    const r = await client.root.callRaw(Lab.methods.count.id, encode(t.u32, 50), {
      channels: [ch],
    });
    for (let i = 0; i < 100 && !closed; i++) await delay(5);
    assert.deepEqual([...r.ret], [0]);
    assert.deepEqual(items, Array.from({ length: 50 }, (_, i) => i));
    assert.ok(closed);
  } finally {
    await client.close();
    await server.closed;
  }
});

test("callRaw rejects a method id that is not a u64 and args that are not bytes", async () => {
  const [a, b] = memoryLink();
  const [client, server] = await Promise.all([initiate(a), accept(b)]);
  try {
    await assert.rejects(client.root.callRaw(-1n, new Uint8Array()), RangeError);
    await assert.rejects(client.root.callRaw(1n << 64n, new Uint8Array()), RangeError);
    await assert.rejects(
      client.root.callRaw(1n, [1, 2] as unknown as Uint8Array),
      TypeError,
    );
    assert.throws(() => server.root.serveFallback(42 as never), TypeError);
  } finally {
    await client.close();
    await server.closed;
  }
});

test("a consumer that stops reading behind a proxy bounds what the proxy holds to the credit window", async () => {
  const Source = service("Source", { flood: { args: [t.tx(t.bytes)], returns: t.unit } });
  let sent = 0;
  const [bl, sl] = memoryLink();
  const [back, backend] = await Promise.all([
    initiate(bl),
    accept(sl, {
      services: [implement(Source, {
        async flood(tx) {
          for (let i = 0; i < 10_000; i++) {
            await tx.send(new Uint8Array(1024));
            sent++;
          }
          await tx.close();
        },
      })],
    }),
  ]);
  const [cl, pl] = memoryLink();
  const [client, front] = await Promise.all([initiate(cl), accept(pl)]);
  proxy(front.root, back.root);
  try {
    const [tx, rx] = channel<Uint8Array>();
    const done = client.client(Source).flood(tx);
    const reader = rx[Symbol.asyncIterator]();
    await reader.next(); // one item, then stop reading
    await delay(200);
    // The reader's receive window (256 items of 1 KiB: under its 1 MiB) is all the backend
    // may run ahead of it, whatever sits between them.
    assert.ok(sent <= 257, `the backend sent ${sent} items to a reader that took one`);
    let n = 1;
    for (let r = await reader.next(); !r.done; r = await reader.next()) n++;
    assert.equal(n, 10_000);
    await done;
  } finally {
    await client.close();
    await back.close();
    await backend.closed;
    await front.closed;
  }
});

test("a forwarder waits for its target while unbound, or fails at once by option", async () => {
  const [bl, sl] = memoryLink();
  const [back, backend] = await Promise.all([
    initiate(bl),
    accept(sl, { services: [lab({ cancelled: 0 })] }),
  ]);
  const make = async (whileUnbound: "wait" | "fail") => {
    const [cl, pl] = memoryLink();
    const [client, front] = await Promise.all([initiate(cl), accept(pl)]);
    const f = forwarder({ whileUnbound });
    f.serve(front.root);
    return { client, front, f };
  };
  const waiting = await make("wait");
  const failing = await make("fail");
  try {
    const pending = waiting.client.client(Lab).add(1, 2);
    await delay(30);
    waiting.f.bind(back.root);
    assert.equal(await pending, 3);

    const e = await failing.client.client(Lab).add(1, 2).then(() => undefined, (e) => e);
    assert.ok(e instanceof CancelledError, String(e));
    assert.equal(getMetadata(e.metadata, PROXY_ERROR_KEY), "no target is bound");

    const controller = new AbortController();
    waiting.f.unbind();
    const cancelled = waiting.client.client(Lab).add(1, 2, { signal: controller.signal });
    controller.abort(new Error("gave up waiting"));
    await assert.rejects(cancelled, /gave up waiting/);
    assert.throws(() => forwarder({ whileUnbound: "maybe" as never }), TypeError);
  } finally {
    for (const x of [waiting, failing]) {
      await x.client.close();
      await x.front.closed;
    }
    await back.close();
    await backend.closed;
  }
});

test("either side of a proxy closing closes the other with its metadata", async () => {
  const [bl, sl] = memoryLink();
  let backendConn: Connection | undefined;
  const [back, backend] = await Promise.all([
    initiate(bl),
    accept(sl, {
      onConnection: () => ({
        accept: true,
        services: [lab({ cancelled: 0 })],
        onOpen: (c) => (backendConn = c),
      }),
    }),
  ]);
  const [cl, pl] = memoryLink();
  let frontConn: Connection | undefined;
  const [client, front] = await Promise.all([
    initiate(cl),
    accept(pl, { onConnection: () => ({ accept: true, onOpen: (c) => (frontConn = c) }) }),
  ]);
  try {
    const clientConn = await client.openConnection();
    const backConn = await back.openConnection();
    for (let i = 0; i < 100 && frontConn === undefined; i++) {
      await delay(5);
    }
    const p = proxy(frontConn!, backConn);
    assert.equal(await clientConn.client(Lab).add(20, 22), 42);
    await clientConn.close({ reason: "client done" });
    await p.closed;
    assert.ok(backConn.isClosed);
    const reason = await backendConn!.closed;
    assert.equal(getMetadata((reason as { metadata: Metadata }).metadata, "reason"), "client done");
  } finally {
    await client.close();
    await back.close();
    await backend.closed;
    await front.closed;
  }
});
