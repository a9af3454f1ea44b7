/**
 * Tests for the in-memory link: its Web Streams ends (order, backpressure,
 * close, abort, cancel) and the push mode sessions use.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { memoryLink } from "../../mod.ts";
import type { Link, PayloadSink } from "../../lib/link/link.ts";
import { tick } from "../_helpers/mod.ts";

function bytes(...xs: number[]): Uint8Array {
  return new Uint8Array(xs);
}

type Event = ["payload", number] | ["end"] | ["error", unknown];

/** A sink that records what it is given. */
function recorder(): { sink: PayloadSink; events: Event[] } {
  const events: Event[] = [];
  return {
    events,
    sink: {
      payload: (p) => events.push(["payload", p[0]!]),
      end: () => events.push(["end"]),
      error: (e) => events.push(["error", e]),
    },
  };
}

function push(link: Link, sink: PayloadSink): void {
  link.direct!.receive(sink);
}

function send(link: Link, payload: Uint8Array): void {
  link.direct!.send(payload);
}

test("memoryLink() delivers payloads in order, by reference, and ends after them on close", async () => {
  const [a, b] = memoryLink();
  const writer = a.writable.getWriter();
  const sent = [bytes(1), bytes(2), bytes(3)];
  for (const p of sent) await writer.write(p);
  await writer.close();
  const reader = b.readable.getReader();
  for (const p of sent) {
    const r = await reader.read();
    assert.equal(r.value, p);
  }
  assert.equal((await reader.read()).done, true);
});

test("memoryLink() holds a writer at the high-water mark until the reader reads", async () => {
  const [a, b] = memoryLink({ highWaterMark: 2 });
  const writer = a.writable.getWriter();
  await writer.write(bytes(1));
  let second = false;
  const pending = writer.write(bytes(2)).then(() => (second = true));
  await tick();
  assert.equal(second, false);
  const reader = b.readable.getReader();
  assert.deepStrictEqual((await reader.read()).value, bytes(1));
  await pending;
  assert.equal(second, true);
  await writer.close();
});

test("memoryLink() errors the reader with the writer's abort reason", async () => {
  const [a, b] = memoryLink();
  const writer = a.writable.getWriter();
  await writer.write(bytes(1));
  const reason = new Error("gone");
  await writer.abort(reason);
  await assert.rejects(b.readable.getReader().read(), (e) => e === reason);
});

test("memoryLink() fails the writer when the reader cancels", async () => {
  const [a, b] = memoryLink();
  const writer = a.writable.getWriter();
  const reason = new Error("not interested");
  await b.readable.cancel(reason);
  await assert.rejects(writer.closed, (e) => e === reason);
  await assert.rejects(writer.write(bytes(1)));
});

test("memoryLink() rejects a high-water mark that is not a positive integer", () => {
  for (const bad of [0, -1, 1.5, NaN]) {
    assert.throws(() => memoryLink({ highWaterMark: bad }), RangeError);
  }
});

test("push mode hands over queued payloads first, then later ones, then the end", async () => {
  const [a, b] = memoryLink();
  const writer = a.writable.getWriter();
  await writer.write(bytes(1));
  send(a, bytes(2));
  const { sink, events } = recorder();
  push(b, sink);
  send(a, bytes(3));
  await writer.write(bytes(4));
  await writer.close();
  await tick();
  assert.deepStrictEqual(events, [["payload", 1], ["payload", 2], ["payload", 3], [
    "payload",
    4,
  ], ["end"]]);
});

test("push mode delivers a burst in one batch, never inside the sender's call", async () => {
  const [a, b] = memoryLink();
  const { sink, events } = recorder();
  push(b, sink);
  for (let i = 0; i < 100; i++) send(a, bytes(i));
  assert.equal(events.length, 0);
  await Promise.resolve();
  await Promise.resolve();
  assert.equal(events.length, 100);
  assert.deepStrictEqual(events.map((e) => e[1]), Array.from({ length: 100 }, (_, i) => i));
  await a.writable.close();
});

test("push mode: a sink that answers on the other direction is not re-entered", async () => {
  const [a, b] = memoryLink();
  let depth = 0;
  let maxDepth = 0;
  const got: number[] = [];
  push(a, {
    payload: (p) => {
      depth++;
      maxDepth = Math.max(maxDepth, depth);
      got.push(p[0]!);
      if (p[0]! < 10) send(a, bytes(p[0]! + 1)); // back to b
      depth--;
    },
    end: () => {},
    error: () => {},
  });
  push(b, {
    payload: (p) => {
      depth++;
      maxDepth = Math.max(maxDepth, depth);
      send(b, bytes(p[0]! + 1)); // back to a
      depth--;
    },
    end: () => {},
    error: () => {},
  });
  send(b, bytes(0));
  await tick();
  assert.deepStrictEqual(got, [0, 2, 4, 6, 8, 10]);
  assert.equal(maxDepth, 1);
});

test("push mode reports the writer's abort to the sink", async () => {
  const [a, b] = memoryLink();
  const { sink, events } = recorder();
  push(b, sink);
  const reason = new Error("cut");
  await a.writable.abort(reason);
  await tick();
  assert.deepStrictEqual(events, [["error", reason]]);
});

test("push mode stops delivering once the reader cancels", async () => {
  const [a, b] = memoryLink();
  const { sink, events } = recorder();
  push(b, sink);
  send(a, bytes(1));
  await tick();
  await b.readable.cancel(new Error("done"));
  send(a, bytes(2));
  await tick();
  assert.deepStrictEqual(events, [["payload", 1]]);
});

test("push mode: a sink whose reader cancels while handling a payload gets nothing more", async () => {
  const [a, b] = memoryLink();
  const events: string[] = [];
  push(b, {
    payload: (p) => {
      events.push(`payload ${p[0]}`);
      if (p[0] === 1) void b.readable.cancel(new Error("stop"));
    },
    end: () => events.push("end"),
    error: () => events.push("error"),
  });
  send(a, bytes(1));
  send(a, bytes(2));
  await tick();
  assert.deepStrictEqual(events, ["payload 1"]);
});
