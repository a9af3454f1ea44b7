import { test } from "node:test";
import assert from "node:assert/strict";
import { inspect } from "node:util";
import {
  type CallContext,
  type CallResult,
  CancelledError,
  ClosedError,
  encode,
  err,
  getMetadata,
  implement,
  InvalidPayloadError,
  type Metadata,
  NO_PROPAGATE,
  ok,
  type Result,
  RpcError,
  SENSITIVE,
  service,
  t,
  UnknownMethodError,
} from "../../mod.ts";
import type { Message } from "../../wire.ts";
import {
  deferred,
  delay,
  endRaw,
  hex,
  pendingTimersAfter,
  rawAcceptor,
  rawInitiator,
  rejection,
  sessionPair,
  toHex,
  until,
  varintHex,
  within,
} from "../_helpers/mod.ts";

// ------------------------------------------------------------ fixtures

const MathError = t.enum({ DivisionByZero: t.unit, Overflow: t.unit });

const Calc = service("Calc", {
  add: { args: [t.u32, t.u32], returns: t.u32 },
  divide: { args: [t.i64, t.i64], returns: t.i64, error: MathError },
  echo: { args: [t.string], returns: t.string },
  sleep: { args: [t.u32, t.u32], returns: t.u32 },
  fail: { args: [t.string], returns: t.unit },
});

/** A service nobody serves. */
const Elsewhere = service("Elsewhere", { nothing: { args: [], returns: t.unit } });

type Equal<A, B> = (<X>() => X extends A ? 1 : 2) extends (<X>() => X extends B ? 1 : 2) ? true
  : false;
function assertType<T extends true>(_proof: T): void {}

/** The plain Calc implementation; `sleep(ms, v)` waits `ms` then returns `v`. */
const calcImpl = implement(Calc, calcImplHandlers());

/** A `Call` message for the raw peer to send. */
function call(
  id: number,
  methodId: bigint,
  args: Uint8Array,
  metadata: Metadata = [],
): Message {
  return {
    connectionId: 0,
    payload: {
      type: "request",
      id,
      body: { type: "call", methodId, channels: [], metadata, args },
    },
  };
}

/** A `Response` message for the raw peer to send. */
function response(id: number, ret: Uint8Array, metadata: Metadata = []): Message {
  return {
    connectionId: 0,
    payload: { type: "request", id, body: { type: "response", channels: [], metadata, ret } },
  };
}

/** A `Cancel` message for the raw peer to send. */
function cancel(id: number): Message {
  return {
    connectionId: 0,
    payload: { type: "request", id, body: { type: "cancel", metadata: [] } },
  };
}

/** The `Ok(string)` return payload. */
function okString(s: string): Uint8Array {
  const body = encode(t.string, s);
  const out = new Uint8Array(body.length + 1);
  out.set(body, 1);
  return out;
}

/** Asserts `m` is a Call and returns its request id and decoded args. */
function asCall(m: Message): { id: number; methodId: bigint; args: Uint8Array } {
  assert.equal(m.connectionId, 0);
  const p = m.payload;
  assert.equal(p.type, "request", `expected a request, got ${p.type}`);
  if (p.type !== "request") throw new Error("unreachable");
  assert.equal(p.body.type, "call", `expected a call, got ${p.body.type}`);
  if (p.body.type !== "call") throw new Error("unreachable");
  return { id: p.id, methodId: p.body.methodId, args: p.body.args };
}

function assertRpcError(e: unknown, cls: typeof RpcError, code: string): void {
  assert.ok(e instanceof cls, `expected a ${cls.name}, got ${String(e)}`);
  assert.ok(e instanceof RpcError);
  assert.equal(e.code, code);
}

// ------------------------------------------------------------ typed calls

test("a typed client calls a served method and resolves with the typed value", async () => {
  const pair = await sessionPair({}, { services: [calcImpl] });
  try {
    const calc = pair.client.client(Calc);
    const sum = await calc.add(2, 3);
    assertType<Equal<typeof sum, number>>(true);
    assert.equal(sum, 5);
    const echoed = await calc.echo("héllo 🌍");
    assertType<Equal<typeof echoed, string>>(true);
    assert.equal(echoed, "héllo 🌍");
  } finally {
    await pair.close();
  }
});

test("both sides can serve and call on the same root connection", async () => {
  const pair = await sessionPair({ services: [calcImpl] }, { services: [calcImpl] });
  try {
    assert.equal(await pair.server.client(Calc).add(40, 2), 42);
    assert.equal(await pair.client.client(Calc).add(1, 2), 3);
  } finally {
    await pair.close();
  }
});

test("1000 pipelined calls all resolve with their own results", async () => {
  const pair = await sessionPair({}, { services: [calcImpl] });
  try {
    const calc = pair.client.client(Calc);
    const results = await within(
      Promise.all(Array.from({ length: 1000 }, (_, i) => calc.echo(`call ${i}`))),
      10_000,
      "1000 calls",
    );
    results.forEach((r, i) => assert.equal(r, `call ${i}`));
    assert.equal(pair.client.root.inFlight, 0);
  } finally {
    await pair.close();
  }
});

test("pipelined calls that alternate between methods and services each reach their own handler", async () => {
  const Other = service("Other", { add: { args: [t.u32, t.u32], returns: t.string } });
  const other = implement(Other, { add: (a, b) => `${a}+${b}` });
  const pair = await sessionPair({}, { services: [calcImpl, other] });
  try {
    const calc = pair.client.client(Calc);
    const o = pair.client.client(Other);
    const calls: Promise<unknown>[] = [];
    const expected: unknown[] = [];
    for (let i = 0; i < 300; i++) {
      // Three methods with three schema pairs, in a pattern no one-entry cache can follow.
      const k = (i * 7) % 3;
      if (k === 0) calls.push(calc.add(i, 1)), expected.push(i + 1);
      else if (k === 1) calls.push(o.add(i, 2)), expected.push(`${i}+2`);
      else calls.push(calc.echo(`e${i}`)), expected.push(`e${i}`);
    }
    assert.deepEqual(await within(Promise.all(calls), 10_000, "300 calls"), expected);
  } finally {
    await pair.close();
  }
});

test("responses that come back in reverse order reach their own callers", async () => {
  const raw = await rawAcceptor({}, { readAhead: false });
  try {
    const calc = raw.session.client(Calc);
    const calls = Array.from({ length: 5 }, (_, i) => calc.echo(`q${i}`));
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) ids.push(asCall(await raw.peer.next()).id);
    for (const id of [...ids].reverse()) raw.peer.send(response(id, okString(`answer to ${id}`)));
    assert.deepEqual(await Promise.all(calls), ids.map((id) => `answer to ${id}`));
  } finally {
    await raw.close();
  }
});

test("handlers that finish in a different order than their calls answer the right callers", async () => {
  const pair = await sessionPair({}, { services: [calcImpl] });
  try {
    const calc = pair.client.client(Calc);
    const finished: number[] = [];
    const track = (p: Promise<number>) => p.then((v) => (finished.push(v), v));
    const results = await Promise.all([
      track(calc.sleep(60, 1)),
      track(calc.sleep(30, 2)),
      track(calc.sleep(0, 3)),
    ]);
    assert.deepEqual(results, [1, 2, 3]);
    assert.deepEqual(finished, [3, 2, 1]);
  } finally {
    await pair.close();
  }
});

// ------------------------------------------------------------ errors

test("a call to a method the peer does not serve fails with UnknownMethodError", async () => {
  const pair = await sessionPair({}, { services: [calcImpl] });
  try {
    const e = await rejection(pair.client.client(Elsewhere).nothing());
    assertRpcError(e, UnknownMethodError, "unknown-method");
    assert.match((e as Error).message, /Elsewhere\.nothing/);
    assert.equal(await pair.client.client(Calc).add(1, 1), 2);
  } finally {
    await pair.close();
  }
});

test("a call to an unknown method id is answered 01 01 (UnknownMethod)", async () => {
  const raw = await rawInitiator({ services: [calcImpl] }, { readAhead: false });
  try {
    raw.peer.send(call(1, 0x1234n, new Uint8Array()));
    assert.equal(toHex(await raw.peer.nextBytes()), "00 07 01 01 00 00 01 01");
  } finally {
    await raw.close();
  }
});

test("undecodable args are answered 01 02 (InvalidPayload) without running the handler", async () => {
  let ran = 0;
  const raw = await rawInitiator({
    services: [implement(Calc, {
      ...calcImplHandlers(),
      add: (a, b) => {
        ran++;
        return a + b;
      },
    })],
  }, { readAhead: false });
  try {
    const add = Calc.methods.add.id;
    // One u32 where two are expected; an overflowing varint; a trailing byte.
    raw.peer.send(call(1, add, hex("05")));
    raw.peer.send(call(3, add, hex("ff ff ff ff ff 01 02")));
    raw.peer.send(call(5, add, hex("01 02 03")));
    assert.equal(toHex(await raw.peer.nextBytes()), "00 07 01 01 00 00 01 02");
    assert.equal(toHex(await raw.peer.nextBytes()), "00 07 03 01 00 00 01 02");
    assert.equal(toHex(await raw.peer.nextBytes()), "00 07 05 01 00 00 01 02");
    assert.equal(ran, 0);
    // The session survives: a good call is answered Ok(3).
    raw.peer.send(call(7, add, hex("01 02")));
    assert.equal(toHex(await raw.peer.nextBytes()), "00 07 07 01 00 00 00 03");
    assert.equal(raw.session.isClosed, false);
  } finally {
    await raw.close();
  }
});

test("a caller answered 01 02 fails with InvalidPayloadError", async () => {
  const raw = await rawAcceptor({}, { readAhead: false });
  try {
    const pending = raw.session.client(Calc).add(1, 2);
    const { id } = asCall(await raw.peer.next());
    raw.peer.send(response(id, hex("01 02")));
    assertRpcError(await rejection(pending), InvalidPayloadError, "invalid-payload");
  } finally {
    await raw.close();
  }
});

test("a malformed response fails only its call with invalid-response, naming the method", async () => {
  const raw = await rawAcceptor({}, { readAhead: false });
  try {
    const calc = raw.session.client(Calc);
    // A bad Result tag, nothing at all, a trailing byte after Ok(3), a user error
    // for an infallible method, and an unknown RoamError index.
    for (const ret of ["02 03", "", "00 03 00", "01 00 05", "01 07"]) {
      const pending = calc.add(1, 2);
      const { id } = asCall(await raw.peer.next());
      raw.peer.send(response(id, hex(ret)));
      const e = await rejection(pending);
      assertRpcError(e, RpcError, "invalid-response");
      assert.match((e as Error).message, /Cannot decode the response of Calc\.add/);
    }
    // The connection goes on: a good response still resolves.
    const pending = calc.add(1, 2);
    const { id } = asCall(await raw.peer.next());
    raw.peer.send(response(id, hex("00 06")));
    assert.equal(await pending, 6);
  } finally {
    await raw.close();
  }
});

test("a handler that throws fails the caller with CancelledError and reaches the onError hook", async () => {
  const reported: { error: unknown; where: string }[] = [];
  const thrown = new Error("handler exploded");
  const pair = await sessionPair({}, {
    services: [implement(Calc, {
      ...calcImplHandlers(),
      fail: (why) => {
        if (why === "sync") throw thrown;
        return Promise.reject(new Error(`async ${why}`));
      },
    })],
    onError: (error, where) => reported.push({ error, where }),
  });
  try {
    const calc = pair.client.client(Calc);
    const e1 = await rejection(calc.fail("sync"));
    assertRpcError(e1, CancelledError, "cancelled");
    const e2 = await rejection(calc.fail("rejected"));
    assertRpcError(e2, CancelledError, "cancelled");
    assert.equal(reported.length, 2);
    assert.equal(reported[0]!.error, thrown);
    assert.match(reported[0]!.where, /Calc\.fail/);
    assert.equal((reported[1]!.error as Error).message, "async rejected");
    // The session survives and later calls work.
    assert.equal(await calc.add(20, 22), 42);
    assert.equal(pair.client.isClosed, false);
    assert.equal(pair.server.isClosed, false);
  } finally {
    await pair.close();
  }
});

test("a handler that throws is answered 01 03 (Cancelled) on the wire", async () => {
  const raw = await rawInitiator({ services: [calcImpl], onError: () => {} }, { readAhead: false });
  try {
    raw.peer.send(call(1, Calc.methods.fail.id, encode(t.string, "boom")));
    assert.equal(toHex(await raw.peer.nextBytes()), "00 07 01 01 00 00 01 03");
  } finally {
    await raw.close();
  }
});

test("a fallible handler that returns a plain value fails the call with CancelledError", async () => {
  const reported: unknown[] = [];
  const pair = await sessionPair({}, {
    services: [implement(Calc, {
      ...calcImplHandlers(),
      divide: ((a: bigint) => a) as unknown as ReturnType<typeof calcImplHandlers>["divide"],
    })],
    onError: (error) => reported.push(error),
  });
  try {
    assertRpcError(
      await rejection(pair.client.client(Calc).divide(1n, 1n)),
      CancelledError,
      "cancelled",
    );
    assert.equal(reported.length, 1);
    assert.ok(reported[0] instanceof TypeError);
  } finally {
    await pair.close();
  }
});

// ------------------------------------------------------------ fallible methods

test("ok(...) and err(...) from a fallible handler reach the caller as typed Result values", async () => {
  const pair = await sessionPair({}, { services: [calcImpl] });
  try {
    const calc = pair.client.client(Calc);
    const good = await calc.divide(7n, 2n);
    assertType<
      Equal<typeof good, Result<bigint, { tag: "DivisionByZero" } | { tag: "Overflow" }>>
    >(true);
    assert.deepEqual(good, { ok: true, value: 3n });
    if (good.ok) {
      const v: bigint = good.value;
      assert.equal(v, 3n);
    } else assert.fail("expected ok");
    const bad = await calc.divide(7n, 0n);
    assert.deepEqual(bad, { ok: false, error: { tag: "DivisionByZero" } });
    if (!bad.ok) {
      const tag: "DivisionByZero" | "Overflow" = bad.error.tag;
      assert.equal(tag, "DivisionByZero");
    } else assert.fail("expected err");
  } finally {
    await pair.close();
  }
});

test("a fallible method's user error and value have the Rust wire bytes", async () => {
  const raw = await rawInitiator({ services: [calcImpl] }, { readAhead: false });
  try {
    const divide = Calc.methods.divide.id;
    raw.peer.send(call(1, divide, encode(Calc.methods.divide.args, [7n, 0n])));
    assert.equal(toHex(await raw.peer.nextBytes()), "00 07 01 01 00 00 01 00 00");
    raw.peer.send(call(3, divide, encode(Calc.methods.divide.args, [7n, 2n])));
    assert.equal(toHex(await raw.peer.nextBytes()), "00 07 03 01 00 00 00 06");
  } finally {
    await raw.close();
  }
});

// ------------------------------------------------------------ metadata

test("request metadata (string, bytes, u64, flags, duplicates in order) reaches ctx.metadata", async () => {
  let seen: { metadata: Metadata; requestId: number; method: string } | undefined;
  let connectionMatches = false;
  const pair = await sessionPair({}, {
    services: [implement(Calc, {
      ...calcImplHandlers(),
      echo: (s, ctx) => {
        seen = { metadata: ctx.metadata, requestId: ctx.requestId, method: ctx.method };
        connectionMatches = ctx.connection === pair.server.root;
        return s;
      },
    })],
  });
  try {
    const metadata: Metadata = [
      { key: "trace-id", value: "abc123", flags: 0 },
      { key: "blob", value: new Uint8Array([0xde, 0xad, 0xbe, 0xef]), flags: NO_PROPAGATE },
      { key: "attempt", value: 0xffff_ffff_ffff_ffffn, flags: 0 },
      { key: "trace-id", value: "second", flags: 4 },
      { key: "Trace-Id", value: "", flags: 0 },
    ];
    assert.equal(await pair.client.client(Calc).echo("x", { metadata }), "x");
    assert.ok(seen !== undefined);
    assert.deepEqual(seen.metadata, metadata);
    assert.equal(seen.method, "Calc.echo");
    assert.equal(seen.requestId, 1);
    assert.ok(connectionMatches);
    assert.equal(getMetadata(seen.metadata, "trace-id"), "abc123");
  } finally {
    await pair.close();
  }
});

test("metadata given as a plain object reaches the handler as entries in key order", async () => {
  let seen: Metadata = [];
  const pair = await sessionPair({}, {
    services: [implement(Calc, {
      ...calcImplHandlers(),
      add: (a, b, ctx) => {
        seen = ctx.metadata;
        return a + b;
      },
    })],
  });
  try {
    await pair.client.client(Calc).add(1, 2, { metadata: { a: "1", b: 2n } });
    assert.deepEqual(seen, [{ key: "a", value: "1", flags: 0 }, { key: "b", value: 2n, flags: 0 }]);
  } finally {
    await pair.close();
  }
});

test("response metadata set with ctx.setResponseMetadata reaches connection.call()'s result", async () => {
  const pair = await sessionPair({}, {
    services: [implement(Calc, {
      ...calcImplHandlers(),
      echo: async (s, ctx) => {
        await delay(1);
        ctx.setResponseMetadata([
          { key: "server", value: "roam-ts", flags: 0 },
          { key: "cost", value: 7n, flags: 0 },
          { key: "server", value: new Uint8Array([1]), flags: 0 },
        ]);
        return s.toUpperCase();
      },
    })],
  });
  try {
    const result = await pair.client.root.call(Calc.methods.echo, ["hi"]);
    assertType<Equal<typeof result, CallResult<string>>>(true);
    assert.equal(result.value, "HI");
    assert.deepEqual(result.metadata, [
      { key: "server", value: "roam-ts", flags: 0 },
      { key: "cost", value: 7n, flags: 0 },
      { key: "server", value: new Uint8Array([1]), flags: 0 },
    ]);
    const plain = await pair.client.root.call(Calc.methods.add, [1, 2]);
    assert.deepEqual(plain, { value: 3, metadata: [] });
    const fallible = await pair.client.root.call(Calc.methods.divide, [1n, 0n]);
    assertType<
      Equal<
        typeof fallible,
        CallResult<Result<bigint, { tag: "DivisionByZero" } | { tag: "Overflow" }>>
      >
    >(true);
    assert.deepEqual(fallible.value, { ok: false, error: { tag: "DivisionByZero" } });
  } finally {
    await pair.close();
  }
});

const SECRET = "Bearer s3cret-XYZZY";

/** Every way a value could be shown: inspection, JSON, string conversion. */
function renderings(value: unknown): string[] {
  const out = [
    inspect(value),
    inspect(value, { depth: 10, showHidden: true }),
    JSON.stringify(value),
    String(value),
    `${value}`,
  ];
  const deno = (globalThis as { Deno?: { inspect(v: unknown, o?: object): string } }).Deno;
  if (deno !== undefined) {
    out.push(deno.inspect(value), deno.inspect(value, { showHidden: true, depth: 10 }));
  }
  return out;
}

test("a SENSITIVE metadata value never appears in inspect, JSON.stringify or String of ctx.metadata", async () => {
  let seen: Metadata = [];
  let responseSeen: Metadata = [];
  const pair = await sessionPair({}, {
    services: [implement(Calc, {
      ...calcImplHandlers(),
      echo: (s, ctx) => {
        seen = ctx.metadata;
        ctx.setResponseMetadata([{ key: "session-token", value: SECRET, flags: SENSITIVE }]);
        return s;
      },
    })],
  });
  try {
    const result = await pair.client.root.call(Calc.methods.echo, ["x"], {
      metadata: [
        { key: "authorization", value: SECRET, flags: SENSITIVE },
        { key: "key", value: new TextEncoder().encode(SECRET), flags: SENSITIVE | NO_PROPAGATE },
        { key: "trace-id", value: "visible", flags: 0 },
      ],
    });
    responseSeen = result.metadata;
    // Still readable on purpose.
    assert.equal(getMetadata(seen, "authorization"), SECRET);
    assert.equal(getMetadata(responseSeen, "session-token"), SECRET);
    for (const list of [seen, responseSeen]) {
      for (const shown of [...renderings(list), ...list.flatMap((e) => renderings(e))]) {
        assert.ok(!shown.includes("s3cret"), `leaked: ${shown}`);
        assert.ok(!shown.includes("115,51,99"), `leaked bytes: ${shown}`); // "s3c" as numbers
        assert.ok(!shown.includes("73 33 63"), `leaked bytes: ${shown}`);
      }
    }
    assert.ok(JSON.stringify(seen).includes("visible"));
  } finally {
    await pair.close();
  }
});

test("a SENSITIVE value never appears in the errors of a call that fails", async () => {
  const reported: string[] = [];
  const pair = await sessionPair({}, {
    services: [calcImpl],
    onError: (error, where) => reported.push(`${where}: ${String(error)} ${inspect(error)}`),
  });
  try {
    const calc = pair.client.client(Calc);
    // A sensitive value that cannot be encoded (a lone surrogate).
    const e1 = await rejection(
      calc.echo("x", { metadata: [{ key: "auth", value: `${SECRET}\ud800`, flags: SENSITIVE }] }),
    );
    assert.ok(e1 instanceof TypeError, String(e1));
    // A handler that fails while sensitive metadata is attached.
    const e2 = await rejection(
      calc.fail("no", { metadata: [{ key: "auth", value: SECRET, flags: SENSITIVE }] }),
    );
    assertRpcError(e2, CancelledError, "cancelled");
    for (const e of [e1, e2]) {
      for (
        const shown of [String(e), inspect(e), (e as Error).message, String((e as Error).stack)]
      ) {
        assert.ok(!shown.includes("s3cret"), `leaked: ${shown}`);
      }
    }
    assert.equal(reported.length, 1);
    assert.ok(!reported[0]!.includes("s3cret"), `leaked: ${reported[0]}`);
  } finally {
    await pair.close();
  }
});

test("inspecting a SENSITIVE entry shows its key and <redacted> in place of the value", async () => {
  let seen: Metadata = [];
  const pair = await sessionPair({}, {
    services: [implement(Calc, {
      ...calcImplHandlers(),
      echo: (s, ctx) => {
        seen = ctx.metadata;
        return s;
      },
    })],
  });
  try {
    await pair.client.client(Calc).echo("x", {
      metadata: [{ key: "authorization", value: SECRET, flags: SENSITIVE }],
    });
    for (const shown of renderings(seen).slice(0, 2)) {
      assert.match(shown, /authorization/);
      assert.match(shown, /<redacted>/);
    }
  } finally {
    await pair.close();
  }
});

// ------------------------------------------------------------ cancellation, caller side

test("aborting a call's signal rejects it with the signal's reason and sends Cancel", async () => {
  const raw = await rawAcceptor({}, { readAhead: false });
  try {
    const controller = new AbortController();
    const pending = raw.session.client(Calc).echo("slow", { signal: controller.signal });
    const { id } = asCall(await raw.peer.next());
    assert.equal(id, 1);
    const reason = new Error("user gave up");
    controller.abort(reason);
    assert.equal(await rejection(pending), reason);
    assert.equal(toHex(await raw.peer.nextBytes()), "00 07 01 02 00");
  } finally {
    await raw.close();
  }
});

test("a late response to a cancelled call is ignored and the session keeps working", async () => {
  const raw = await rawAcceptor({}, { readAhead: false });
  try {
    const calc = raw.session.client(Calc);
    const controller = new AbortController();
    const pending = calc.echo("slow", { signal: controller.signal });
    const first = asCall(await raw.peer.next());
    controller.abort();
    const reason = await rejection(pending);
    assert.ok(reason instanceof DOMException && reason.name === "AbortError", String(reason));
    assert.equal(toHex(await raw.peer.nextBytes()), `00 07 ${varintHex(first.id)} 02 00`);
    // The late response, as a Rust peer sends it after a Cancel, then a real one.
    raw.peer.send(response(first.id, hex("01 03")));
    // No ProtocolError, nothing else: the library just answers the sync Ping.
    assert.deepEqual(await raw.peer.sync(), []);
    assert.equal(raw.session.isClosed, false);
    const next = calc.echo("again");
    const second = asCall(await raw.peer.next());
    assert.equal(second.id, first.id + 2);
    raw.peer.send(response(second.id, okString("again!")));
    assert.equal(await next, "again!");
  } finally {
    await raw.close();
  }
});

test("a call with a timeout rejects with a DOMException named TimeoutError and sends Cancel", async () => {
  const raw = await rawAcceptor({}, { readAhead: false });
  try {
    const started = performance.now();
    const pending = raw.session.client(Calc).echo("slow", { timeout: 30 });
    const { id } = asCall(await raw.peer.next());
    const e = await rejection(pending);
    assert.ok(e instanceof DOMException, String(e));
    assert.equal(e.name, "TimeoutError");
    assert.match(e.message, /Calc\.echo/);
    assert.ok(performance.now() - started >= 25);
    assert.equal(toHex(await raw.peer.nextBytes()), `00 07 ${varintHex(id)} 02 00`);
  } finally {
    await raw.close();
  }
});

test("a call answered before its timeout leaves no timer behind", async () => {
  const pair = await sessionPair({}, { services: [calcImpl] });
  try {
    const calc = pair.client.client(Calc);
    const controller = new AbortController();
    let result = 0;
    const left = await pendingTimersAfter(async () => {
      result = await calc.add(1, 2, { timeout: 60_000, signal: controller.signal });
    });
    assert.equal(result, 3);
    assert.equal(left, 0);
  } finally {
    await pair.close();
  }
});

test("an already-aborted signal rejects at once without sending anything", async () => {
  const raw = await rawAcceptor({}, { readAhead: false });
  try {
    const calc = raw.session.client(Calc);
    const reason = new Error("too late");
    assert.equal(await rejection(calc.echo("x", { signal: AbortSignal.abort(reason) })), reason);
    assert.deepEqual(await raw.peer.sync(), []);
    // No request id was used up either.
    const next = calc.echo("y");
    assert.equal(asCall(await raw.peer.next()).id, 1);
    raw.peer.send(response(1, okString("y")));
    assert.equal(await next, "y");
  } finally {
    await raw.close();
  }
});

// ------------------------------------------------------------ cancellation, serving side

test("a Cancel aborts the handler's ctx.signal and is answered 01 03 even if the handler ignores it", async () => {
  const started = deferred<AbortSignal>();
  const release = deferred();
  const returned = deferred();
  const raw = await rawInitiator({
    services: [implement(Calc, {
      ...calcImplHandlers(),
      echo: async (s, ctx) => {
        started.resolve(ctx.signal);
        await release.promise; // ignores the signal
        returned.resolve();
        return s;
      },
    })],
  }, { readAhead: false });
  try {
    raw.peer.send(call(1, Calc.methods.echo.id, encode(t.string, "x")));
    const signal = await within(started.promise, 2000, "the handler");
    assert.equal(signal.aborted, false);
    raw.peer.send(cancel(1));
    assert.equal(toHex(await raw.peer.nextBytes()), "00 07 01 01 00 00 01 03");
    assert.equal(signal.aborted, true);
    assert.ok(signal.reason instanceof CancelledError, String(signal.reason));
    release.resolve();
    await returned.promise;
    await delay(5);
    // The handler's late return is not sent as a second response.
    assert.deepEqual(await raw.peer.sync(), []);
    assert.equal(raw.session.isClosed, false);
  } finally {
    await raw.close();
  }
});

test("a handler that reads ctx.signal only after the Cancel still sees it aborted", async () => {
  const started = deferred();
  const release = deferred();
  const observed = deferred<boolean>();
  const raw = await rawInitiator({
    services: [implement(Calc, {
      ...calcImplHandlers(),
      echo: async (s, ctx: CallContext) => {
        started.resolve();
        await release.promise;
        observed.resolve(ctx.signal.aborted);
        return s;
      },
    })],
  }, { readAhead: false });
  try {
    raw.peer.send(call(1, Calc.methods.echo.id, encode(t.string, "x")));
    await within(started.promise, 2000, "the handler");
    raw.peer.send(cancel(1));
    assert.equal(toHex(await raw.peer.nextBytes()), "00 07 01 01 00 00 01 03");
    release.resolve();
    assert.equal(await observed.promise, true);
  } finally {
    await raw.close();
  }
});

test("a link that fails while a handler runs aborts its ctx.signal with a ClosedError", async () => {
  const started = deferred<AbortSignal>();
  const release = deferred();
  const raw = await rawInitiator({
    services: [implement(Calc, {
      ...calcImplHandlers(),
      echo: async (s, ctx) => {
        started.resolve(ctx.signal);
        await release.promise;
        return s;
      },
    })],
  }, { readAhead: false });
  try {
    raw.peer.send(call(1, Calc.methods.echo.id, encode(t.string, "x")));
    const signal = await within(started.promise, 2000, "the handler");
    await raw.peer.abort();
    await within(raw.session.closed, 1000, "closed");
    assert.equal(signal.aborted, true);
    assert.ok(signal.reason instanceof ClosedError, String(signal.reason));
  } finally {
    release.resolve();
    await raw.close();
  }
});

test("a Cancel for a call that already finished is ignored", async () => {
  const raw = await rawInitiator({ services: [calcImpl] }, { readAhead: false });
  try {
    raw.peer.send(call(1, Calc.methods.add.id, hex("01 02")));
    assert.equal(toHex(await raw.peer.nextBytes()), "00 07 01 01 00 00 00 03");
    raw.peer.send(cancel(1));
    assert.deepEqual(await raw.peer.sync(), []);
    assert.equal(raw.session.isClosed, false);
  } finally {
    await raw.close();
  }
});

test("a caller answered 01 03 (Cancelled) fails with CancelledError", async () => {
  const raw = await rawAcceptor({}, { readAhead: false });
  try {
    const pending = raw.session.client(Calc).echo("x");
    const { id } = asCall(await raw.peer.next());
    raw.peer.send(response(id, hex("01 03")));
    assertRpcError(await rejection(pending), CancelledError, "cancelled");
  } finally {
    await raw.close();
  }
});

// ------------------------------------------------------------ concurrency

test("a client never has more calls in flight than the peer's maxConcurrentRequests", async () => {
  let running = 0;
  let most = 0;
  const pair = await sessionPair({}, {
    maxConcurrentRequests: 2,
    services: [implement(Calc, {
      ...calcImplHandlers(),
      sleep: async (ms, v) => {
        running++;
        most = Math.max(most, running);
        await delay(ms);
        running--;
        return v;
      },
    })],
  });
  try {
    const calc = pair.client.client(Calc);
    const calls = Array.from({ length: 10 }, (_, i) => calc.sleep(5, i));
    assert.ok(pair.client.root.inFlight <= 2, `inFlight ${pair.client.root.inFlight}`);
    assert.deepEqual(await within(Promise.all(calls), 5000, "10 calls"), [
      0,
      1,
      2,
      3,
      4,
      5,
      6,
      7,
      8,
      9,
    ]);
    assert.equal(most, 2);
  } finally {
    await pair.close();
  }
});

test("a raw peer announcing max 2 sees at most 2 calls until it answers one", async () => {
  const raw = await rawAcceptor({}, { maxConcurrentRequests: 2, readAhead: false });
  try {
    const calc = raw.session.client(Calc);
    const calls = Array.from({ length: 5 }, (_, i) => calc.echo(`m${i}`));
    let seen = (await raw.peer.sync()).map(asCall);
    assert.deepEqual(seen.map((c) => c.id), [1, 3]);
    raw.peer.send(response(1, okString("r1")));
    seen = (await raw.peer.sync()).map(asCall);
    assert.deepEqual(seen.map((c) => c.id), [5]);
    raw.peer.send(response(3, okString("r3")));
    raw.peer.send(response(5, okString("r5")));
    seen = (await raw.peer.sync()).map(asCall);
    assert.deepEqual(seen.map((c) => c.id), [7, 9]);
    raw.peer.send(response(7, okString("r7")));
    raw.peer.send(response(9, okString("r9")));
    assert.deepEqual(await Promise.all(calls), ["r1", "r3", "r5", "r7", "r9"]);
  } finally {
    await raw.close();
  }
});

test("a call queued behind the peer's limit can be cancelled and is never sent", async () => {
  const raw = await rawAcceptor({}, { maxConcurrentRequests: 1, readAhead: false });
  try {
    const calc = raw.session.client(Calc);
    const first = calc.echo("first");
    const controller = new AbortController();
    const queued = calc.echo("queued", { signal: controller.signal });
    const timedOut = calc.echo("timed out", { timeout: 10 });
    assert.deepEqual((await raw.peer.sync()).map((m) => asCall(m).id), [1]);
    const reason = new Error("not needed");
    controller.abort(reason);
    assert.equal(await rejection(queued), reason);
    const t2 = await rejection(timedOut);
    assert.ok(t2 instanceof DOMException && t2.name === "TimeoutError", String(t2));
    raw.peer.send(response(1, okString("one")));
    assert.equal(await first, "one");
    // Neither queued call was sent, and no Cancel for them either.
    assert.deepEqual(await raw.peer.sync(), []);
    const later = calc.echo("later");
    const next = asCall(await raw.peer.next());
    assert.equal(next.id, 3);
    raw.peer.send(response(3, okString("later")));
    assert.equal(await later, "later");
  } finally {
    await raw.close();
  }
});

test("the server runs at most maxConcurrentRequests handlers even if the peer ignores the limit", async () => {
  let running = 0;
  let most = 0;
  const raw = await rawInitiator({
    maxConcurrentRequests: 2,
    services: [implement(Calc, {
      ...calcImplHandlers(),
      sleep: async (ms, v) => {
        running++;
        most = Math.max(most, running);
        await delay(ms);
        running--;
        return v;
      },
    })],
  }, { readAhead: false });
  try {
    assert.equal(toHex(raw.first), "00 01 01 02 00");
    const sleep = Calc.methods.sleep;
    const ids = Array.from({ length: 10 }, (_, i) => 2 * i + 1);
    for (const id of ids) raw.peer.send(call(id, sleep.id, encode(sleep.args, [3, id * 10])));
    const answers = new Map<number, string>();
    for (let i = 0; i < ids.length; i++) {
      const m = await raw.peer.next();
      assert.equal(m.payload.type, "request");
      if (m.payload.type !== "request" || m.payload.body.type !== "response") {
        return assert.fail("expected a response");
      }
      assert.ok(!answers.has(m.payload.id), `request ${m.payload.id} answered twice`);
      answers.set(m.payload.id, toHex(m.payload.body.ret));
    }
    assert.equal(most, 2);
    for (const id of ids) assert.equal(answers.get(id), `00 ${varintHex(id * 10)}`);
    assert.deepEqual(await raw.peer.sync(), []);
  } finally {
    await raw.close();
  }
});

test("a call queued on the server behind its limit is answered 01 03 when cancelled and never runs", async () => {
  const release = deferred();
  const ran: string[] = [];
  const raw = await rawInitiator({
    maxConcurrentRequests: 1,
    services: [implement(Calc, {
      ...calcImplHandlers(),
      echo: async (s) => {
        ran.push(s);
        await release.promise;
        return s;
      },
    })],
  }, { readAhead: false });
  try {
    const echo = Calc.methods.echo.id;
    raw.peer.send(call(1, echo, encode(t.string, "a")));
    raw.peer.send(call(3, echo, encode(t.string, "b")));
    raw.peer.send(cancel(3));
    assert.equal(toHex(await raw.peer.nextBytes()), "00 07 03 01 00 00 01 03");
    release.resolve();
    assert.equal(toHex(await raw.peer.nextBytes()), `00 07 01 01 00 00 ${toHex(okString("a"))}`);
    assert.deepEqual(await raw.peer.sync(), []);
    assert.deepEqual(ran, ["a"]);
  } finally {
    await raw.close();
  }
});

// ------------------------------------------------------------ request ids

test("the initiator numbers its requests 1, 3, 5 (odd parity)", async () => {
  const raw = await rawAcceptor({}, { readAhead: false });
  try {
    const calc = raw.session.client(Calc);
    const calls = [calc.add(1, 1), calc.add(2, 2), calc.add(3, 3)];
    const seen = (await raw.peer.sync()).map(asCall);
    assert.deepEqual(seen.map((c) => c.id), [1, 3, 5]);
    assert.ok(seen.every((c) => c.methodId === Calc.methods.add.id));
    assert.deepEqual(seen.map((c) => toHex(c.args)), ["01 01", "02 02", "03 03"]);
    for (const c of seen) raw.peer.send(response(c.id, hex(`00 ${varintHex(c.args[0]! * 2)}`)));
    assert.deepEqual(await Promise.all(calls), [2, 4, 6]);
  } finally {
    await raw.close();
  }
});

test("the acceptor numbers its requests 2, 4, 6 (even parity)", async () => {
  const raw = await rawInitiator({}, { readAhead: false });
  try {
    const calc = raw.session.client(Calc);
    const calls = [calc.add(1, 1), calc.add(2, 2), calc.add(3, 3)];
    const seen = (await raw.peer.sync()).map(asCall);
    assert.deepEqual(seen.map((c) => c.id), [2, 4, 6]);
    for (const c of seen) raw.peer.send(response(c.id, hex("00 00")));
    assert.deepEqual(await Promise.all(calls), [0, 0, 0]);
  } finally {
    await raw.close();
  }
});

test('an initiator with parity: "even" numbers its requests 2, 4, 6 and its acceptor 1, 3, 5', async () => {
  const init = await rawAcceptor({ parity: "even" }, { parity: "odd", readAhead: false });
  try {
    const calc = init.session.client(Calc);
    const calls = [calc.add(1, 1), calc.add(2, 2), calc.add(3, 3)];
    const seen = (await init.peer.sync()).map(asCall);
    assert.deepEqual(seen.map((c) => c.id), [2, 4, 6]);
    for (const c of seen) init.peer.send(response(c.id, hex("00 01")));
    assert.deepEqual(await Promise.all(calls), [1, 1, 1]);
  } finally {
    await init.close();
  }
  const acc = await rawInitiator({ services: [calcImpl] }, { parity: "even", readAhead: false });
  try {
    const calc = acc.session.client(Calc);
    const calls = [calc.add(1, 1), calc.add(2, 2), calc.add(3, 3)];
    const seen = (await acc.peer.sync()).map(asCall);
    assert.deepEqual(seen.map((c) => c.id), [1, 3, 5]);
    for (const c of seen) acc.peer.send(response(c.id, hex("00 01")));
    assert.deepEqual(await Promise.all(calls), [1, 1, 1]);
    // Its peer's calls carry even ids, and they are served.
    acc.peer.send(call(2, Calc.methods.add.id, hex("02 03")));
    assert.equal(toHex(await acc.peer.nextBytes()), "00 07 02 01 00 00 00 05");
  } finally {
    await acc.close();
  }
});

test("the exact bytes of a call: 00 07 01 00 <method id> 00 00 <args>", async () => {
  const raw = await rawAcceptor({}, { readAhead: false });
  try {
    const pending = raw.session.client(Calc).add(3, 5);
    assert.equal(
      toHex(await raw.peer.nextBytes()),
      `00 07 01 00 ${varintHex(Calc.methods.add.id)} 00 00 03 05`,
    );
    raw.peer.send(hex("00 07 01 01 00 00 00 08"));
    assert.equal(await pending, 8);
  } finally {
    await raw.close();
  }
});

// ------------------------------------------------------------ bad calls

test("calling a client method with the wrong number of arguments rejects with TypeError", async () => {
  const raw = await rawAcceptor({}, { readAhead: false });
  try {
    const add = raw.session.client(Calc).add as unknown as (...a: unknown[]) => Promise<number>;
    for (const args of [[], [1], [1, 2, {}, 4]]) {
      const e = await rejection(add(...args));
      assert.ok(e instanceof TypeError, String(e));
      assert.match(e.message, /^Cannot call Calc\.add: expected 2 arguments/);
    }
    assert.deepEqual(await raw.peer.sync(), []);
  } finally {
    await raw.close();
  }
});

test("arguments that do not fit the schema reject with an error naming args[...] and send nothing", async () => {
  const raw = await rawAcceptor({}, { readAhead: false });
  try {
    const calc = raw.session.client(Calc) as unknown as {
      add(...a: unknown[]): Promise<number>;
      echo(...a: unknown[]): Promise<string>;
    };
    const e1 = await rejection(calc.add(1.5, 2));
    assert.ok(e1 instanceof TypeError, String(e1));
    assert.match(e1.message, /args\[0\]/);
    const e2 = await rejection(calc.echo(42));
    assert.ok(e2 instanceof TypeError, String(e2));
    assert.match(e2.message, /args\[0\]/);
    const e3 = await rejection(calc.add(1, -1));
    assert.ok(e3 instanceof RangeError, String(e3));
    assert.match(e3.message, /args\[1\]/);
    assert.deepEqual(await raw.peer.sync(), []);
    // The session is fine: the next call goes out.
    const next = calc.add(1, 2);
    const c = asCall(await raw.peer.next());
    assert.equal(c.id % 2, 1);
    raw.peer.send(response(c.id, hex("00 03")));
    assert.equal(await next, 3);
  } finally {
    await raw.close();
  }
});

test("an invalid timeout or invalid metadata rejects the call without sending anything", async () => {
  const raw = await rawAcceptor({}, { readAhead: false });
  try {
    const calc = raw.session.client(Calc);
    for (const timeout of [-1, Number.NaN, 2 ** 31]) {
      const e = await rejection(calc.echo("x", { timeout }));
      assert.ok(e instanceof RangeError, `timeout ${timeout}: ${String(e)}`);
    }
    const e = await rejection(calc.echo("x", { metadata: { bad: 5 as unknown as string } }));
    assert.ok(e instanceof TypeError, String(e));
    assert.deepEqual(await raw.peer.sync(), []);
  } finally {
    await raw.close();
  }
});

test("a handler can call the peer back through ctx.connection", async () => {
  const pair = await sessionPair({ services: [calcImpl] }, {
    services: [implement(Calc, {
      ...calcImplHandlers(),
      add: async (a, b, ctx) => await ctx.connection.client(Calc).add(a * 10, b * 10),
    })],
  });
  try {
    assert.equal(await pair.client.client(Calc).add(1, 2), 30);
  } finally {
    await pair.close();
  }
});

test("bad arguments to a call queued behind the peer's limit reject at once too", async () => {
  const raw = await rawAcceptor({}, { maxConcurrentRequests: 1, readAhead: false });
  try {
    const calc = raw.session.client(Calc);
    const first = calc.echo("first");
    const e = await rejection(calc.echo(7 as unknown as string));
    assert.ok(e instanceof TypeError, String(e));
    assert.match(e.message, /args\[0\]/);
    const { id } = asCall(await raw.peer.next());
    raw.peer.send(response(id, okString("one")));
    assert.equal(await first, "one");
    assert.deepEqual(await raw.peer.sync(), []);
  } finally {
    await raw.close();
  }
});

// ------------------------------------------------------------ closing

test("close() lets an in-flight call finish, rejects new calls at once, then the peer's closed resolves", async () => {
  const release = deferred();
  const started = deferred();
  const pair = await sessionPair({}, {
    services: [implement(Calc, {
      ...calcImplHandlers(),
      echo: async (s) => {
        started.resolve();
        await release.promise;
        return s;
      },
    })],
  });
  const calc = pair.client.client(Calc);
  const inFlight = calc.echo("finish me");
  await within(started.promise, 2000, "the handler");
  const closing = pair.client.close();
  const e = await rejection(calc.add(1, 2), 100);
  assertRpcError(e, ClosedError, "session-closed");
  assert.equal(pair.server.isClosed, false);
  release.resolve();
  assert.equal(await inFlight, "finish me");
  await within(closing, 2000, "close()");
  assert.equal(await pair.client.closed, undefined);
  const serverReason = await within(pair.server.closed, 2000, "the acceptor's closed");
  assert.ok(serverReason === undefined || serverReason instanceof ClosedError);
  assert.equal(pair.server.isClosed, true);
  assertRpcError(await rejection(calc.add(1, 2)), ClosedError, "session-closed");
});

test("closing the serving side lets its running handler answer before the link closes", async () => {
  const release = deferred();
  const started = deferred();
  const pair = await sessionPair({}, {
    services: [implement(Calc, {
      ...calcImplHandlers(),
      echo: async (s) => {
        started.resolve();
        await release.promise;
        return s;
      },
    })],
  });
  const inFlight = pair.client.client(Calc).echo("answered");
  await within(started.promise, 2000, "the handler");
  const closing = pair.server.close();
  await delay(5);
  release.resolve();
  assert.equal(await inFlight, "answered");
  await within(closing, 2000, "close()");
  await within(pair.client.closed, 2000, "the initiator's closed");
});

test("a link that dies mid-call fails the pending call promptly with ClosedError", async () => {
  for (
    const how of ["abort both ways", "abort the peer's writable", "cancel the peer's readable"]
  ) {
    const raw = await rawAcceptor({}, { readAhead: false });
    const pending = raw.session.client(Calc).echo("doomed");
    asCall(await raw.peer.next());
    const started = performance.now();
    if (how === "abort both ways") await raw.peer.abort();
    else if (how === "abort the peer's writable") await raw.peer.abortWritable();
    else await raw.peer.cancelReadable();
    const e = await rejection(pending, 500);
    const elapsed = performance.now() - started;
    assert.ok(e instanceof ClosedError, `${how}: ${String(e)}`);
    assert.ok(elapsed < 250, `${how}: took ${elapsed} ms`);
    const reason = await within(raw.session.closed, 500, "closed");
    assert.ok(reason instanceof ClosedError, `${how}: ${String(reason)}`);
    assert.equal(raw.session.isClosed, true);
    await raw.close();
  }
});

// ------------------------------------------------------------ helpers

/** Fresh plain handlers of Calc, to override one method in a test. */
function calcImplHandlers() {
  return {
    add: (a: number, b: number) => a + b,
    divide: (a: bigint, b: bigint) =>
      b === 0n ? err({ tag: "DivisionByZero" as const }) : ok(a / b),
    echo: (s: string) => s,
    sleep: async (ms: number, v: number) => {
      await delay(ms);
      return v;
    },
    fail: (why: string): undefined => {
      throw new Error(why);
    },
  };
}

test("a call answered at once whose response waits for the peer to read counts as serving until it is sent", async () => {
  // The library's sends stay above its high-water mark while the raw peer reads nothing.
  const { peer, session } = await rawInitiator(
    { services: [calcImpl], limits: { sendHighWaterMark: 1024 } },
    { readAhead: false },
  );
  // Request 1's response (64 KiB) fills the link; request 3 is answered at once, but its
  // response has to wait until the peer reads.
  void peer.send(call(1, Calc.methods.echo.id, encode(t.string, "x".repeat(64 * 1024))));
  void peer.send(call(3, Calc.methods.echo.id, encode(t.string, "waiting")));
  await until(() => session.root.stats().callsServed === 1, "request 1 answered");
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(
    [session.root.stats().callsServing, session.root.stats().callsServed],
    [1, 1],
    "request 3 is still being served while its response waits",
  );
  const ids: number[] = [];
  for (const _ of [1, 3]) {
    const m = await peer.expect("request");
    assert.equal(m.payload.body.type, "response");
    ids.push(m.payload.id);
  }
  assert.deepEqual(ids, [1, 3]);
  await until(() => session.root.stats().callsServed === 2, "request 3 answered");
  assert.equal(session.root.stats().callsServing, 0);
  await endRaw(peer, session);
});
