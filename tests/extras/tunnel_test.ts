import { test } from "node:test";
import assert from "node:assert/strict";
import {
  accept,
  connect,
  implement,
  initiate,
  memoryLink,
  pumpFromChannel,
  pumpToChannel,
  pumpTunnel,
  type Rx,
  serve,
  service,
  type Session,
  t,
  tunnel,
  TunnelSchema,
  type Tx,
} from "../../mod.ts";
import { connectTcpStream, listenTcpStream } from "../../transports/tcp.ts";
import { delay } from "../_helpers/mod.ts";

/** A plain TCP echo server (no roam): whatever a client sends comes back. */
async function tcpEcho(): Promise<{ port: number; close(): Promise<void> }> {
  const listener = await listenTcpStream({ port: 0 });
  const pipes: Promise<void>[] = [];
  const loop = (async () => {
    for await (const socket of listener) {
      pipes.push(socket.readable.pipeTo(socket.writable).catch(() => {}));
    }
  })();
  return {
    port: (listener.address as { port: number }).port,
    async close() {
      await listener.close();
      await loop;
      await Promise.all(pipes);
    },
  };
}

/** The side that can reach a local port: it connects and pumps the tunnel. */
const Forward = service("Forward", { open: { args: [t.u16, TunnelSchema] } });

function forwarder(pumps: Promise<void>[]) {
  return implement(Forward, {
    open: async (port, ends) => {
      const socket = await connectTcpStream({ port });
      // The tunnel outlives this call: keep both ends past the handler.
      const kept = { tx: ends.tx.keep(), rx: ends.rx.keep() };
      pumps.push(pumpTunnel(socket, kept).finally(() => socket.close()));
    },
  });
}

function pattern(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 131 + 7) & 0xff);
}

async function collect(rx: Rx<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of rx) {
    parts.push(chunk);
    size += chunk.length;
  }
  const out = new Uint8Array(size);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

test("a tunnel carries a real TCP echo connection through a session, byte for byte", async () => {
  const echo = await tcpEcho();
  const pumps: Promise<void>[] = [];
  const [a, b] = memoryLink();
  const [client, server] = await Promise.all([
    initiate(a),
    accept(b, { services: [forwarder(pumps)] }),
  ]);
  const { local, remote } = tunnel();
  await client.client(Forward).open(echo.port, remote);
  const data = pattern(3 * 1024 * 1024 + 17);
  const received = collect(local.rx);
  for (let off = 0; off < data.length; off += 50_000) {
    await local.tx.send(data.slice(off, off + 50_000));
  }
  await local.tx.close();
  const back = await received;
  assert.equal(back.length, data.length);
  assert.deepEqual(back, data);
  await Promise.all(pumps);
  await client.close();
  await server.closed;
  await echo.close();
});

test("a reverse tunnel: the side that dialled out serves the forward, the listener reaches its port", async () => {
  // The "edge" dials out to a server and serves Forward on that session; the
  // server then reaches a TCP port behind the edge through it.
  const echo = await tcpEcho();
  const pumps: Promise<void>[] = [];
  const sessions: Session[] = [];
  const hub = await serve("tcp://127.0.0.1:0", { onSession: (s) => sessions.push(s) });
  const edge = await connect(hub.url, { services: [forwarder(pumps)] });
  while (sessions.length === 0) await delay(5);
  const toEdge = sessions[0]!.client(Forward);

  const { local, remote } = tunnel();
  await toEdge.open(echo.port, remote);
  const received = collect(local.rx);
  const message = new TextEncoder().encode("hello through the reverse tunnel");
  await local.tx.send(message);
  await local.tx.close();
  assert.equal(new TextDecoder().decode(await received), "hello through the reverse tunnel");
  await Promise.all(pumps);
  await edge.close();
  await hub.close();
  await echo.close();
});

test("pumpToChannel splits large chunks and closes the channel at the end of the stream", async () => {
  const sent: Uint8Array[] = [];
  let closed = false;
  const fakeTx = {
    signal: new AbortController().signal,
    send: (chunk: Uint8Array) => {
      sent.push(chunk.slice());
      return Promise.resolve();
    },
    close: () => {
      closed = true;
      return Promise.resolve();
    },
  } as unknown as Tx<Uint8Array>;
  const data = pattern(10_000);
  await pumpToChannel(
    new ReadableStream({
      start(c) {
        c.enqueue(data);
        c.close();
      },
    }),
    fakeTx,
    { chunkSize: 4096 },
  );
  assert.deepEqual(sent.map((c) => c.length), [4096, 4096, 1808]);
  assert.ok(closed);
  await assert.rejects(
    pumpToChannel(new ReadableStream(), fakeTx, { chunkSize: 0 }),
    RangeError,
  );
});

test("pumpFromChannel writes every item, then closes the writable when the sender closes", async () => {
  const { local, remote } = tunnel();
  const chunks: number[] = [];
  let closed = false;
  const writable = new WritableStream<Uint8Array>({
    write: (c) => void chunks.push(c.length),
    close: () => void (closed = true),
  });
  // Drive the receiving end directly through a session pair.
  const Sink = service("Sink", { take: { args: [t.rx(t.bytes)] } });
  const [a, b] = memoryLink();
  let done!: Promise<void>;
  const [client, server] = await Promise.all([
    initiate(a),
    accept(b, {
      services: [implement(Sink, {
        take: (rx) => {
          done = pumpFromChannel(rx.keep(), writable);
        },
      })],
    }),
  ]);
  await client.client(Sink).take(remote.rx);
  await local.tx.send(new Uint8Array(10));
  await local.tx.send(new Uint8Array(20));
  await local.tx.close();
  await done;
  assert.deepEqual(chunks, [10, 20]);
  assert.ok(closed);
  await client.close();
  await server.closed;
});
