import { test } from "node:test";
import assert from "node:assert/strict";
import { ClosedError, initiate, memoryLink } from "../../mod.ts";
import {
  closeAll,
  delay,
  Echo,
  echoImpl,
  endRaw,
  hex,
  rawAcceptor,
  rawInitiator,
  RawPeer,
  sessionPair,
  settle,
  toHex,
  within,
} from "../_helpers/mod.ts";

// ------------------------------------------------------------ answering pings

test("a Ping from the peer is answered with a Pong carrying the same nonce (00 0a <nonce>)", async () => {
  for (const make of [rawInitiator, rawAcceptor]) {
    const { peer, session } = await make();
    try {
      for (const nonce of ["00", "2a", "80 01", "ff ff ff ff ff ff ff ff ff 01"]) {
        void peer.send(hex(`00 09 ${nonce}`));
        assert.equal(toHex(await peer.nextBytes()), toHex(hex(`00 0a ${nonce}`)));
      }
      assert.equal(session.isClosed, false);
    } finally {
      await endRaw(peer, session);
    }
  }
});

test("Pings are answered in order, each with its own nonce", async () => {
  const { peer, session } = await rawInitiator();
  try {
    for (let n = 1n; n <= 20n; n++) {
      void peer.send({ connectionId: 0, payload: { type: "ping", nonce: n } });
    }
    for (let n = 1n; n <= 20n; n++) {
      const pong = await peer.expect("pong");
      assert.equal(pong.connectionId, 0);
      assert.equal(pong.payload.nonce, n);
    }
  } finally {
    await endRaw(peer, session);
  }
});

// ------------------------------------------------------------ session.ping()

test("session.ping() resolves with a positive round-trip time, from either side", async () => {
  const { client, server } = await sessionPair();
  try {
    for (const s of [client, server]) {
      const rtt = await within(s.ping(), 1000, "ping()");
      assert.equal(typeof rtt, "number");
      assert.ok(Number.isFinite(rtt) && rtt > 0, `rtt ${rtt}`);
    }
  } finally {
    await closeAll(client, server);
  }
});

test("session.ping() sends nonces 1, 2, … and measures the time until the matching Pong", async () => {
  const { peer, session } = await rawAcceptor();
  try {
    const first = session.ping();
    const ping = await peer.expect("ping");
    assert.equal(ping.connectionId, 0);
    assert.equal(ping.payload.nonce, 1n);
    // A Pong with another nonce, and one on another connection, do not count.
    void peer.send({ connectionId: 0, payload: { type: "pong", nonce: 999n } });
    void peer.send({ connectionId: 1, payload: { type: "pong", nonce: 1n } });
    await delay(30);
    void peer.send({ connectionId: 0, payload: { type: "pong", nonce: 1n } });
    const rtt = await within(first, 1000, "the first ping");
    assert.ok(rtt >= 25, `rtt ${rtt} should include the peer's 30 ms delay`);
    // Concurrent pings get distinct nonces and may be answered out of order.
    const second = session.ping();
    const third = session.ping();
    const p2 = await peer.expect("ping");
    const p3 = await peer.expect("ping");
    assert.deepEqual([p2.payload.nonce, p3.payload.nonce], [2n, 3n]);
    void peer.send({ connectionId: 0, payload: { type: "pong", nonce: 3n } });
    void peer.send({ connectionId: 0, payload: { type: "pong", nonce: 2n } });
    const rtts = await within(Promise.all([second, third]), 1000, "both pings");
    assert.ok(rtts.every((r) => r >= 0));
    assert.equal(session.isClosed, false);
  } finally {
    await endRaw(peer, session);
  }
});

test("a pending session.ping() fails when the session ends, and ping() after close fails at once", async () => {
  const { peer, session } = await rawAcceptor();
  const pending = settle(session.ping());
  await peer.expect("ping");
  await peer.abort();
  const r = await within(pending, 1000, "the ping to fail");
  assert.ok(!r.ok && r.error instanceof ClosedError, `got ${String(!r.ok && r.error)}`);
  await within(session.closed, 1000, "session.closed");
  await assert.rejects(session.ping(), ClosedError);
});

// ------------------------------------------------------------ keepalive

test("keepalive sends a Ping every interval, with nonces 1, 2, 3, …", async () => {
  const interval = 25;
  const { peer, session } = await rawAcceptor({ keepalive: { interval, timeout: 1000 } });
  try {
    const times: number[] = [];
    const start = performance.now();
    for (let n = 1n; n <= 5n; n++) {
      const ping = await peer.expect("ping", 1000);
      times.push(performance.now());
      assert.equal(ping.connectionId, 0);
      assert.equal(ping.payload.nonce, n);
      void peer.send({ connectionId: 0, payload: { type: "pong", nonce: n } });
    }
    // The first ping comes one interval after start, and each next one an interval after the pong.
    assert.ok(times[0]! - start >= interval - 5, `first ping after ${times[0]! - start} ms`);
    for (let i = 1; i < times.length; i++) {
      const gap = times[i]! - times[i - 1]!;
      assert.ok(gap >= interval - 5, `gap ${gap} ms between pings ${i} and ${i + 1}`);
    }
    assert.equal(session.isClosed, false);
  } finally {
    await endRaw(peer, session);
  }
});

test("keepalive tears the session down with keepalive-timeout when the peer stops answering", async () => {
  const timeout = 60;
  const { peer, session } = await rawAcceptor({ keepalive: { interval: 20, timeout } });
  // A call the peer will never answer.
  const pending = settle(session.client(Echo).echo("waiting"));
  const call = await peer.expect("request");
  assert.equal(call.payload.body.type, "call");
  // Answer the first ping, then fall silent.
  const first = await peer.expect("ping");
  void peer.send({ connectionId: 0, payload: { type: "pong", nonce: first.payload.nonce } });
  const second = await peer.expect("ping");
  assert.equal(second.payload.nonce, first.payload.nonce + 1n);
  const silentSince = performance.now();
  const reason = await within(session.closed, 2000, "the keepalive to give up");
  const waited = performance.now() - silentSince;
  assert.ok(reason instanceof ClosedError, `got ${String(reason)}`);
  assert.equal(reason.code, "keepalive-timeout");
  assert.ok(waited >= timeout - 10, `gave up after ${waited} ms, timeout ${timeout}`);
  assert.equal(session.isClosed, true);
  // Pending calls fail with the same reason, new calls and pings fail at once.
  const r = await within(pending, 1000, "the pending call");
  assert.ok(!r.ok);
  assert.equal(r.error, reason);
  await assert.rejects(session.client(Echo).echo("late"), (e) => e === reason);
  await assert.rejects(session.ping(), (e) => e === reason);
  // The link is dropped, and nothing else is sent (no more pings).
  assert.equal(await peer.expectEnd(), "failed");
  await peer.close();
});

test("keepalive does not accept a Pong with another nonce or on another connection", async () => {
  const { peer, session } = await rawAcceptor({ keepalive: { interval: 10, timeout: 50 } });
  const ping = await peer.expect("ping");
  void peer.send({ connectionId: 0, payload: { type: "pong", nonce: ping.payload.nonce + 1n } });
  void peer.send({ connectionId: 1, payload: { type: "pong", nonce: ping.payload.nonce } });
  const reason = await within(session.closed, 2000, "the keepalive to give up");
  assert.ok(reason instanceof ClosedError);
  assert.equal(reason.code, "keepalive-timeout");
  await peer.close();
});

test("keepalive with an answering peer keeps the session alive for many intervals", async () => {
  const keepalive = { interval: 10, timeout: 100 };
  const { client, server } = await sessionPair({ keepalive, services: [echoImpl] }, {
    keepalive,
    services: [echoImpl],
  });
  try {
    await delay(keepalive.interval * 15);
    assert.equal(client.isClosed, false);
    assert.equal(server.isClosed, false);
    assert.equal(await client.client(Echo).echo("alive"), "alive");
    assert.equal(await server.client(Echo).echo("alive too"), "alive too");
  } finally {
    await closeAll(client, server);
  }
});

test("keepalive stops with the session: closing leaves no timer and sends no more pings", async () => {
  const { peer, session } = await rawAcceptor({ keepalive: { interval: 15, timeout: 1000 } });
  const ping = await peer.expect("ping");
  void peer.send({ connectionId: 0, payload: { type: "pong", nonce: ping.payload.nonce } });
  await session.close();
  assert.equal(await session.closed, undefined);
  assert.equal(await peer.expectEnd(), "closed");
  await peer.close();
  // Deno's sanitizers fail this test if a keepalive timer is still armed.
});

test("an acceptor's keepalive gives up on an unanswered ping too, naming the timeout", async () => {
  const { peer, session } = await rawInitiator({ keepalive: { interval: 10, timeout: 30 } });
  await peer.expect("ping");
  const reason = await within(session.closed, 1000, "the keepalive timeout");
  assert.ok(reason instanceof ClosedError);
  assert.equal(reason.code, "keepalive-timeout");
  assert.match(reason.message, /30 ms/);
  await peer.close();
});

test("initiate() rejects keepalive settings that are not valid durations with a RangeError", async () => {
  const bad = [
    { interval: -1, timeout: 100 },
    { interval: 100, timeout: Number.NaN },
    { interval: Infinity, timeout: 100 },
  ];
  for (const keepalive of bad) {
    const [a, b] = memoryLink();
    const peer = new RawPeer(b);
    try {
      const r = await within(
        settle(initiate(a, { keepalive, handshakeTimeout: 200 })),
        1000,
        "initiate()",
      );
      assert.ok(
        !r.ok && r.error instanceof RangeError,
        `${JSON.stringify(keepalive)}: got ${r.ok ? "a session" : String(r.error)}`,
      );
    } finally {
      await peer.close();
    }
  }
});
