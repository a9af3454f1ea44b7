import { test } from "node:test";
import assert from "node:assert/strict";
import {
  accept,
  ClosedError,
  implement,
  initiate,
  type Link,
  ProtocolError,
  service,
  t,
} from "../../mod.ts";
import { FramingError } from "../../lib/link/framing/errors.ts";
import { encodeMessage } from "../../lib/wire/encode.ts";
import { decodeMessage } from "../../lib/wire/decode.ts";
import {
  messageChannelLinks,
  type MessageEndpoint,
  messagePortLink,
} from "../../transports/message_port.ts";
import { Greeter } from "../../examples/worker_service.ts";
import { rejection, within } from "../_helpers/mod.ts";

const Calc = service("Calc", {
  add: { args: [t.u32, t.u32], returns: t.u32 },
  echoBytes: { args: [t.bytes], returns: t.bytes },
});

const calcImpl = implement(Calc, { add: (a, b) => a + b, echoBytes: (b) => b });

/** The far end of a `MessageChannel`, driven by hand: posts anything, queues what arrives. */
class RawPort {
  readonly port: MessagePort;
  readonly #queue: unknown[] = [];
  #wake: (() => void) | undefined;

  constructor(port: MessagePort) {
    this.port = port;
    port.onmessage = (e) => {
      this.#queue.push(e.data);
      this.#wake?.();
    };
  }

  /** The next message; fails after `ms`. */
  async next(ms = 2000): Promise<unknown> {
    while (this.#queue.length === 0) {
      await within(new Promise<void>((r) => (this.#wake = r)), ms, "a message on the raw port");
    }
    return this.#queue.shift();
  }

  /** Closes the port. */
  close(): void {
    this.port.close();
  }
}

/** A library link on one port of a new channel, a raw port on the other. */
function rawPair(transfer?: boolean): { link: Link; raw: RawPort } {
  const channel = new MessageChannel();
  return {
    link: messagePortLink(channel.port1, transfer === undefined ? {} : { transfer }),
    raw: new RawPort(channel.port2),
  };
}

test("a session over messageChannelLinks() makes calls and closes gracefully", async () => {
  const [a, b] = messageChannelLinks();
  const [client, server] = await Promise.all([
    initiate(a),
    accept(b, { services: [calcImpl] }),
  ]);
  const calc = client.client(Calc);
  assert.equal(await calc.add(2, 3), 5);
  const sums = await Promise.all(Array.from({ length: 500 }, (_, i) => calc.add(i, i)));
  assert.deepEqual(sums, Array.from({ length: 500 }, (_, i) => 2 * i));
  const big = new Uint8Array(1024 * 1024).map((_, i) => i % 251);
  const back = await calc.echoBytes(big);
  assert.equal(back.length, big.length);
  assert.ok(back.every((v, i) => v === big[i]));
  assert.equal(big.length, 1024 * 1024, "the caller's bytes were not detached");

  await client.close();
  assert.equal(await client.closed, undefined);
  const reason = await within(server.closed, 2000, "the server's end");
  assert.ok(reason instanceof ClosedError, `expected a ClosedError, got ${reason}`);
  assert.match(reason.message, /peer closed the link/);
});

test('closing the writable posts { roam: "close" } and ends the peer\'s readable', async () => {
  const [a, b] = messageChannelLinks();
  const writer = a.writable.getWriter();
  const reader = b.readable.getReader();
  await writer.write(Uint8Array.of(1, 2, 3));
  await writer.write(new Uint8Array(0));
  await writer.close();
  assert.deepEqual((await reader.read()).value, Uint8Array.of(1, 2, 3));
  assert.deepEqual((await reader.read()).value, new Uint8Array(0));
  assert.equal((await within(reader.read(), 2000, "the end of the stream")).done, true);
  // Half close: the other direction still works.
  const back = b.writable.getWriter();
  const aReader = a.readable.getReader();
  await back.write(Uint8Array.of(9));
  assert.deepEqual((await aReader.read()).value, Uint8Array.of(9));
  await back.close();
  assert.equal((await aReader.read()).done, true);

  const { link, raw } = rawPair();
  await link.writable.close();
  assert.deepEqual(await raw.next(), { roam: "close" });
  await link.readable.cancel();
  raw.close();
});

test("aborting the writable fails the peer's readable", async () => {
  const [a, b] = messageChannelLinks();
  const reader = b.readable.getReader();
  await a.writable.abort(new Error("gave up"));
  await assert.rejects(
    within(reader.read(), 2000, "the peer's read"),
    /aborted the MessagePort link: gave up/,
  );
  await assert.rejects(a.readable.getReader().read(), /aborted/);
  await b.writable.close();
});

test("a non-binary message tears the session down with a ProtocolError", async () => {
  const { link, raw } = rawPair();
  const pending = accept(link, { services: [calcImpl] });
  raw.port.postMessage(
    encodeMessage({
      connectionId: 0,
      payload: {
        type: "hello",
        version: 7,
        settings: { parity: "odd", maxConcurrentRequests: 64 },
        metadata: [],
      },
    }),
  );
  const session = await pending;
  const reply = decodeMessage((await raw.next()) as Uint8Array);
  assert.equal(reply.payload.type, "helloYourself");

  raw.port.postMessage("not a payload");
  const reason = await within(session.closed, 2000, "the session's end");
  assert.ok(reason instanceof ProtocolError, `expected a ProtocolError, got ${reason}`);
  assert.match(reason.message, /expected an ArrayBuffer or a Uint8Array, got a string/);
  const sent = decodeMessage((await raw.next()) as Uint8Array);
  assert.equal(sent.payload.type, "protocolError");
  assert.deepEqual(await raw.next(), { roam: "close" });
  raw.close();
});

test("messages that are not binary payloads error the readable with a FramingError", async () => {
  for (const bad of ["text", 42, null, { roam: "other" }, [1, 2], new Uint16Array(2)]) {
    const { link, raw } = rawPair();
    const reader = link.readable.getReader();
    raw.port.postMessage(bad);
    const e = await rejection(reader.read());
    assert.ok(e instanceof FramingError, `expected a FramingError for ${String(bad)}, got ${e}`);
    assert.equal(e.protocolViolation, true);
    await link.writable.close();
    raw.close();
  }
});

test("an ArrayBuffer message is a payload", async () => {
  const { link, raw } = rawPair();
  const reader = link.readable.getReader();
  raw.port.postMessage(Uint8Array.of(4, 5, 6).buffer);
  assert.deepEqual((await reader.read()).value, Uint8Array.of(4, 5, 6));
  await link.writable.close();
  await reader.cancel();
  raw.close();
});

test("a messageerror event errors the readable", async () => {
  const channel = new MessageChannel();
  const link = messagePortLink(channel.port1);
  const reader = link.readable.getReader();
  channel.port1.dispatchEvent(new MessageEvent("messageerror"));
  await assert.rejects(reader.read(), /could not be deserialized/);
  await link.writable.close();
  channel.port2.close();
});

test("a payload viewing part of a larger buffer is copied, never transferred", async () => {
  const { link, raw } = rawPair();
  const writer = link.writable.getWriter();
  const slab = new Uint8Array(1024).map((_, i) => i & 0xff);
  await writer.write(slab.subarray(8, 24));
  assert.equal(slab.buffer.byteLength, 1024, "the sender's buffer was detached");
  assert.equal(slab[8], 8);
  const got = (await raw.next()) as Uint8Array;
  assert.deepEqual(got, slab.slice(8, 24));
  assert.equal(got.buffer.byteLength, 16, "only the payload's bytes were sent");

  // A payload owning its whole buffer is transferred.
  const owned = Uint8Array.of(7, 7, 7);
  await writer.write(owned);
  assert.equal(owned.buffer.byteLength, 0, "an owned buffer should be transferred");
  assert.deepEqual(await raw.next(), Uint8Array.of(7, 7, 7));
  await writer.close();
  await link.readable.cancel();
  raw.close();
});

test("transfer: false copies every payload", async () => {
  const { link, raw } = rawPair(false);
  const writer = link.writable.getWriter();
  const owned = Uint8Array.of(1, 2);
  await writer.write(owned);
  assert.equal(owned.buffer.byteLength, 2);
  assert.deepEqual(await raw.next(), Uint8Array.of(1, 2));
  const view = new Uint8Array(64).subarray(4, 6);
  await writer.write(view);
  assert.equal(((await raw.next()) as Uint8Array).buffer.byteLength, 2);
  await writer.close();
  await link.readable.cancel();
  raw.close();
});

test("messagePortLink() rejects what is not an endpoint", () => {
  assert.throws(() => messagePortLink({} as MessageEndpoint), TypeError);
  assert.throws(() => messagePortLink(null as unknown as MessageEndpoint), TypeError);
  const channel = new MessageChannel();
  assert.throws(
    () => messagePortLink(channel.port1, { transfer: "yes" as unknown as boolean }),
    TypeError,
  );
  channel.port1.close();
});

test("a plain object endpoint works (any postMessage + addEventListener shape)", async () => {
  const channel = new MessageChannel();
  const port = channel.port1;
  let started = false;
  const endpoint: MessageEndpoint = {
    postMessage: (m, transfer) => port.postMessage(m, transfer),
    addEventListener: (type, listener) => port.addEventListener(type, listener),
    removeEventListener: (type, listener) => port.removeEventListener(type, listener),
    start: () => {
      started = true;
      port.start();
    },
  };
  const [client, server] = await Promise.all([
    initiate(messagePortLink(endpoint)),
    accept(messagePortLink(channel.port2), { services: [calcImpl] }),
  ]);
  assert.ok(started);
  assert.equal(await client.client(Calc).add(20, 22), 42);
  await client.close();
  await within(server.closed, 2000, "the server's end");
  port.close();
});

test("a session with a Worker running examples/worker_service.ts", async () => {
  const worker = new Worker(new URL("../../examples/worker_service.ts", import.meta.url), {
    type: "module",
  });
  try {
    const session = await within(
      initiate(messagePortLink(worker)),
      10_000,
      "the worker's handshake",
    );
    const greeter = session.client(Greeter);
    assert.equal(await greeter.greet("test"), "Hello, test, from a worker!");
    assert.equal(await greeter.sum([1, 2, 3, 4]), 10n);
    const many = await Promise.all(Array.from({ length: 200 }, (_, i) => greeter.sum([i, i])));
    assert.deepEqual(many, Array.from({ length: 200 }, (_, i) => BigInt(2 * i)));
    await session.close();
    assert.equal(await session.closed, undefined);
  } finally {
    worker.terminate();
  }
});
