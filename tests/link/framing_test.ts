/**
 * Length-prefixed framing (wire-spec §3.1) without sockets: `FrameDecoder`,
 * `FrameWriter`, `socketLink` and `streamLink`, driven through a fake
 * `RawSocket` that records every call and lets each test decide when a
 * write completes.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { DEFAULT_MAX_FRAME_SIZE, FramingError } from "../../lib/link/framing/errors.ts";
import { FrameDecoder } from "../../lib/link/framing/decoder.ts";
import { FrameWriter } from "../../lib/link/framing/frame_writer.ts";
import type { RawSocket, SocketSink } from "../../lib/link/framing/socket.ts";
import { socketLink } from "../../lib/link/framing/socket_link.ts";
import { streamLink } from "../../lib/link/framing/stream_link.ts";
import { Writer } from "../../lib/postcard/_writer.ts";
import { accept, channel, implement, initiate, service, t } from "../../mod.ts";
import { concat, frame, tick } from "../_helpers/mod.ts";

// ------------------------------------------------------------------ helpers

/** A payload of `n` bytes whose content depends on `seed`. */
function payloadOf(n: number, seed = 0): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed * 7 + 1) & 0xff;
  return out;
}

/** Feeds `chunks` to a fresh decoder and returns every emitted payload. */
function decodeAll(chunks: readonly Uint8Array[], max = DEFAULT_MAX_FRAME_SIZE): Uint8Array[] {
  const decoder = new FrameDecoder(max);
  const out: Uint8Array[] = [];
  for (const c of chunks) decoder.push(c, (p) => out.push(p));
  assert.ok(decoder.atBoundary, "the decoder ends between frames");
  return out;
}

/** True when `p` has settled (checked after a tick). */
async function isSettled(p: Promise<unknown>): Promise<boolean> {
  let settled = false;
  p.then(() => (settled = true), () => (settled = true));
  await tick();
  return settled;
}

interface Pending {
  readonly chunk: Uint8Array;
  resolve(): void;
  reject(e: unknown): void;
}

/**
 * A scripted byte socket. In "sync" mode every write is taken at once; in
 * "async" mode each write returns a promise that stays pending until the
 * test calls `complete()`.
 */
class FakeSocket implements RawSocket {
  sink: SocketSink | undefined;
  mode: "sync" | "async";
  /** Every chunk passed to `write`, by reference. */
  readonly writes: Uint8Array[] = [];
  readonly pending: Pending[] = [];
  /** Calls in order: "write", "closeWrite", "close", "pause", "resume". */
  readonly calls: string[] = [];
  paused = false;
  starts = 0;

  constructor(mode: "sync" | "async" = "sync") {
    this.mode = mode;
  }

  start(sink: SocketSink): void {
    this.starts++;
    this.sink = sink;
  }

  pause(): void {
    this.calls.push("pause");
    this.paused = true;
  }

  resume(): void {
    this.calls.push("resume");
    this.paused = false;
  }

  write(chunk: Uint8Array): void | Promise<void> {
    this.calls.push("write");
    this.writes.push(chunk);
    if (this.mode === "sync") return;
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ chunk, resolve, reject });
    });
  }

  closeWrite(): void {
    this.calls.push("closeWrite");
  }

  close(): void {
    this.calls.push("close");
  }

  count(call: string): number {
    return this.calls.filter((c) => c === call).length;
  }

  /** Completes the oldest pending write and lets the writer react. */
  async complete(): Promise<void> {
    const p = this.pending.shift();
    assert.ok(p !== undefined, "a write is pending");
    p.resolve();
    await tick();
  }

  /** Completes writes until none is pending. */
  async completeAll(): Promise<void> {
    while (this.pending.length > 0) await this.complete();
  }

  /** Everything written, as one array. */
  wire(): Uint8Array {
    return concat(...this.writes);
  }

  /** Delivers bytes as the runtime would: the buffer is reused (scribbled over) afterwards. */
  deliver(bytes: Uint8Array): void {
    const reused = bytes.slice();
    this.sink!.data(reused);
    reused.fill(0xee);
  }
}

async function readAll(readable: ReadableStream<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  const reader = readable.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return out;
    out.push(value);
  }
}

// ------------------------------------------------------------------ FrameDecoder

test("frames split at every byte boundary, including inside headers, reassemble exactly", () => {
  const payloads = [payloadOf(0), payloadOf(5, 1), payloadOf(1, 2), payloadOf(300, 3)];
  const stream = concat(...payloads.map(frame));
  for (let i = 0; i <= stream.length; i++) {
    const got = decodeAll([stream.subarray(0, i), stream.subarray(i)]);
    assert.deepEqual(got, payloads, `split at ${i}`);
  }
});

test("frames cut at every pair of byte boundaries reassemble exactly", () => {
  const payloads = [payloadOf(3), payloadOf(0), payloadOf(9, 4), payloadOf(2, 5)];
  const stream = concat(...payloads.map(frame));
  for (let i = 0; i <= stream.length; i++) {
    for (let j = i; j <= stream.length; j++) {
      const chunks = [stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)];
      assert.deepEqual(decodeAll(chunks), payloads, `cut at ${i} and ${j}`);
    }
  }
});

test("frames fed one byte at a time reassemble exactly", () => {
  const payloads = [payloadOf(7), payloadOf(0), payloadOf(130, 9)];
  const stream = concat(...payloads.map(frame));
  const bytes = Array.from(stream, (b) => Uint8Array.of(b));
  assert.deepEqual(decodeAll(bytes), payloads);
});

test("a decoder reports whether it stands between frames", () => {
  const decoder = new FrameDecoder(100);
  const emit = (): void => {};
  assert.equal(decoder.atBoundary, true);
  decoder.push(Uint8Array.of(3, 0), emit);
  assert.equal(decoder.atBoundary, false, "inside a header");
  decoder.push(Uint8Array.of(0, 0, 1), emit);
  assert.equal(decoder.atBoundary, false, "inside a payload");
  decoder.push(Uint8Array.of(2, 3), emit);
  assert.equal(decoder.atBoundary, true, "after the last byte of the payload");
});

test("many frames in one chunk are all emitted, in order", () => {
  const payloads = Array.from({ length: 1000 }, (_, i) => payloadOf(i % 50, i));
  const got = decodeAll([concat(...payloads.map(frame))]);
  assert.equal(got.length, 1000);
  assert.deepEqual(got, payloads);
});

test("empty payloads are frames of their own, also back to back and at a chunk's end", () => {
  const empty = new Uint8Array(0);
  assert.deepEqual(decodeAll([frame(empty)]), [empty]);
  assert.deepEqual(decodeAll([concat(...[frame(empty), frame(empty), frame(empty)])]), [
    empty,
    empty,
    empty,
  ]);
  assert.deepEqual(
    decodeAll([concat(...[frame(payloadOf(2)), frame(empty)]), frame(payloadOf(1))]),
    [payloadOf(2), empty, payloadOf(1)],
  );
});

test("emitted payloads do not alias the chunk the caller passed in", () => {
  const decoder = new FrameDecoder(1024);
  const out: Uint8Array[] = [];
  const small = payloadOf(10);
  const big = payloadOf(500, 1);
  const chunk = concat(...[frame(small), frame(big), frame(big).subarray(0, 100)]);
  decoder.push(chunk, (p) => out.push(p));
  chunk.fill(0);
  const rest = frame(big).subarray(100);
  decoder.push(rest, (p) => out.push(p));
  rest.fill(0);
  assert.deepEqual(out, [small, big, big]);
});

test("a frame of exactly the limit is accepted", () => {
  const p = payloadOf(64, 3);
  assert.deepEqual(decodeAll([frame(p)], 64), [p]);
  const one = Uint8Array.of(42);
  assert.deepEqual(decodeAll([frame(one)], 1), [one]);
});

test("a frame one byte over the limit is rejected with a FramingError from its header alone", () => {
  const decoder = new FrameDecoder(64);
  const emitted: Uint8Array[] = [];
  // Only the header: the check must not wait for (or allocate) the payload.
  assert.throws(() => decoder.push(Uint8Array.of(65, 0, 0, 0), (p) => emitted.push(p)), (e) => {
    assert.ok(e instanceof FramingError);
    assert.equal(e.name, "FramingError");
    assert.equal(e.protocolViolation, true);
    assert.match(e.message, /65/);
    assert.match(e.message, /64/);
    return true;
  });
  assert.deepEqual(emitted, []);
});

test("a header split across chunks is checked against the limit once complete", () => {
  const decoder = new FrameDecoder(10);
  decoder.push(Uint8Array.of(0xff, 0xff), () => {});
  assert.throws(() => decoder.push(Uint8Array.of(0xff, 0xff), () => {}), FramingError);
});

test("a 4 GiB length prefix is rejected at once, without allocating the payload", () => {
  for (const max of [16, DEFAULT_MAX_FRAME_SIZE, 0xffff_fffe]) {
    const decoder = new FrameDecoder(max);
    const start = performance.now();
    assert.throws(() => decoder.push(Uint8Array.of(0xff, 0xff, 0xff, 0xff), () => {}), (e) => {
      assert.ok(e instanceof FramingError, `a FramingError for limit ${max}, got ${e}`);
      return true;
    });
    assert.ok(performance.now() - start < 50, "rejected instantly");
  }
});

test("the default frame limit is 16 MiB", () => {
  assert.equal(DEFAULT_MAX_FRAME_SIZE, 16 * 1024 * 1024);
});

// ------------------------------------------------------------------ socketLink: reading

test("a framed link starts its socket once and delivers payloads in order", async () => {
  const socket = new FakeSocket();
  const link = socketLink(socket);
  assert.equal(socket.starts, 1);
  const payloads = [payloadOf(3), payloadOf(0), payloadOf(1000, 2)];
  const stream = concat(...payloads.map(frame));
  socket.deliver(stream.subarray(0, 5));
  socket.deliver(stream.subarray(5, 600));
  socket.deliver(stream.subarray(600));
  socket.sink!.end();
  assert.deepEqual(await readAll(link.readable), payloads);
  await link.writable.close();
});

test("chunks of a Uint8Array subclass (a Buffer) of any size reach a lending sink intact, never kept", async () => {
  class Chunk extends Uint8Array {}
  // Small, mid-sized and large chunks: copied whole, or lent through a view, as their size asks.
  for (const size of [7, 300, 5_000, 16 * 1024, 16 * 1024 + 1, 70_000]) {
    const socket = new FakeSocket();
    const link = socketLink(socket);
    const payloads = Array.from({ length: 40 }, (_, i) => payloadOf((i * 997) % 3000, i));
    const got: Uint8Array[] = [];
    let lentCalls = 0;
    link.direct!.receive({
      payload: (p) => got.push(p.slice()),
      lent: (bytes, start, end) => {
        lentCalls++;
        got.push(bytes.slice(start, end));
      },
      end: () => {},
      error: (e) => assert.fail(`unexpected error ${e}`),
    });
    const stream = concat(...payloads.map(frame));
    for (let at = 0; at < stream.length; at += size) {
      const chunk = new Chunk(stream.subarray(at, at + size));
      socket.deliver(chunk);
      chunk.fill(0xee); // the socket reuses its buffer: nothing may still point into it
    }
    await tick();
    assert.deepEqual(got, payloads, `chunks of ${size} bytes`);
    if (size > 1000) assert.ok(lentCalls > 0, `payloads lent from chunks of ${size} bytes`);
    socket.sink!.end();
    await link.writable.close();
  }
});

test("EOF at a frame boundary closes the readable cleanly", async () => {
  const socket = new FakeSocket();
  const link = socketLink(socket);
  socket.deliver(frame(payloadOf(4)));
  socket.sink!.end();
  assert.deepEqual(await readAll(link.readable), [payloadOf(4)]);
  await link.writable.close();
  assert.equal(socket.count("close"), 1, "the socket is closed once both sides are done");
});

test("EOF before any byte closes the readable cleanly", async () => {
  const socket = new FakeSocket();
  const link = socketLink(socket);
  socket.sink!.end();
  assert.deepEqual(await readAll(link.readable), []);
  await link.writable.close();
});

test("EOF inside a length prefix errors the readable", async () => {
  const socket = new FakeSocket();
  const link = socketLink(socket);
  socket.deliver(Uint8Array.of(9, 0));
  socket.sink!.end();
  await assert.rejects(link.readable.getReader().read(), /middle of a frame/);
  await link.writable.close();
  assert.equal(socket.count("close"), 1);
});

test("EOF inside a payload errors the readable", async () => {
  const socket = new FakeSocket();
  const link = socketLink(socket);
  socket.deliver(concat(...[Uint8Array.of(10, 0, 0, 0), payloadOf(9)]));
  socket.sink!.end();
  await assert.rejects(link.readable.getReader().read(), (e) => {
    assert.ok(e instanceof Error);
    assert.ok(!(e instanceof FramingError), "a truncated stream is not a framing violation");
    assert.match(e.message, /middle of a frame/);
    return true;
  });
  await link.writable.close();
  assert.equal(socket.count("close"), 1);
});

test("a socket read error errors the readable with that error", async () => {
  const socket = new FakeSocket();
  const link = socketLink(socket);
  const boom = new Error("connection reset");
  socket.sink!.error(boom);
  await assert.rejects(link.readable.getReader().read(), (e) => e === boom);
  await link.writable.close();
  assert.equal(socket.count("close"), 1);
});

test("an oversized frame errors the readable with a FramingError and pauses the socket", async () => {
  const socket = new FakeSocket();
  const link = socketLink(socket, { maxFrameSize: 8 });
  socket.deliver(Uint8Array.of(0xff, 0xff, 0xff, 0xff));
  // Bytes after the violation are ignored.
  socket.deliver(frame(payloadOf(1)));
  socket.sink!.end();
  await assert.rejects(link.readable.getReader().read(), (e) => {
    assert.ok(e instanceof FramingError);
    assert.equal(e.protocolViolation, true);
    return true;
  });
  assert.equal(socket.paused, true);
  await link.writable.abort();
  assert.equal(socket.count("close"), 1);
});

/**
 * Frames that arrived whole before the stream broke are still the peer's
 * messages (the Rust reader handles each one before it sees the error), so
 * they are delivered before the readable errors.
 */
for (
  const [what, breakIt, expected] of [
    [
      "a truncated length prefix",
      (s: FakeSocket) => {
        s.deliver(Uint8Array.of(9, 0));
        s.sink!.end();
      },
      /middle of a frame/,
    ],
    [
      "a truncated payload",
      (s: FakeSocket) => {
        s.deliver(Uint8Array.of(9, 0, 0, 0, 1));
        s.sink!.end();
      },
      /middle of a frame/,
    ],
    [
      "a read error",
      (s: FakeSocket) => s.sink!.error(new Error("connection reset")),
      /connection reset/,
    ],
    [
      "an oversized frame",
      (s: FakeSocket) => s.deliver(Uint8Array.of(0xff, 0xff, 0xff, 0xff)),
      FramingError,
    ],
  ] as const
) {
  test(`frames received whole before ${what} are delivered before the error`, async () => {
    const socket = new FakeSocket();
    const link = socketLink(socket, { maxFrameSize: 1024 });
    const before = [payloadOf(2), payloadOf(0), payloadOf(300, 1)];
    socket.deliver(concat(...before.map(frame)));
    breakIt(socket);
    const reader = link.readable.getReader();
    const got: unknown[] = [];
    let failure: unknown;
    try {
      for (;;) {
        const r = await reader.read();
        if (r.done) break;
        got.push(r.value);
      }
    } catch (e) {
      failure = e;
    }
    await link.writable.abort();
    assert.deepEqual(got, before);
    assert.ok(failure !== undefined, "the readable errors after the frames");
    if (expected instanceof RegExp) assert.match(String(failure), expected);
    else assert.ok(failure instanceof expected);
  });
}

test("a full readable queue is read out entirely before a later read error", async () => {
  const socket = new FakeSocket();
  const link = socketLink(socket);
  const payloads = Array.from({ length: 150 }, (_, i) => payloadOf(4, i));
  socket.deliver(concat(...payloads.map(frame)));
  assert.equal(socket.paused, true);
  socket.sink!.error(new Error("connection reset"));
  const reader = link.readable.getReader();
  const got: Uint8Array[] = [];
  for (let i = 0; i < payloads.length; i++) got.push((await reader.read()).value!);
  assert.deepEqual(got, payloads);
  await assert.rejects(reader.read(), /connection reset/);
  await link.writable.close();
  assert.equal(socket.count("close"), 1);
});

test("a default link rejects a frame above 16 MiB from its header", async () => {
  const socket = new FakeSocket();
  const link = socketLink(socket);
  const header = new Uint8Array(4);
  new DataView(header.buffer).setUint32(0, DEFAULT_MAX_FRAME_SIZE + 1, true);
  socket.deliver(header);
  await assert.rejects(link.readable.getReader().read(), FramingError);
  await link.writable.abort();
});

test("an invalid maxFrameSize is a RangeError", () => {
  for (const bad of [0, -1, 1.5, 2 ** 32, NaN]) {
    const socket = new FakeSocket();
    assert.throws(() => socketLink(socket, { maxFrameSize: bad }), RangeError, String(bad));
    assert.equal(socket.starts, 0, "the socket is not touched");
  }
  const ok = new FakeSocket();
  const link = socketLink(ok, { maxFrameSize: 0xffff_ffff });
  void link.writable.abort();
});

test("read backpressure pauses the socket when the readable's queue is full and resumes it when read", async () => {
  const socket = new FakeSocket();
  const link = socketLink(socket);
  await tick();
  const count = 200;
  const payloads = Array.from({ length: count }, (_, i) => payloadOf(3, i));
  socket.deliver(concat(...payloads.map(frame)));
  assert.equal(socket.paused, true, "paused once the queue is full");
  assert.equal(socket.count("pause"), 1);
  const reader = link.readable.getReader();
  assert.deepEqual((await reader.read()).value, payloads[0]);
  await tick();
  assert.equal(socket.paused, true, "still paused while the queue is above its mark");
  const got = [payloads[0]];
  for (let i = 1; i < count; i++) got.push((await reader.read()).value);
  await tick();
  assert.equal(socket.paused, false, "resumed once the queue drained");
  assert.equal(socket.count("resume"), 1);
  assert.deepEqual(got, payloads);
  // More data flows once resumed.
  socket.deliver(frame(payloadOf(5)));
  assert.deepEqual((await reader.read()).value, payloadOf(5));
  socket.sink!.end();
  assert.equal((await reader.read()).done, true);
  await link.writable.close();
});

test("a slow reader of a few frames never pauses the socket", async () => {
  const socket = new FakeSocket();
  const link = socketLink(socket);
  for (let i = 0; i < 10; i++) socket.deliver(frame(payloadOf(2, i)));
  assert.equal(socket.count("pause"), 0);
  socket.sink!.end();
  assert.equal((await readAll(link.readable)).length, 10);
  await link.writable.close();
});

test("cancelling the readable closes the socket", async () => {
  const socket = new FakeSocket();
  const link = socketLink(socket);
  await link.readable.cancel();
  assert.equal(socket.count("close"), 1);
  await link.writable.abort();
  assert.equal(socket.count("close"), 1, "closed only once");
});

// ------------------------------------------------------------------ FrameWriter

test("bytes on the wire are exactly each header then its payload, in order", async () => {
  const socket = new FakeSocket();
  const writer = new FrameWriter(socket);
  const payloads = [
    payloadOf(0),
    payloadOf(1, 1),
    payloadOf(31, 2),
    payloadOf(32, 3),
    payloadOf(5000, 4),
    payloadOf(200_000, 5),
    payloadOf(7, 6),
  ];
  for (const p of payloads) assert.equal(writer.write(p), undefined);
  await writer.drain();
  assert.deepEqual(socket.wire(), concat(...payloads.map(frame)));
});

test("frames written in one turn go out together in one write at its end", async () => {
  const socket = new FakeSocket("async");
  const writer = new FrameWriter(socket);
  const payloads = Array.from({ length: 100 }, (_, i) => payloadOf(10, i));
  for (const p of payloads) writer.write(p);
  assert.equal(socket.writes.length, 0, "nothing goes out before the turn ends");
  await Promise.resolve();
  await Promise.resolve();
  assert.equal(socket.writes.length, 1, "all 100 go out together");
  await socket.completeAll();
  await writer.drain();
  assert.equal(socket.writes.length, 1);
  assert.deepEqual(socket.wire(), concat(...payloads.map(frame)));
});

test("frames written one per microtask, as an awaiting sender does, go out together", async () => {
  const socket = new FakeSocket("sync");
  const writer = new FrameWriter(socket);
  const payloads = Array.from({ length: 100 }, (_, i) => payloadOf(10, i));
  for (const p of payloads) await writer.write(p);
  await tick();
  assert.equal(socket.writes.length, 1);
  assert.deepEqual(socket.wire(), concat(...payloads.map(frame)));
});

test("a turn that keeps writing is flushed every 256 hops, and every 64 KiB", async () => {
  const socket = new FakeSocket("sync");
  const writer = new FrameWriter(socket);
  const payloads = Array.from({ length: 600 }, (_, i) => payloadOf(10, i));
  for (const p of payloads) await writer.write(p);
  await tick();
  assert.ok(socket.writes.length >= 3 && socket.writes.length <= 4, `${socket.writes.length}`);
  assert.deepEqual(socket.wire(), concat(...payloads.map(frame)));
  const big = new FakeSocket("sync");
  const bigWriter = new FrameWriter(big);
  const large = Array.from({ length: 10 }, (_, i) => payloadOf(20_000, i));
  for (const p of large) bigWriter.write(p);
  assert.equal(big.wire().length, 8 * 20_004, "each time 64 KiB are queued (4 frames)");
  await tick();
  assert.equal(big.wire().length, 10 * 20_004, "the rest at the end of the turn");
  assert.deepEqual(big.wire(), concat(...large.map(frame)));
});

test("frames written while the socket's write is pending are coalesced into one write", async () => {
  const socket = new FakeSocket("async");
  const writer = new FrameWriter(socket);
  const payloads = Array.from({ length: 100 }, (_, i) => payloadOf(10, i));
  writer.write(payloads[0]!);
  await tick();
  assert.equal(socket.writes.length, 1, "the first frame went out at the end of its turn");
  for (const p of payloads.slice(1)) writer.write(p);
  await tick();
  assert.equal(socket.writes.length, 1, "the others wait for the pending write");
  await socket.complete();
  assert.equal(socket.writes.length, 2, "the other 99 go out together");
  await socket.completeAll();
  await writer.drain();
  assert.equal(socket.writes.length, 2);
  assert.deepEqual(socket.wire(), concat(...payloads.map(frame)));
});

test("100 small frames written through a link in one go take 1 write", async () => {
  const socket = new FakeSocket("async");
  const link = socketLink(socket);
  const w = link.writable.getWriter();
  const payloads = Array.from({ length: 100 }, (_, i) => payloadOf(20, i));
  const written = payloads.map((p) => w.write(p));
  await tick();
  assert.equal(socket.writes.length, 1);
  await socket.completeAll();
  await Promise.all(written);
  assert.equal(socket.writes.length, 1);
  assert.deepEqual(socket.wire(), concat(...payloads.map(frame)));
  socket.sink!.end();
  await w.close();
  await link.readable.cancel();
});

test("a socket that takes writes at once still sees every frame, in order", async () => {
  const socket = new FakeSocket("sync");
  const link = socketLink(socket);
  const w = link.writable.getWriter();
  const payloads = Array.from({ length: 50 }, (_, i) => payloadOf(i, i));
  await Promise.all(payloads.map((p) => w.write(p)));
  assert.deepEqual(socket.wire(), concat(...payloads.map(frame)));
  await w.close();
  await link.readable.cancel();
});

test("a large payload handed off by an encoder goes out with its header in one write from its own buffer", async () => {
  const socket = new FakeSocket("async");
  const writer = new FrameWriter(socket);
  const w = new Writer();
  const content = payloadOf(100_000, 5);
  w.raw(content);
  const handed = w.handOff();
  const small = payloadOf(10, 1);
  writer.write(small); // goes out at once
  writer.write(handed);
  await socket.completeAll();
  await writer.drain();
  assert.equal(socket.writes.length, 2, "one write for the small frame, one for the large");
  const large = socket.writes[1]!;
  assert.equal(
    large.buffer,
    handed.buffer,
    "the large frame was written from the payload's buffer",
  );
  assert.equal(large.byteOffset + 4, handed.byteOffset, "the header sits just before the payload");
  assert.deepEqual(socket.wire(), concat(...[small, content].map(frame)));
});

test("a large payload from elsewhere is joined with its header up to 256 KiB, and written mostly as it is above", async () => {
  const socket = new FakeSocket("async");
  const writer = new FrameWriter(socket);
  const small1 = payloadOf(10, 1);
  const big = payloadOf(100_000, 2);
  const small2 = payloadOf(10, 3);
  const huge = payloadOf(2_000_000, 4);
  // A foreign array with free-looking bytes in front must not be written into.
  const backing = new Uint8Array(4 + 100_000).fill(0xee);
  const offset = backing.subarray(4);
  offset.set(payloadOf(100_000, 6));
  writer.write(small1); // goes out at once
  writer.write(big);
  writer.write(small2);
  writer.write(huge);
  writer.write(offset);
  await socket.completeAll();
  await writer.drain();
  assert.ok(!socket.writes.includes(big), "the 100 kB payload was copied");
  assert.ok(
    socket.writes.some((w) => w.length === 4 + big.length),
    "the 100 kB frame went out in one write",
  );
  // The 2 MB payload: its header with its first bytes (never 4 bytes alone), then the rest as it is.
  const rest = socket.writes.find((w) => w.buffer === huge.buffer);
  assert.ok(rest !== undefined, "the 2 MB payload's rest was written from its own buffer");
  assert.equal(rest.byteOffset + rest.length, huge.length);
  const hugeHead = socket.writes[socket.writes.indexOf(rest) - 1]!;
  assert.equal(hugeHead.length + rest.length, 4 + huge.length);
  assert.equal(hugeHead.length, 64 * 1024);
  assert.deepEqual(
    backing.subarray(0, 4),
    new Uint8Array(4).fill(0xee),
    "bytes before a foreign payload are untouched",
  );
  for (const w of socket.writes) {
    if (w !== rest && w !== hugeHead && w.length !== 4 + 100_000) {
      assert.ok(w.length < 100, "only small pieces were batched");
    }
  }
  assert.deepEqual(socket.wire(), concat(...[small1, big, small2, huge, offset].map(frame)));
});

test("writeCopy of a large payload sends one frame and keeps no reference to the caller's bytes", async () => {
  const socket = new FakeSocket("async");
  const writer = new FrameWriter(socket);
  const bytes = payloadOf(90_000, 8);
  const expected = bytes.slice(0, 80_000);
  writer.write(payloadOf(10, 1)); // keeps the socket busy
  writer.writeCopy(bytes, 80_000);
  bytes.fill(0);
  await socket.completeAll();
  await writer.drain();
  assert.equal(socket.writes.length, 2);
  assert.deepEqual(socket.wire(), concat(...[payloadOf(10, 1), expected].map(frame)));
});

test("writeCopy from a start sends exactly bytes[start, start + n), small and large, copied at once", async () => {
  const socket = new FakeSocket("async");
  const writer = new FrameWriter(socket);
  const bytes = payloadOf(100_000, 9);
  const expected = [
    bytes.slice(7, 7 + 20),
    bytes.slice(300, 300 + 100),
    bytes.slice(1000, 1000 + 80_000),
  ];
  writer.write(payloadOf(10, 1)); // keeps the socket busy
  writer.writeCopy(bytes, 20, 7);
  writer.writeCopy(bytes, 100, 300);
  writer.writeCopy(bytes, 80_000, 1000);
  bytes.fill(0);
  await socket.completeAll();
  await writer.drain();
  assert.deepEqual(socket.wire(), concat(...[payloadOf(10, 1), ...expected].map(frame)));
});

test("write backpressure: a writer waits until the socket drains what is above the high-water mark", async () => {
  const socket = new FakeSocket("async");
  const writer = new FrameWriter(socket);
  assert.equal(writer.write(payloadOf(10)), undefined, "the socket takes the first frame");
  // Queued while the socket is busy: 100 kB is below the mark, 1.5 MB more is above it.
  assert.equal(writer.write(payloadOf(100_000)), undefined);
  const wait = writer.write(payloadOf(1_500_000, 1));
  assert.ok(wait instanceof Promise, "a writer above the high-water mark must wait");
  assert.equal(await isSettled(wait), false);
  await socket.complete(); // the first frame is written; the rest is handed to the socket
  assert.ok(socket.pending.length > 0);
  assert.equal(await isSettled(wait), false, "still waiting while the socket is busy");
  await socket.completeAll();
  assert.equal(await isSettled(wait), true, "released once the socket drained");
  await writer.drain();
});

test("write backpressure through a link: write() resolves only when the socket drains", async () => {
  const socket = new FakeSocket("async");
  const link = socketLink(socket);
  const w = link.writable.getWriter();
  await w.write(payloadOf(10));
  const big = w.write(payloadOf(2_000_000));
  assert.equal(await isSettled(big), false);
  await socket.complete();
  assert.equal(await isSettled(big), false);
  await socket.completeAll();
  assert.equal(await isSettled(big), true);
  await big;
  socket.sink!.end();
  await w.close();
  await link.readable.cancel();
});

test("a failed socket write fails the writer, and later writes throw", async () => {
  const socket = new FakeSocket("async");
  const writer = new FrameWriter(socket);
  writer.write(payloadOf(10));
  await tick();
  writer.write(payloadOf(10, 1));
  const boom = new Error("broken pipe");
  socket.pending.shift()!.reject(boom);
  await tick();
  await assert.rejects(writer.drain(), (e) => e === boom);
  assert.throws(() => writer.write(payloadOf(1)), (e) => e === boom);
});

test("a socket whose write throws fails the writer", async () => {
  const boom = new Error("closed");
  const socket = new FakeSocket("sync");
  socket.write = () => {
    throw boom;
  };
  const writer = new FrameWriter(socket);
  writer.write(payloadOf(3));
  await assert.rejects(writer.drain(), (e) => e === boom);
});

// ------------------------------------------------------------------ socketLink: closing

test("closing the writable flushes every queued frame, then half-closes the socket", async () => {
  const socket = new FakeSocket("async");
  const link = socketLink(socket);
  const w = link.writable.getWriter();
  const payloads = Array.from({ length: 5 }, (_, i) => payloadOf(100, i));
  for (const p of payloads) void w.write(p);
  const closing = w.close();
  await tick();
  assert.equal(socket.count("closeWrite"), 0, "not before the writes complete");
  await socket.completeAll();
  await closing;
  assert.deepEqual(socket.calls.filter((c) => c !== "pause" && c !== "resume"), [
    "write",
    "closeWrite",
  ]);
  assert.deepEqual(socket.wire(), concat(...payloads.map(frame)));
  assert.equal(socket.count("close"), 0, "the read side is still open");
  socket.sink!.end();
  assert.deepEqual(await readAll(link.readable), []);
  assert.equal(socket.count("close"), 1, "closed once both sides ended");
});

test("aborting the writable closes the socket at once", async () => {
  const socket = new FakeSocket("async");
  const link = socketLink(socket);
  const w = link.writable.getWriter();
  void w.write(payloadOf(10)).catch(() => {});
  await tick();
  await w.abort(new Error("give up"));
  assert.equal(socket.count("close"), 1);
  assert.equal(socket.count("closeWrite"), 0);
  // Late socket events are ignored.
  socket.sink!.end();
  await socket.completeAll();
  assert.equal(socket.count("close"), 1);
  await link.readable.cancel().catch(() => {});
});

// ------------------------------------------------------------------ streamLink

test("a link over a pair of byte streams frames both directions and ends cleanly", async () => {
  const payloads = [payloadOf(3), payloadOf(0), payloadOf(70_000, 1)];
  const stream = concat(...payloads.map(frame));
  const incoming = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(stream.slice(0, 2));
      c.enqueue(stream.slice(2, 20));
      c.enqueue(stream.slice(20));
      c.close();
    },
  });
  const sent: Uint8Array[] = [];
  let closed = false;
  const outgoing = new WritableStream<Uint8Array>({
    write(chunk) {
      sent.push(chunk.slice());
    },
    close() {
      closed = true;
    },
  });
  const link = streamLink(incoming, outgoing);
  assert.deepEqual(await readAll(link.readable), payloads);
  const w = link.writable.getWriter();
  await w.write(payloadOf(5, 9));
  await w.write(payloadOf(100_000, 8));
  await w.close();
  assert.equal(closed, true);
  assert.deepEqual(concat(...sent), concat(...[payloadOf(5, 9), payloadOf(100_000, 8)].map(frame)));
});

test("a link over byte streams errors its readable when the input ends mid-frame", async () => {
  const incoming = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(Uint8Array.of(5, 0, 0, 0, 1, 2));
      c.close();
    },
  });
  const link = streamLink(incoming, new WritableStream());
  await assert.rejects(link.readable.getReader().read(), /middle of a frame/);
  await link.writable.close();
});

// ------------------------------------------------------------------ in-place batch writes

/**
 * A socket with `writeRange` that behaves like Bun's: it copies at once
 * what it takes and, when `partial` is set, takes only half and keeps a
 * view of the rest until the test completes the write.
 */
class RangeSocket extends FakeSocket {
  /** The bytes as the peer gets them, copied when they are taken. */
  readonly taken: Uint8Array[] = [];
  partial = false;
  readonly reusesChunks = true;

  override write(chunk: Uint8Array): void | Promise<void> {
    return this.writeRange(chunk, chunk.length);
  }

  writeRange(buf: Uint8Array, length: number): void | Promise<void> {
    this.calls.push("writeRange");
    if (!this.partial) {
      this.taken.push(buf.slice(0, length));
      return;
    }
    const half = length >> 1;
    this.taken.push(buf.slice(0, half));
    const rest = buf.subarray(half, length);
    return new Promise<void>((resolve, reject) => {
      this.pending.push({
        chunk: rest,
        resolve: () => {
          this.taken.push(rest.slice()); // read only now, as a socket draining its backlog does
          resolve();
        },
        reject,
      });
    });
  }
}

test("frame writer writes its batch in place and reuses it when the socket takes it all", async () => {
  const socket = new RangeSocket();
  const writer = new FrameWriter(socket);
  const payloads = Array.from({ length: 50 }, (_, i) => payloadOf(10 + i, i));
  for (const p of payloads) {
    writer.write(p);
    await tick(); // each frame in a turn of its own
  }
  await writer.drain();
  assert.equal(socket.count("writeRange"), 50);
  assert.deepEqual(concat(...socket.taken), concat(...payloads.map(frame)));
});

test("frame writer never reuses a batch the socket still holds part of", async () => {
  const socket = new RangeSocket();
  socket.partial = true;
  const writer = new FrameWriter(socket);
  const first = [payloadOf(40, 1), payloadOf(41, 2)];
  const later = [payloadOf(42, 3), payloadOf(43, 4), payloadOf(44, 5)];
  void writer.write(first[0]!);
  await tick();
  void writer.write(first[1]!); // queued behind the pending write
  for (const p of later) void writer.write(p);
  while (socket.pending.length > 0) await socket.complete();
  await writer.drain();
  assert.deepEqual(concat(...socket.taken), concat(...[...first, ...later].map(frame)));
});

// ------------------------------------------------------------------ payloads written in parts

/**
 * A socket with a synchronous `writeNow`, like Bun's: it takes at most
 * `budget` bytes in all (then none until the test raises it) and copies
 * what it takes; `write`/`writeRange` behave as in {@linkcode RangeSocket}.
 */
class NowSocket extends RangeSocket {
  budget = Infinity;
  /** The arrays passed to `writeNow`, by reference. */
  readonly direct: Uint8Array[] = [];

  writeNow(buf: Uint8Array, start: number, length: number): number {
    this.calls.push("writeNow");
    this.direct.push(buf);
    if (this.pending.length > 0) return 0;
    const n = Math.min(length, this.budget);
    this.budget -= n;
    this.taken.push(buf.slice(start, start + n));
    return n;
  }
}

/** Parts of a message: a small head, a large body and a small tail. */
function messageParts(seed: number): Uint8Array[] {
  return [payloadOf(20, seed), payloadOf(100_000, seed + 1), payloadOf(7, seed + 2)];
}

test("writeParts sends a large part from the caller's array, its start topped up into the first write", () => {
  const socket = new NowSocket();
  const writer = new FrameWriter(socket);
  const parts = [payloadOf(20, 1), payloadOf(300_000, 2), payloadOf(7, 3)];
  const total = parts.reduce((n, p) => n + p.length, 0);
  assert.equal(writer.writeParts(parts, total), undefined);
  assert.equal(socket.count("writeNow"), 3); // header + head + start of body, the body's rest, the tail
  // The first write is never just a few header bytes: it carries 64 KiB.
  assert.equal(socket.taken[0]!.length, 64 * 1024);
  assert.equal(socket.direct[1], parts[1], "the rest of the large part was not copied first");
  assert.equal(socket.taken[1]!.length, 4 + 20 + 300_000 - 64 * 1024);
  assert.deepEqual(concat(...socket.taken), frame(concat(...parts)));
});

test("writeParts gathers a large part that fits in the first 64 KiB and tops up with the next", () => {
  const socket = new NowSocket();
  const writer = new FrameWriter(socket);
  const parts = [payloadOf(10, 1), payloadOf(30_000, 2), payloadOf(200_000, 3)];
  const total = parts.reduce((n, p) => n + p.length, 0);
  assert.equal(writer.writeParts(parts, total), undefined);
  // Header, head, first part and the start of the second; then the second's rest.
  assert.equal(socket.count("writeNow"), 2);
  assert.equal(socket.taken[0]!.length, 64 * 1024);
  assert.equal(socket.direct[1], parts[2]);
  assert.deepEqual(concat(...socket.taken), frame(concat(...parts)));
});

test("writeParts sends a 64 KiB item with its header in one write, nothing trailing alone", () => {
  const socket = new NowSocket();
  const writer = new FrameWriter(socket);
  const parts = [payloadOf(12, 1), payloadOf(64 * 1024, 2)];
  const total = parts.reduce((n, p) => n + p.length, 0);
  assert.equal(writer.writeParts(parts, total), undefined);
  assert.equal(socket.count("writeNow"), 1);
  assert.deepEqual(concat(...socket.taken), frame(concat(...parts)));
});

test("writeParts copies what the socket did not take, so later changes to the parts do not reach the wire", async () => {
  // A body gathered into the first write, and one whose rest is written from the caller's array.
  for (const body of [100_000, 300_000]) {
    for (const budget of [0, 2, 24, 30_000, 65_536, 65_540, 100_024, 100_030, 200_000]) {
      const socket = new NowSocket();
      socket.budget = budget;
      socket.partial = true; // the spilled rest is read by the socket only later
      const writer = new FrameWriter(socket);
      const parts = [payloadOf(20, 2), payloadOf(body, 3), payloadOf(7, 4)];
      const expected = frame(concat(...parts));
      const total = parts.reduce((n, p) => n + p.length, 0);
      void writer.writeParts(parts, total);
      for (const p of parts) p.fill(0xee); // the caller reuses its buffers at once
      socket.budget = Infinity;
      socket.partial = false;
      await socket.completeAll();
      await writer.drain();
      assert.deepEqual(concat(...socket.taken), expected, `${body}-byte body, budget ${budget}`);
    }
  }
});

test("writeParts behind frames still being written joins the parts and keeps the order", async () => {
  const socket = new NowSocket();
  socket.partial = true;
  const writer = new FrameWriter(socket);
  const first = payloadOf(50, 9);
  void writer.write(first); // the socket takes half and holds the rest
  const parts = messageParts(3);
  const expected = concat(...[frame(first), frame(concat(...parts))]);
  void writer.writeParts(parts, parts.reduce((n, p) => n + p.length, 0));
  for (const p of parts) p.fill(0xee);
  socket.partial = false;
  await socket.completeAll();
  await writer.drain();
  assert.deepEqual(concat(...socket.taken), expected);
  assert.equal(socket.direct.length, 0, "nothing went around the queue");
});

test("writeParts to a socket without writeNow joins the parts into one write", async () => {
  const socket = new FakeSocket();
  const writer = new FrameWriter(socket);
  const parts = messageParts(4);
  void writer.writeParts(parts, parts.reduce((n, p) => n + p.length, 0));
  const expected = frame(concat(...parts));
  for (const p of parts) p.fill(0xee);
  await writer.drain();
  assert.deepEqual(socket.wire(), expected);
});

test("writeParts on a failed writer throws, and a socket error in writeNow fails the writer", () => {
  const socket = new NowSocket();
  const writer = new FrameWriter(socket);
  let reported: unknown;
  writer.onError = (e) => (reported = e);
  const boom = new Error("socket gone");
  socket.writeNow = () => {
    throw boom;
  };
  const parts = messageParts(5);
  const total = parts.reduce((n, p) => n + p.length, 0);
  writer.writeParts(parts, total);
  assert.equal(reported, boom);
  assert.throws(() => writer.writeParts(parts, total), /socket gone/);
});

test("a link over a synchronous socket offers parts to the conduit; others do not", () => {
  assert.equal(typeof socketLink(new NowSocket()).direct?.sendParts, "function");
  assert.equal(socketLink(new FakeSocket()).direct?.sendParts, undefined);
});

/** A fake socket whose writes reach `peer` (a microtask later), in chunks the peer reuses. */
class WiredSocket extends FakeSocket {
  peer: WiredSocket | undefined;

  override write(chunk: Uint8Array): void | Promise<void> {
    const bytes = chunk.slice();
    queueMicrotask(() => this.peer?.sink?.data !== undefined && this.peer.deliver(bytes));
    return super.write(chunk);
  }

  override closeWrite(): void {
    super.closeWrite();
    queueMicrotask(() => this.peer?.sink?.end());
  }
}

test("values decoded from payloads a socket link lends keep their bytes once the link reuses its buffer", async () => {
  const Keep = service("LentKeep", {
    keep: { args: [t.bytes], returns: t.bytes },
    items: { args: [t.rx(t.bytes)], returns: t.u32 },
  });
  const kept: Uint8Array[] = [];
  const itemsKept: Uint8Array[] = [];
  const a = new WiredSocket();
  const b = new WiredSocket();
  a.peer = b;
  b.peer = a;
  const [server, client] = await Promise.all([
    accept(socketLink(b), {
      services: [implement(Keep, {
        keep: (bytes) => {
          kept.push(bytes);
          return bytes;
        },
        items: async (rx) => {
          for await (const item of rx) itemsKept.push(item);
          return itemsKept.length;
        },
      })],
    }),
    initiate(socketLink(a)),
  ]);
  const api = client.client(Keep);
  // Several calls a turn: their frames share the chunks the peer reuses.
  const sent = Array.from({ length: 8 }, (_, i) => payloadOf(300, i + 1));
  const returned = await Promise.all(sent.map((p) => api.keep(p)));
  const [tx, rx] = channel<Uint8Array>();
  const count = api.items(rx);
  for (const p of sent) await tx.send(p);
  await tx.close();
  assert.equal(await count, sent.length);
  assert.deepEqual(kept, sent, "the handler's arguments");
  assert.deepEqual(returned, sent, "the caller's results");
  assert.deepEqual(itemsKept, sent, "the channel's items");
  await client.close();
  await server.closed;
});
