/**
 * Channels: streams of items inside calls, with credit flow control.
 * Library-to-library streams over the memory link and TCP, the exact bytes
 * of wire-spec §2.7 on a raw peer, channel ids and their schema-walk order,
 * credit and bounded memory, resets and closes, lifetimes, teardown,
 * protocol violations, and the Web Streams views.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  channel,
  ChannelResetError,
  ClosedError,
  connect,
  type Connection,
  decode,
  encode,
  implement,
  Rx,
  serve,
  service,
  type Session,
  t,
  Tx,
} from "../../mod.ts";
import { encodeMessage, type Message } from "../../wire.ts";
import {
  closeAll,
  deferred,
  delay,
  endRaw,
  expectViolation,
  hex,
  rawAcceptor,
  rawInitiator,
  type RawPeer,
  sessionPair,
  settle,
  toHex,
  until,
  within,
} from "../_helpers/mod.ts";

// ------------------------------------------------------------------ services

/** The Testbed methods of wire-spec §2.7 (their ids are the Rust ones). */
const Testbed = service("Testbed", {
  sum: { args: [t.rx(t.i32)], returns: t.i64 },
  generate: { args: [t.u32, t.tx(t.i32)] },
});

const testbedImpl = implement(Testbed, {
  sum: async (rx) => {
    let total = 0n;
    for await (const v of rx) total += BigInt(v);
    return total;
  },
  generate: async (n, tx) => {
    for (let i = 0; i < n; i++) await tx.send(i);
    await tx.close();
    return undefined;
  },
});

const Tally = t.struct({ received: t.u32, outOfOrder: t.u32 });

/** Everything else the tests call; `lab()` makes a fresh implementation. */
const Lab = service("Lab", {
  /** Receives a stream and checks every item against `valueAt`. */
  upload: { args: [t.rx(t.i32)], returns: Tally },
  /** Sends `valueAt(0..n)` and closes. */
  download: { args: [t.u32, t.tx(t.i32)], returns: t.unit },
  /** Sends back every item XOR `MASK`, then closes; returns the count. */
  pipe: { args: [t.rx(t.i32), t.tx(t.i32)], returns: t.u32 },
  /** Reads `n` items, then resets the channel with metadata `{ reason: "enough" }`. */
  takeThenReset: { args: [t.u32, t.rx(t.i32)], returns: t.u32 },
  /** Sends until the receiver resets; returns how many sends succeeded. */
  sendUntilReset: { args: [t.tx(t.i32)], returns: t.u32 },
  /** Keeps its Tx, returns at once and goes on sending `valueAt(0..n)` afterwards. */
  spawn: { args: [t.u32, t.tx(t.i32)], returns: t.unit },
  /** Keeps its Rx, returns at once and goes on receiving afterwards (see `lab().drained`). */
  drain: { args: [t.rx(t.i32)], returns: t.unit },
  /** Keeps both ends (see `lab().kept`) and returns at once. */
  keep: { args: [t.rx(t.i32), t.tx(t.i32)], returns: t.unit },
  /** Returns the ids of its two ends. */
  ids: { args: [t.rx(t.i32), t.tx(t.i32)], returns: t.list(t.u32) },
  /** Reads slowly: 2 ms pause every 100 items (see `lab().slow`). */
  slow: { args: [t.rx(t.i32)], returns: t.u32 },
});

const MASK = 0x5a5a5a5a;

/** Item `i` of a test stream: distinct values of every varint length. */
/**
 * These tests pin the credit mechanics of the schema's credit alone
 * (grants of half the credit as items are consumed): the receive window,
 * which grants more, is off. Its own tests are in window_test.ts.
 */
const CREDIT_ONLY = { limits: { receiveWindowItems: 0 } } as const;

function valueAt(i: number): number {
  return Math.imul(i, 0x9e3779b1) | 0;
}

/** What the handlers of one `lab()` saw. */
interface LabState {
  readonly impl: ReturnType<typeof implement>;
  /** Ends kept by `keep`, in call order. */
  readonly kept: { rx: Rx<number>; tx: Tx<number> }[];
  /** What `drain` received after returning. */
  readonly drained: Promise<number[]>;
  /** How `sendUntilReset` ended. */
  readonly resetSeen: Promise<{ error: unknown; signalReason: unknown }>;
  /** Progress of `slow`. */
  readonly slow: { consumed: number; maxBuffered: number; rx: Rx<number> | undefined };
}

function lab(): LabState {
  const kept: LabState["kept"] = [];
  const drained = deferred<number[]>();
  const resetSeen = deferred<{ error: unknown; signalReason: unknown }>();
  const slow: LabState["slow"] = { consumed: 0, maxBuffered: 0, rx: undefined };
  const impl = implement(Lab, {
    upload: async (rx) => {
      let received = 0;
      let outOfOrder = 0;
      for await (const v of rx) {
        if (v !== valueAt(received)) outOfOrder++;
        received++;
      }
      return { received, outOfOrder };
    },
    download: async (n, tx) => {
      for (let i = 0; i < n; i++) await tx.send(valueAt(i));
      await tx.close();
      return undefined;
    },
    pipe: async (rx, tx) => {
      let n = 0;
      for await (const v of rx) {
        await tx.send(v ^ MASK);
        n++;
      }
      await tx.close();
      return n;
    },
    takeThenReset: async (n, rx) => {
      for (let i = 0; i < n; i++) await rx.recv();
      rx.reset({ reason: "enough" });
      return n;
    },
    sendUntilReset: async (tx) => {
      let sent = 0;
      try {
        for (;;) {
          await tx.send(valueAt(sent));
          sent++;
        }
      } catch (error) {
        resetSeen.resolve({ error, signalReason: tx.signal.reason });
      }
      return sent;
    },
    spawn: (n, tx) => {
      tx.keep();
      void (async () => {
        for (let i = 0; i < n; i++) await tx.send(valueAt(i));
        await tx.close();
      })();
      return undefined;
    },
    drain: (rx) => {
      rx.keep();
      void (async () => {
        const got: number[] = [];
        for await (const v of rx) got.push(v);
        drained.resolve(got);
      })();
      return undefined;
    },
    keep: (rx, tx) => {
      kept.push({ rx: rx.keep(), tx: tx.keep() });
      return undefined;
    },
    ids: (rx, tx) => [rx.id, tx.id],
    slow: async (rx) => {
      slow.rx = rx;
      for (;;) {
        const r = await rx.recv();
        if (r.done) break;
        if (r.value !== valueAt(slow.consumed)) {
          throw new Error(`item ${slow.consumed} out of order`);
        }
        slow.consumed++;
        slow.maxBuffered = Math.max(slow.maxBuffered, rx.buffered);
        if (slow.consumed % 100 === 0) await delay(2);
      }
      return slow.consumed;
    },
  });
  return { impl, kept, drained: drained.promise, resetSeen: resetSeen.promise, slow };
}

// ------------------------------------------------------------------ helpers

/** Sends `valueAt(0..n)` up a `Lab.upload` stream and checks the handler's tally. */
async function uploadStream(connection: Session | Connection, n: number): Promise<void> {
  const [tx, rx] = channel<number>();
  const call = connection.client(Lab).upload(rx);
  for (let i = 0; i < n; i++) await tx.send(valueAt(i));
  await tx.close();
  assert.deepEqual(await call, { received: n, outOfOrder: 0 });
}

/** Receives `valueAt(0..n)` from a `Lab.download` stream, checking every item. */
async function downloadStream(connection: Session | Connection, n: number): Promise<void> {
  const [tx, rx] = channel<number>();
  const call = connection.client(Lab).download(n, tx);
  let received = 0;
  let firstBad = -1;
  for await (const v of rx) {
    if (v !== valueAt(received) && firstBad < 0) firstBad = received;
    received++;
  }
  assert.equal(await call, undefined);
  assert.equal(firstBad, -1, `item ${firstBad} out of order`);
  assert.equal(received, n);
}

/** Streams both ways at once through `Lab.pipe`, checking every item. */
async function pipeStream(connection: Session | Connection, n: number): Promise<void> {
  const [upTx, upRx] = channel<number>();
  const [downTx, downRx] = channel<number>();
  const call = connection.client(Lab).pipe(upRx, downTx);
  const sending = (async () => {
    for (let i = 0; i < n; i++) await upTx.send(valueAt(i));
    await upTx.close();
  })();
  let received = 0;
  let firstBad = -1;
  for await (const v of downRx) {
    if (v !== (valueAt(received) ^ MASK) && firstBad < 0) firstBad = received;
    received++;
  }
  await sending;
  assert.equal(await call, n);
  assert.equal(firstBad, -1, `item ${firstBad} out of order`);
  assert.equal(received, n);
}

/** Bytes of a channel message with an `i32` item (ids below 128 give one-byte varints). */
function itemBytes(channelId: number, value: number): Uint8Array {
  return encodeMessage({
    connectionId: 0,
    payload: { type: "channel", id: channelId, body: { type: "item", item: encode(t.i32, value) } },
  }).slice();
}

/** A `Call` with a channel list, as a raw peer sends it. */
function callWith(
  requestId: number,
  methodId: bigint,
  channels: number[],
  args: Uint8Array = new Uint8Array(0),
): Message {
  return {
    connectionId: 0,
    payload: {
      type: "request",
      id: requestId,
      body: { type: "call", methodId, channels, metadata: [], args: args.slice() },
    },
  };
}

/** Reads `count` item messages on `channelId` and returns their `i32` values. */
async function readItems(peer: RawPeer, channelId: number, count: number): Promise<number[]> {
  const values: number[] = [];
  for (let i = 0; i < count; i++) {
    const m = await peer.expect("channel");
    assert.equal(m.payload.id, channelId);
    const body = m.payload.body;
    if (body.type !== "item") return assert.fail(`expected an item, got ${body.type}`);
    values.push(decode(t.i32, body.item));
  }
  return values;
}

/**
 * Sends `values` on `channelId` as a well-behaved sender does: never more
 * than the credit, waiting for `GrantCredit` when it runs out. Returns the
 * grants read on the way.
 */
async function sendWithinCredit(
  peer: RawPeer,
  channelId: number,
  values: number[],
  credit = 16,
): Promise<number[]> {
  const grants: number[] = [];
  let sent = 0;
  while (sent < values.length) {
    while (credit > 0 && sent < values.length) {
      void peer.send(itemBytes(channelId, values[sent]!));
      credit--;
      sent++;
    }
    if (sent === values.length) break;
    const m = await peer.expect("channel");
    assert.equal(m.payload.id, channelId);
    const body = m.payload.body;
    if (body.type !== "grantCredit") return assert.fail(`expected GrantCredit, got ${body.type}`);
    grants.push(body.additional);
    credit += body.additional;
  }
  return grants;
}

/** Reads until the `Pong` of a fresh `Ping`, returning what came before it. */
function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

/** Heap plus off-heap buffer bytes, on Deno and Bun. */
function memoryInUse(): number {
  const g = globalThis as unknown as {
    process?: {
      memoryUsage(): { heapUsed: number; external?: number; arrayBuffers?: number };
    };
  };
  // Count what is still reachable, not garbage a lazy collector has yet to free.
  (globalThis as { Bun?: { gc(force: boolean): void } }).Bun?.gc(true);
  const m = g.process!.memoryUsage();
  return m.heapUsed + (m.external ?? 0) + (m.arrayBuffers ?? 0);
}

const LONG = { timeout: 60_000 };

// ------------------------------------------------------------------ streams

const STREAM_ITEMS = 100_000;

test(
  "a client-to-server stream of 100,000 i32 items arrives complete and in order over the memory link",
  LONG,
  async () => {
    const l = lab();
    const { client, server } = await sessionPair(CREDIT_ONLY, {
      ...CREDIT_ONLY,
      services: [l.impl],
    });
    await uploadStream(client, STREAM_ITEMS);
    await closeAll(client, server);
  },
);

test(
  "a server-to-client stream of 100,000 i32 items arrives complete and in order over the memory link",
  LONG,
  async () => {
    const l = lab();
    const { client, server } = await sessionPair(CREDIT_ONLY, {
      ...CREDIT_ONLY,
      services: [l.impl],
    });
    await downloadStream(client, STREAM_ITEMS);
    await closeAll(client, server);
  },
);

test(
  "streams of 100,000 i32 items both ways at once arrive complete and in order over the memory link",
  LONG,
  async () => {
    const l = lab();
    const { client, server } = await sessionPair(CREDIT_ONLY, {
      ...CREDIT_ONLY,
      services: [l.impl],
    });
    await pipeStream(client, STREAM_ITEMS);
    await closeAll(client, server);
  },
);

async function overTcp(fn: (session: Session) => Promise<void>): Promise<void> {
  const l = lab();
  const server = await serve("tcp://127.0.0.1:0", { services: [l.impl] });
  try {
    const session = await connect(server.url);
    try {
      await fn(session);
    } finally {
      await session.close();
    }
  } finally {
    await server.close();
  }
}

test(
  "a client-to-server stream of 100,000 i32 items arrives complete and in order over TCP",
  LONG,
  async () => {
    await overTcp((session) => uploadStream(session, STREAM_ITEMS));
  },
);

test(
  "a server-to-client stream of 100,000 i32 items arrives complete and in order over TCP",
  LONG,
  async () => {
    await overTcp((session) => downloadStream(session, STREAM_ITEMS));
  },
);

test(
  "streams of 100,000 i32 items both ways at once arrive complete and in order over TCP",
  LONG,
  async () => {
    await overTcp((session) => pipeStream(session, STREAM_ITEMS));
  },
);

// ------------------------------------------------------------------ wire bytes

test("Testbed.sum(Rx) sends the Call, item and Close bytes of wire-spec §2.7", async () => {
  const { peer, session } = await rawAcceptor(CREDIT_ONLY);
  const [tx, rx] = channel<number>();
  const result = session.client(Testbed).sum(rx);
  assert.equal(
    toHex(await peer.nextBytes()),
    "00 07 01 00 fd fd ef cb dd c4 ce ad 85 01 01 01 00",
  );
  assert.equal(tx.id, 1);
  await tx.send(1);
  await tx.send(-3);
  assert.equal(toHex(await peer.nextBytes()), "00 08 01 00 02");
  assert.equal(toHex(await peer.nextBytes()), "00 08 01 00 05");
  await tx.close();
  assert.equal(toHex(await peer.nextBytes()), "00 08 01 01 00");
  await peer.send(hex("00 07 01 01 00 00 00 1e"));
  assert.equal(await within(result, 2000, "sum"), 15n);
  await endRaw(peer, session);
});

test("Testbed.generate(3, Tx) sends the Call bytes of wire-spec §2.7 and receives the peer's items", async () => {
  const { peer, session } = await rawAcceptor(CREDIT_ONLY);
  const [tx, rx] = channel<number>();
  const result = session.client(Testbed).generate(3, tx);
  assert.equal(
    toHex(await peer.nextBytes()),
    "00 07 01 00 b8 b8 ee e6 d8 e7 89 e9 54 01 01 00 03",
  );
  assert.equal(rx.id, 1);
  await peer.send(hex("00 08 01 00 00"));
  await peer.send(hex("00 08 01 00 02"));
  await peer.send(hex("00 08 01 00 04"));
  await peer.send(hex("00 08 01 01 00"));
  await peer.send(hex("00 07 01 01 00 00 00"));
  assert.equal(await within(result, 2000, "generate"), undefined);
  const got: number[] = [];
  for await (const v of rx) got.push(v);
  assert.deepEqual(got, [0, 1, 2]);
  // Three items are below the grant batch: the library sends nothing back.
  await peer.expectSilence(30);
  await endRaw(peer, session);
});

test("a handler's Tx stops after exactly 16 items until a Rust-like peer grants credit", async () => {
  const { peer, session } = await rawInitiator({ ...CREDIT_ONLY, services: [testbedImpl] });
  void peer.send(callWith(1, Testbed.methods.generate.id, [1], encode(t.u32, 40)));
  assert.deepEqual(await readItems(peer, 1, 16), range(0, 16));
  await peer.expectSilence(100);
  await peer.send(hex("00 08 01 03 10"));
  assert.deepEqual(await readItems(peer, 1, 16), range(16, 32));
  await peer.expectSilence(100);
  await peer.send(hex("00 08 01 03 10"));
  assert.deepEqual(await readItems(peer, 1, 8), range(32, 40));
  assert.equal(toHex(await peer.nextBytes()), "00 08 01 01 00");
  assert.equal(toHex(await peer.nextBytes()), "00 07 01 01 00 00 00");
  await endRaw(peer, session);
});

test("a caller's Tx stops after exactly 16 items until a Rust-like peer grants credit", async () => {
  const { peer, session } = await rawAcceptor(CREDIT_ONLY);
  const [tx, rx] = channel<number>();
  const result = session.client(Testbed).sum(rx);
  await peer.expect("request");
  const sends = range(0, 40).map((i) => settle(tx.send(i)));
  assert.deepEqual(await readItems(peer, 1, 16), range(0, 16));
  await peer.expectSilence(100);
  assert.equal(tx.credit, 0);
  await peer.send(hex("00 08 01 03 10"));
  assert.deepEqual(await readItems(peer, 1, 16), range(16, 32));
  await peer.expectSilence(100);
  await peer.send(hex("00 08 01 03 10"));
  assert.deepEqual(await readItems(peer, 1, 8), range(32, 40));
  assert.equal(tx.credit, 8);
  for (const s of await Promise.all(sends)) assert.ok(s.ok);
  await tx.close();
  assert.equal(toHex(await peer.nextBytes()), "00 08 01 01 00");
  await peer.send(hex("00 07 01 01 00 00 00 1e"));
  assert.equal(await within(result, 2000, "sum"), 15n);
  await endRaw(peer, session);
});

test("a handler's Rx grants credit in batches of 8, about 125 grants for 1,000 items", async () => {
  const { peer, session } = await rawInitiator({ ...CREDIT_ONLY, services: [testbedImpl] });
  void peer.send(callWith(1, Testbed.methods.sum.id, [1]));
  const values = range(0, 1000);
  const grants = await sendWithinCredit(peer, 1, values);
  void peer.send(hex("00 08 01 01 00"));
  let response: Message | undefined;
  for (;;) {
    const m = await peer.next();
    if (m.payload.type === "request") {
      response = m;
      break;
    }
    const body = m.payload.type === "channel" ? m.payload.body : undefined;
    if (body?.type !== "grantCredit") return assert.fail(`unexpected ${m.payload.type}`);
    grants.push(body.additional);
  }
  // Ok(499500i64): the sum of 0..999.
  assert.equal(
    toHex(encodeMessage(response)),
    `00 07 01 01 00 00 00 ${toHex(encode(t.i64, 499500n))}`,
  );
  // 984 items beyond the first 16 need at least 123 grants of 8; 1,000 consumed give at most 125.
  assert.ok(grants.length >= 123 && grants.length <= 125, `${grants.length} grants`);
  assert.ok(grants.every((g) => g === 8), `grants of ${[...new Set(grants)].join(", ")}`);
  await endRaw(peer, session);
});

test("a caller's Rx grants credit in batches of 8, about 125 grants for 1,000 items", async () => {
  const { peer, session } = await rawAcceptor(CREDIT_ONLY);
  const [tx, rx] = channel<number>();
  const result = session.client(Testbed).generate(1000, tx);
  await peer.expect("request");
  const consumed = (async () => {
    const got: number[] = [];
    for await (const v of rx) got.push(v);
    return got;
  })();
  const grants = await sendWithinCredit(peer, 1, range(0, 1000));
  void peer.send(hex("00 08 01 01 00"));
  void peer.send(hex("00 07 01 01 00 00 00"));
  assert.deepEqual(await within(consumed, 2000, "the stream"), range(0, 1000));
  await within(result, 2000, "generate");
  for (const m of await peer.sync()) {
    const body = m.payload.type === "channel" ? m.payload.body : undefined;
    if (body?.type !== "grantCredit") return assert.fail(`unexpected ${m.payload.type}`);
    grants.push(body.additional);
  }
  assert.ok(grants.length >= 123 && grants.length <= 125, `${grants.length} grants`);
  assert.ok(grants.every((g) => g === 8), `grants of ${[...new Set(grants)].join(", ")}`);
  await endRaw(peer, session);
});

// ------------------------------------------------------------------ ids and schema-walk order

const Pair = t.struct({ input: t.rx(t.i32), output: t.tx(t.i32) });
const Choice = t.enum({
  Idle: t.unit,
  Tap: t.tx(t.i32),
  Mixed: [t.u8, t.rx(t.i32)],
  Named: { label: t.u8, sink: t.rx(t.i32) },
});
const Walk = service("Walk", {
  walk: { args: [Pair, Choice, t.option(t.tx(t.i32)), t.rx(t.i32)], returns: t.unit },
});

/** The caller's five ends of a `Walk.walk` call, and the arguments to pass. */
function walkEnds(withOption: boolean) {
  const [inTx, inRx] = channel<number>(); // handler receives: keep tx
  const [outTx, outRx] = channel<number>(); // handler sends: keep rx
  const [mixTx, mixRx] = channel<number>(); // handler receives: keep tx
  const [optTx, optRx] = channel<number>(); // handler sends: keep rx
  const [lastTx, lastRx] = channel<number>(); // handler receives: keep tx
  return {
    kept: { inTx, outRx, mixTx, optRx, lastTx },
    args: [
      { input: inRx, output: outTx },
      { tag: "Mixed" as const, value: [7, mixRx] as [number, Rx<number>] },
      withOption ? optTx : undefined,
      lastRx,
    ] as const,
  };
}

test("an initiator's call lists odd channel ids in schema-walk order: struct fields, enum variant, present option", async () => {
  const { peer, session } = await rawAcceptor(CREDIT_ONLY);
  const { kept, args } = walkEnds(true);
  void session.client(Walk).walk(...args).catch(() => {});
  const call = await peer.expect("request");
  const body = call.payload.body;
  if (body.type !== "call") return assert.fail("expected a call");
  assert.deepEqual(body.channels, [1, 3, 5, 7, 9]);
  // Channel positions are zero bytes; the enum index, its u8 and the option tag remain.
  assert.equal(toHex(body.args), "02 07 01");
  assert.deepEqual(
    [kept.inTx.id, kept.outRx.id, kept.mixTx.id, kept.optRx.id, kept.lastTx.id],
    [1, 3, 5, 7, 9],
  );
  // Each kept end is bound to its id: sends go out on it, items on it arrive.
  await kept.inTx.send(10);
  await kept.mixTx.send(50);
  await kept.lastTx.send(90);
  assert.deepEqual(await readItems(peer, 1, 1), [10]);
  assert.deepEqual(await readItems(peer, 5, 1), [50]);
  assert.deepEqual(await readItems(peer, 9, 1), [90]);
  await peer.send(itemBytes(3, 30));
  await peer.send(itemBytes(7, 70));
  assert.deepEqual(await kept.outRx.recv(), { done: false, value: 30 });
  assert.deepEqual(await kept.optRx.recv(), { done: false, value: 70 });
  await endRaw(peer, session);
});

test("an absent option contributes no channel id to the call", async () => {
  const { peer, session } = await rawAcceptor(CREDIT_ONLY);
  const { kept, args } = walkEnds(false);
  void session.client(Walk).walk(...args).catch(() => {});
  const call = await peer.expect("request");
  const body = call.payload.body;
  if (body.type !== "call") return assert.fail("expected a call");
  assert.deepEqual(body.channels, [1, 3, 5, 7]);
  assert.equal(toHex(body.args), "02 07 00");
  assert.deepEqual([kept.inTx.id, kept.outRx.id, kept.mixTx.id, kept.lastTx.id], [1, 3, 5, 7]);
  await kept.lastTx.send(-1);
  assert.deepEqual(await readItems(peer, 7, 1), [-1]);
  await endRaw(peer, session);
});

test("an acceptor's call lists even channel ids", async () => {
  const { peer, session } = await rawInitiator(CREDIT_ONLY);
  const { kept, args } = walkEnds(true);
  void session.client(Walk).walk(...args).catch(() => {});
  const call = await peer.expect("request");
  const body = call.payload.body;
  if (body.type !== "call") return assert.fail("expected a call");
  assert.deepEqual(body.channels, [2, 4, 6, 8, 10]);
  assert.equal(kept.lastTx.id, 10);
  await endRaw(peer, session);
});

test("an incoming call binds its channel ids to the handler's ends in schema-walk order", async () => {
  const seen: {
    input: Rx<number>;
    output: Tx<number>;
    choice: unknown;
    option: Tx<number> | undefined;
    last: Rx<number>;
  }[] = [];
  const walkImpl = implement(Walk, {
    walk: (pair, choice, option, last) => {
      // Keep every end, to check after the handler returned where each is bound.
      const kc = choice as { tag: string; value: { sink: Rx<number> } | [number, Rx<number>] };
      if (kc.tag === "Named") (kc.value as { sink: Rx<number> }).sink.keep();
      if (kc.tag === "Mixed") (kc.value as [number, Rx<number>])[1].keep();
      option?.keep();
      seen.push({
        input: pair.input.keep(),
        output: pair.output.keep(),
        choice,
        option,
        last: last.keep(),
      });
      return undefined;
    },
  });
  const { peer, session } = await rawInitiator({ ...CREDIT_ONLY, services: [walkImpl] });
  // Named { label: 4, sink }, then Some(tx), then the last rx.
  void peer.send(callWith(1, Walk.methods.walk.id, [1, 3, 5, 7, 9], hex("03 04 01")));
  await peer.expect("request");
  // Mixed(7, rx), then None: the last rx takes the fourth id.
  void peer.send(callWith(3, Walk.methods.walk.id, [11, 13, 15, 17], hex("02 07 00")));
  await peer.expect("request");
  assert.equal(seen.length, 2);
  const [a, b] = seen as [typeof seen[0], typeof seen[0]];
  const named = a.choice as { tag: string; value: { label: number; sink: Rx<number> } };
  assert.equal(named.tag, "Named");
  assert.equal(named.value.label, 4);
  assert.ok(a.input instanceof Rx && a.output instanceof Tx && a.option instanceof Tx);
  assert.deepEqual(
    [a.input.id, a.output.id, named.value.sink.id, a.option.id, a.last.id],
    [1, 3, 5, 7, 9],
  );
  const mixed = b.choice as { tag: string; value: [number, Rx<number>] };
  assert.equal(mixed.tag, "Mixed");
  assert.equal(b.option, undefined);
  assert.deepEqual([b.input.id, b.output.id, mixed.value[1].id, b.last.id], [11, 13, 15, 17]);
  // Items reach the right ends, and the handler's sends go out on the right ids.
  await peer.send(itemBytes(5, 55));
  await peer.send(itemBytes(9, 99));
  await peer.send(itemBytes(1, 11));
  assert.deepEqual(await named.value.sink.recv(), { done: false, value: 55 });
  assert.deepEqual(await a.last.recv(), { done: false, value: 99 });
  assert.deepEqual(await a.input.recv(), { done: false, value: 11 });
  await a.option.send(77);
  await a.output.send(33);
  assert.deepEqual(await readItems(peer, 7, 1), [77]);
  assert.deepEqual(await readItems(peer, 3, 1), [33]);
  await endRaw(peer, session);
});

test("channel ids follow the caller's parity on the root connection, both ways", async () => {
  const client = lab();
  const server = lab();
  const { client: initiator, server: acceptor } = await sessionPair(
    { ...CREDIT_ONLY, services: [client.impl] },
    { ...CREDIT_ONLY, services: [server.impl] },
  );
  const ids = async (s: Session): Promise<number[]> => {
    const [tx, rx] = channel<number>();
    const [tx2, rx2] = channel<number>();
    const got = await s.client(Lab).ids(rx, tx2);
    assert.deepEqual([tx.id, rx2.id], got);
    return got;
  };
  assert.deepEqual(await ids(initiator), [1, 3]);
  assert.deepEqual(await ids(initiator), [5, 7]);
  assert.deepEqual(await ids(acceptor), [2, 4]);
  assert.deepEqual(await ids(acceptor), [6, 8]);
  await closeAll(initiator, acceptor);
});

// ------------------------------------------------------------------ credit

const Wide = service("Wide", { take: { args: [t.rx(t.i32, { credit: 64 })], returns: t.u32 } });

test("t.rx(T, { credit: 64 }) lets the sender send 64 items before any grant", async () => {
  const { peer, session } = await rawAcceptor(CREDIT_ONLY);
  const [tx, rx] = channel<number>();
  const result = session.client(Wide).take(rx);
  await peer.expect("request");
  assert.equal(tx.credit, 64);
  const sends = range(0, 100).map((i) => settle(tx.send(i)));
  assert.deepEqual(await readItems(peer, 1, 64), range(0, 64));
  await peer.expectSilence(100);
  assert.equal(tx.credit, 0);
  await peer.send(hex("00 08 01 03 24")); // +36
  assert.deepEqual(await readItems(peer, 1, 36), range(64, 100));
  for (const s of await Promise.all(sends)) assert.ok(s.ok);
  await tx.close();
  assert.equal(toHex(await peer.nextBytes()), "00 08 01 01 00");
  await peer.send(hex("00 07 01 01 00 00 00 64"));
  assert.equal(await within(result, 2000, "take"), 100);
  await endRaw(peer, session);
});

test("a receiver with credit 64 accepts 64 items at once and grants 32 at a time", async () => {
  let consumed = 0;
  const wideImpl = implement(Wide, {
    take: async (rx) => {
      for await (const _ of rx) consumed++;
      return consumed;
    },
  });
  const { peer, session } = await rawInitiator({ ...CREDIT_ONLY, services: [wideImpl] });
  void peer.send(callWith(1, Wide.methods.take.id, [1]));
  for (let i = 0; i < 64; i++) void peer.send(itemBytes(1, i));
  const grants: number[] = [];
  for (let i = 0; i < 2; i++) {
    const m = await peer.expect("channel");
    const body = m.payload.body;
    if (body.type !== "grantCredit") return assert.fail(`expected GrantCredit, got ${body.type}`);
    grants.push(body.additional);
  }
  assert.deepEqual(grants, [32, 32]);
  void peer.send(hex("00 08 01 01 00"));
  assert.equal(toHex(await peer.nextBytes()), "00 07 01 01 00 00 00 40");
  await endRaw(peer, session);
});

test(
  "a slow consumer holds a fast producer to the credit: rx.buffered stays within it and send() waits",
  LONG,
  async () => {
    const l = lab();
    const { client, server } = await sessionPair(CREDIT_ONLY, {
      ...CREDIT_ONLY,
      services: [l.impl],
    });
    const [tx, rx] = channel<number>();
    const call = client.client(Lab).slow(rx);
    const total = 3000;
    let sent = 0;
    let maxAhead = 0;
    const samples: { ahead: number; buffered: number }[] = [];
    const timer = setInterval(() => {
      samples.push({ ahead: sent - l.slow.consumed, buffered: l.slow.rx?.buffered ?? 0 });
    }, 1);
    try {
      for (let i = 0; i < total; i++) {
        await tx.send(valueAt(i));
        sent++;
        maxAhead = Math.max(maxAhead, sent - l.slow.consumed);
      }
      await tx.close();
      assert.equal(await within(call, 20_000, "slow"), total);
    } finally {
      clearInterval(timer);
    }
    assert.ok(samples.length >= 10, `only ${samples.length} samples`);
    assert.ok(samples.every((s) => s.ahead <= 16 && s.buffered <= 16), JSON.stringify(samples));
    // The producer is fast: it reaches the credit limit and is held there.
    assert.equal(maxAhead, 16);
    assert.ok(l.slow.maxBuffered <= 16, `rx.buffered reached ${l.slow.maxBuffered}`);
    await closeAll(client, server);
  },
);

test(
  "100,000 items of 1 KiB to a consumer that sleeps every 1,000 items keep heap growth small",
  LONG,
  async () => {
    const Big = service("Big", { take: { args: [t.rx(t.bytes)], returns: t.u32 } });
    const samples: number[] = [];
    let maxBuffered = 0;
    const bigImpl = implement(Big, {
      take: async (rx) => {
        let n = 0;
        for await (const item of rx) {
          if (item.length !== 1024 || item[0] !== (n & 255)) throw new Error(`item ${n} is wrong`);
          n++;
          maxBuffered = Math.max(maxBuffered, rx.buffered);
          if (n % 1000 === 0) {
            samples.push(memoryInUse());
            await delay(1);
          }
        }
        return n;
      },
    });
    const { client, server } = await sessionPair(CREDIT_ONLY, {
      ...CREDIT_ONLY,
      services: [bigImpl],
    });
    const before = memoryInUse();
    const [tx, rx] = channel<Uint8Array>();
    const call = client.client(Big).take(rx);
    for (let i = 0; i < 100_000; i++) await tx.send(new Uint8Array(1024).fill(i & 255));
    await tx.close();
    assert.equal(await call, 100_000);
    const growth = Math.max(...samples) - before;
    // 100 MiB went through; without credit the backlog alone would be most of it.
    assert.ok(growth < 48 * 1024 * 1024, `heap grew by ${(growth / 1048576).toFixed(1)} MiB`);
    assert.ok(maxBuffered <= 16, `rx.buffered reached ${maxBuffered}`);
    await closeAll(client, server);
  },
);

// ------------------------------------------------------------------ reset and close

test("a receiver's reset rejects the sender's pending and later sends with ChannelResetError and aborts tx.signal", async () => {
  const l = lab();
  const { client, server } = await sessionPair(CREDIT_ONLY, { ...CREDIT_ONLY, services: [l.impl] });
  const [tx, rx] = channel<number>();
  const call = client.client(Lab).takeThenReset(3, rx);
  const sends = range(0, 20).map((i) => settle(tx.send(i)));
  assert.equal(await call, 3);
  const outcomes = await Promise.all(sends);
  // 16 went out on the initial credit; the handler took 3 (no grant yet) and reset.
  assert.ok(outcomes.slice(0, 16).every((o) => o.ok));
  for (const o of outcomes.slice(16)) {
    assert.ok(!o.ok && o.error instanceof ChannelResetError, String(!o.ok && o.error));
  }
  assert.equal(tx.signal.aborted, true);
  const reason = tx.signal.reason;
  assert.ok(reason instanceof ChannelResetError);
  assert.equal(reason.metadata.find((e) => e.key === "reason")?.value, "enough");
  await assert.rejects(tx.send(99), ChannelResetError);
  await tx.close(); // nothing to close any more: resolves
  await closeAll(client, server);
});

test("breaking out of for await resets the channel and stops the handler's sends", async () => {
  const l = lab();
  const { client, server } = await sessionPair(CREDIT_ONLY, { ...CREDIT_ONLY, services: [l.impl] });
  const [tx, rx] = channel<number>();
  const call = client.client(Lab).sendUntilReset(tx);
  let n = 0;
  for await (const v of rx) {
    assert.equal(v, valueAt(n));
    if (++n === 5) break;
  }
  const sent = await within(call, 2000, "sendUntilReset");
  assert.ok(sent >= 5, `${sent} sent`);
  const { error, signalReason } = await l.resetSeen;
  assert.ok(error instanceof ChannelResetError);
  assert.equal(signalReason, error);
  assert.deepEqual(await rx.recv(), { done: true, value: undefined });
  await closeAll(client, server);
});

test("tx.close() ends the receiver's for await", async () => {
  const l = lab();
  const { client, server } = await sessionPair(CREDIT_ONLY, { ...CREDIT_ONLY, services: [l.impl] });
  const [tx, rx] = channel<number>();
  const call = client.client(Lab).upload(rx);
  for (let i = 0; i < 3; i++) await tx.send(valueAt(i));
  await tx.close();
  assert.deepEqual(await within(call, 2000, "upload"), { received: 3, outOfOrder: 0 });
  await closeAll(client, server);
});

test("send() after close() rejects with a TypeError, bound or not", async () => {
  const [unbound] = channel<number>();
  void unbound.close();
  await assert.rejects(unbound.send(1), TypeError);

  const l = lab();
  const { client, server } = await sessionPair(CREDIT_ONLY, { ...CREDIT_ONLY, services: [l.impl] });
  const [tx, rx] = channel<number>();
  const call = client.client(Lab).upload(rx);
  await tx.send(valueAt(0));
  await tx.close();
  await assert.rejects(tx.send(valueAt(1)), TypeError);
  assert.deepEqual(await call, { received: 1, outOfOrder: 0 });
  await closeAll(client, server);
});

test("an end passed to a call cannot be used by the caller", async () => {
  const l = lab();
  const { client, server } = await sessionPair(CREDIT_ONLY, { ...CREDIT_ONLY, services: [l.impl] });
  const [tx, rx] = channel<number>();
  const call = client.client(Lab).download(2, tx);
  await assert.rejects(tx.send(1), /passed to a call/);
  const [tx2, rx2] = channel<number>();
  const up = client.client(Lab).upload(rx2);
  await assert.rejects(rx2.recv(), /passed to a call/);
  await tx2.close();
  assert.deepEqual(await up, { received: 0, outOfOrder: 0 });
  const got: number[] = [];
  for await (const v of rx) got.push(v);
  assert.deepEqual(got, [valueAt(0), valueAt(1)]);
  await call;
  await closeAll(client, server);
});

test("rx.recv() called before the call binds the channel waits for the first item", async () => {
  const l = lab();
  const { client, server } = await sessionPair(CREDIT_ONLY, { ...CREDIT_ONLY, services: [l.impl] });
  const [tx, rx] = channel<number>();
  let settled = false;
  const first = rx.recv().finally(() => (settled = true));
  await delay(10);
  assert.equal(settled, false);
  const call = client.client(Lab).download(3, tx);
  assert.deepEqual(await within(first, 2000, "the first item"), { done: false, value: valueAt(0) });
  assert.deepEqual(await rx.recv(), { done: false, value: valueAt(1) });
  assert.deepEqual(await rx.recv(), { done: false, value: valueAt(2) });
  assert.deepEqual(await rx.recv(), { done: true, value: undefined });
  await call;
  await closeAll(client, server);
});

test("items and Close sent before the call wait, and go out after the Call", async () => {
  const { peer, session } = await rawAcceptor(CREDIT_ONLY);
  const [tx, rx] = channel<number>();
  let sent = false;
  const early = tx.send(1).then(() => (sent = true));
  const second = tx.send(-3);
  const closing = tx.close();
  await peer.expectSilence(20);
  assert.equal(sent, false);
  const result = session.client(Testbed).sum(rx);
  assert.equal(
    toHex(await peer.nextBytes()),
    "00 07 01 00 fd fd ef cb dd c4 ce ad 85 01 01 01 00",
  );
  assert.equal(toHex(await peer.nextBytes()), "00 08 01 00 02");
  assert.equal(toHex(await peer.nextBytes()), "00 08 01 00 05");
  assert.equal(toHex(await peer.nextBytes()), "00 08 01 01 00");
  await Promise.all([early, second, closing]);
  assert.equal(sent, true);
  await peer.send(hex("00 07 01 01 00 00 00 1e"));
  assert.equal(await result, 15n);
  await endRaw(peer, session);
});

// ------------------------------------------------------------------ virtual connections

test(
  "channels stream on a virtual connection, with ids of the caller's parity there",
  LONG,
  async () => {
    const server = lab();
    const client = lab();
    let accepted: Connection | undefined;
    const { client: initiator, server: acceptor } = await sessionPair(CREDIT_ONLY, {
      ...CREDIT_ONLY,
      onConnection: () => ({
        accept: true,
        services: [server.impl],
        onOpen: (c) => (accepted = c),
      }),
    });
    const conn = await initiator.openConnection({ services: [client.impl] });
    assert.ok(conn.id > 0);
    await uploadStream(conn, 2000);
    await downloadStream(conn, 2000);
    await pipeStream(conn, 2000);
    const [tx, rx] = channel<number>();
    const [tx2, rx2] = channel<number>();
    const ids = await conn.client(Lab).ids(rx, tx2);
    assert.ok(ids.every((id) => id % 2 === 1), `ids ${ids}`);
    assert.deepEqual([tx.id, rx2.id], ids);
    // The accepting side calls back on the same connection with even ids.
    await until(() => accepted !== undefined, "the accepted connection");
    const [tx3, rx3] = channel<number>();
    const [tx4, rx4] = channel<number>();
    const back = await accepted!.client(Lab).ids(rx3, tx4);
    assert.ok(back.every((id) => id % 2 === 0), `ids ${back}`);
    assert.deepEqual([tx3.id, rx4.id], back);
    await downloadStream(accepted!, 2000);
    await conn.close();
    await closeAll(initiator, acceptor);
  },
);

// ------------------------------------------------------------------ lifetimes

test("a handler can return at once and keep streaming to the caller afterwards", async () => {
  const l = lab();
  const { client, server } = await sessionPair(CREDIT_ONLY, { ...CREDIT_ONLY, services: [l.impl] });
  const [tx, rx] = channel<number>();
  assert.equal(await client.client(Lab).spawn(1000, tx), undefined);
  const got: number[] = [];
  for await (const v of rx) got.push(v);
  assert.deepEqual(got, range(0, 1000).map(valueAt));
  await closeAll(client, server);
});

test("a handler can return at once and keep receiving from the caller afterwards", async () => {
  const l = lab();
  const { client, server } = await sessionPair(CREDIT_ONLY, { ...CREDIT_ONLY, services: [l.impl] });
  const [tx, rx] = channel<number>();
  assert.equal(await client.client(Lab).drain(rx), undefined);
  for (let i = 0; i < 1000; i++) await tx.send(valueAt(i));
  await tx.close();
  assert.deepEqual(await within(l.drained, 2000, "drain"), range(0, 1000).map(valueAt));
  await closeAll(client, server);
});

test("a handler's items and Close sent before it returns reach the peer before the response", async () => {
  const { peer, session } = await rawInitiator({ ...CREDIT_ONLY, services: [testbedImpl] });
  void peer.send(callWith(1, Testbed.methods.generate.id, [1], encode(t.u32, 5)));
  assert.deepEqual(await readItems(peer, 1, 5), range(0, 5));
  assert.equal(toHex(await peer.nextBytes()), "00 08 01 01 00");
  assert.equal(toHex(await peer.nextBytes()), "00 07 01 01 00 00 00");
  await endRaw(peer, session);
});

test("when a call resolves, the items and Close its handler sent first are already buffered", async () => {
  const l = lab();
  const { client, server } = await sessionPair(CREDIT_ONLY, { ...CREDIT_ONLY, services: [l.impl] });
  const [tx, rx] = channel<number>();
  await client.client(Lab).download(5, tx);
  assert.equal(rx.buffered, 5);
  const got: number[] = [];
  for await (const v of rx) got.push(v);
  assert.deepEqual(got, range(0, 5).map(valueAt));
  await closeAll(client, server);
});

// ------------------------------------------------------------------ teardown

function assertClosedWith(error: unknown, message: RegExp): void {
  assert.ok(error instanceof ClosedError, `expected a ClosedError, got ${String(error)}`);
  assert.match(error.message, message);
}

test("closing the session ends its channels on both sides with an error saying why", async () => {
  const l = lab();
  const { client, server } = await sessionPair(CREDIT_ONLY, { ...CREDIT_ONLY, services: [l.impl] });
  const [aTx, aRx] = channel<number>();
  const [bTx, bRx] = channel<number>();
  await client.client(Lab).keep(aRx, bTx);
  const [cTx, cRx] = channel<number>();
  const [dTx] = channel<number>();
  await client.client(Lab).keep(cRx, dTx);
  const kept = l.kept[1]!;
  // On the client, a send waiting for credit and a receive waiting for an item.
  for (let i = 0; i < 16; i++) await aTx.send(i);
  const waitingSend = settle(aTx.send(16));
  const waitingRecv = settle(bRx.recv());
  // On the server, a receive waiting for an item.
  const serverRecv = settle(kept.rx.recv());
  await delay(5);
  assert.equal(cTx.credit, 16);
  await client.close();

  const s = await within(waitingSend, 1000, "the waiting send");
  assert.ok(!s.ok);
  assertClosedWith(s.error, /session was closed/);
  const r = await within(waitingRecv, 1000, "the waiting recv");
  assert.ok(!r.ok);
  assertClosedWith(r.error, /session was closed/);
  assert.equal(aTx.signal.aborted, true);
  assertClosedWith(aTx.signal.reason, /session was closed/);
  await assert.rejects(aTx.send(1), /session was closed/);
  await assert.rejects(bRx.recv(), /session was closed/);

  await within(server.closed, 2000, "the server session");
  const sr = await within(serverRecv, 1000, "the server's recv");
  assert.ok(!sr.ok);
  assertClosedWith(sr.error, /peer closed the link/);
  assert.equal(kept.tx.signal.aborted, true);
  assertClosedWith(kept.tx.signal.reason, /peer closed the link/);
  await assert.rejects(kept.tx.send(1), /peer closed the link/);
});

test("closing a virtual connection ends its channels on both sides with an error saying why", async () => {
  const l = lab();
  const { client: initiator, server: acceptor } = await sessionPair(CREDIT_ONLY, {
    ...CREDIT_ONLY,
    onConnection: () => ({ accept: true, services: [l.impl] }),
  });
  const conn = await initiator.openConnection();
  const [aTx, aRx] = channel<number>();
  const [bTx, bRx] = channel<number>();
  await conn.client(Lab).keep(aRx, bTx);
  const kept = l.kept[0]!;
  const waitingRecv = settle(bRx.recv());
  const serverRecv = settle(kept.rx.recv());
  await conn.close();

  const r = await within(waitingRecv, 1000, "the waiting recv");
  assert.ok(!r.ok);
  assertClosedWith(r.error, new RegExp(`Connection ${conn.id} was closed`));
  assert.equal(aTx.signal.aborted, true);
  await assert.rejects(aTx.send(1), new RegExp(`Connection ${conn.id} was closed`));

  const sr = await within(serverRecv, 2000, "the server's recv");
  assert.ok(!sr.ok);
  assertClosedWith(sr.error, new RegExp(`peer closed connection ${conn.id}`));
  assert.equal(kept.tx.signal.aborted, true);
  await assert.rejects(kept.tx.send(1), new RegExp(`peer closed connection ${conn.id}`));
  // The session itself goes on.
  assert.equal(initiator.isClosed, false);
  assert.equal(acceptor.isClosed, false);
  await closeAll(initiator, acceptor);
});

/**
 * A raw acceptor's session in which the library called `Testbed.generate`
 * twice: channel 1 got three items and Close, channel 3 got two items and
 * stays open; then the peer closed the link.
 */
async function sessionEndedWithBufferedItems(): Promise<{ done: Rx<number>; open: Rx<number> }> {
  const { peer, session } = await rawAcceptor(CREDIT_ONLY);
  const [tx, rx] = channel<number>();
  const [tx2, rx2] = channel<number>();
  const first = session.client(Testbed).generate(3, tx);
  await peer.expect("request");
  const second = settle(session.client(Testbed).generate(3, tx2));
  await peer.expect("request");
  for (const v of [0, 1, 2]) await peer.send(itemBytes(1, v));
  await peer.send(hex("00 08 01 01 00"));
  await peer.send(hex("00 07 01 01 00 00 00"));
  await peer.send(itemBytes(3, 10));
  await peer.send(itemBytes(3, 11));
  await within(first, 2000, "the first call");
  await until(() => rx2.buffered === 2, "two items on channel 3");
  await peer.close();
  await within(session.closed, 2000, "session.closed");
  assert.equal((await second).ok, false);
  return { done: rx, open: rx2 };
}

test("a stream that completed before the session ended stays readable to its end", async () => {
  const { done } = await sessionEndedWithBufferedItems();
  const got: number[] = [];
  for await (const v of done) got.push(v);
  assert.deepEqual(got, [0, 1, 2]);
});

test("items buffered on an open channel when the session ends are delivered before the error", async () => {
  const { open } = await sessionEndedWithBufferedItems();
  assert.deepEqual(await open.recv(), { done: false, value: 10 });
  assert.deepEqual(await open.recv(), { done: false, value: 11 });
  await assert.rejects(open.recv(), /peer closed the link/);
});

// ------------------------------------------------------------------ violations

/**
 * Runs one channel violation against a library acceptor whose peer is a
 * raw initiator. Before it, the peer opened a `Lab.keep` call with channels
 * 1 (the handler receives) and 3 (the handler sends). Afterwards the
 * library must send a ProtocolError on connection 0, close the link, and
 * fail those channels with the same error.
 */
async function assertChannelViolation(
  inject: (peer: RawPeer) => Promise<unknown>,
  description: RegExp,
): Promise<void> {
  const l = lab();
  const reported: unknown[] = [];
  const { peer, session } = await rawInitiator({
    ...CREDIT_ONLY,
    services: [l.impl],
    onError: (e) => reported.push(e),
  });
  void peer.send(callWith(1, Lab.methods.keep.id, [1, 3]));
  assert.equal(toHex(await peer.nextBytes()), "00 07 01 01 00 00 00");
  const kept = l.kept[0]!;
  assert.deepEqual([kept.rx.id, kept.tx.id], [1, 3]);

  await inject(peer);

  const { reason } = await expectViolation(peer, session, description);
  assert.equal(reason.remote, false);
  // Items that were accepted before the violation may still be read; then the error.
  while (kept.rx.buffered > 0) await kept.rx.recv();
  await assert.rejects(kept.rx.recv(), (e) => e === reason);
  await assert.rejects(kept.tx.send(1), (e) => e === reason);
  assert.equal(kept.tx.signal.reason, reason);
  assert.deepEqual(reported, []);
  await peer.close();
}

test("an item for an unknown channel id is a protocol violation", async () => {
  await assertChannelViolation(
    (peer) => peer.send(itemBytes(5, 1)),
    /item for unknown channel 5/,
  );
});

test("an item after the peer's own Close is a protocol violation", async () => {
  await assertChannelViolation(async (peer) => {
    void peer.send(callWith(3, Lab.methods.keep.id, [5, 7]));
    await peer.expect("request");
    await peer.send(itemBytes(5, 1));
    await peer.send(hex("00 08 05 01 00"));
    await peer.send(itemBytes(5, 2));
  }, /item for channel 5 after it closed/);
});

test("an item that does not decode (an incomplete i32) is a protocol violation", async () => {
  await assertChannelViolation(
    (peer) => peer.send(hex("00 08 01 00 ff")),
    /undecodable item on channel 1/,
  );
});

test("an item with trailing bytes is a protocol violation", async () => {
  await assertChannelViolation(
    (peer) => peer.send(hex("00 08 01 00 02 00")),
    /undecodable item on channel 1/,
  );
});

test("an empty item for an i32 channel is a protocol violation", async () => {
  await assertChannelViolation(
    (peer) => peer.send(hex("00 08 01 00")),
    /undecodable item on channel 1/,
  );
});

test("17 items on a channel with credit 16 and no grant are a protocol violation", async () => {
  await assertChannelViolation(async (peer) => {
    for (let i = 0; i < 16; i++) void peer.send(itemBytes(1, i));
    await peer.expectSilence(30);
    await peer.send(itemBytes(1, 16));
  }, /exceeded its credit on channel 1/);
});

test("an item on a channel where the library is the sender is a protocol violation", async () => {
  await assertChannelViolation(
    (peer) => peer.send(itemBytes(3, 1)),
    /item for channel 3, on which this side is the sender/,
  );
});

test("channel id 0 in a Call is a protocol violation", async () => {
  await assertChannelViolation(
    (peer) => peer.send(callWith(3, Lab.methods.keep.id, [0, 5])),
    /channel id 0 is reserved/,
  );
});

test("a Call reusing a channel id still in use is a protocol violation", async () => {
  await assertChannelViolation(
    (peer) => peer.send(callWith(3, Lab.methods.keep.id, [1, 5])),
    /channel id 1 is already in use/,
  );
});

test("a Call listing the same channel id twice is a protocol violation", async () => {
  await assertChannelViolation(
    (peer) => peer.send(callWith(3, Lab.methods.keep.id, [5, 5])),
    /channel id 5 is already in use/,
  );
});

// ------------------------------------------------------------------ Web Streams and disposal

test("readable.pipeTo(tx.writable) sends every chunk and closes the channel", async () => {
  const l = lab();
  const { client, server } = await sessionPair(CREDIT_ONLY, { ...CREDIT_ONLY, services: [l.impl] });
  const [tx, rx] = channel<number>();
  const call = client.client(Lab).upload(rx);
  let i = 0;
  const source = new ReadableStream<number>({
    pull(controller) {
      if (i === 1000) controller.close();
      else controller.enqueue(valueAt(i++));
    },
  });
  await source.pipeTo(tx.writable);
  assert.deepEqual(await within(call, 2000, "upload"), { received: 1000, outOfOrder: 0 });
  await closeAll(client, server);
});

test("rx.readable.pipeTo() delivers every item, then closes", async () => {
  const l = lab();
  const { client, server } = await sessionPair(CREDIT_ONLY, { ...CREDIT_ONLY, services: [l.impl] });
  const [tx, rx] = channel<number>();
  const call = client.client(Lab).download(1000, tx);
  const got: number[] = [];
  await rx.readable.pipeTo(new WritableStream({ write: (v) => void got.push(v) }));
  assert.deepEqual(got, range(0, 1000).map(valueAt));
  await call;
  await closeAll(client, server);
});

test("await using closes a Tx at the end of its scope", async () => {
  const l = lab();
  const { client, server } = await sessionPair(CREDIT_ONLY, { ...CREDIT_ONLY, services: [l.impl] });
  const [tx, rx] = channel<number>();
  const call = client.client(Lab).upload(rx);
  {
    await using sink = tx;
    for (let i = 0; i < 100; i++) await sink.send(valueAt(i));
  }
  await assert.rejects(tx.send(0), TypeError);
  assert.deepEqual(await within(call, 2000, "upload"), { received: 100, outOfOrder: 0 });
  await closeAll(client, server);
});
