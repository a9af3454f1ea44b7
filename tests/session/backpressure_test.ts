/**
 * Back-pressure inside one process, on memory links: a peer that does not
 * read makes senders wait (channel items, responses, pongs, calls) instead
 * of buffering without bound; a peer that keeps asking for replies while it
 * does not read is no longer read; a peer that does not read past the
 * session's limit gets the session closed; and no send or receive loop
 * holds the event loop.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  accept,
  channel,
  ClosedError,
  type Connection,
  implement,
  initiate,
  memoryLink,
  SENSITIVE,
  service,
  type Session,
  t,
} from "../../mod.ts";
import { encodeMessage, type Message } from "../../wire.ts";
import type { LinkFlow } from "../../lib/link/link.ts";
import { resolveKeepalive, resolveLimits } from "../../lib/session/options.ts";
import {
  closeAll,
  delay,
  echoImpl,
  rawInitiator,
  RawPeer,
  sessionPair,
  until,
  varint,
  within,
} from "../_helpers/mod.ts";

const KiB = 1024;

/** An acceptor whose peer is a raw initiator that reads only when asked; its link flow too. */
async function lazyInitiator(
  options: Parameters<typeof accept>[1],
): Promise<{ peer: RawPeer; session: Session; flow: LinkFlow }> {
  const links = memoryLink();
  const { peer, session } = await rawInitiator(options, { links, readAhead: false });
  return { peer, session, flow: links[0].direct!.flow };
}

function call(id: number, methodId: bigint, args: number[], channels: number[] = []): Message {
  return {
    connectionId: 0,
    payload: {
      type: "request",
      id,
      body: { type: "call", methodId, channels, metadata: [], args: Uint8Array.from(args) },
    },
  };
}

const Producer = service("Producer", {
  stream: { args: [t.u32, t.tx(t.bytes)], returns: t.u32 },
  big: { args: [t.u32], returns: t.bytes },
});

function producer(state: { sent: number }) {
  return implement(Producer, {
    async stream(count, tx) {
      for (let i = 0; i < count; i++) {
        const item = new Uint8Array(KiB);
        new DataView(item.buffer).setUint32(0, i, true);
        await tx.send(item);
        state.sent++;
      }
      await tx.close();
      return count;
    },
    big: (n) => new Uint8Array(n).fill(7),
  });
}

test("Tx.send waits while the peer leaves more than sendHighWaterMark bytes unread, and loses nothing", async () => {
  const state = { sent: 0 };
  const { peer, session, flow } = await lazyInitiator({
    services: [producer(state)],
    limits: { sendHighWaterMark: 64 * KiB },
  });
  peer.send(call(1, Producer.methods.stream.id, varint(2000), [1]));
  peer.send({
    connectionId: 0,
    payload: { type: "channel", id: 1, body: { type: "grantCredit", additional: 0xffff_ffff } },
  });
  await delay(100);
  // About 64 items of 1 KiB fit under the mark; the producer waits for the rest.
  assert.ok(state.sent < 100, `the producer sent ${state.sent} items ahead of the reader`);
  assert.ok(flow.buffered() < 72 * KiB, `${flow.buffered()} bytes buffered`);
  const messages = await peer.collect(2002);
  const items = messages.filter((m) =>
    m.payload.type === "channel" && m.payload.body.type === "item"
  );
  assert.equal(items.length, 2000);
  items.forEach((m, i) => {
    const p = m.payload as { body: { item: Uint8Array } };
    // The item payload is bytes: a varint length (2 bytes for 1 KiB), then the content.
    assert.equal(
      new DataView(p.body.item.buffer, p.body.item.byteOffset + 2).getUint32(0, true),
      i,
    );
  });
  assert.equal(state.sent, 2000);
  await peer.abort();
  await within(session.closed, 2000, "session.closed");
});

test("responses wait while the peer does not read them, and all arrive once it does", async () => {
  const { peer, session, flow } = await lazyInitiator({
    services: [producer({ sent: 0 })],
    limits: { sendHighWaterMark: 64 * KiB },
  });
  for (let id = 1; id < 80; id += 2) peer.send(call(id, Producer.methods.big.id, varint(32 * KiB)));
  await delay(100);
  // One response may go beyond the mark; the others wait.
  assert.ok(flow.buffered() <= 64 * KiB + 33 * KiB, `${flow.buffered()} bytes buffered`);
  const ids = new Set<number>();
  for (const m of await peer.collect(40)) {
    assert.equal(m.payload.type, "request");
    const p = m.payload as { id: number; body: { type: string; ret: Uint8Array } };
    assert.equal(p.body.type, "response");
    assert.equal(p.body.ret.length, 1 + 3 + 32 * KiB);
    ids.add(p.id);
  }
  assert.equal(ids.size, 40);
  await peer.abort();
  await within(session.closed, 2000, "session.closed");
});

test("a peer that floods pings without reading is no longer read, and gets every pong later", async () => {
  const { peer, session, flow } = await lazyInitiator({
    limits: { sendHighWaterMark: 4 * KiB, maxPingRate: 1_000_000 },
  });
  const N = 5000;
  for (let n = 1; n <= N; n++) {
    peer.send({ connectionId: 0, payload: { type: "ping", nonce: BigInt(n) } });
  }
  await until(() => peer.blocked, "the session to stop reading the peer");
  await delay(50);
  assert.ok(flow.buffered() < 8 * KiB, `${flow.buffered()} bytes of pongs buffered`);
  const pongs = await peer.collect(N);
  pongs.forEach((m, i) => assert.deepEqual(m.payload, { type: "pong", nonce: BigInt(i + 1) }));
  await peer.abort();
  await within(session.closed, 2000, "session.closed");
});

test("a peer that sends pings faster than limits.maxPingRate is a protocol violation", async () => {
  const { peer, session } = await lazyInitiator({ limits: { maxPingRate: 50 } });
  for (let n = 1; n <= 200; n++) {
    peer.send({ connectionId: 0, payload: { type: "ping", nonce: BigInt(n) } });
  }
  const reason = await within(session.closed, 2000, "session.closed");
  assert.ok(reason instanceof ClosedError);
  assert.equal(reason.code, "protocol-error");
  assert.match(reason.message, /maxPingRate/);
  const messages: Message[] = [];
  for (;;) {
    try {
      messages.push(await peer.next(500));
    } catch {
      break; // the link ended
    }
  }
  const pongs = messages.filter((m) => m.payload.type === "pong");
  assert.ok(pongs.length >= 50 && pongs.length < 60, `${pongs.length} pongs`);
  assert.equal(messages.at(-1)?.payload.type, "protocolError");
  await peer.abort();
});

test("pings at a keepalive's pace are always answered", async () => {
  const { peer, session } = await lazyInitiator({ limits: { maxPingRate: 20 } });
  for (let n = 1; n <= 10; n++) {
    peer.send({ connectionId: 0, payload: { type: "ping", nonce: BigInt(n) } });
    assert.deepEqual((await peer.next()).payload, { type: "pong", nonce: BigInt(n) });
    await delay(60);
  }
  await peer.abort();
  await within(session.closed, 2000, "session.closed");
});

test("a peer that does not read past limits.maxSendOverflow has its session closed as peer-not-reading", async () => {
  const { peer, session } = await lazyInitiator({
    limits: { sendHighWaterMark: 4 * KiB, maxSendOverflow: 64 * KiB },
  });
  // Every open is rejected at once (no onConnection): rejections do not wait.
  for (let id = 2; id < 20_000; id += 2) {
    peer.send({
      connectionId: id,
      payload: {
        type: "connectionOpen",
        settings: { parity: "even", maxConcurrentRequests: 1 },
        metadata: [],
      },
    });
  }
  const reason = await within(session.closed, 5000, "session.closed");
  assert.ok(reason instanceof ClosedError, `closed with ${String(reason)}`);
  assert.equal(reason.code, "peer-not-reading");
  assert.match(reason.message, /maxSendOverflow/);
  await peer.abort();
});

test("calls wait while the link is full, in order, and go out once the peer reads", async () => {
  const [a, b] = memoryLink();
  const peer = new RawPeer(b);
  const initiating = initiate(a, { limits: { sendHighWaterMark: 16 * KiB } });
  assert.equal((await peer.next()).payload.type, "hello");
  peer.send({
    connectionId: 0,
    payload: {
      type: "helloYourself",
      settings: { parity: "even", maxConcurrentRequests: 1000 },
      metadata: [],
    },
  });
  const session = await initiating;
  const flow = a.direct!.flow;
  const Sink = service("Sink", { put: { args: [t.bytes], returns: t.unit } });
  const calls = Array.from(
    { length: 200 },
    (_, i) => session.client(Sink).put(new Uint8Array(4 * KiB).fill(i)).catch((e) => e),
  );
  await delay(20);
  assert.ok(flow.buffered() <= 20 * KiB + 64, `${flow.buffered()} bytes of calls buffered`);
  const got = await peer.collect(200);
  got.forEach((m, i) => {
    const p = m.payload as { id: number; body: { type: string; args: Uint8Array } };
    assert.equal(p.body.type, "call");
    assert.equal(p.body.args[2], i & 0xff, `call ${i} out of order`);
  });
  await peer.abort();
  await within(session.closed, 2000, "session.closed");
  await Promise.all(calls);
});

test("streaming many items over a memory link never holds the event loop", async () => {
  const Counter = service("Counter", { count: { args: [t.u32, t.tx(t.u32)], returns: t.unit } });
  const { client, server } = await sessionPair({}, {
    services: [implement(Counter, {
      async count(n, tx) {
        for (let i = 0; i < n; i++) await tx.send(i);
        await tx.close();
      },
    })],
  });
  let maxLag = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    maxLag = Math.max(maxLag, now - last);
    last = now;
  }, 1);
  try {
    const [tx, rx] = channel<number>();
    const done = client.client(Counter).count(200_000, tx);
    let expected = 0;
    for await (const n of rx) assert.equal(n, expected++);
    await done;
    assert.equal(expected, 200_000);
    maxLag = Math.max(maxLag, performance.now() - last); // a loop held to the end shows here
  } finally {
    clearInterval(timer);
  }
  assert.ok(maxLag < 100, `the event loop was held for ${maxLag.toFixed(1)} ms`);
  await closeAll(client, server);
});

test("limits are checked: a bad sendHighWaterMark or maxSendOverflow is a RangeError", async () => {
  assert.throws(() => resolveLimits({ sendHighWaterMark: 0 }), RangeError);
  assert.throws(() => resolveLimits({ maxSendOverflow: 1.5 }), /limits.maxSendOverflow/);
  const [a] = memoryLink();
  await assert.rejects(initiate(a, { limits: { sendHighWaterMark: -1 } }), RangeError);
  assert.deepEqual(resolveLimits(undefined).sendHighWaterMark, 1024 * 1024);
});

test("keepalive is on by default, and keepalive: false turns it off", () => {
  assert.deepEqual(resolveKeepalive(undefined), { interval: 30_000, timeout: 30_000 });
  assert.equal(resolveKeepalive(false), undefined);
  assert.deepEqual(resolveKeepalive({ interval: 5, timeout: 7 }), { interval: 5, timeout: 7 });
  assert.throws(() => resolveKeepalive(true as unknown as false), TypeError);
});

test("an accepted session whose peer goes silent ends by keepalive, not never", async () => {
  const { peer, session } = await lazyInitiator({ keepalive: { interval: 20, timeout: 50 } });
  const reason = await within(session.closed, 2000, "session.closed");
  assert.ok(reason instanceof ClosedError);
  assert.equal(reason.code, "keepalive-timeout");
  await peer.abort();
});

test("session.closed tells a peer that closed gracefully from a link that was lost", async () => {
  const { client: c1, server: s1 } = await sessionPair({}, { services: [echoImpl] });
  await c1.close();
  const graceful = await within(s1.closed, 2000, "s1.closed");
  assert.ok(graceful instanceof ClosedError);
  assert.equal(graceful.code, "peer-closed");

  const { peer, session } = await lazyInitiator({});
  await peer.abort(); // aborts its side: the link breaks
  const lost = await within(session.closed, 2000, "session.closed");
  assert.ok(lost instanceof ClosedError);
  assert.equal(lost.code, "link-lost");
});

test("ConnectionClose metadata reaches the peer through connection.closed, redacted where sensitive", async () => {
  let serverConn: Connection | undefined;
  const { client, server } = await sessionPair({}, {
    onConnection: () => ({ accept: true, onOpen: (c) => (serverConn = c) }),
  });
  const conn = await client.openConnection();
  await until(() => serverConn !== undefined, "the server's side of the connection");
  await conn.close([
    { key: "reason", value: "done", flags: 0 },
    { key: "token", value: "s3cret", flags: SENSITIVE },
  ]);
  const reason = await within(serverConn!.closed, 2000, "the server's connection.closed");
  assert.ok(reason instanceof ClosedError);
  assert.equal(reason.code, "connection-closed");
  assert.deepEqual(reason.metadata.map((e) => [e.key, e.value]), [
    ["reason", "done"],
    ["token", "s3cret"],
  ]);
  assert.doesNotMatch(JSON.stringify(reason.metadata), /s3cret/);
  await closeAll(client, server);
});

test("a peer that half-closes and never reads does not keep the server's socket past the close deadline", async () => {
  const { listenTcp, connectTcpStream } = await import("../../transports/tcp.ts");
  const listener = await listenTcp({ port: 0 });
  const sessions: Promise<unknown>[] = [];
  const serving = (async () => {
    for await (const link of listener) {
      sessions.push(
        accept(link, { services: [producer({ sent: 0 })] }).then((s) => s.closed),
      );
    }
  })();
  const socket = await connectTcpStream({ port: (listener.address as { port: number }).port });
  try {
    const writer = socket.writable.getWriter();
    const frame = (m: Message): Uint8Array => {
      const p = encodeMessage(m);
      const out = new Uint8Array(4 + p.length);
      new DataView(out.buffer).setUint32(0, p.length, true);
      out.set(p, 4);
      return out;
    };
    await writer.write(frame({
      connectionId: 0,
      payload: {
        type: "hello",
        version: 7,
        settings: { parity: "odd", maxConcurrentRequests: 64 },
        metadata: [],
      },
    }));
    // 32 MiB that the kernel buffers cannot hold, then end our side and read nothing.
    await writer.write(frame(call(1, Producer.methods.big.id, varint(32 * 1024 * 1024))));
    await delay(200);
    await writer.close();
    const start = performance.now();
    await until(() => sessions.length === 1, "the session");
    const reason = await within(sessions[0]!, 2000, "the server's session to end");
    assert.ok(reason instanceof ClosedError && reason.code === "peer-closed", String(reason));
    await delay(2500); // past the deadline, the server drops the link
    let received = 0;
    const reader = socket.readable.getReader();
    try {
      for (;;) {
        const { value, done } = await within(reader.read(), 5000, "the next bytes");
        if (done) break;
        received += value.length;
      }
    } catch {
      // A reset ends the stream too.
    }
    assert.ok(
      received < 32 * 1024 * 1024,
      `the server kept the link ${
        (performance.now() - start).toFixed(0)
      } ms and sent all ${received} bytes`,
    );
  } finally {
    socket.close();
    await listener.close();
    await serving;
  }
});
