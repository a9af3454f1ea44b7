/**
 * Links whose peer misbehaves or vanishes. A socket link closing while its
 * peer still talks: the `ProtocolError` sent for a violation must reach a
 * peer that keeps writing (closing a socket with unread input makes the
 * kernel send a reset, which can destroy what was sent just before), and
 * the drain that prevents this is bounded in time. A stream link whose
 * writes fail leaves no rejected promise unhandled (the test runners of
 * both runtimes fail a test that does).
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import type { Message } from "../../wire.ts";
import { serve } from "../../mod.ts";
import { streamLink } from "../../lib/link/framing/stream_link.ts";
import { SELF } from "../fixtures/runtimes.ts";
import { delay, frame, HELLO, RawSocket, targetOf, u32le, within } from "../_helpers/mod.ts";

/** Sends junk frames as fast as the socket takes them until `stop()`. */
function keepWriting(s: RawSocket): { stop(): void } {
  let stopped = false;
  const junk = frame(new Uint8Array(16 * 1024).fill(0xee));
  const pump = (): void => {
    while (!stopped && !s.socket.destroyed) {
      if (!s.socket.write(junk)) {
        s.socket.once("drain", pump);
        return;
      }
    }
  };
  s.socket.on("error", () => {});
  pump();
  return {
    stop() {
      stopped = true;
    },
  };
}

const TRIES = 20;

test(
  `a ${SELF} server's ProtocolError reaches a peer that keeps writing after its violation (${TRIES} tries over TCP)`,
  {
    timeout: 30_000,
  },
  async () => {
    const server = await serve("tcp://127.0.0.1:0", { onError: () => {}, maxFrameSize: 64 * 1024 });
    try {
      const lost: string[] = [];
      for (let i = 0; i < TRIES; i++) {
        const s = await RawSocket.connect(targetOf(server.url));
        try {
          s.write(frame(HELLO));
          assert.equal((await s.readMessage(3000)).payload.type, "helloYourself");
          // A violation (undecodable bytes, or a frame above the limit, which stops the
          // server's reading), then a flood, read by nobody for a moment.
          s.write(i % 2 === 0 ? frame(Uint8Array.of(0xff, 0xff, 0xff)) : u32le(1024 * 1024));
          s.pause();
          const writer = keepWriting(s);
          await delay(30);
          s.socket.resume();
          let got: Message | Error;
          try {
            got = await s.readMessage(3000);
          } catch (e) {
            got = e as Error;
          } finally {
            writer.stop();
          }
          if (got instanceof Error) lost.push(`try ${i + 1}: ${got.message}`);
          else assert.equal(got.payload.type, "protocolError");
        } finally {
          await s.destroy();
        }
      }
      assert.deepEqual(lost, [], "every try read the ProtocolError");
    } finally {
      await server.close();
    }
  },
);

test("after its ProtocolError, a server drains a flooding peer only briefly, then closes", {
  timeout: 10_000,
}, async () => {
  const server = await serve("tcp://127.0.0.1:0", { onError: () => {} });
  try {
    const s = await RawSocket.connect(targetOf(server.url));
    try {
      s.write(frame(HELLO));
      assert.equal((await s.readMessage(3000)).payload.type, "helloYourself");
      s.write(frame(Uint8Array.of(0xff, 0xff, 0xff)));
      const writer = keepWriting(s);
      const start = performance.now();
      try {
        assert.equal((await s.readMessage(3000)).payload.type, "protocolError");
        await within(s.closed, 5000, "the server to close a peer that never stops writing");
      } finally {
        writer.stop();
      }
      const elapsed = performance.now() - start;
      assert.ok(elapsed < 3000, `closed after ${elapsed.toFixed(0)} ms`);
    } finally {
      await s.destroy();
    }
  } finally {
    await server.close();
  }
});

test(
  "a server closes at once, not after a drain, when the peer ends its side after the ProtocolError",
  {
    timeout: 10_000,
  },
  async () => {
    const server = await serve("tcp://127.0.0.1:0", { onError: () => {} });
    try {
      const s = await RawSocket.connect(targetOf(server.url));
      try {
        s.write(frame(HELLO));
        assert.equal((await s.readMessage(3000)).payload.type, "helloYourself");
        s.write(frame(Uint8Array.of(0xff, 0xff, 0xff)));
        assert.equal((await s.readMessage(3000)).payload.type, "protocolError");
        await s.waitFor(() => s.ended, 3000, "the server's end of stream");
        const start = performance.now();
        s.end();
        await within(s.closed, 3000, "the connection to close");
        const elapsed = performance.now() - start;
        assert.ok(elapsed < 500, `closed ${elapsed.toFixed(0)} ms after the peer's end`);
        assert.equal(s.error, undefined, "a clean close, not a reset");
      } finally {
        await s.destroy();
      }
    } finally {
      await server.close();
    }
  },
);

test("a stream link whose byte stream fails mid-write errors its writable and leaves no rejection unhandled", async () => {
  let writes = 0;
  const bytes = new WritableStream<Uint8Array>({
    write: () => {
      writes++;
      return new Promise<void>((_, reject) => setTimeout(() => reject(new Error("EPIPE")), 5));
    },
  });
  const link = streamLink(new ReadableStream<Uint8Array>(), bytes);
  const writer = link.writable.getWriter();
  // Each payload above 256 KiB goes out as two pieces written at once.
  const sent = [1, 2, 3].map(() => writer.write(new Uint8Array(300 * 1024)).catch((e) => e));
  const closed = writer.closed.then(() => "closed", (e: Error) => e.message);
  assert.equal(await within(closed, 2000, "the writable to fail"), "EPIPE");
  // Every write settles: none is left waiting on the failed stream.
  await within(Promise.all(sent), 2000, "the writes to settle");
  assert.equal(writes, 1, "the byte stream saw one write, which failed");
  await delay(20); // an unhandled rejection would be reported by now
  await link.readable.cancel();
});
