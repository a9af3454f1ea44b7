import { test } from "node:test";
import assert from "node:assert/strict";
import {
  ClosedError,
  type Connection,
  type ConnectionDecision,
  ConnectionRejectedError,
  type ConnectionRequest,
  getMetadata,
  SENSITIVE,
  UnknownMethodError,
} from "../../mod.ts";
import {
  callMessage,
  closeAll,
  deferred,
  delay,
  Echo,
  echoArgs,
  echoImpl,
  endRaw,
  Greeter,
  greeterImpl,
  Hold,
  holdImpl,
  inspect,
  rawAcceptor,
  rawInitiator,
  sessionPair,
  settle,
  until,
  within,
} from "../_helpers/mod.ts";
import { decode, t } from "../../mod.ts";

const accepting =
  (extra: Partial<Extract<ConnectionDecision, { accept: true }>> = {}) =>
  (): ConnectionDecision => ({ accept: true, ...extra });

// ------------------------------------------------------------ opening

test("the initiator opens a virtual connection; the acceptor's onConnection sees its metadata and settings", async () => {
  const requests: ConnectionRequest[] = [];
  const { client, server } = await sessionPair({}, {
    onConnection: (request) => {
      requests.push(request);
      return { accept: true, metadata: { welcome: "yes" }, maxConcurrentRequests: 9 };
    },
  });
  try {
    const conn = await client.openConnection({
      metadata: { tenant: "acme", attempt: 3n },
      maxConcurrentRequests: 7,
    });
    assert.equal(conn.id, 1);
    assert.equal(requests.length, 1);
    const request = requests[0]!;
    assert.equal(request.id, 1);
    assert.equal(getMetadata(request.metadata, "tenant"), "acme");
    assert.equal(getMetadata(request.metadata, "attempt"), 3n);
    assert.deepEqual(request.settings, { parity: "odd", maxConcurrentRequests: 7 });
    // The opener sees the acceptor's answer.
    assert.equal(getMetadata(conn.peerMetadata, "welcome"), "yes");
    assert.deepEqual(conn.peerSettings, { parity: "even", maxConcurrentRequests: 9 });
    assert.deepEqual(conn.settings, { parity: "odd", maxConcurrentRequests: 7 });
    assert.equal(client.connectionCount, 1);
    await until(() => server.connectionCount === 1, "the acceptor to register the connection");
  } finally {
    await closeAll(client, server);
  }
});

test("the acceptor opens a virtual connection; the initiator's onConnection sees its metadata and settings", async () => {
  const requests: ConnectionRequest[] = [];
  let opened: Connection | undefined;
  const { client, server } = await sessionPair({
    onConnection: (request) => {
      requests.push(request);
      return { accept: true, onOpen: (c) => (opened = c) };
    },
  }, {});
  try {
    const conn = await server.openConnection({
      metadata: { from: "server" },
      maxConcurrentRequests: 3,
    });
    assert.equal(conn.id, 2);
    assert.equal(requests.length, 1);
    assert.equal(requests[0]!.id, 2);
    assert.equal(getMetadata(requests[0]!.metadata, "from"), "server");
    assert.deepEqual(requests[0]!.settings, { parity: "even", maxConcurrentRequests: 3 });
    assert.equal(opened?.id, 2);
    assert.equal(getMetadata(opened!.peerMetadata, "from"), "server");
    assert.deepEqual(opened!.settings.parity, "odd");
  } finally {
    await closeAll(client, server);
  }
});

test("calls work both ways on an accepted connection: the opener's services and the acceptor's onOpen client", async () => {
  const onOpen = deferred<Connection>();
  const { client, server } = await sessionPair({}, {
    services: [greeterImpl("root")],
    onConnection: accepting({
      services: [echoImpl],
      onOpen: (c) => onOpen.resolve(c),
    }),
  });
  try {
    const conn = await client.openConnection({ services: [greeterImpl("opener")] });
    // Opener -> acceptor: the acceptor's services for this connection.
    assert.equal(
      await conn.client(Echo).echo("over the virtual connection"),
      "over the virtual connection",
    );
    // Acceptor -> opener: the services the opener passed to openConnection.
    const accepted = await within(onOpen.promise, 1000, "onOpen");
    assert.equal(accepted.id, conn.id);
    assert.equal(await accepted.client(Greeter).greet("server"), "opener greets server");
    // The root's services are not served on the virtual connection, and vice versa.
    await assert.rejects(conn.client(Greeter).greet("x"), UnknownMethodError);
    assert.equal(await client.client(Greeter).greet("client"), "root greets client");
    await assert.rejects(client.client(Echo).echo("x"), UnknownMethodError);
  } finally {
    await closeAll(client, server);
  }
});

test("a handler on a virtual connection sees that connection in ctx and can call back on it", async () => {
  const { client, server } = await sessionPair({}, {
    onConnection: accepting({
      services: [{
        name: "Echo",
        install: (c) =>
          c.serve(Echo, {
            echo: async (s, ctx) => {
              assert.equal(ctx.connection.id, c.id);
              const greeting = await ctx.connection.client(Greeter).greet(s);
              return `${greeting} (on ${ctx.connection.id})`;
            },
          }),
      }],
    }),
  });
  try {
    const conn = await client.openConnection({ services: [greeterImpl("opener")] });
    assert.equal(await conn.client(Echo).echo("ada"), "opener greets ada (on 1)");
  } finally {
    await closeAll(client, server);
  }
});

test("the acceptor's onOpen may call the opener at once", async () => {
  const result = deferred<{ call: Promise<string> }>();
  const { client, server } = await sessionPair({}, {
    onConnection: accepting({
      onOpen: (c) => result.resolve({ call: c.client(Greeter).greet("from onOpen") }),
    }),
  });
  try {
    await client.openConnection({ services: [greeterImpl("opener")] });
    const { call } = await within(result.promise, 1000, "onOpen");
    assert.equal(await within(call, 1000, "the call-back"), "opener greets from onOpen");
  } finally {
    await closeAll(client, server);
  }
});

// ------------------------------------------------------------ rejecting

test("a rejection carries its reason metadata in ConnectionRejectedError, with SENSITIVE values hidden", async () => {
  let seen: ConnectionRequest | undefined;
  const { client, server } = await sessionPair({}, {
    onConnection: (request) => {
      seen = request;
      return {
        accept: false,
        metadata: [
          { key: "reason", value: "over quota", flags: 0 },
          { key: "token", value: "s3cret-reject", flags: SENSITIVE },
        ],
      };
    },
  });
  try {
    const e = await client.openConnection({
      metadata: [{ key: "auth", value: "s3cret-open", flags: SENSITIVE }],
    }).then(() => assert.fail("the open resolved"), (e: unknown) => e);
    assert.ok(e instanceof ConnectionRejectedError, `got ${String(e)}`);
    assert.equal(e.code, "connection-rejected");
    assert.equal(getMetadata(e.metadata, "reason"), "over quota");
    // The value is readable on purpose, but never shown.
    assert.equal(getMetadata(e.metadata, "token"), "s3cret-reject");
    assert.match(e.message, /over quota/);
    assert.doesNotMatch(e.message, /s3cret/);
    assert.doesNotMatch(inspect(e), /s3cret/);
    assert.doesNotMatch(inspect(e.metadata), /s3cret/);
    assert.doesNotMatch(JSON.stringify(e.metadata), /s3cret/);
    assert.doesNotMatch(String(e), /s3cret/);
    // The acceptor saw the opener's sensitive metadata, hidden from inspection too.
    assert.equal(getMetadata(seen!.metadata, "auth"), "s3cret-open");
    assert.doesNotMatch(inspect(seen!.metadata), /s3cret/);
    assert.equal(client.connectionCount, 0);
    assert.equal(server.connectionCount, 0);
    // The session is unaffected.
    assert.equal(await client.ping().then((rtt) => rtt >= 0), true);
  } finally {
    await closeAll(client, server);
  }
});

test("inspecting rejection metadata shows a sensitive entry's key with its value redacted", async () => {
  const { client, server } = await sessionPair({}, {
    onConnection: () => ({
      accept: false,
      metadata: [{ key: "token", value: "s3cret", flags: SENSITIVE }],
    }),
  });
  try {
    const e = await client.openConnection().then(() => assert.fail("accepted"), (e: unknown) => e);
    assert.ok(e instanceof ConnectionRejectedError);
    const shown = inspect(e.metadata);
    assert.match(shown, /token/);
    assert.match(shown, /<redacted>/);
    assert.doesNotMatch(shown, /s3cret/);
  } finally {
    await closeAll(client, server);
  }
});

test("without onConnection every open is rejected", async () => {
  const { client, server } = await sessionPair({}, {});
  try {
    for (let i = 0; i < 3; i++) {
      const e = await client.openConnection().then(
        () => assert.fail("accepted"),
        (e: unknown) => e,
      );
      assert.ok(e instanceof ConnectionRejectedError, `got ${String(e)}`);
      assert.ok(getMetadata(e.metadata, "reason") !== undefined);
    }
    // And the other way round.
    await assert.rejects(server.openConnection(), ConnectionRejectedError);
    assert.equal(client.connectionCount, 0);
    assert.equal(server.connectionCount, 0);
    assert.equal(client.isClosed, false);
  } finally {
    await closeAll(client, server);
  }
});

test("an async onConnection can accept or reject", async () => {
  const { client, server } = await sessionPair({}, {
    onConnection: async (request): Promise<ConnectionDecision> => {
      await delay(10);
      return getMetadata(request.metadata, "let-in") === "yes"
        ? { accept: true, services: [echoImpl] }
        : { accept: false, metadata: { reason: "not invited" } };
    },
  });
  try {
    const conn = await client.openConnection({ metadata: { "let-in": "yes" } });
    assert.equal(await conn.client(Echo).echo("async"), "async");
    const e = await client.openConnection({ metadata: { "let-in": "no" } }).then(
      () => assert.fail("accepted"),
      (e: unknown) => e,
    );
    assert.ok(e instanceof ConnectionRejectedError);
    assert.equal(getMetadata(e.metadata, "reason"), "not invited");
  } finally {
    await closeAll(client, server);
  }
});

test("an onConnection that throws or rejects turns into a rejection and is reported to onError", async () => {
  const reported: { error: unknown; where: string }[] = [];
  let mode: "throw" | "reject" = "throw";
  const { client, server } = await sessionPair({}, {
    onError: (error, where) => reported.push({ error, where }),
    onConnection: (): ConnectionDecision | Promise<ConnectionDecision> => {
      if (mode === "throw") throw new Error("acceptor blew up");
      return Promise.reject(new Error("acceptor rejected"));
    },
  });
  try {
    await assert.rejects(client.openConnection(), ConnectionRejectedError);
    mode = "reject";
    await assert.rejects(client.openConnection(), ConnectionRejectedError);
    assert.equal(reported.length, 2);
    assert.match(String((reported[0]!.error as Error).message), /acceptor blew up/);
    assert.match(String((reported[1]!.error as Error).message), /acceptor rejected/);
    assert.match(reported[0]!.where, /connection/);
    assert.equal(server.connectionCount, 0);
    assert.equal(server.isClosed, false);
    // The session keeps working.
    await client.ping();
  } finally {
    await closeAll(client, server);
  }
});

// ------------------------------------------------------------ ids and parity on the wire

test("the initiator opens connections with odd ids 1, 3, 5, each on its own id", async () => {
  const { peer, session } = await rawAcceptor();
  try {
    const opens = [session.openConnection(), session.openConnection(), session.openConnection()];
    for (const expected of [1, 3, 5]) {
      const m = await peer.expect("connectionOpen");
      assert.equal(m.connectionId, expected);
      assert.equal(m.payload.settings.parity, "odd");
      void peer.send({
        connectionId: m.connectionId,
        payload: {
          type: "connectionAccept",
          settings: { parity: "even", maxConcurrentRequests: 64 },
          metadata: [],
        },
      });
    }
    const conns = await within(Promise.all(opens), 1000, "the opens");
    assert.deepEqual(conns.map((c) => c.id), [1, 3, 5]);
    assert.equal(session.connectionCount, 3);
  } finally {
    await endRaw(peer, session);
  }
});

test("the acceptor opens connections with even ids 2, 4, 6", async () => {
  const { peer, session } = await rawInitiator();
  try {
    const opens = [session.openConnection(), session.openConnection(), session.openConnection()];
    for (const expected of [2, 4, 6]) {
      const m = await peer.expect("connectionOpen");
      assert.equal(m.connectionId, expected);
      assert.equal(m.payload.settings.parity, "even");
      void peer.send({
        connectionId: m.connectionId,
        payload: { type: "connectionReject", metadata: [] },
      });
    }
    const results = await Promise.all(opens.map(settle));
    for (const r of results) assert.ok(!r.ok && r.error instanceof ConnectionRejectedError);
  } finally {
    await endRaw(peer, session);
  }
});

test("an acceptor takes the parity opposite to the initiator's Hello", async () => {
  const { peer, session, helloYourself } = await rawInitiator({}, { parity: "even" });
  try {
    assert.equal(helloYourself.payload.settings.parity, "odd");
    assert.equal(session.parity, "odd");
    void session.openConnection().catch(() => {});
    const m = await peer.expect("connectionOpen");
    assert.equal(m.connectionId, 1);
    void peer.send({ connectionId: 1, payload: { type: "connectionReject", metadata: [] } });
  } finally {
    await endRaw(peer, session);
  }
});

test("request ids on a virtual connection follow that connection's parity", async () => {
  const opened = deferred<Connection>();
  const { peer, session } = await rawInitiator({
    onConnection: accepting({ services: [echoImpl], onOpen: (c) => opened.resolve(c) }),
  });
  try {
    void peer.send({
      connectionId: 1,
      payload: {
        type: "connectionOpen",
        settings: { parity: "odd", maxConcurrentRequests: 64 },
        metadata: [],
      },
    });
    const acc = await peer.expect("connectionAccept");
    assert.equal(acc.connectionId, 1);
    assert.equal(acc.payload.settings.parity, "even");
    // The raw peer calls with an odd id; the library answers on the same connection.
    void peer.send(callMessage(1, 1, Echo.methods.echo.id, echoArgs("hi")));
    const res = await peer.expect("request");
    assert.equal(res.connectionId, 1);
    assert.equal(res.payload.id, 1);
    assert.equal(res.payload.body.type, "response");
    // The library calls back with even ids: 2, then 4.
    const conn = await within(opened.promise, 1000, "onOpen");
    const calls = [conn.client(Echo).echo("a"), conn.client(Echo).echo("b")];
    for (const expected of [2, 4]) {
      const call = await peer.expect("request");
      assert.equal(call.connectionId, 1);
      assert.equal(call.payload.id, expected);
      const body = call.payload.body;
      assert.equal(body.type, "call");
      if (body.type === "call") {
        const arg = decode(t.string, body.args);
        const value = new TextEncoder().encode(arg);
        const ret = new Uint8Array([0, value.length, ...value]);
        void peer.send({
          connectionId: 1,
          payload: {
            type: "request",
            id: expected,
            body: { type: "response", channels: [], metadata: [], ret },
          },
        });
      }
    }
    assert.deepEqual(await Promise.all(calls), ["a", "b"]);
  } finally {
    await endRaw(peer, session);
  }
});

test("a ConnectionOpen with the wrong parity or a reused id is answered with ConnectionReject, and the session lives", async () => {
  let decisions = 0;
  const { peer, session } = await rawInitiator({
    onConnection: () => {
      decisions++;
      return { accept: true };
    },
  });
  const open = (cid: number) =>
    peer.send({
      connectionId: cid,
      payload: {
        type: "connectionOpen",
        settings: { parity: "odd", maxConcurrentRequests: 64 },
        metadata: [],
      },
    });
  try {
    // The raw initiator's session parity is odd: an even id is not its to take.
    void open(2);
    let m = await peer.next();
    assert.equal(m.connectionId, 2);
    assert.equal(m.payload.type, "connectionReject");
    // Connection id 0 is the root.
    void open(0);
    m = await peer.next();
    assert.deepEqual([m.connectionId, m.payload.type], [0, "connectionReject"]);
    // A valid open is accepted...
    void open(1);
    m = await peer.next();
    assert.deepEqual([m.connectionId, m.payload.type], [1, "connectionAccept"]);
    // ...and opening the same id again is rejected, while it is open...
    void open(1);
    m = await peer.next();
    assert.deepEqual([m.connectionId, m.payload.type], [1, "connectionReject"]);
    // ...and after it was closed.
    void peer.send({ connectionId: 1, payload: { type: "connectionClose", metadata: [] } });
    await until(() => session.connectionCount === 0, "the close");
    void open(1);
    m = await peer.next();
    assert.deepEqual([m.connectionId, m.payload.type], [1, "connectionReject"]);
    assert.equal(decisions, 1);
    // No ProtocolError: the session still answers.
    void peer.send({ connectionId: 0, payload: { type: "ping", nonce: 77n } });
    const pong = await peer.expect("pong");
    assert.equal(pong.payload.nonce, 77n);
    assert.equal(session.isClosed, false);
    // And the valid connection id 3 still opens.
    void open(3);
    m = await peer.next();
    assert.deepEqual([m.connectionId, m.payload.type], [3, "connectionAccept"]);
  } finally {
    await endRaw(peer, session);
  }
});

test("Accept or Reject for a connection that is not pending is ignored", async () => {
  const { peer, session } = await rawInitiator();
  try {
    void peer.send({
      connectionId: 9,
      payload: {
        type: "connectionAccept",
        settings: { parity: "odd", maxConcurrentRequests: 64 },
        metadata: [],
      },
    });
    void peer.send({ connectionId: 11, payload: { type: "connectionReject", metadata: [] } });
    void peer.send({ connectionId: 0, payload: { type: "ping", nonce: 5n } });
    assert.equal((await peer.expect("pong")).payload.nonce, 5n);
    assert.equal(session.connectionCount, 0);
    assert.equal(session.isClosed, false);
  } finally {
    await endRaw(peer, session);
  }
});

// ------------------------------------------------------------ limits

test("opens beyond the acceptor's maxConnections are rejected", async () => {
  const { client, server } = await sessionPair({}, {
    limits: { maxConnections: 2 },
    onConnection: accepting({ services: [echoImpl] }),
  });
  try {
    const a = await client.openConnection();
    await client.openConnection();
    const e = await client.openConnection().then(() => assert.fail("accepted"), (e: unknown) => e);
    assert.ok(e instanceof ConnectionRejectedError);
    assert.match(String(getMetadata(e.metadata, "reason")), /too many/);
    assert.equal(server.connectionCount, 2);
    // Closing one makes room again.
    await a.close();
    await until(() => server.connectionCount === 1, "the close to reach the acceptor");
    const c = await client.openConnection();
    assert.equal(await c.client(Echo).echo("room"), "room");
  } finally {
    await closeAll(client, server);
  }
});

test("maxConnections also bounds opens that are still being decided", async () => {
  const { client, server } = await sessionPair({}, {
    limits: { maxConnections: 2 },
    onConnection: async () => {
      await delay(5);
      return { accept: true };
    },
  });
  try {
    const results = await Promise.all([1, 2, 3, 4].map(() => settle(client.openConnection())));
    const accepted = results.filter((r) => r.ok).length;
    assert.equal(accepted, 2, `${accepted} of 4 concurrent opens accepted with maxConnections 2`);
    assert.ok(server.connectionCount <= 2);
  } finally {
    await closeAll(client, server);
  }
});

test("openConnection beyond the local maxConnections fails at once with a RangeError", async () => {
  const { client, server } = await sessionPair({ limits: { maxConnections: 1 } }, {
    onConnection: accepting(),
  });
  try {
    const first = await client.openConnection();
    await assert.rejects(client.openConnection(), RangeError);
    await first.close();
    const again = await client.openConnection();
    assert.equal(again.id, 3);
  } finally {
    await closeAll(client, server);
  }
});

// ------------------------------------------------------------ closing

test("the opener closing a connection fails its pending calls, aborts the peer's handlers, and leaves the rest working", async () => {
  const held = holdImpl();
  const serverConns: Connection[] = [];
  const { client, server } = await sessionPair({}, {
    services: [echoImpl],
    onConnection: accepting({
      services: [held.impl, echoImpl],
      onOpen: (c) => serverConns.push(c),
    }),
  });
  try {
    const a = await client.openConnection();
    const b = await client.openConnection();
    const pending = settle(a.client(Hold).hold());
    await held.whenStarted(1);
    await a.close({ why: "done" });
    const r = await within(pending, 1000, "the pending call to fail");
    assert.ok(!r.ok);
    assert.ok(r.error instanceof ClosedError, `got ${String(r.error)}`);
    assert.equal(r.error.code, "connection-closed");
    assert.equal(a.isClosed, true);
    // This side closed it: `closed` resolves to undefined, as the documentation says.
    assert.equal(await a.closed, undefined);
    // The acceptor's handler saw its signal abort.
    await until(() => held.aborted.length === 1, "the handler's signal to abort");
    assert.ok(held.aborted[0] instanceof ClosedError);
    assert.equal((held.aborted[0] as ClosedError).code, "connection-closed");
    await until(() => server.connectionCount === 1, "the acceptor to drop the connection");
    assert.equal(serverConns[0]!.isClosed, true);
    // The acceptor's connection was closed by the peer: `closed` says so, with the peer's metadata.
    const theirs = await serverConns[0]!.closed;
    assert.ok(theirs instanceof ClosedError && theirs.code === "connection-closed");
    assert.deepEqual(theirs.metadata, [{ key: "why", value: "done", flags: 0 }]);
    // Other connections and the root keep working.
    assert.equal(await b.client(Echo).echo("still here"), "still here");
    assert.equal(await client.client(Echo).echo("root"), "root");
    assert.equal(client.connectionCount, 1);
    assert.equal(client.isClosed, false);
  } finally {
    await closeAll(client, server);
  }
});

test("the acceptor closing a connection fails the opener's pending calls and aborts its own handlers", async () => {
  const held = holdImpl();
  const serverConns: Connection[] = [];
  const { client, server } = await sessionPair({}, {
    onConnection: accepting({
      services: [held.impl, echoImpl],
      onOpen: (c) => serverConns.push(c),
    }),
  });
  try {
    const a = await client.openConnection();
    const b = await client.openConnection();
    const pending = settle(a.client(Hold).hold());
    await held.whenStarted(1);
    await serverConns[0]!.close();
    const r = await within(pending, 1000, "the pending call to fail");
    assert.ok(!r.ok && r.error instanceof ClosedError, `got ${String(!r.ok && r.error)}`);
    assert.equal(r.error.code, "connection-closed");
    assert.equal(held.aborted.length, 1);
    assert.ok(held.aborted[0] instanceof ClosedError);
    await until(() => a.isClosed, "the opener to see the close");
    assert.equal(client.connectionCount, 1);
    assert.equal(server.connectionCount, 1);
    assert.equal(await b.client(Echo).echo("b lives"), "b lives");
  } finally {
    await closeAll(client, server);
  }
});

test("a handler that reads ctx.signal only after its connection closed sees it aborted", async () => {
  const entered = deferred();
  const proceed = deferred();
  const signal = deferred<AbortSignal>();
  const { client, server } = await sessionPair({}, {
    onConnection: accepting({
      services: [{
        name: "Hold",
        install: (c) =>
          c.serve(Hold, {
            hold: async (ctx) => {
              entered.resolve();
              await proceed.promise;
              signal.resolve(ctx.signal);
              return undefined;
            },
          }),
      }],
    }),
  });
  try {
    const a = await client.openConnection();
    const pending = settle(a.client(Hold).hold());
    await within(entered.promise, 1000, "the handler");
    await a.close();
    await until(() => server.connectionCount === 0, "the acceptor to drop the connection");
    proceed.resolve();
    const s = await within(signal.promise, 1000, "the signal");
    assert.equal(s.aborted, true);
    await pending;
  } finally {
    proceed.resolve();
    await closeAll(client, server);
  }
});

test("calls on a closed connection reject at once", async () => {
  const serverConns: Connection[] = [];
  const { client, server } = await sessionPair({}, {
    onConnection: accepting({ services: [echoImpl], onOpen: (c) => serverConns.push(c) }),
  });
  try {
    const mine = await client.openConnection();
    const theirs = await client.openConnection();
    await mine.close();
    await serverConns[1]!.close();
    await until(() => theirs.isClosed, "the peer's close");
    for (const conn of [mine, theirs]) {
      const started = performance.now();
      const e = await conn.client(Echo).echo("x").then(
        () => assert.fail("resolved"),
        (e: unknown) => e,
      );
      assert.ok(performance.now() - started < 100);
      assert.ok(e instanceof ClosedError);
      assert.equal(e.code, "connection-closed");
    }
    // The acceptor's side of a connection closed by the opener rejects too.
    await until(() => serverConns[0]!.isClosed, "the acceptor to see the close");
    await assert.rejects(serverConns[0]!.client(Echo).echo("x"), ClosedError);
    // Closing twice is harmless.
    await mine.close();
  } finally {
    await closeAll(client, server);
  }
});

test("both sides closing the same connection at once is not a violation", async () => {
  const serverConns: Connection[] = [];
  const { client, server } = await sessionPair({}, {
    onConnection: accepting({ onOpen: (c) => serverConns.push(c) }),
  });
  try {
    const conn = await client.openConnection();
    await Promise.all([conn.close(), serverConns[0]!.close()]);
    await client.ping();
    await server.ping();
    assert.equal(client.isClosed, false);
    assert.equal(server.isClosed, false);
    assert.equal(client.connectionCount, 0);
    assert.equal(server.connectionCount, 0);
  } finally {
    await closeAll(client, server);
  }
});

test("closing the session fails calls on its virtual connections", async () => {
  const held = holdImpl();
  const { client, server } = await sessionPair({}, {
    onConnection: accepting({ services: [held.impl] }),
  });
  try {
    const conn = await client.openConnection();
    const pending = settle(conn.client(Hold).hold());
    await held.whenStarted(1);
    await client.close({ timeout: 20 });
    const r = await within(pending, 1000, "the call");
    assert.ok(!r.ok && r.error instanceof ClosedError);
    assert.equal(r.error.code, "session-closed");
    assert.equal(conn.isClosed, true);
    // This side closed the session: its connections' `closed` resolve to undefined.
    assert.equal(await conn.closed, undefined);
    assert.equal(await client.root.closed, undefined);
    await until(() => held.aborted.length === 1, "the handler's abort");
  } finally {
    await closeAll(client, server);
  }
});

test("openConnection fails with ClosedError when the session ends first, or has ended", async () => {
  const { peer, session } = await rawAcceptor();
  const opening = settle(session.openConnection());
  await peer.expect("connectionOpen"); // never answered
  await peer.abort();
  const r = await within(opening, 1000, "the open to fail");
  assert.ok(!r.ok && r.error instanceof ClosedError, `got ${String(!r.ok && r.error)}`);
  await within(session.closed, 1000, "session.closed");
  await assert.rejects(session.openConnection(), ClosedError);
});

test("a ConnectionOpen that arrives while the session is closing is rejected", async () => {
  const held = holdImpl();
  let decisions = 0;
  const { peer, session } = await rawInitiator({
    services: [held.impl],
    onConnection: () => {
      decisions++;
      return { accept: true };
    },
  });
  void peer.send(callMessage(0, 1, Hold.methods.hold.id));
  await held.whenStarted(1);
  const closing = session.close({ timeout: 1000 }); // waits for the held call
  void peer.send({
    connectionId: 1,
    payload: {
      type: "connectionOpen",
      settings: { parity: "odd", maxConcurrentRequests: 64 },
      metadata: [],
    },
  });
  const m = await peer.next();
  assert.deepEqual([m.connectionId, m.payload.type], [1, "connectionReject"]);
  assert.equal(decisions, 0);
  held.release();
  await within(closing, 2000, "close()");
  await peer.close();
});

test("closing the root connection closes the session", async () => {
  const { client, server } = await sessionPair();
  await client.root.close();
  assert.equal(client.isClosed, true);
  await within(server.closed, 1000, "the peer to see the end");
  await closeAll(client, server);
});

// ------------------------------------------------------------ abort signals

test("openConnection with an already aborted signal rejects with its reason and sends nothing", async () => {
  const { peer, session } = await rawAcceptor();
  try {
    const reason = new Error("never mind");
    const controller = new AbortController();
    controller.abort(reason);
    await assert.rejects(
      session.openConnection({ signal: controller.signal }),
      (e) => e === reason,
    );
    // Nothing was sent: the next message the peer sees is the answer to its ping.
    void peer.send({ connectionId: 0, payload: { type: "ping", nonce: 1n } });
    assert.equal((await peer.expect("pong")).payload.nonce, 1n);
    assert.equal(session.connectionCount, 0);
  } finally {
    await endRaw(peer, session);
  }
});

test("aborting a pending openConnection rejects it, and a connection accepted later is closed at once", async () => {
  const { peer, session } = await rawAcceptor();
  try {
    const controller = new AbortController();
    const opening = settle(session.openConnection({ signal: controller.signal }));
    const open = await peer.expect("connectionOpen");
    controller.abort(new Error("gave up"));
    const r = await within(opening, 1000, "the open to reject");
    assert.ok(!r.ok);
    assert.match(String((r.error as Error).message), /gave up/);
    // The peer accepts late: the library closes the connection right away.
    void peer.send({
      connectionId: open.connectionId,
      payload: {
        type: "connectionAccept",
        settings: { parity: "even", maxConcurrentRequests: 64 },
        metadata: [],
      },
    });
    const close = await peer.expect("connectionClose");
    assert.equal(close.connectionId, open.connectionId);
    assert.equal(session.connectionCount, 0);
    // The next open still gets a fresh id.
    const next = settle(session.openConnection());
    const open2 = await peer.expect("connectionOpen");
    assert.equal(open2.connectionId, open.connectionId + 2);
    void peer.send({
      connectionId: open2.connectionId,
      payload: { type: "connectionReject", metadata: [] },
    });
    assert.ok(!(await next).ok);
  } finally {
    await endRaw(peer, session);
  }
});

test("an open abandoned while an async onConnection decides ends up closed on both sides", async () => {
  const decided = deferred();
  let accepted: Connection | undefined;
  const { client, server } = await sessionPair({}, {
    onConnection: async () => {
      await decided.promise;
      return { accept: true, onOpen: (c) => (accepted = c) };
    },
  });
  try {
    const controller = new AbortController();
    const opening = settle(client.openConnection({ signal: controller.signal }));
    await delay(5);
    controller.abort();
    assert.equal((await opening).ok, false);
    decided.resolve();
    await until(() => accepted !== undefined, "the acceptor to accept");
    await until(() => accepted!.isClosed, "the opener to close the abandoned connection");
    assert.equal(client.connectionCount, 0);
    assert.equal(server.connectionCount, 0);
  } finally {
    decided.resolve();
    await closeAll(client, server);
  }
});

// ------------------------------------------------------------ many

test("1000 virtual connections opened, used and closed leave connectionCount at 0 on both sides", async () => {
  const { client, server } = await sessionPair({}, {
    onConnection: accepting({ services: [echoImpl] }),
  });
  try {
    const conns = await within(
      Promise.all(Array.from({ length: 1000 }, () => client.openConnection())),
      10_000,
      "1000 opens",
    );
    assert.equal(client.connectionCount, 1000);
    assert.equal(new Set(conns.map((c) => c.id)).size, 1000);
    assert.ok(conns.every((c) => c.id % 2 === 1));
    const replies = await Promise.all(conns.map((c, i) => c.client(Echo).echo(`#${i}`)));
    assert.equal(replies[999], "#999");
    await Promise.all(conns.map((c) => c.close()));
    assert.equal(client.connectionCount, 0);
    await until(() => server.connectionCount === 0, "the acceptor to see every close", 5000);
    assert.equal(typeof (await client.ping()), "number");
  } finally {
    await closeAll(client, server);
  }
});

test("a raw peer can ignore messages for a connection it closed: late messages are dropped", async () => {
  const { peer, session } = await rawInitiator({
    onConnection: accepting({ services: [echoImpl] }),
  });
  try {
    void peer.send({
      connectionId: 1,
      payload: {
        type: "connectionOpen",
        settings: { parity: "odd", maxConcurrentRequests: 64 },
        metadata: [],
      },
    });
    await peer.expect("connectionAccept");
    void peer.send({ connectionId: 1, payload: { type: "connectionClose", metadata: [] } });
    // A call that raced with the close is dropped, not a violation.
    void peer.send(callMessage(1, 1, Echo.methods.echo.id, echoArgs("late")));
    void peer.send({ connectionId: 0, payload: { type: "ping", nonce: 3n } });
    assert.equal((await peer.expect("pong")).payload.nonce, 3n);
    assert.equal(session.isClosed, false);
  } finally {
    await endRaw(peer, session);
  }
});
