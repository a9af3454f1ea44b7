import { test } from "node:test";
import assert from "node:assert/strict";
import { inspect } from "node:util";
import {
  accept,
  HandshakeError,
  implement,
  initiate,
  memoryLink,
  ProtocolError,
  SENSITIVE,
} from "../../mod.ts";
import { decodeMessage } from "../../lib/wire/decode.ts";
import {
  Echo,
  hex,
  pendingTimersAfter,
  rawAcceptor,
  rawInitiator,
  RawPeer,
  rejection,
  sessionPair,
  toHex,
  within,
} from "../_helpers/mod.ts";

/** Asserts a HandshakeError (code "handshake-failed") whose message matches `message`. */
function assertHandshakeError(e: unknown, message?: RegExp): HandshakeError {
  assert.ok(e instanceof HandshakeError, `expected a HandshakeError, got ${String(e)}`);
  assert.equal(e.code, "handshake-failed");
  assert.equal(e.name, "HandshakeError");
  if (message !== undefined) assert.match(e.message, message);
  return e;
}

// ------------------------------------------------------------ success and parity

test("an initiator and an acceptor complete the handshake over a memory link", async () => {
  const pair = await sessionPair({}, {
    services: [implement(Echo, { echo: (s) => s })],
  });
  try {
    assert.equal(pair.client.role, "initiator");
    assert.equal(pair.server.role, "acceptor");
    assert.equal(pair.client.isClosed, false);
    assert.equal(pair.server.isClosed, false);
    assert.equal(pair.client.root.id, 0);
    assert.equal(await pair.client.client(Echo).echo("hi"), "hi");
  } finally {
    await pair.close();
  }
  assert.equal(await pair.client.closed, undefined);
  assert.equal(pair.client.isClosed, true);
  assert.equal(pair.server.isClosed, true);
});

test("the initiator is odd and the acceptor even by default", async () => {
  const pair = await sessionPair();
  try {
    assert.equal(pair.client.parity, "odd");
    assert.equal(pair.server.parity, "even");
    assert.equal(pair.client.root.settings.parity, "odd");
    assert.equal(pair.client.root.peerSettings.parity, "even");
    assert.equal(pair.server.root.settings.parity, "even");
    assert.equal(pair.server.root.peerSettings.parity, "odd");
  } finally {
    await pair.close();
  }
});

test('parity: "even" makes the initiator even and the acceptor takes odd', async () => {
  const pair = await sessionPair({ parity: "even" });
  try {
    assert.equal(pair.client.parity, "even");
    assert.equal(pair.server.parity, "odd");
    assert.equal(pair.server.root.settings.parity, "odd");
    assert.equal(pair.server.root.peerSettings.parity, "even");
  } finally {
    await pair.close();
  }
});

test("by default the initiator sends the minimal Hello 00 00 07 00 40 00", async () => {
  const raw = await rawAcceptor({}, { readAhead: false });
  try {
    assert.equal(toHex(raw.first), "00 00 07 00 40 00");
  } finally {
    await raw.close();
  }
});

test('an initiator with parity: "even" sends Hello 00 00 07 01 40 00', async () => {
  const raw = await rawAcceptor({ parity: "even" }, { readAhead: false });
  try {
    assert.equal(toHex(raw.first), "00 00 07 01 40 00");
    assert.equal(raw.session.parity, "even");
  } finally {
    await raw.close();
  }
});

test("a raw initiator with default settings receives HelloYourself 00 01 01 40 00", async () => {
  const raw = await rawInitiator({}, { readAhead: false });
  try {
    assert.equal(toHex(raw.first), "00 01 01 40 00");
    assert.equal(raw.session.parity, "even");
  } finally {
    await raw.close();
  }
});

test("an acceptor takes the opposite of the initiator's parity: an even Hello gets an odd HelloYourself", async () => {
  const raw = await rawInitiator({}, { parity: "even", readAhead: false });
  try {
    assert.equal(toHex(raw.first), "00 01 00 40 00");
    assert.equal(raw.session.parity, "odd");
    assert.equal(raw.session.root.settings.parity, "odd");
    assert.equal(raw.session.root.peerSettings.parity, "even");
  } finally {
    await raw.close();
  }
});

// ------------------------------------------------------------ metadata and settings

test("Hello and HelloYourself metadata reach each side's peerMetadata", async () => {
  const pair = await sessionPair(
    {
      metadata: [
        { key: "client", value: "deno", flags: 0 },
        { key: "build", value: 42n, flags: 0 },
        { key: "client", value: new Uint8Array([1, 2, 3]), flags: 0 },
      ],
    },
    { metadata: { server: "roam-ts", token: "s3cret-hello" } },
  );
  try {
    assert.deepEqual(pair.server.peerMetadata, [
      { key: "client", value: "deno", flags: 0 },
      { key: "build", value: 42n, flags: 0 },
      { key: "client", value: new Uint8Array([1, 2, 3]), flags: 0 },
    ]);
    assert.deepEqual(pair.client.peerMetadata, [
      { key: "server", value: "roam-ts", flags: 0 },
      { key: "token", value: "s3cret-hello", flags: 0 },
    ]);
    assert.deepEqual(pair.client.root.peerMetadata, pair.client.peerMetadata);
    assert.deepEqual(pair.server.root.peerMetadata, pair.server.peerMetadata);
  } finally {
    await pair.close();
  }
});

test("a SENSITIVE Hello metadata value is readable through peerMetadata but never shown", async () => {
  const pair = await sessionPair({
    metadata: [{ key: "auth", value: "hello-s3cret", flags: SENSITIVE }],
  });
  try {
    const [entry] = pair.server.peerMetadata;
    assert.ok(entry !== undefined);
    assert.equal(entry.key, "auth");
    assert.equal(entry.value, "hello-s3cret");
    assert.equal(entry.flags, SENSITIVE);
    const m = pair.server.peerMetadata;
    for (const shown of [inspect(m), JSON.stringify(m), String(m)]) {
      assert.ok(!shown.includes("hello-s3cret"), `leaked in ${shown}`);
    }
  } finally {
    await pair.close();
  }
});

test("maxConcurrentRequests is announced in Hello and HelloYourself", async () => {
  const pair = await sessionPair({ maxConcurrentRequests: 5 }, { maxConcurrentRequests: 300 });
  try {
    assert.equal(pair.client.root.settings.maxConcurrentRequests, 5);
    assert.equal(pair.client.root.peerSettings.maxConcurrentRequests, 300);
    assert.equal(pair.server.root.settings.maxConcurrentRequests, 300);
    assert.equal(pair.server.root.peerSettings.maxConcurrentRequests, 5);
  } finally {
    await pair.close();
  }
  const init = await rawAcceptor({ maxConcurrentRequests: 300 }, { readAhead: false });
  try {
    assert.equal(toHex(init.first), "00 00 07 00 ac 02 00");
  } finally {
    await init.close();
  }
  const acc = await rawInitiator({ maxConcurrentRequests: 2 }, { readAhead: false });
  try {
    assert.equal(toHex(acc.first), "00 01 01 02 00");
  } finally {
    await acc.close();
  }
});

test("the peer's announced maxConcurrentRequests is recorded from a raw Hello", async () => {
  const raw = await rawInitiator({}, { maxConcurrentRequests: 7, readAhead: false });
  try {
    assert.equal(raw.session.root.peerSettings.maxConcurrentRequests, 7);
  } finally {
    await raw.close();
  }
});

// ------------------------------------------------------------ refused handshakes

test("an acceptor sends a ProtocolError and fails with HandshakeError on a Hello of version 6", async () => {
  const [a, b] = memoryLink();
  const peer = new RawPeer(a);
  peer.send(hex("00 00 06 00 40 00"));
  const [e, seen] = await Promise.all([rejection(accept(b)), peer.untilEnd()]);
  assertHandshakeError(e, /version 6/);
  assert.equal(seen.length, 1);
  const p = seen[0]!.payload;
  assert.equal(seen[0]!.connectionId, 0);
  assert.equal(p.type, "protocolError");
  if (p.type === "protocolError") assert.match(p.description, /version/);
  await peer.close();
});

test("both sides fail with HandshakeError when the initiator's Hello says version 8", async () => {
  // A relay between two library sessions rewrites the version byte of the first message.
  const [a1, a2] = memoryLink();
  const [b1, b2] = memoryLink();
  let first = true;
  const up = a2.readable.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        if (first) {
          first = false;
          const patched = chunk.slice();
          assert.equal(patched[2], 7);
          patched[2] = 8;
          controller.enqueue(patched);
        } else controller.enqueue(chunk);
      },
    }),
  ).pipeTo(b1.writable).catch(() => {});
  const down = b1.readable.pipeTo(a2.writable).catch(() => {});
  const [init, acc] = await Promise.allSettled([initiate(a1), accept(b2)]);
  assert.equal(init.status, "rejected");
  assert.equal(acc.status, "rejected");
  if (acc.status === "rejected") assertHandshakeError(acc.reason, /version 8/);
  if (init.status === "rejected") {
    const e = assertHandshakeError(init.reason, /refused the handshake/);
    assert.match(e.message, /version 8/);
    assert.ok(e.cause instanceof ProtocolError);
    assert.equal(e.cause.remote, true);
  }
  await within(Promise.all([up, down]), 2000, "the relay");
});

test("an acceptor whose first message is a Ping sends a ProtocolError and fails with HandshakeError", async () => {
  const [a, b] = memoryLink();
  const peer = new RawPeer(a);
  peer.send(hex("00 09 01"));
  const [e, seen] = await Promise.all([rejection(accept(b)), peer.untilEnd()]);
  assertHandshakeError(e, /Expected Hello/);
  assert.deepEqual(seen.map((m) => m.payload.type), ["protocolError"]);
  await peer.close();
});

test("an initiator answered with a Ping instead of HelloYourself sends a ProtocolError and fails", async () => {
  const [a, b] = memoryLink();
  const peer = new RawPeer(b);
  const pending = initiate(a);
  assert.equal(toHex(await peer.nextBytes()), "00 00 07 00 40 00");
  peer.send(hex("00 09 01"));
  const [e, seen] = await Promise.all([rejection(pending), peer.untilEnd()]);
  assertHandshakeError(e, /Expected HelloYourself/);
  assert.deepEqual(seen.map((m) => m.payload.type), ["protocolError"]);
  await peer.close();
});

test("an initiator whose Hello is answered with a ProtocolError fails with HandshakeError carrying the description", async () => {
  const [a, b] = memoryLink();
  const peer = new RawPeer(b);
  const pending = initiate(a);
  await peer.nextBytes();
  peer.send({ connectionId: 0, payload: { type: "protocolError", description: "go away now" } });
  const e = assertHandshakeError(await rejection(pending), /go away now/);
  assert.ok(e.cause instanceof ProtocolError);
  assert.equal(e.cause.remote, true);
  // Nothing is sent back to a peer that already refused; the link just ends.
  assert.deepEqual(await peer.untilEnd(), []);
  await peer.close();
});

test("an acceptor whose first message is a ProtocolError fails with HandshakeError carrying the description", async () => {
  const [a, b] = memoryLink();
  const peer = new RawPeer(a);
  peer.send({ connectionId: 0, payload: { type: "protocolError", description: "not today" } });
  const e = assertHandshakeError(await rejection(accept(b)), /not today/);
  assert.ok(e.cause instanceof ProtocolError);
  assert.deepEqual(await peer.untilEnd(), []);
  await peer.close();
});

test("garbage bytes as the first message fail the acceptor's handshake with HandshakeError", async () => {
  for (const garbage of ["ff ff ff", "00 63", "00 00", "", "00 00 07 00 40 00 ff"]) {
    const [a, b] = memoryLink();
    const peer = new RawPeer(a);
    peer.send(hex(garbage));
    const [e, seen] = await Promise.all([rejection(accept(b)), peer.untilEnd()]);
    assertHandshakeError(e, /decode/);
    assert.deepEqual(seen.map((m) => m.payload.type), ["protocolError"], `for "${garbage}"`);
    await peer.close();
  }
});

test("garbage bytes instead of HelloYourself fail the initiator's handshake with HandshakeError", async () => {
  const [a, b] = memoryLink();
  const peer = new RawPeer(b);
  const pending = initiate(a);
  await peer.nextBytes();
  peer.send(hex("00 01 05 40 00"));
  const [e, seen] = await Promise.all([rejection(pending), peer.untilEnd()]);
  assertHandshakeError(e, /decode/);
  assert.deepEqual(seen.map((m) => m.payload.type), ["protocolError"]);
  await peer.close();
});

// ------------------------------------------------------------ timeouts and dead links

test("an acceptor that hears nothing within handshakeTimeout fails with HandshakeError and leaves no timer", async () => {
  const [a, b] = memoryLink();
  const peer = new RawPeer(a);
  let error: unknown;
  const started = performance.now();
  const left = await pendingTimersAfter(async () => {
    error = await rejection(accept(b, { handshakeTimeout: 30 }));
  });
  const elapsed = performance.now() - started;
  assertHandshakeError(error, /within 30 ms/);
  assert.ok(elapsed >= 25 && elapsed < 1000, `took ${elapsed} ms`);
  assert.equal(left, 0, "timers left pending by the failed handshake");
  assert.deepEqual(await peer.untilEnd(), []);
  await peer.close();
});

test("an initiator whose peer reads the Hello but never answers times out with HandshakeError", async () => {
  const [a, b] = memoryLink();
  const peer = new RawPeer(b);
  let error: unknown;
  const left = await pendingTimersAfter(async () => {
    const pending = initiate(a, { handshakeTimeout: 30 });
    assert.equal(toHex(await peer.nextBytes()), "00 00 07 00 40 00");
    error = await rejection(pending);
  });
  assertHandshakeError(error, /No HelloYourself from the peer within 30 ms/);
  assert.equal(left, 0, "timers left pending by the failed handshake");
  assert.deepEqual(await peer.untilEnd(), []);
  await peer.close();
});

test("a refused handshake settles even when the peer does not read the ProtocolError", async () => {
  const [a, b] = memoryLink();
  const peer = new RawPeer(a);
  peer.send(hex("00 00 06 00 40 00"));
  // The peer does not read: the refusal must still settle, bounded by the handshake timeout.
  assertHandshakeError(await rejection(accept(b, { handshakeTimeout: 50 }), 1000), /version 6/);
  await peer.close();
});

test("an initiator whose peer never even reads the Hello still times out promptly", async () => {
  const [a, b] = memoryLink();
  let error: unknown;
  const left = await pendingTimersAfter(async () => {
    error = await rejection(initiate(a, { handshakeTimeout: 30 }), 1000);
  });
  assertHandshakeError(error, /within 30 ms/);
  assert.equal(left, 0, "timers left pending by the failed handshake");
  const peer = new RawPeer(b);
  await peer.close();
});

test("a link the peer closes during the handshake fails it with HandshakeError", async () => {
  {
    const [a, b] = memoryLink();
    const peer = new RawPeer(a);
    const pending = accept(b);
    await peer.close();
    assertHandshakeError(await rejection(pending), /closed the link/);
  }
  {
    const [a, b] = memoryLink();
    const peer = new RawPeer(b);
    const pending = initiate(a);
    await peer.nextBytes();
    await peer.close();
    assertHandshakeError(await rejection(pending), /closed the link/);
  }
});

test("a link that fails during the handshake fails it with HandshakeError", async () => {
  {
    const [a, b] = memoryLink();
    const peer = new RawPeer(a);
    const pending = accept(b);
    const reason = new Error("wire cut");
    await peer.abort(reason);
    const e = assertHandshakeError(await rejection(pending));
    assert.equal(e.cause, reason);
  }
  {
    const [a, b] = memoryLink();
    const peer = new RawPeer(b);
    const pending = initiate(a);
    await peer.nextBytes();
    await peer.abort();
    assertHandshakeError(await rejection(pending));
  }
});

// ------------------------------------------------------------ options

test("invalid maxConcurrentRequests and handshakeTimeout are rejected with RangeError before the link is used", async () => {
  const bad: { maxConcurrentRequests?: number; handshakeTimeout?: number }[] = [
    { maxConcurrentRequests: 0 },
    { maxConcurrentRequests: -1 },
    { maxConcurrentRequests: 1.5 },
    { maxConcurrentRequests: 2 ** 32 },
    { maxConcurrentRequests: Number.NaN },
    { handshakeTimeout: -1 },
    { handshakeTimeout: Number.NaN },
    { handshakeTimeout: 2 ** 31 },
  ];
  for (const options of bad) {
    const [a, b] = memoryLink();
    const what = JSON.stringify(options);
    const ei = await rejection(initiate(a, options));
    assert.ok(ei instanceof RangeError, `initiate ${what}: ${String(ei)}`);
    const ea = await rejection(accept(b, options));
    assert.ok(ea instanceof RangeError, `accept ${what}: ${String(ea)}`);
    assert.match(ei.message, /maxConcurrentRequests|handshakeTimeout/);
    // Nothing was read or written: the link is still free.
    assert.equal(a.readable.locked, false);
    assert.equal(a.writable.locked, false);
    assert.equal(b.readable.locked, false);
    assert.equal(b.writable.locked, false);
  }
});

test("an unknown parity is rejected with TypeError", async () => {
  const [a] = memoryLink();
  const e = await rejection(initiate(a, { parity: "sideways" as "odd" }));
  assert.ok(e instanceof TypeError);
  assert.equal(a.writable.locked, false);
});

test("the HelloYourself a library acceptor sends decodes as the wire codec expects", async () => {
  const raw = await rawInitiator({ metadata: { server: "x" } }, { readAhead: false });
  try {
    const m = decodeMessage(raw.first);
    assert.deepEqual(m, {
      connectionId: 0,
      payload: {
        type: "helloYourself",
        settings: { parity: "even", maxConcurrentRequests: 64 },
        metadata: [{ key: "server", value: "x", flags: 0 }],
      },
    });
  } finally {
    await raw.close();
  }
});
