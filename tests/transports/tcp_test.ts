/**
 * TCP and Unix socket transports end to end, on loopback: listeners,
 * sessions over real sockets, the `serve()` / `connect()` one-liners, and
 * a server facing bad input from raw clients that write exact bytes
 * (through `node:net`, which both Deno and Bun provide).
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { tmpdir } from "node:os";
import {
  accept,
  ClosedError,
  connect,
  err,
  HandshakeError,
  implement,
  initiate,
  type Link,
  ok,
  ProtocolError,
  serve,
  type ServeOptions,
  type Server,
  service,
  type Session,
  t,
} from "../../mod.ts";
import { encodeMessage } from "../../wire.ts";
import { connectTcp, listenTcp } from "../../transports/tcp.ts";
import { connectUnix, listenUnix } from "../../transports/unix.ts";
import { concat, delay, frame, RawSocket, u32le, until, within } from "../_helpers/mod.ts";

// ------------------------------------------------------------------ fixtures

const MathError = t.enum({ DivisionByZero: t.unit, Overflow: t.unit });
const Person = t.struct({ name: t.string, age: t.u32, email: t.option(t.string) });

const Api = service("SocketTestApi", {
  add: { args: [t.u32, t.u32], returns: t.u32 },
  divide: { args: [t.i64, t.i64], returns: t.i64, error: MathError },
  describe: { args: [Person], returns: t.string },
  echoBytes: { args: [t.bytes], returns: t.bytes },
  /** Waits `ms`, then returns `value`. */
  sleep: { args: [t.u32, t.u32], returns: t.u32 },
  /** Never answers; ends when the call is cancelled or the session goes away. */
  hang: { args: [], returns: t.unit },
});

const apiImpl = implement(Api, {
  add: (a, b) => a + b,
  divide: (a, b) => (b === 0n ? err({ tag: "DivisionByZero" }) : ok(a / b)),
  describe: (p) => `${p.name} (${p.age})${p.email === undefined ? "" : ` <${p.email}>`}`,
  echoBytes: (b) => b,
  sleep: (ms, value) => new Promise((r) => setTimeout(() => r(value), ms)),
  hang: (ctx) =>
    new Promise<undefined>((r) => {
      if (ctx.signal.aborted) r(undefined);
      else ctx.signal.addEventListener("abort", () => r(undefined), { once: true });
    }),
});

// ------------------------------------------------------------------ helpers

/** A unique socket file path in the OS temp dir. */
function socketPath(): string {
  return `${tmpdir()}/roam-test-${crypto.randomUUID().slice(0, 12)}.sock`;
}

/** A server whose hooks record what happened. */
async function recordingServer(
  address: string,
  options: ServeOptions = {},
): Promise<{ server: Server; errors: unknown[]; sessions: Session[] }> {
  const errors: unknown[] = [];
  const sessions: Session[] = [];
  const server = await serve(address, {
    services: [apiImpl],
    onError: (e) => errors.push(e),
    onSession: (s) => sessions.push(s),
    ...options,
  });
  return { server, errors, sessions };
}

/** The port of a `tcp://` url. */
function portOf(url: string): number {
  return Number(new URL(url).port);
}

/** Asserts a well-behaved client still gets served. */
async function assertServes(server: Server): Promise<void> {
  const session = await within(connect(server.url), 3000, "a new client to connect");
  try {
    assert.equal(await session.client(Api).add(40, 2), 42);
  } finally {
    await session.close();
  }
}

// ------------------------------------------------------------------ sessions over both transports

interface Transport {
  readonly name: string;
  /** A listener plus a client link to it. */
  pair(): Promise<{ client: Link; server: Link; close(): Promise<void> }>;
}

const transports: readonly Transport[] = [
  {
    name: "TCP",
    async pair() {
      const listener = await listenTcp({ port: 0 });
      const { port } = listener.address as { port: number };
      const [client, server] = await Promise.all([connectTcp({ port }), listener.accept()]);
      assert.ok(server !== undefined);
      return { client, server, close: () => listener.close() };
    },
  },
  {
    name: "Unix socket",
    async pair() {
      const path = socketPath();
      const listener = await listenUnix({ path });
      const [client, server] = await Promise.all([connectUnix({ path }), listener.accept()]);
      assert.ok(server !== undefined);
      return { client, server, close: () => listener.close() };
    },
  },
];

test("a TCP listener on port 0 reports the real port it is bound to", async () => {
  const listener = await listenTcp({ port: 0 });
  try {
    const address = listener.address;
    assert.equal(address.kind, "tcp");
    if (address.kind !== "tcp") return;
    assert.equal(address.hostname, "127.0.0.1");
    assert.ok(Number.isInteger(address.port) && address.port > 0 && address.port <= 65535);
    // Something really listens there.
    const raw = await RawSocket.connect({ port: address.port }, { allowHalfOpen: false });
    const accepted = await within(listener.accept(), 3000, "the listener to accept");
    assert.ok(accepted !== undefined);
    await raw.destroy();
    await accepted.writable.abort();
  } finally {
    await listener.close();
  }
});

test("a closed listener's accept() gives undefined", async () => {
  const listener = await listenTcp({ port: 0 });
  const pending = listener.accept();
  await listener.close();
  assert.equal(await within(pending, 3000, "accept() to end"), undefined);
  assert.equal(await listener.accept(), undefined);
});

for (const transport of transports) {
  test(`a roam session over a ${transport.name} link makes typed calls`, async () => {
    const { client, server, close } = await transport.pair();
    try {
      const [a, b] = await Promise.all([
        initiate(client),
        accept(server, { services: [apiImpl] }),
      ]);
      assert.equal(a.role, "initiator");
      assert.equal(b.role, "acceptor");
      const api = a.client(Api);
      assert.equal(await api.add(2, 3), 5);
      assert.deepEqual(await api.divide(7n, 2n), { ok: true, value: 3n });
      assert.deepEqual(await api.divide(7n, 0n), { ok: false, error: { tag: "DivisionByZero" } });
      assert.equal(await api.describe({ name: "Ada", age: 36 }), "Ada (36)");
      assert.equal(
        await api.describe({ name: "Grace", age: 85, email: "g@navy.mil" }),
        "Grace (85) <g@navy.mil>",
      );
      assert.ok((await a.ping()) >= 0);
      await a.close();
      assert.ok((await within(b.closed, 3000, "the acceptor to close")) instanceof ClosedError);
    } finally {
      await close();
    }
  });

  test(`1,000 pipelined calls over a ${transport.name} link all return their own results`, async () => {
    const { client, server, close } = await transport.pair();
    try {
      const [a, b] = await Promise.all([
        initiate(client),
        accept(server, { services: [apiImpl] }),
      ]);
      const api = a.client(Api);
      const results = await within(
        Promise.all(Array.from({ length: 1000 }, (_, i) => api.add(i, 1_000_000))),
        20_000,
        "1,000 calls",
      );
      assert.deepEqual(results, Array.from({ length: 1000 }, (_, i) => i + 1_000_000));
      await a.close();
      await b.closed;
    } finally {
      await close();
    }
  });

  test(`a 4 MiB byte buffer echoes intact over a ${transport.name} link`, async () => {
    const { client, server, close } = await transport.pair();
    try {
      const [a, b] = await Promise.all([
        initiate(client),
        accept(server, { services: [apiImpl] }),
      ]);
      const big = new Uint8Array(4 * 1024 * 1024);
      for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
      const back = await within(a.client(Api).echoBytes(big), 20_000, "the echo");
      assert.equal(back.length, big.length);
      assert.ok(back.every((v, i) => v === big[i]), "every byte came back");
      // Small calls still work after a big one.
      assert.equal(await a.client(Api).add(1, 1), 2);
      await a.close();
      await b.closed;
    } finally {
      await close();
    }
  });
}

test("a Unix listener removes its socket file when closed", async () => {
  const path = socketPath();
  const listener = await listenUnix({ path });
  assert.deepEqual(listener.address, { kind: "unix", path });
  await listener.close();
  await assertNoSocketFile(path);
  // The path can be listened on again.
  const again = await listenUnix({ path });
  await again.close();
  await assertNoSocketFile(path);
});

/** Connecting to a socket file that is gone fails with ENOENT (not ECONNREFUSED). */
async function assertNoSocketFile(path: string): Promise<void> {
  await assert.rejects(RawSocket.connect({ path }), (e: unknown) => {
    assert.equal((e as { code?: unknown }).code, "ENOENT", `the socket file ${path} is gone`);
    return true;
  });
}

// ------------------------------------------------------------------ serve() and connect()

test("serve() on tcp://127.0.0.1:0 and connect(server.url) give a working session", async () => {
  const server = await serve("tcp://127.0.0.1:0", { services: [apiImpl] });
  try {
    assert.match(server.url, /^tcp:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(portOf(server.url) > 0);
    const session = await connect(server.url);
    try {
      assert.equal(await session.client(Api).add(20, 22), 42);
    } finally {
      await session.close();
    }
  } finally {
    await server.close();
  }
});

test("server.sessions tracks the sessions that are open", async () => {
  const server = await serve("tcp://127.0.0.1:0", { services: [apiImpl] });
  try {
    assert.equal(server.sessions.size, 0);
    const a = await connect(server.url);
    const b = await connect(new URL(server.url));
    await until(() => server.sessions.size === 2, "two sessions");
    await a.close();
    await until(() => server.sessions.size === 1, "one session after a client left");
    assert.equal(await b.client(Api).add(1, 2), 3);
    await b.close();
    await until(() => server.sessions.size === 0, "no sessions");
  } finally {
    await server.close();
  }
});

test("server.close() lets calls in flight finish, closes sessions and stops accepting", async () => {
  const server = await serve("tcp://127.0.0.1:0", { services: [apiImpl] });
  const url = server.url;
  const session = await connect(url);
  try {
    await until(() => server.sessions.size === 1, "the session to be tracked");
    const slow = session.client(Api).sleep(150, 7);
    await delay(20);
    await within(server.close(), 5000, "server.close()");
    assert.equal(await slow, 7, "the call in flight completed");
    assert.equal(server.sessions.size, 0);
    const reason = await within(session.closed, 3000, "the client session to end");
    assert.ok(reason instanceof ClosedError, "the client saw the server close the link");
    await assert.rejects(session.client(Api).add(1, 2), ClosedError);
    await assert.rejects(within(connect(url), 3000, "a refused connect"));
  } finally {
    await session.close();
    await server.close();
  }
});

test("server.close({ sessions: false }) stops accepting but leaves sessions open", async () => {
  const server = await serve("tcp://127.0.0.1:0", { services: [apiImpl] });
  const session = await connect(server.url);
  try {
    await until(() => server.sessions.size === 1, "the session to be tracked");
    await server.close({ sessions: false });
    assert.equal(await session.client(Api).add(2, 2), 4);
    await assert.rejects(within(connect(server.url), 3000, "a refused connect"));
  } finally {
    await session.close();
    await until(() => server.sessions.size === 0, "the session to end");
    await server.close();
  }
});

test("serve() on a unix: path and connect() work, and the socket file is removed on close", async () => {
  const path = socketPath();
  const server = await serve(`unix:${path}`, { services: [apiImpl] });
  try {
    assert.equal(server.url, `unix:${path}`);
    const session = await connect(server.url);
    try {
      const api = session.client(Api);
      assert.equal(await api.add(1, 2), 3);
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) => api.add(i, i)));
      assert.deepEqual(results, Array.from({ length: 200 }, (_, i) => 2 * i));
      await until(() => server.sessions.size === 1, "the session to be tracked");
    } finally {
      await session.close();
    }
  } finally {
    await server.close();
  }
  await assertNoSocketFile(path);
  await assert.rejects(connect(`unix:${path}`));
});

// ------------------------------------------------------------------ bad input against serve()

test("a frame above the server's maxFrameSize gets a ProtocolError and that connection closed", async () => {
  const { server, sessions } = await recordingServer("tcp://127.0.0.1:0", {
    maxFrameSize: 1024,
  });
  try {
    const raw = await RawSocket.connect({ port: portOf(server.url) }, { allowHalfOpen: false });
    try {
      await raw.handshake();
      await until(() => sessions.length === 1, "the server session");
      // A header announcing 2000 bytes, and the start of the payload.
      await raw.send(concat(u32le(2000), new Uint8Array(16)));
      const error = await raw.expect("protocolError");
      assert.match(error.description, /2000/);
      await raw.expectEnd();
      const reason = await within(sessions[0]!.closed, 3000, "the server session to end");
      assert.ok(reason instanceof ProtocolError, `a ProtocolError, got ${reason}`);
      assert.equal(reason.remote, false);
    } finally {
      await raw.destroy();
    }
    await assertServes(server);
  } finally {
    await server.close();
  }
});

test("a frame at exactly the server's maxFrameSize is accepted", async () => {
  const { server } = await recordingServer("tcp://127.0.0.1:0", { maxFrameSize: 64 });
  try {
    const raw = await RawSocket.connect({ port: portOf(server.url) }, { allowHalfOpen: false });
    try {
      await raw.handshake();
      // A call to echoBytes whose argument fills the frame up to the limit.
      const call = encodeMessage({
        connectionId: 0,
        payload: {
          type: "request",
          id: 1,
          body: {
            type: "call",
            methodId: Api.methods.echoBytes.id,
            channels: [],
            metadata: [],
            args: new Uint8Array(0),
          },
        },
      });
      const room = 64 - call.length - 1;
      const args = concat(Uint8Array.of(room), new Uint8Array(room).fill(7));
      const full = concat(call, args);
      assert.equal(full.length, 64);
      await raw.send(frame(full));
      const reply = await raw.expect("request");
      assert.equal(reply.id, 1);
      assert.equal(reply.body.type, "response");
    } finally {
      await raw.destroy();
    }
  } finally {
    await server.close();
  }
});

test("an oversized frame in place of the Hello also gets a ProtocolError", async () => {
  const { server, errors } = await recordingServer("tcp://127.0.0.1:0", {
    maxFrameSize: 1024,
  });
  try {
    const raw = await RawSocket.connect({ port: portOf(server.url) }, { allowHalfOpen: false });
    try {
      await raw.send(concat(u32le(0xffff_ffff), new Uint8Array(8)));
      const error = await raw.expect("protocolError");
      assert.match(error.description, /4294967295|exceeds/);
      await raw.expectEnd();
      await until(() => errors.length === 1, "the handshake failure to be reported");
      assert.ok(errors[0] instanceof HandshakeError);
    } finally {
      await raw.destroy();
    }
    await assertServes(server);
  } finally {
    await server.close();
  }
});

test("a length prefix cut off by EOF fails that handshake quietly and the server keeps serving", async () => {
  const { server, errors, sessions } = await recordingServer("tcp://127.0.0.1:0");
  try {
    const raw = await RawSocket.connect({ port: portOf(server.url) }, { allowHalfOpen: false });
    try {
      await raw.send(Uint8Array.of(6, 0));
      raw.socket.end();
      await until(() => errors.length === 1, "the handshake failure to be reported");
      assert.ok(errors[0] instanceof HandshakeError, `a HandshakeError, got ${errors[0]}`);
      await raw.expectEnd();
    } finally {
      await raw.destroy();
    }
    assert.equal(sessions.length, 0);
    await assertServes(server);
    assert.equal(errors.length, 1, "nothing else was reported");
  } finally {
    await server.close();
  }
});

for (
  const [what, payload, description] of [
    ["undecodable bytes", Uint8Array.of(0xff, 0xff, 0xff), /undecodable/],
    [
      "a Ping",
      encodeMessage({ connectionId: 0, payload: { type: "ping", nonce: 1n } }),
      /expected Hello, got ping/,
    ],
    ["an empty frame", new Uint8Array(0), /undecodable/],
  ] as const
) {
  test(`${what} instead of a Hello gets a ProtocolError and the connection closed`, async () => {
    const { server, errors, sessions } = await recordingServer("tcp://127.0.0.1:0");
    try {
      const raw = await RawSocket.connect({ port: portOf(server.url) }, { allowHalfOpen: false });
      try {
        await raw.send(frame(payload));
        const error = await raw.expect("protocolError");
        assert.match(error.description, description);
        await raw.expectEnd();
        await until(() => errors.length === 1, "the handshake failure to be reported");
        assert.ok(errors[0] instanceof HandshakeError);
      } finally {
        await raw.destroy();
      }
      assert.equal(sessions.length, 0);
      await assertServes(server);
    } finally {
      await server.close();
    }
  });
}

test("a Hello with the wrong version gets a ProtocolError", async () => {
  const { server, errors } = await recordingServer("tcp://127.0.0.1:0");
  try {
    const raw = await RawSocket.connect({ port: portOf(server.url) }, { allowHalfOpen: false });
    try {
      const hello6 = encodeMessage({
        connectionId: 0,
        payload: {
          type: "hello",
          version: 6,
          settings: { parity: "odd", maxConcurrentRequests: 64 },
          metadata: [],
        },
      });
      await raw.send(frame(hello6));
      assert.match((await raw.expect("protocolError")).description, /version 6/);
      await raw.expectEnd();
      await until(() => errors.length === 1, "the handshake failure to be reported");
      assert.ok(errors[0] instanceof HandshakeError);
    } finally {
      await raw.destroy();
    }
  } finally {
    await server.close();
  }
});

test("a peer that connects and says nothing times out the server's handshake", async () => {
  const { server, errors, sessions } = await recordingServer("tcp://127.0.0.1:0", {
    handshakeTimeout: 200,
  });
  try {
    const start = performance.now();
    const raw = await RawSocket.connect({ port: portOf(server.url) }, { allowHalfOpen: false });
    try {
      await until(() => errors.length === 1, "the handshake timeout to be reported");
      const elapsed = performance.now() - start;
      assert.ok(errors[0] instanceof HandshakeError, `a HandshakeError, got ${errors[0]}`);
      assert.match((errors[0] as Error).message, /200 ms/);
      assert.ok(elapsed >= 150, `not before the timeout (${elapsed} ms)`);
      await raw.expectEnd();
    } finally {
      await raw.destroy();
    }
    assert.equal(sessions.length, 0);
    await assertServes(server);
  } finally {
    await server.close();
  }
});

test("a peer that vanishes mid-frame after the handshake ends its session with an error, others unaffected", async () => {
  const { server, sessions } = await recordingServer("tcp://127.0.0.1:0");
  const good = await connect(server.url);
  try {
    await until(() => sessions.length === 1, "the good session");
    const raw = await RawSocket.connect({ port: portOf(server.url) }, { allowHalfOpen: false });
    try {
      await raw.handshake();
      await until(() => sessions.length === 2, "the raw peer's session");
      await raw.send(concat(u32le(100), new Uint8Array(10)));
    } finally {
      await raw.destroy();
    }
    const reason = await within(sessions[1]!.closed, 3000, "the vanished peer's session to end");
    assert.ok(reason instanceof ClosedError, `closed with an error, got ${reason}`);
    await until(() => server.sessions.size === 1, "only the good session left");
    assert.equal(sessions[0]!.isClosed, false);
    assert.equal(await good.client(Api).add(5, 6), 11);
  } finally {
    await good.close();
    await server.close();
  }
});

test("a peer that vanishes mid-frame with a call in flight to it fails that call", async () => {
  // The server calls back into the raw peer, which never answers and then vanishes.
  const { server, sessions } = await recordingServer("tcp://127.0.0.1:0");
  try {
    const raw = await RawSocket.connect({ port: portOf(server.url) }, { allowHalfOpen: false });
    let pending: Promise<unknown>;
    try {
      await raw.handshake();
      await until(() => sessions.length === 1, "the raw peer's session");
      pending = sessions[0]!.client(Api).add(1, 2).then(
        () => assert.fail("the call cannot succeed"),
        (e: unknown) => e,
      );
      await raw.expect("request");
      await raw.send(concat(u32le(50), Uint8Array.of(0, 7)));
    } finally {
      await raw.destroy();
    }
    const error = await within(pending, 1000, "the call to fail");
    assert.ok(error instanceof ClosedError, `a ClosedError, got ${error}`);
  } finally {
    await server.close();
  }
});

/** A TCP server that completes the handshake, then dies when the first call arrives. */
async function dyingServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    let buf: Uint8Array = new Uint8Array(0);
    let frames = 0;
    socket.on("data", (d: Uint8Array) => {
      buf = concat(buf, d);
      while (buf.length >= 4) {
        const n = new DataView(buf.buffer, buf.byteOffset).getUint32(0, true);
        if (buf.length < 4 + n) return;
        buf = buf.slice(4 + n);
        frames++;
        if (frames === 1) {
          socket.write(
            frame(encodeMessage({
              connectionId: 0,
              payload: {
                type: "helloYourself",
                settings: { parity: "even", maxConcurrentRequests: 64 },
                metadata: [],
              },
            })),
          );
        } else {
          socket.destroy(); // the server "dies" mid-call
          return;
        }
      }
    });
  });
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", () => resolve()));
  const port = (srv.address() as { port: number }).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        srv.close(() => resolve());
      }),
  };
}

test("a client whose server dies mid-call fails the call promptly with a ClosedError", async () => {
  const dying = await dyingServer();
  try {
    const session = await connect(`tcp://127.0.0.1:${dying.port}`);
    try {
      const start = performance.now();
      const error = await within(
        session.client(Api).hang().then(() => undefined, (e: unknown) => e),
        1000,
        "the call to fail",
      );
      assert.ok(performance.now() - start < 1000);
      assert.ok(error instanceof ClosedError, `a ClosedError, got ${error}`);
      const reason = await within(session.closed, 1000, "the session to end");
      assert.ok(reason instanceof ClosedError);
      await assert.rejects(session.client(Api).add(1, 2), ClosedError);
    } finally {
      await session.close();
    }
  } finally {
    await dying.close();
  }
});

test("a client whose serve()d server closes mid-call without waiting fails the call promptly", async () => {
  const server = await serve("tcp://127.0.0.1:0", { services: [apiImpl], closeTimeout: 0 });
  const session = await connect(server.url);
  try {
    const call = session.client(Api).hang().then(() => undefined, (e: unknown) => e);
    await delay(20);
    const start = performance.now();
    await server.close();
    const error = await within(call, 1000, "the call to fail");
    assert.ok(performance.now() - start < 1000);
    assert.ok(error instanceof ClosedError, `a ClosedError, got ${error}`);
  } finally {
    await session.close();
    await server.close();
  }
});

// ------------------------------------------------------------------ argument checks and failures

test("invalid ports are RangeErrors", async () => {
  for (const port of [-1, 70000, 1.5, NaN]) {
    await assert.rejects(listenTcp({ port }), RangeError, `listen on ${port}`);
    await assert.rejects(connectTcp({ port }), RangeError, `connect to ${port}`);
  }
  await assert.rejects(connectTcp({ port: 0 }), RangeError, "connect to port 0");
});

test("connect() and serve() reject unknown schemes with a TypeError naming the scheme", async () => {
  await assert.rejects(connect("http://x"), (e: unknown) => {
    assert.ok(e instanceof TypeError);
    assert.match(e.message, /http:/);
    return true;
  });
  await assert.rejects(serve("http://127.0.0.1:0"), (e: unknown) => {
    assert.ok(e instanceof TypeError);
    assert.match(e.message, /http:/);
    return true;
  });
  await assert.rejects(connect("not a url"), TypeError);
  await assert.rejects(connect("tcp://127.0.0.1"), TypeError, "a port is required");
});

test("connecting to a closed port rejects", async () => {
  const listener = await listenTcp({ port: 0 });
  const { port } = listener.address as { port: number };
  await listener.close();
  await assert.rejects(within(connectTcp({ port }), 3000, "connectTcp to fail"));
  await assert.rejects(within(connect(`tcp://127.0.0.1:${port}`), 3000, "connect to fail"));
});

test("connecting to a missing Unix socket file rejects", async () => {
  const path = socketPath();
  await assert.rejects(within(connectUnix({ path }), 3000, "connectUnix to fail"));
  await assert.rejects(within(connect(`unix:${path}`), 3000, "connect to fail"));
  await assert.rejects(connectUnix({ path: "" }), TypeError);
});
