import { test } from "node:test";
import assert from "node:assert/strict";
import {
  ClosedError,
  implement,
  initiate,
  memoryLink,
  ProtocolError,
  type SessionOptions,
} from "../../mod.ts";
import { encodeMessage } from "../../wire.ts";
import {
  callMessage,
  closeAll,
  deferred,
  Echo,
  echoArgs,
  echoImpl,
  endRaw,
  expectViolation,
  hex,
  Hold,
  holdImpl,
  okResponse,
  rawAcceptor,
  rawInitiator,
  type RawPeer,
  sessionPair,
  settle,
  within,
} from "../_helpers/mod.ts";

/**
 * Runs one violation against a library acceptor whose peer is a raw
 * initiator. Before the injection the library has a call pending on the
 * peer and the peer has a call running on the library; afterwards the
 * library must send a ProtocolError on connection 0, close the link, end
 * the session with a local ProtocolError and fail everything pending with
 * it.
 */
async function assertViolation(
  inject: (peer: RawPeer) => Promise<unknown> | unknown,
  description: RegExp,
  options: SessionOptions = {},
): Promise<void> {
  const held = holdImpl();
  const reported: unknown[] = [];
  const { peer, session } = await rawInitiator({
    services: [held.impl, echoImpl],
    onError: (e) => reported.push(e),
    ...options,
  });
  // A call from the library to the peer, which the peer never answers.
  const outgoing = settle(session.client(Echo).echo("pending"));
  const call = await peer.expect("request");
  assert.equal(call.payload.body.type, "call");
  // A call from the peer to the library, still running.
  void peer.send(callMessage(0, 1, Hold.methods.hold.id));
  await held.whenStarted(1);

  await inject(peer);

  // The library closes the link after the ProtocolError, sending nothing else.
  const { error, reason } = await expectViolation(peer, session, description);
  assert.ok(reason instanceof ClosedError);
  assert.equal(reason.code, "protocol-error");
  assert.equal(reason.remote, false);
  assert.ok(
    reason.message.includes(error.payload.description),
    `"${reason.message}" should contain "${error.payload.description}"`,
  );
  assert.equal(session.isClosed, true);

  // Pending calls fail with that error; running handlers see their signal abort.
  const r = await within(outgoing, 1000, "the pending call");
  assert.ok(!r.ok);
  assert.equal(r.error, reason);
  assert.equal(held.aborted.length, 1);
  assert.equal(held.aborted[0], reason);
  // New calls and pings fail at once with the same error.
  await assert.rejects(session.client(Echo).echo("late"), (e) => e === reason);
  await assert.rejects(session.ping(), (e) => e === reason);
  assert.deepEqual(reported, []);
  await peer.close();
}

// ------------------------------------------------------------ undecodable bytes

test("garbage bytes are a protocol violation", async () => {
  await assertViolation(
    (peer) => peer.send(hex("ff ff ff ff ff ff ff ff ff ff ff ff")),
    /undecodable message/,
  );
});

test("an unknown MessagePayload index (11) is a protocol violation", async () => {
  await assertViolation((peer) => peer.send(hex("00 0b")), /MessagePayload.*11/);
});

test("an unknown RequestBody index is a protocol violation", async () => {
  await assertViolation((peer) => peer.send(hex("00 07 03 03 00")), /RequestBody.*3/);
});

test("a truncated message is a protocol violation", async () => {
  const whole = encodeMessage(callMessage(0, 3, Echo.methods.echo.id, echoArgs("hi")));
  await assertViolation(
    (peer) => peer.send(whole.slice(0, 6)),
    /undecodable message.*end of input/,
  );
});

test("an empty payload is a protocol violation", async () => {
  await assertViolation((peer) => peer.send(new Uint8Array(0)), /undecodable message/);
});

test("trailing bytes after a message without a trailing payload are a protocol violation", async () => {
  await assertViolation((peer) => peer.send(hex("00 09 01 ff")), /trailing/);
});

// ------------------------------------------------------------ bad ids

test("a request on an unknown connection id is a protocol violation", async () => {
  await assertViolation(
    (peer) => peer.send(callMessage(7, 1, Echo.methods.echo.id, echoArgs("x"))),
    /request for unknown connection 7/,
  );
});

test("a request on a connection id of the library's parity it never opened is a protocol violation", async () => {
  await assertViolation(
    (peer) => peer.send(callMessage(8, 1, Echo.methods.echo.id, echoArgs("x"))),
    /unknown connection 8/,
  );
});

test("a response to an unknown request id is a protocol violation", async () => {
  await assertViolation(
    (peer) => peer.send(okResponse(0, 40, echoArgs("who asked?"))),
    /response to unknown request 40/,
  );
});

test("a duplicate in-flight request id is a protocol violation", async () => {
  // Request 1 (Hold.hold) is still running when the peer reuses its id.
  await assertViolation(
    (peer) => peer.send(callMessage(0, 1, Echo.methods.echo.id, echoArgs("again"))),
    /request id 1 .*already in flight/,
  );
});

test("a channel message for an unknown channel is a protocol violation", async () => {
  await assertViolation((peer) => peer.send(hex("00 08 05 00 01")), /unknown channel 5/);
});

test("ConnectionClose on connection 0 is a protocol violation", async () => {
  await assertViolation((peer) => peer.send(hex("00 06 00")), /ConnectionClose.*root/);
});

test("a Hello after the handshake is a protocol violation", async () => {
  await assertViolation((peer) => peer.send(hex("00 00 07 00 40 00")), /Hello after/);
});

test("a HelloYourself after the handshake is a protocol violation", async () => {
  await assertViolation((peer) => peer.send(hex("00 01 01 40 00")), /HelloYourself after/);
});

test("a message larger than limits.maxMessageSize is a protocol violation", async () => {
  await assertViolation(
    (peer) => peer.send(callMessage(0, 3, Echo.methods.echo.id, echoArgs("x".repeat(200)))),
    /\d+ bytes exceeds the limit of 128/,
    { limits: { maxMessageSize: 128 } },
  );
});

test("a message of exactly limits.maxMessageSize bytes is accepted", async () => {
  const { peer, session } = await rawInitiator({
    services: [echoImpl],
    limits: { maxMessageSize: 128 },
  });
  try {
    const overhead = encodeMessage(callMessage(0, 1, Echo.methods.echo.id, echoArgs("x"))).length -
      1;
    const text = "y".repeat(128 - overhead); // its length prefix stays one byte
    const bytes = encodeMessage(callMessage(0, 1, Echo.methods.echo.id, echoArgs(text))).slice();
    assert.equal(bytes.length, 128);
    void peer.send(bytes);
    const res = await peer.expect("request");
    assert.equal(res.payload.body.type, "response");
    assert.equal(session.isClosed, false);
  } finally {
    await endRaw(peer, session);
  }
});

// ------------------------------------------------------------ the peer's ProtocolError

test("a ProtocolError from the peer tears the session down with remote=true and its description", async () => {
  const held = holdImpl();
  const { peer, session } = await rawAcceptor({ services: [held.impl] });
  const outgoing = settle(session.client(Echo).echo("pending"));
  await peer.expect("request");
  void peer.send(callMessage(0, 2, Hold.methods.hold.id));
  await held.whenStarted(1);
  void peer.send({
    connectionId: 0,
    payload: { type: "protocolError", description: "bad frame sequence" },
  });
  const reason = await within(session.closed, 1000, "session.closed");
  assert.ok(reason instanceof ProtocolError, `got ${String(reason)}`);
  assert.equal(reason.code, "protocol-error");
  assert.equal(reason.remote, true);
  assert.match(reason.message, /bad frame sequence/);
  const r = await within(outgoing, 1000, "the pending call");
  assert.ok(!r.ok);
  assert.equal(r.error, reason);
  assert.equal(held.aborted[0], reason);
  // No ProtocolError is sent back: the link is simply dropped.
  assert.equal(await peer.expectEnd(), "failed");
  await peer.close();
});

// ------------------------------------------------------------ the link going away

test("the link dropping mid-call fails pending calls promptly with a link-lost ClosedError", async () => {
  const held = holdImpl();
  const { peer, session } = await rawInitiator({ services: [held.impl] });
  const outgoing = settle(session.client(Echo).echo("pending"));
  await peer.expect("request");
  void peer.send(callMessage(0, 1, Hold.methods.hold.id));
  await held.whenStarted(1);
  const dropped = performance.now();
  await peer.abort(new Error("cable cut"));
  const r = await within(outgoing, 500, "the pending call to fail");
  assert.ok(performance.now() - dropped < 500);
  assert.ok(!r.ok && r.error instanceof ClosedError, `got ${String(!r.ok && r.error)}`);
  assert.equal(r.error.code, "link-lost");
  assert.match(r.error.message, /cable cut/);
  const reason = await within(session.closed, 500, "session.closed");
  assert.equal(reason, r.error);
  assert.ok(!(reason instanceof ProtocolError));
  assert.equal(held.aborted[0], reason);
});

test("the peer ending the link mid-call fails pending calls promptly with a peer-closed ClosedError", async () => {
  const { peer, session } = await rawAcceptor();
  const outgoing = settle(session.client(Echo).echo("pending"));
  await peer.expect("request");
  await peer.close();
  const r = await within(outgoing, 500, "the pending call to fail");
  assert.ok(!r.ok && r.error instanceof ClosedError, `got ${String(!r.ok && r.error)}`);
  assert.equal(r.error.code, "peer-closed");
  assert.equal(await within(session.closed, 500, "session.closed"), r.error);
});

test("a peer that stops reading does not keep close() from ending", async () => {
  const [a, b] = memoryLink();
  const reader = b.readable.getReader();
  const writer = b.writable.getWriter();
  const initiating = initiate(a, { closeTimeout: 50 });
  await reader.read(); // Hello
  void writer.write(
    encodeMessage({
      connectionId: 0,
      payload: {
        type: "helloYourself",
        settings: { parity: "even", maxConcurrentRequests: 1000 },
        metadata: [],
      },
    }).slice(),
  );
  const session = await within(initiating, 1000, "initiate()");
  // The peer reads nothing more: far more calls than the link buffers pile up unanswered.
  const calls = Array.from({ length: 200 }, (_, i) => settle(session.client(Echo).echo(`#${i}`)));
  await within(session.close(), 2000, "close()");
  const results = await within(Promise.all(calls), 1000, "the calls");
  assert.ok(results.every((r) => !r.ok && r.error instanceof ClosedError));
  // Let the stuck writes go.
  await reader.cancel();
  await writer.close().catch(() => {});
});

// ------------------------------------------------------------ graceful close with a deadline

test("close() with a deadline is not held up by a handler that never finishes", async () => {
  const aborted = deferred<unknown>();
  const started = deferred();
  const { peer, session } = await rawInitiator({
    services: [implement(Hold, {
      hold: (ctx) => {
        started.resolve();
        ctx.signal.addEventListener("abort", () => aborted.resolve(ctx.signal.reason));
        return new Promise<undefined>(() => {}); // never settles
      },
    })],
  });
  void peer.send(callMessage(0, 1, Hold.methods.hold.id));
  await within(started.promise, 1000, "the handler");
  const t0 = performance.now();
  await within(session.close({ timeout: 50 }), 2000, "close()");
  const took = performance.now() - t0;
  assert.ok(took >= 45, `close() returned after ${took} ms, before the deadline`);
  assert.ok(took < 1000, `close() took ${took} ms`);
  assert.ok((await within(aborted.promise, 1000, "the handler's abort")) instanceof ClosedError);
  assert.equal(await session.closed, undefined);
  // The peer gets no response for the abandoned call, just the end of the link.
  assert.equal(await peer.expectEnd(), "closed");
  await peer.close();
});

test("the closeTimeout option bounds close() without an explicit deadline", async () => {
  const held = holdImpl();
  const { peer, session } = await rawInitiator({ services: [held.impl], closeTimeout: 40 });
  void peer.send(callMessage(0, 1, Hold.methods.hold.id));
  await held.whenStarted(1);
  const t0 = performance.now();
  await within(session.close(), 2000, "close()");
  const took = performance.now() - t0;
  assert.ok(took >= 35 && took < 1000, `close() took ${took} ms`);
  assert.equal(held.aborted.length, 1);
  assert.equal(await peer.expectEnd(), "closed");
  await peer.close();
});

test("close() lets calls in flight finish within the deadline, and their responses are sent", async () => {
  const held = holdImpl();
  const { peer, session } = await rawInitiator({ services: [held.impl] });
  void peer.send(callMessage(0, 1, Hold.methods.hold.id));
  await held.whenStarted(1);
  const closing = session.close({ timeout: 2000 });
  setTimeout(() => held.release(), 20);
  const res = await peer.expect("request");
  assert.equal(res.payload.id, 1);
  assert.equal(res.payload.body.type, "response");
  if (res.payload.body.type === "response") assert.deepEqual([...res.payload.body.ret], [0]);
  await within(closing, 1000, "close()");
  assert.equal(held.aborted.length, 0);
  assert.equal(await peer.expectEnd(), "closed");
  await peer.close();
});

test("close() on the calling side fails its pending call after the deadline", async () => {
  const { peer, session } = await rawAcceptor();
  const outgoing = settle(session.client(Echo).echo("never answered"));
  await peer.expect("request");
  // New calls fail at once while closing.
  const closing = session.close({ timeout: 50 });
  await assert.rejects(session.client(Echo).echo("too late"), ClosedError);
  await within(closing, 2000, "close()");
  const r = await within(outgoing, 500, "the pending call");
  assert.ok(!r.ok && r.error instanceof ClosedError);
  assert.equal(r.error.code, "session-closed");
  assert.equal(await peer.expectEnd(), "closed");
  await peer.close();
});

test("a real peer of a violating session sees the ProtocolError with remote=true", async () => {
  // A library acceptor whose own limits are exceeded by a library initiator's call.
  const { client, server } = await sessionPair({}, {
    services: [echoImpl],
    limits: { maxMessageSize: 64 },
  });
  const r = await settle(client.client(Echo).echo("z".repeat(100)));
  assert.ok(!r.ok && r.error instanceof ProtocolError, `got ${String(!r.ok && r.error)}`);
  assert.equal(r.error.remote, true);
  assert.match(r.error.message, /exceeds the limit of 64/);
  const local = await within(server.closed, 1000, "the acceptor");
  assert.ok(local instanceof ProtocolError && !local.remote);
  await closeAll(client, server);
});
