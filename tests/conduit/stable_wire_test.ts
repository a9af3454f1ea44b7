/**
 * The stable conduit's bytes (wire-spec §5), checked against the examples
 * of the spec and against a hand-driven peer: the 25-byte ROCH / ROSH
 * handshake, frames `varint(seq) ++ Option<ack> ++ Message`, acks on
 * every frame once anything was received, the newest resume key and the
 * last received sequence number on a resume, replay of the stored frame
 * bytes unchanged, duplicates skipped, `REJECTED` for an unknown key.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  accept,
  HandshakeError,
  implement,
  initiate,
  type Link,
  memoryLink,
  ResumeRegistry,
  service,
  type Session,
  t,
} from "../../mod.ts";
import { encodeMessage } from "../../wire.ts";
import {
  decodeHello,
  encodeClientHello,
  encodeServerHello,
  type FrameHeader,
  readFrameHeader,
  writeFrameHeader,
} from "../../lib/conduit/stable_wire.ts";
import { DecodeError } from "../../lib/postcard/errors.ts";
import {
  hex,
  KEY_A,
  KEY_B,
  linkHello,
  linkHelloHex,
  RawPeer,
  rejection,
  stableAcceptor,
  stableFrame,
  toHex,
  within,
} from "../_helpers/mod.ts";

const Adder = service("Adder", { add: { args: [t.u32, t.u32], returns: t.u32 } });

/** The minimal Hello and HelloYourself (wire-spec §8). */
const HELLO = "00 00 07 00 40 00";
const HELLO_YOURSELF = "00 01 01 40 00";

/** The response to request `id` carrying `Ok(value)` for a u32 below 128. */
function okResponse(id: number, value: number): Uint8Array {
  return encodeMessage({
    connectionId: 0,
    payload: {
      type: "request",
      id,
      body: { type: "response", channels: [], metadata: [], ret: Uint8Array.of(0, value) },
    },
  });
}

/** A stable initiator on a memory link whose far end is a raw peer; `relink` makes more. */
function stableClient(): {
  session: Promise<Session>;
  peers: RawPeer[];
  nextPeer(): Promise<RawPeer>;
} {
  const peers: RawPeer[] = [];
  const waiting: ((p: RawPeer) => void)[] = [];
  const make = (): Link => {
    const [a, b] = memoryLink();
    const peer = new RawPeer(b);
    peers.push(peer);
    waiting.shift()?.(peer);
    return a;
  };
  const first = make();
  let taken = 1;
  return {
    session: initiate(first, {
      conduit: "stable",
      keepalive: false,
      stable: { relink: make, retry: { initialDelay: 5, maxElapsed: 2000 } },
    }),
    peers,
    nextPeer: () => {
      if (peers.length > taken) return Promise.resolve(peers[taken++]!);
      taken++;
      return new Promise((r) => waiting.push(r));
    },
  };
}

test("ClientHello and ServerHello are the 25-byte structs of wire-spec §5.1", () => {
  assert.equal(
    toHex(encodeClientHello(undefined, undefined)),
    linkHelloHex("ROCH", 0, undefined, 0),
  );
  assert.equal(
    toHex(encodeClientHello(KEY_A, 0x0102_0304)),
    `52 4f 43 48 03 ${toHex(KEY_A)} 04 03 02 01`,
  );
  assert.equal(toHex(encodeClientHello(KEY_A, undefined)), linkHelloHex("ROCH", 1, KEY_A, 0));
  assert.equal(
    toHex(encodeServerHello(KEY_B, undefined, false)),
    linkHelloHex("ROSH", 0, KEY_B, 0),
  );
  assert.equal(toHex(encodeServerHello(KEY_B, 5, false)), linkHelloHex("ROSH", 2, KEY_B, 5));
  assert.equal(toHex(encodeServerHello(KEY_B, 9, true)), linkHelloHex("ROSH", 1, undefined, 0));
  assert.equal(encodeClientHello(undefined, undefined).length, 25);

  const read = decodeHello(linkHello("ROCH", 3, KEY_A, 0xffff_ffff), "client");
  assert.ok(typeof read !== "string");
  assert.deepEqual([read.flags, toHex(read.key), read.lastReceived], [
    3,
    toHex(KEY_A),
    0xffff_ffff,
  ]);
  const noLast = decodeHello(linkHello("ROSH", 0, KEY_B, 7), "server");
  assert.ok(typeof noLast !== "string");
  assert.equal(noLast.lastReceived, undefined, "without HAS_LAST_RECEIVED the field is ignored");
  assert.match(String(decodeHello(new Uint8Array(24), "server")), /24 bytes, not 25/);
  assert.match(String(decodeHello(new Uint8Array(26), "client")), /26 bytes, not 25/);
  assert.match(String(decodeHello(linkHello("ROCH", 0, KEY_A, 0), "server")), /ROSH/);
});

test("A stable frame is varint(seq), then 00 or 01 varint(ack), then the message (wire-spec §5.2)", () => {
  const header = (seq: number, ack: number): string => {
    const out = new Uint8Array(11);
    return toHex(out.subarray(0, writeFrameHeader(out, seq, ack)));
  };
  assert.equal(`${header(0, -1)} ${HELLO}`, "00 00 00 00 07 00 40 00");
  assert.equal(header(5, 3), "05 01 03");
  assert.equal(header(300, 0xffff_ffff), "ac 02 01 ff ff ff ff 0f");
  assert.equal(header(0xffff_ffff, 0xffff_ffff).split(" ").length, 11, "the largest header");

  const h: FrameHeader = { seq: 0, ack: 0, pos: 0 };
  readFrameHeader(hex("05 01 03 00 09 01"), h);
  assert.deepEqual(h, { seq: 5, ack: 3, pos: 3 });
  readFrameHeader(hex("00 00 00 00 07 00 40 00"), h);
  assert.deepEqual(h, { seq: 0, ack: -1, pos: 2 });
  assert.throws(() => readFrameHeader(hex("05 02 03"), h), DecodeError, "an option byte of 2");
  assert.throws(() => readFrameHeader(hex("80 00 00"), h), DecodeError, "an overlong seq");
  assert.throws(() => readFrameHeader(hex("ff ff ff ff 1f 00"), h), DecodeError, "a seq above u32");
  assert.throws(() => readFrameHeader(hex("05"), h), DecodeError, "a header cut short");
});

test("A frame header read inside a larger buffer (a lent chunk) reads as the frame alone, bounded by its end", () => {
  const h: FrameHeader = { seq: 0, ack: 0, pos: 0 };
  const frames = ["05 01 03 00 09 01", "00 00 00 00 07 00 40 00", "ac 02 01 ff ff ff ff 0f 00 09"];
  for (const frame of frames) {
    const alone = hex(frame);
    readFrameHeader(alone, h);
    const expected = { ...h };
    const chunk = new Uint8Array(alone.length + 7).fill(0xee);
    chunk.set(alone, 4);
    readFrameHeader(chunk, h, undefined, 4, 4 + alone.length);
    assert.deepEqual(h, { ...expected, pos: expected.pos + 4 }, frame);
  }
  // Bytes after the frame's end are not part of its header.
  const cut = hex("ee 05 01 83 01 ee");
  assert.throws(() => readFrameHeader(cut, h, undefined, 1, 4), DecodeError, "an ack cut short");
  readFrameHeader(cut, h, undefined, 1, 5);
  assert.deepEqual(h, { seq: 5, ack: 131, pos: 5 });
});

test("A stable initiator sends ROCH, its Hello as frame 0, then acks every frame it received", async () => {
  const c = stableClient();
  const raw = c.peers[0]!;
  assert.equal(
    toHex(await raw.nextBytes()),
    linkHelloHex("ROCH", 0, undefined, 0),
    "a fresh ClientHello",
  );
  raw.send(linkHello("ROSH", 0, KEY_A, 0));
  assert.equal(toHex(await raw.nextBytes()), `00 00 ${HELLO}`, "seq 0, no ack, Hello");
  raw.send(stableFrame("00 01 00", HELLO_YOURSELF));
  const session = await within(c.session, 2000, "the handshake");
  const pinged = session.ping();
  const ping = await raw.nextBytes();
  assert.equal(
    toHex(ping.subarray(0, 5)),
    "01 01 00 00 09",
    "seq 1, ack 0, a Ping on connection 0",
  );
  raw.send(stableFrame("01 01 01", new Uint8Array([0, 10, ...ping.subarray(5)])));
  await within(pinged, 2000, "the pong");
  session.ping().catch(() => {});
  assert.equal(toHex((await raw.nextBytes()).subarray(0, 3)), "02 01 01", "seq 2 acks frame 1");
  await raw.abort();
  await session.close();
});

test("After a drop a stable client resumes with its newest key and last received, re-sends the unacknowledged frames unchanged and skips duplicates", async () => {
  const c = stableClient();
  const raw = c.peers[0]!;
  await raw.nextBytes();
  raw.send(linkHello("ROSH", 0, KEY_A, 0));
  await raw.nextBytes();
  raw.send(stableFrame("00 01 00", HELLO_YOURSELF));
  const session = await within(c.session, 2000, "the handshake");
  const sum = session.client(Adder).add(1, 2);
  const call = await raw.nextBytes();
  assert.equal(toHex(call.subarray(0, 3)), "01 01 00", "the call is frame 1, acking frame 0");
  const later = session.client(Adder).add(3, 4);
  const call2 = await raw.nextBytes();

  // The link drops; the client makes a new one and resumes.
  await raw.abort();
  const raw2 = await c.nextPeer();
  assert.equal(
    toHex(await raw2.nextBytes()),
    linkHelloHex("ROCH", 3, KEY_A, 0),
    "key A, last received 0",
  );
  // This server got frame 1 but not frame 2.
  raw2.send(linkHello("ROSH", 2, KEY_B, 1));
  assert.equal(
    toHex(await raw2.nextBytes()),
    toHex(call2),
    "frame 2, byte for byte (its stale ack too)",
  );
  raw2.send(stableFrame("01 01 02", okResponse(1, 3)));
  raw2.send(stableFrame("01 01 02", okResponse(1, 3))); // a duplicate: skipped
  raw2.send(stableFrame("02 01 02", okResponse(3, 7)));
  assert.equal(await within(sum, 2000, "the first call"), 3);
  assert.equal(await within(later, 2000, "the second call"), 7);

  // A second drop: the newest key (B) and the last received (2).
  await raw2.abort();
  const raw3 = await c.nextPeer();
  assert.equal(toHex(await raw3.nextBytes()), linkHelloHex("ROCH", 3, KEY_B, 2));
  raw3.send(linkHello("ROSH", 2, KEY_A, 2));
  const pinged = session.ping();
  const ping = await raw3.nextBytes();
  assert.equal(toHex(ping.subarray(0, 5)), "03 01 02 00 09", "new frames go on at seq 3");
  raw3.send(stableFrame("03 01 03", new Uint8Array([0, 10, ...ping.subarray(5)])));
  await within(pinged, 2000, "the pong after the second resume");
  assert.equal(session.isClosed, false);
  await raw3.abort();
  await session.close();
});

test("A stable server answers REJECTED to a key it does not know, and a replaced key once the client has the new one", async () => {
  const registry = new ResumeRegistry();
  const [a, b] = memoryLink();
  const raw = new RawPeer(a);
  const accepted = accept(b, stableAcceptor(registry));
  raw.send(linkHello("ROCH", 1, KEY_A, 0));
  assert.equal(toHex(await raw.nextBytes()), linkHelloHex("ROSH", 1, undefined, 0));
  assert.equal(await raw.expectEnd(), "closed", "the server closes the link");
  const e = await rejection(accepted);
  assert.ok(e instanceof HandshakeError);
  assert.match(e.message, /Cannot resume: the resume key is unknown or expired/);

  // A real session, resumed twice with its first key: the client never got the second.
  const [c, d] = memoryLink();
  const client = new RawPeer(c);
  const started = accept(d, stableAcceptor(registry));
  client.send(linkHello("ROCH", 0, undefined, 0));
  const first = decodeHello(await client.nextBytes(), "server");
  assert.ok(typeof first !== "string" && first.flags === 0);
  client.send(stableFrame("00 00", HELLO));
  assert.equal(toHex(await client.nextBytes()), `00 01 00 ${HELLO_YOURSELF}`, "seq 0, ack 0");
  const session = await started;
  await client.abort();
  const resumeWith = async (key: Uint8Array): Promise<{ peer: RawPeer; reply: Uint8Array }> => {
    const [x, y] = memoryLink();
    const peer = new RawPeer(x);
    const resumed = accept(y, stableAcceptor(registry));
    resumed.catch(() => {});
    peer.send(linkHello("ROCH", 3, key, 0));
    const reply = await peer.nextBytes();
    if (reply[4] === 2) assert.equal(await resumed, session, "accept resolves with that session");
    return { peer, reply };
  };
  const lost = await resumeWith(first.key);
  const second = decodeHello(lost.reply, "server");
  assert.ok(typeof second !== "string");
  assert.equal(second.flags, 2, "HAS_LAST_RECEIVED: the server got frame 0");
  assert.equal(second.lastReceived, 0);
  assert.notEqual(toHex(second.key), toHex(first.key), "a new key on every handshake");
  await lost.peer.abort(); // cut before the client saw the new key
  const again = await resumeWith(first.key);
  const third = decodeHello(again.reply, "server");
  assert.ok(typeof third !== "string" && third.flags === 2, "the first key still resumes");
  // A frame on the new link shows the client has the newest key: the first one goes.
  again.peer.send(stableFrame("01 01 00", "00 09 05"));
  await again.peer.nextBytes(); // the pong
  const stale = await resumeWith(first.key);
  assert.equal(toHex(stale.reply), linkHelloHex("ROSH", 1, undefined, 0), "the first key is gone");
  await stale.peer.abort();
  await again.peer.abort();
  await session.close();
  assert.equal(registry.size, 0);
});

test("A stable server re-sends what the client missed when it resumes", async () => {
  const registry = new ResumeRegistry();
  const options = stableAcceptor(registry, {
    services: [implement(Adder, { add: (x, y) => x + y })],
  });
  const [a, b] = memoryLink();
  const raw = new RawPeer(a);
  const started = accept(b, options);
  raw.send(linkHello("ROCH", 0, undefined, 0));
  const sh = decodeHello(await raw.nextBytes(), "server");
  assert.ok(typeof sh !== "string");
  raw.send(stableFrame("00 00", HELLO));
  await raw.nextBytes();
  const session = await started;
  const call = encodeMessage({
    connectionId: 0,
    payload: {
      type: "request",
      id: 1,
      body: {
        type: "call",
        methodId: Adder.methods.add.id,
        channels: [],
        metadata: [],
        args: Uint8Array.of(20, 22),
      },
    },
  });
  raw.send(stableFrame("01 01 00", call));
  const response = await raw.nextBytes();
  assert.equal(toHex(response), `01 01 01 ${toHex(okResponse(1, 42))}`);
  await raw.abort();
  await within(
    (async () => {
      while (registry.waiting === 0) await new Promise((r) => setTimeout(r, 2));
    })(),
    2000,
    "the server to see the drop",
  );
  // The client says it got frame 0 only: the server re-sends frame 1 as it was.
  const [c, d] = memoryLink();
  const raw2 = new RawPeer(c);
  const resumed = accept(d, options);
  raw2.send(linkHello("ROCH", 3, sh.key, 0));
  const sh2 = decodeHello(await raw2.nextBytes(), "server");
  assert.ok(typeof sh2 !== "string" && sh2.lastReceived === 1);
  assert.equal(toHex(await raw2.nextBytes()), toHex(response), "the response again, unchanged");
  assert.equal(await resumed, session);
  assert.equal(registry.waiting, 0);
  await raw2.abort();
  await session.close();
});

test("A stable client that gets anything but a 25-byte ROSH hello fails its handshake", async () => {
  for (const reply of [new Uint8Array(24), linkHello("ROCH", 0, KEY_A, 0), hex(HELLO_YOURSELF)]) {
    const [a, b] = memoryLink();
    const raw = new RawPeer(b);
    const started = initiate(a, { conduit: "stable", keepalive: false });
    await raw.nextBytes();
    raw.send(reply);
    const e = await rejection(started);
    assert.ok(e instanceof HandshakeError, String(e));
    assert.match(e.message, /Cannot start the stable conduit/);
    await raw.abort();
  }
});

test("A stable server refuses a first payload that is not a ClientHello", async () => {
  for (const first of [hex(HELLO), linkHello("ROSH", 0, KEY_A, 0)]) {
    const [a, b] = memoryLink();
    const raw = new RawPeer(a);
    const accepted = accept(b, stableAcceptor(new ResumeRegistry()));
    raw.send(first);
    const e = await rejection(accepted);
    assert.ok(e instanceof HandshakeError);
    assert.match(e.message, /Cannot start a stable conduit/);
    assert.equal(await raw.expectEnd(), "closed");
    await raw.abort();
  }
});

test("accept() with a stable conduit and no registry is a TypeError", async () => {
  const [, b] = memoryLink();
  await assert.rejects(accept(b, { conduit: "stable" }), TypeError);
  await assert.rejects(accept(b, { conduit: "wobbly" as "stable" }), TypeError);
});
