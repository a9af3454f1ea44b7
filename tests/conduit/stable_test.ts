/**
 * The stable conduit's behaviour between two library sessions (links the
 * test cuts), and against a hand-driven peer where the bytes matter:
 * calls and channel items in flight survive drops; a sender whose peer
 * never acks asks for an ack and waits, never drops; a graceful close is
 * final (`peer-closed`), a lost session is `session-lost`; the resume
 * registry expires waiting sessions and bounds how many wait.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  accept,
  channel,
  ClosedError,
  HandshakeError,
  implement,
  initiate,
  memoryLink,
  ResumeRegistry,
  type Rx,
  service,
  type Session,
  t,
} from "../../mod.ts";
import { conduitOf } from "../../lib/session/handshake.ts";
import type { StableConduit } from "../../lib/conduit/stable.ts";
import {
  delay,
  KEY_A,
  linkHello,
  PairServer,
  RawPeer,
  rejection,
  stableAcceptor,
  stableFrame,
  toHex,
  within,
} from "../_helpers/mod.ts";

const Calc = service("Calc", {
  add: { args: [t.u32, t.u32], returns: t.u32 },
  slow: { args: [t.u32, t.u32], returns: t.u32 },
  count: { args: [t.u32, t.tx(t.u32)], returns: t.unit },
});

const calcImpl = implement(Calc, {
  add: (a, b) => a + b,
  slow: async (a, ms) => {
    await delay(ms);
    return a;
  },
  count: async (n, tx) => {
    for (let i = 0; i < n; i++) await tx.send(i);
    await tx.close();
  },
});

/** A stable client on a {@linkcode PairServer}; `relink` is the server's `connect`. */
async function stablePair(
  registry: ResumeRegistry,
  withRelink = true,
): Promise<{ client: Session; server: Session; links: PairServer }> {
  const links = new PairServer(stableAcceptor(registry, { services: [calcImpl] }));
  const client = await initiate(links.connect(), {
    conduit: "stable",
    keepalive: false,
    stable: {
      ...(withRelink ? { relink: links.connect } : {}),
      retry: { initialDelay: 5, maxElapsed: 2000 },
    },
  });
  const server = await links.accepts[0]!;
  return { client, server, links };
}

function stableOf(session: Session): StableConduit {
  return conduitOf(session) as StableConduit;
}

async function collect(rx: Rx<number>): Promise<number[]> {
  const out: number[] = [];
  for await (const v of rx) out.push(v);
  return out;
}

test("Calls and channel items in flight on a stable session survive link drops, each once and in order", async () => {
  const registry = new ResumeRegistry();
  const { client, server, links } = await stablePair(registry);
  const calc = client.client(Calc);
  const slow = calc.slow(7, 40);
  const [tx, rx] = channel<number>();
  const items = collect(rx);
  const counted = calc.count(500, tx);
  const sums: Promise<number>[] = [];
  for (let i = 0; i < 10; i++) {
    for (let j = 0; j < 20; j++) sums.push(calc.add(i, j));
    await delay(2);
    links.cut();
  }
  assert.equal(await within(slow, 5000, "the slow call"), 7);
  await within(counted, 5000, "the streaming call");
  assert.deepEqual(await items, Array.from({ length: 500 }, (_, i) => i));
  const results = await within(Promise.all(sums), 5000, "the calls");
  assert.deepEqual(results, Array.from({ length: 200 }, (_, k) => Math.floor(k / 20) + (k % 20)));
  assert.ok(stableOf(client).resumes >= 5, `resumed ${stableOf(client).resumes} times`);
  assert.equal(links.accepts.length, stableOf(client).resumes + 1);
  for (const a of links.accepts.slice(1)) {
    assert.equal(await a, server, "every link joined one session");
  }
  await client.close();
  assert.equal((await server.closed)?.code, "peer-closed");
  assert.equal(registry.size, 0);
});

test("Closing a stable session sends a goodbye ping: the peer ends with peer-closed and does not wait for a resume", async () => {
  const [a, b] = memoryLink();
  const raw = new RawPeer(b);
  const started = initiate(a, { conduit: "stable", keepalive: false });
  await raw.nextBytes();
  raw.send(linkHello("ROSH", 0, KEY_A, 0));
  await raw.nextBytes();
  raw.send(stableFrame("00 01 00", "00 01 01 40 00"));
  const session = await started;
  const closing = session.close();
  assert.equal(
    toHex(await raw.nextBytes()),
    "01 01 00 00 09 ff ff ff ff ff ff ff ff ff 01",
    "seq 1, ack 0, Ping with nonce 2^64-1",
  );
  assert.equal(await raw.expectEnd(), "closed", "then the end of the stream");
  await raw.close();
  await closing;

  const registry = new ResumeRegistry();
  const pair = await stablePair(registry);
  await pair.server.close();
  const reason = await within(pair.client.closed, 2000, "the client's end");
  assert.ok(reason instanceof ClosedError);
  assert.equal(reason.code, "peer-closed");
  assert.equal(pair.links.accepts.length, 1, "the client did not try to resume");
  assert.equal(registry.size, 0);
});

test("A stable sender whose peer sends nothing asks for an ack with a ping and waits, never drops", async () => {
  const [a, b] = memoryLink();
  const raw = new RawPeer(b);
  const started = initiate(a, {
    conduit: "stable",
    keepalive: false,
    limits: { sendHighWaterMark: 4096 },
  });
  await raw.nextBytes();
  raw.send(linkHello("ROSH", 0, KEY_A, 0));
  await raw.nextBytes();
  raw.send(stableFrame("00 01 00", "00 01 01 40 00"));
  const session = await started;
  const Big = service("Big", { put: { args: [t.bytes], returns: t.unit } });
  const calls = Array.from(
    { length: 6 },
    (_, i) => session.client(Big).put(new Uint8Array(1500).fill(i)),
  );
  for (const c of calls) c.catch(() => {});
  const seen: Uint8Array[] = [];
  let ackPing: Uint8Array | undefined;
  while (ackPing === undefined) {
    const f = await raw.nextBytes();
    if (toHex(f.subarray(-12)) === "00 09 fe ff ff ff ff ff ff ff ff 01") ackPing = f;
    else seen.push(f);
  }
  assert.ok(seen.length >= 2 && seen.length < 6, `${seen.length} calls went before the ping`);
  await delay(30);
  await raw.expectSilence(50); // the rest wait for the ack
  // The pong acknowledges everything up to the ping: the rest go.
  const pingSeq = ackPing[0]!;
  raw.send(
    stableFrame(
      `01 01 ${pingSeq.toString(16).padStart(2, "0")}`,
      "00 0a fe ff ff ff ff ff ff ff ff 01",
    ),
  );
  for (let i = seen.length; i < 6; i++) {
    const f = await raw.nextBytes();
    assert.equal(f[f.length - 1], i, `call ${i} carries its own bytes`);
  }
  await raw.abort();
  await session.closed;
  for (const c of calls) await rejection(c);
});

test("A stable client whose resume is rejected ends with session-lost", async () => {
  const first = new ResumeRegistry();
  const links = new PairServer(stableAcceptor(first, { services: [calcImpl] }));
  const client = await initiate(links.connect(), {
    conduit: "stable",
    keepalive: false,
    stable: {
      // The server "restarted": its new registry does not know the key.
      relink: () => restarted.connect(),
      retry: { initialDelay: 5, maxElapsed: 2000 },
    },
  });
  const restarted = new PairServer(stableAcceptor(new ResumeRegistry()));
  const server = await links.accepts[0]!;
  const pending = client.client(Calc).slow(1, 100);
  await delay(5);
  links.cut();
  const reason = await within(client.closed, 2000, "the client's end");
  assert.ok(reason instanceof ClosedError);
  assert.equal(reason.code, "session-lost");
  assert.match(reason.message, /rejected the resume/);
  const e = await rejection(pending);
  assert.ok(e instanceof ClosedError && e.code === "session-lost");
  assert.ok((await rejection(restarted.accepts[0]!)) instanceof HandshakeError);
  await server.close();
});

test("A stable client without a way to relink ends with link-lost when its link drops", async () => {
  const registry = new ResumeRegistry({ timeout: 50 });
  const { client, server, links } = await stablePair(registry, false);
  links.cut();
  const reason = await within(client.closed, 2000, "the client's end");
  assert.ok(reason instanceof ClosedError && reason.code === "link-lost");
  assert.match(reason.message, /no way to make a new one/);
  const serverReason = await within(server.closed, 2000, "the server's end");
  assert.ok(serverReason instanceof ClosedError && serverReason.code === "link-lost");
  assert.match(serverReason.message, /did not resume within 50 ms/);
  assert.equal(registry.size, 0);
  assert.equal(registry.waiting, 0);
});

test("A resume registry bounds the sessions waiting for a resume: beyond maxDetached, the longest waiting ends", async () => {
  const registry = new ResumeRegistry({ maxDetached: 1, timeout: 10_000 });
  const one = await stablePair(registry, false);
  const two = await stablePair(registry, false);
  assert.equal(registry.size, 2);
  one.links.cut();
  await within(one.client.closed, 2000, "the first client's end");
  await delay(5);
  assert.equal(registry.waiting, 1);
  assert.equal(one.server.isClosed, false, "one session may wait");
  two.links.cut();
  const reason = await within(one.server.closed, 2000, "the first server session's end");
  assert.ok(reason instanceof ClosedError && reason.code === "link-lost");
  assert.match(reason.message, /maxDetached/);
  assert.equal(registry.waiting, 1);
  await two.server.close();
  assert.equal(registry.size, 0);
  assert.equal(registry.waitingBytes, 0);
});

test("A resume registry bounds the bytes its waiting sessions hold for replay", async () => {
  const registry = new ResumeRegistry({ maxDetachedBytes: 64 * 1024, timeout: 10_000 });
  const { client, server, links } = await stablePair(registry, false);
  // The server streams into a channel nobody reads after the cut.
  const Big = service("Big", {
    fill: { args: [t.tx(t.bytes, { credit: 1000 })], returns: t.unit },
  });
  server.serve(Big, {
    fill: async (out) => {
      for (let i = 0; i < 200; i++) await out.send(new Uint8Array(1024));
    },
  });
  const [btx, brx] = channel<Uint8Array>();
  const filling = client.client(Big).fill(btx);
  filling.catch(() => {});
  await brx.recv();
  links.cut();
  const reason = await within(server.closed, 5000, "the server session's end");
  assert.ok(reason instanceof ClosedError && reason.code === "link-lost");
  assert.match(reason.message, /maxDetachedBytes/);
  assert.equal(registry.waitingBytes, 0);
  await client.closed;
});

test("Choosing a bare conduit on one side and a stable one on the other fails the handshake clearly", async () => {
  const [a, b] = memoryLink();
  const [client, server] = await Promise.allSettled([
    initiate(a, { conduit: "stable", keepalive: false, handshakeTimeout: 2000 }),
    accept(b, { keepalive: false, handshakeTimeout: 2000 }),
  ]);
  assert.ok(client.status === "rejected" && client.reason instanceof HandshakeError);
  assert.ok(server.status === "rejected" && server.reason instanceof HandshakeError);

  const [c, d] = memoryLink();
  const [client2, server2] = await Promise.allSettled([
    initiate(c, { keepalive: false, handshakeTimeout: 2000 }),
    accept(d, stableAcceptor(new ResumeRegistry(), { handshakeTimeout: 2000 })),
  ]);
  assert.ok(client2.status === "rejected" && client2.reason instanceof HandshakeError);
  assert.ok(server2.status === "rejected" && server2.reason instanceof HandshakeError);
});
