import { test } from "node:test";
import assert from "node:assert/strict";
import {
  accept,
  ClosedError,
  FramingError,
  implement,
  initiate,
  type Link,
  type PayloadSink,
  ProtocolError,
  service,
  type Session,
  t,
} from "../../mod.ts";
import { decodeMessage, encodeMessage, type Message, PROTOCOL_VERSION } from "../../wire.ts";
import { connectWebSocket, websocketLink } from "../../transports/websocket.ts";
import { listenWebSocket, type WebSocketListener } from "../../transports/websocket_server.ts";
import { delay, settle, until, within } from "../_helpers/mod.ts";

// ------------------------------------------------------------------ helpers

const Svc = service("WsTest", {
  add: { args: [t.u32, t.u32], returns: t.u32 },
  echo: { args: [t.bytes], returns: t.bytes },
  hang: { args: [], returns: t.unit },
});

/** Counts `hang` calls that have started; each one waits for its signal. */
function serviceImpl(started: { count: number } = { count: 0 }) {
  return implement(Svc, {
    add: (a, b) => a + b,
    echo: (bytes) => bytes,
    hang: (ctx) => {
      started.count++;
      return new Promise<undefined>((resolve) => {
        ctx.signal.addEventListener("abort", () => resolve(undefined), { once: true });
      });
    },
  });
}

/** A client session and the server session it reached through `listener`. */
async function sessionPair(
  listener: WebSocketListener,
  started?: { count: number },
): Promise<{ client: Session; server: Session }> {
  const [clientLink, serverLink] = await Promise.all([
    connectWebSocket(listener.url),
    listener.accept(),
  ]);
  assert.ok(serverLink !== undefined);
  const [client, server] = await Promise.all([
    initiate(clientLink),
    accept(serverLink, { services: [serviceImpl(started)] }),
  ]);
  return { client, server };
}

/** A raw browser-style socket that records every message and its close. */
async function rawSocket(url: string): Promise<{
  ws: WebSocket;
  messages: Message[];
  closed: Promise<CloseEvent>;
}> {
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  const messages: Message[] = [];
  ws.addEventListener("message", (ev) => {
    messages.push(decodeMessage(new Uint8Array(ev.data as ArrayBuffer)));
  });
  const closed = new Promise<CloseEvent>((r) => ws.addEventListener("close", r));
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener("open", () => resolve());
    ws.addEventListener("error", () => reject(new Error("raw socket failed to open")));
  });
  return { ws, messages, closed };
}

function bytes(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

// ------------------------------------------------------------------ tests

test("a roam session over WebSocket makes a typed call and echoes 1 MiB of bytes", async () => {
  await using listener = await listenWebSocket({ path: "/roam" });
  assert.match(listener.url, /^ws:\/\/127\.0\.0\.1:\d+\/roam$/);
  const { client, server } = await sessionPair(listener);
  const svc = client.client(Svc);
  assert.equal(await svc.add(2, 40), 42);
  const big = bytes(1024 * 1024);
  const back = await svc.echo(big);
  assert.equal(back.length, big.length);
  assert.deepEqual(back, big);
  // Many calls at once.
  const sums = await Promise.all(Array.from({ length: 200 }, (_, i) => svc.add(i, 1)));
  assert.deepEqual(sums, Array.from({ length: 200 }, (_, i) => i + 1));
  await client.close();
  await within(server.closed, 2000, "the server session to close");
});

test("the listener shares its port with HTTP routes and answers 426 to a plain request on the roam path", async () => {
  await using listener = await listenWebSocket({
    path: "/roam",
    fetch: (request) =>
      new URL(request.url).pathname === "/health"
        ? new Response("healthy")
        : new Response("nothing here", { status: 404 }),
  });
  const base = `http://127.0.0.1:${listener.address.port}`;
  const health = await fetch(`${base}/health`);
  assert.equal(health.status, 200);
  assert.equal(await health.text(), "healthy");
  const missing = await fetch(`${base}/missing`);
  assert.equal(missing.status, 404);
  assert.equal(await missing.text(), "nothing here");
  const plain = await fetch(`${base}/roam`);
  assert.equal(plain.status, 426);
  assert.equal(plain.headers.get("upgrade"), "websocket");
  await plain.body?.cancel();
  // The same port still upgrades the roam path.
  const { client, server } = await sessionPair(listener);
  assert.equal(await client.client(Svc).add(1, 2), 3);
  await client.close();
  await server.closed;
});

test("without a fetch option, other paths get 404", async () => {
  await using listener = await listenWebSocket();
  assert.match(listener.url, /\/$/);
  const res = await fetch(`http://127.0.0.1:${listener.address.port}/other`);
  assert.equal(res.status, 404);
  await res.body?.cancel();
});

test("a text message is a protocol violation that ends only that session", async () => {
  await using listener = await listenWebSocket();
  const other = await sessionPair(listener);

  const raw = await rawSocket(listener.url);
  const serverLink = await listener.accept();
  assert.ok(serverLink !== undefined);
  const serverSession = accept(serverLink, { services: [serviceImpl()] });
  raw.ws.send(encodeMessage({
    connectionId: 0,
    payload: {
      type: "hello",
      version: PROTOCOL_VERSION,
      settings: { parity: "odd", maxConcurrentRequests: 64 },
      metadata: [],
    },
  }));
  const server = await within(serverSession, 2000, "the handshake");
  await until(() => raw.messages.length >= 1, "HelloYourself");
  assert.equal(raw.messages[0]!.payload.type, "helloYourself");

  raw.ws.send("not binary");
  const reason = await within(server.closed, 2000, "the server session to end");
  assert.ok(reason instanceof ProtocolError, `expected a ProtocolError, got ${String(reason)}`);
  assert.match(reason.message, /text message/);
  const close = await within(raw.closed, 2000, "the raw socket to close");
  assert.equal(close.code, 1000);
  const last = raw.messages.at(-1);
  assert.ok(last !== undefined && last.payload.type === "protocolError");
  assert.match(last.payload.description, /text message received on a binary WebSocket link/);

  // The other session and the listener keep serving.
  assert.equal(await other.client.client(Svc).add(5, 6), 11);
  const fresh = await sessionPair(listener);
  assert.equal(await fresh.client.client(Svc).add(7, 8), 15);
  await fresh.client.close();
  await other.client.close();
  await Promise.all([fresh.server.closed, other.server.closed]);
});

test("the client closing gracefully resolves the server session's closed", async () => {
  await using listener = await listenWebSocket();
  const { client, server } = await sessionPair(listener);
  assert.equal(await client.client(Svc).add(1, 1), 2);
  await client.close();
  assert.equal(await client.closed, undefined);
  const reason = await within(server.closed, 2000, "the server session to close");
  assert.ok(reason instanceof ClosedError);
  assert.match(reason.message, /peer closed the link/);
});

test("a server that goes away fails the client's pending call promptly", async () => {
  const listener = await listenWebSocket();
  const started = { count: 0 };
  const { client, server } = await sessionPair(listener, started);
  const pending = settle(client.client(Svc).hang());
  await until(() => started.count === 1, "the call to start");
  const t0 = performance.now();
  await listener.close();
  const outcome = await within(pending, 2000, "the pending call to fail");
  assert.ok(!outcome.ok);
  assert.ok(outcome.error instanceof ClosedError, `got ${String(outcome.error)}`);
  assert.ok(performance.now() - t0 < 2000);
  await within(client.closed, 2000, "the client session to end");
  await within(server.closed, 2000, "the server session to end");
  assert.equal(await listener.accept(), undefined);
});

test("aborting one end's writable errors the other end's readable", async () => {
  await using listener = await listenWebSocket();
  const [clientLink, serverLink] = await Promise.all([
    connectWebSocket(listener.url),
    listener.accept(),
  ]);
  assert.ok(serverLink !== undefined);
  await serverLink.writable.abort(new Error("boom"));
  const reader = clientLink.readable.getReader();
  await assert.rejects(within(reader.read(), 2000, "the read"), /closed abnormally \(code 4000/);
  await clientLink.writable.abort().catch(() => {});
  await serverLink.readable.cancel().catch(() => {});
});

test("a message above maxMessageSize is a protocol violation", async () => {
  await using listener = await listenWebSocket({ maxMessageSize: 1024 });
  const [clientLink, serverLink] = await Promise.all([
    connectWebSocket(listener.url, { maxMessageSize: 16 }),
    listener.accept(),
  ]);
  assert.ok(serverLink !== undefined);
  // The client's own limit.
  const serverWriter = serverLink.writable.getWriter();
  await serverWriter.write(bytes(17));
  const clientReader = clientLink.readable.getReader();
  const error = await within(clientReader.read().then(() => undefined, (e) => e), 2000, "read");
  assert.ok(error instanceof Error);
  assert.equal((error as { protocolViolation?: boolean }).protocolViolation, true);
  assert.match(error.message, /17 bytes exceeds the limit of 16/);
  // The server's limit (Bun enforces it in the server itself, with close code 1009).
  const clientWriter = clientLink.writable.getWriter();
  await clientWriter.write(bytes(2048));
  const serverReader = serverLink.readable.getReader();
  const serverError = await within(
    serverReader.read().then(() => undefined, (e) => e),
    2000,
    "the server read",
  );
  assert.ok(serverError instanceof Error);
  assert.equal((serverError as { protocolViolation?: boolean }).protocolViolation, true);
  assert.match(serverError.message, /exceeds the limit of 1024|exceeded the limit of 1024/);
  await clientWriter.close().catch(() => {});
  await serverWriter.close().catch(() => {});
});

test("5,000 small messages in a burst arrive in order both ways", async () => {
  await using listener = await listenWebSocket();
  const [clientLink, serverLink] = await Promise.all([
    connectWebSocket(listener.url),
    listener.accept(),
  ]);
  assert.ok(serverLink !== undefined);
  const count = 5000;
  const burst = async (link: Link): Promise<void> => {
    const writer = link.writable.getWriter();
    const writes: Promise<void>[] = [];
    for (let i = 0; i < count; i++) {
      const m = new Uint8Array(64);
      new DataView(m.buffer).setUint32(0, i, true);
      writes.push(writer.write(m));
    }
    await Promise.all(writes);
    writer.releaseLock();
  };
  const drain = async (link: Link): Promise<number[]> => {
    const reader = link.readable.getReader();
    const seen: number[] = [];
    while (seen.length < count) {
      const { value, done } = await reader.read();
      if (done) break;
      assert.equal(value.length, 64);
      seen.push(new DataView(value.buffer, value.byteOffset).getUint32(0, true));
    }
    reader.releaseLock();
    return seen;
  };
  const expected = Array.from({ length: count }, (_, i) => i);
  const [toServer, toClient] = await within(
    Promise.all([
      drain(serverLink),
      drain(clientLink),
      burst(clientLink),
      burst(serverLink),
    ]),
    10_000,
    "the bursts",
  );
  assert.deepEqual(toServer, expected);
  assert.deepEqual(toClient, expected);
  // A graceful close from the client ends the server's readable, then the server's close completes.
  await clientLink.writable.close();
  const end = await serverLink.readable.getReader().read();
  assert.equal(end.done, true);
  await serverLink.writable.close();
  assert.equal((await clientLink.readable.getReader().read()).done, true);
});

test("a reader that does not read holds back the writer, and nothing is lost", async () => {
  await using listener = await listenWebSocket();
  const [clientLink, serverLink] = await Promise.all([
    connectWebSocket(listener.url),
    listener.accept(),
  ]);
  assert.ok(serverLink !== undefined);
  const count = 16; // under the server link's maxUnreadBytes (16 MiB + 4 MiB)
  const size = 1024 * 1024;
  const writer = clientLink.writable.getWriter();
  let resolved = 0;
  const writes: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const m = new Uint8Array(size);
    m[0] = i;
    m[size - 1] = i;
    writes.push(writer.write(m).then(() => void resolved++));
  }
  await delay(200);
  if ("Bun" in globalThis) {
    // Bun's server pauses the socket once 1 MiB is queued; the client then waits on bufferedAmount.
    // (Deno's server WebSocket cannot pause: it queues everything in the readable.)
    assert.ok(resolved < count, `all ${count} writes finished while nobody read`);
  }
  const reader = serverLink.readable.getReader();
  for (let i = 0; i < count; i++) {
    const { value } = await within(reader.read(), 5000, `message ${i}`);
    assert.ok(value !== undefined);
    assert.equal(value.length, size);
    assert.equal(value[0], i);
    assert.equal(value[size - 1], i);
  }
  await Promise.all(writes);
  assert.equal(resolved, count);
  await writer.close();
  assert.equal((await reader.read()).done, true);
  await serverLink.writable.close();
});

test("a peer that sends more than maxUnreadBytes while nothing is read errors the link with a FramingError", async () => {
  await using listener = await listenWebSocket();
  const [clientLink, serverLink] = await Promise.all([
    connectWebSocket(listener.url, { maxUnreadBytes: 4 * 1024 * 1024 }),
    listener.accept(),
  ]);
  assert.ok(serverLink !== undefined);
  const writer = serverLink.writable.getWriter();
  for (let i = 0; i < 8; i++) writer.write(new Uint8Array(1024 * 1024)).catch(() => {});
  const reader = clientLink.readable.getReader();
  await delay(300); // nothing is read meanwhile
  const error = await within(
    (async () => {
      for (;;) {
        try {
          if ((await reader.read()).done) return undefined;
        } catch (e) {
          return e;
        }
      }
    })(),
    5000,
    "the client's readable to fail",
  );
  assert.ok(error instanceof FramingError, `got ${String(error)}`);
  assert.match(error.message, /not read yet, above the limit of 4194304/);
  await writer.abort().catch(() => {});
  await clientLink.writable.abort().catch(() => {});
});

test("an invalid maxUnreadBytes is a RangeError", async () => {
  await using listener = await listenWebSocket();
  await assert.rejects(connectWebSocket(listener.url, { maxUnreadBytes: 0 }), RangeError);
});

test("closing the listener ends iteration and accept", async () => {
  const listener = await listenWebSocket();
  const seen: Link[] = [];
  const loop = (async () => {
    for await (const link of listener) seen.push(link);
  })();
  const link = await connectWebSocket(listener.url);
  await until(() => seen.length === 1, "the link to be accepted");
  await listener.close();
  await within(loop, 2000, "the iteration to end");
  assert.equal(await listener.accept(), undefined);
  await listener.close(); // idempotent
  // The accepted connection was closed with code 1001, a graceful end of stream.
  assert.equal((await within(link.readable.getReader().read(), 2000, "eof")).done, true);
  await link.writable.close().catch(() => {});
  // Nothing listens any more.
  await assert.rejects(connectWebSocket(listener.url), /Cannot connect to/);
});

test("connecting to a closed port rejects clearly", async () => {
  const listener = await listenWebSocket();
  const url = listener.url;
  await listener.close();
  await assert.rejects(
    within(connectWebSocket(url), 5000, "the connection attempt"),
    (e: unknown) =>
      e instanceof Error && /^Cannot connect to ws:\/\/127\.0\.0\.1:\d+\//.test(e.message),
  );
});

test("connectWebSocket stops when its signal aborts", async () => {
  const aborted = new AbortController();
  aborted.abort(new Error("no thanks"));
  await assert.rejects(
    connectWebSocket("ws://127.0.0.1:1/", { signal: aborted.signal }),
    /no thanks/,
  );
  // Aborting while connecting: a listener that never answers the upgrade.
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  await using listener = await listenWebSocket({
    path: "/roam",
    fetch: async () => {
      await gate;
      return new Response("late");
    },
  });
  const controller = new AbortController();
  const attempt = connectWebSocket(`ws://127.0.0.1:${listener.address.port}/slow`, {
    signal: controller.signal,
  });
  setTimeout(() => controller.abort(new Error("gave up")), 20);
  await assert.rejects(within(attempt, 2000, "the abort"), /gave up/);
  release();
});

test("bad arguments are rejected with TypeError or RangeError", async () => {
  await assert.rejects(connectWebSocket("ftp://example.com/"), TypeError);
  await assert.rejects(connectWebSocket("not a url"), TypeError);
  await assert.rejects(connectWebSocket("ws://127.0.0.1:1/#frag"), TypeError);
  await assert.rejects(connectWebSocket("ws://127.0.0.1:1/", { maxMessageSize: 0 }), RangeError);
  await assert.rejects(connectWebSocket("ws://127.0.0.1:1/", { maxMessageSize: 1.5 }), RangeError);
  await assert.rejects(listenWebSocket({ port: 70000 }), RangeError);
  await assert.rejects(listenWebSocket({ port: -1 }), RangeError);
  await assert.rejects(listenWebSocket({ path: "roam" }), TypeError);
  await assert.rejects(listenWebSocket({ path: "/roam?x=1" }), TypeError);
  await assert.rejects(listenWebSocket({ maxMessageSize: -5 }), RangeError);
  await assert.rejects(listenWebSocket({ hostname: "" }), TypeError);
  // A socket that is already closed cannot become a link.
  await using listener = await listenWebSocket();
  const ws = new WebSocket(listener.url);
  const serverLink = listener.accept();
  await new Promise((r) => ws.addEventListener("open", r));
  ws.close();
  await new Promise((r) => ws.addEventListener("close", r));
  assert.throws(() => websocketLink(ws), TypeError);
  const link = await serverLink;
  await link?.readable.cancel().catch(() => {});
});

// ------------------------------------------------------------------ the fast path (direct)

/** A push sink that records payloads (their first four bytes as a number) and its end. */
function recordingSink(): {
  sink: PayloadSink;
  seen: number[];
  ended: Promise<unknown>;
} {
  const seen: number[] = [];
  let settle!: (outcome: unknown) => void;
  const ended = new Promise<unknown>((r) => (settle = r));
  const sink: PayloadSink = {
    payload: (p) => void seen.push(new DataView(p.buffer, p.byteOffset).getUint32(0, true)),
    end: () => settle("end"),
    error: (e) => settle(e),
  };
  return { sink, seen, ended };
}

function numbered(i: number, size = 64): Uint8Array {
  const m = new Uint8Array(size);
  new DataView(m.buffer).setUint32(0, i, true);
  return m;
}

test("the fast path carries 5,000 messages in order both ways, and a graceful close ends the peer's sink", async () => {
  await using listener = await listenWebSocket();
  const [clientLink, serverLink] = await Promise.all([
    connectWebSocket(listener.url),
    listener.accept(),
  ]);
  assert.ok(serverLink?.direct !== undefined && clientLink.direct !== undefined);
  const count = 5000;
  const atServer = recordingSink();
  const atClient = recordingSink();
  serverLink.direct.receive(atServer.sink);
  clientLink.direct.receive(atClient.sink);
  const scratch = new Uint8Array(256);
  for (let i = 0; i < count; i++) {
    // `sendCopy` must take its copy before returning: the scratch buffer is reused at once.
    new DataView(scratch.buffer).setUint32(0, i, true);
    clientLink.direct.sendCopy!(scratch, 64);
    serverLink.direct.send(numbered(i));
  }
  await until(
    () => atServer.seen.length === count && atClient.seen.length === count,
    "both bursts",
    10_000,
  );
  const expected = Array.from({ length: count }, (_, i) => i);
  assert.deepEqual(atServer.seen, expected);
  assert.deepEqual(atClient.seen, expected);
  await clientLink.writable.close();
  assert.equal(await within(atServer.ended, 5000, "the server's sink to end"), "end");
  await serverLink.writable.close();
  assert.equal(await within(atClient.ended, 5000, "the client's sink to end"), "end");
});

test("a paused fast-path receiver queues what arrives, then fails past maxUnreadBytes with a FramingError", async () => {
  await using listener = await listenWebSocket();
  const [clientLink, serverLink] = await Promise.all([
    connectWebSocket(listener.url, { maxUnreadBytes: 4 * 1024 * 1024 }),
    listener.accept(),
  ]);
  assert.ok(serverLink !== undefined && clientLink.direct !== undefined);
  const { sink, seen, ended } = recordingSink();
  clientLink.direct.flow.pause();
  clientLink.direct.receive(sink);
  const writer = serverLink.writable.getWriter();
  // 1 MiB first: under the limit, it waits in the inbox while paused, then arrives on resume.
  await writer.write(numbered(0, 1024 * 1024));
  await delay(100);
  assert.deepEqual(seen, []);
  clientLink.direct.flow.resume();
  await until(() => seen.length === 1, "the held message", 5000);
  clientLink.direct.flow.pause();
  for (let i = 1; i <= 8; i++) writer.write(numbered(i, 1024 * 1024)).catch(() => {});
  const error = await within(ended, 5000, "the client's sink to fail");
  assert.ok(error instanceof FramingError, `got ${String(error)}`);
  assert.match(error.message, /not read yet, above the limit of 4194304/);
  assert.deepEqual(seen, [0]);
  await writer.abort().catch(() => {});
  await clientLink.writable.abort().catch(() => {});
});

test("payloads sent through the fast path while the socket connects count as buffered and go in order once it opens", async () => {
  await using listener = await listenWebSocket();
  const link = websocketLink(new WebSocket(listener.url));
  assert.ok(link.direct !== undefined);
  for (let i = 0; i < 10; i++) link.direct.send(numbered(i, 1000));
  assert.ok(link.direct.flow.buffered() >= 10_000, `buffered ${link.direct.flow.buffered()}`);
  const serverLink = await within(listener.accept(), 5000, "the server link");
  assert.ok(serverLink !== undefined);
  const reader = serverLink.readable.getReader();
  for (let i = 0; i < 10; i++) {
    const { value } = await within(reader.read(), 5000, `message ${i}`);
    assert.ok(value !== undefined);
    assert.equal(value.length, 1000);
    assert.equal(new DataView(value.buffer, value.byteOffset).getUint32(0, true), i);
  }
  await within(
    new Promise<void>((resolve) => link.direct!.flow.whenBelow(0, resolve)),
    5000,
    "the send buffer to empty",
  );
  assert.equal(link.direct.flow.buffered(), 0);
  await link.writable.close();
  assert.equal((await reader.read()).done, true);
  await serverLink.writable.close();
});
