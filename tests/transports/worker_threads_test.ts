/**
 * A session with a `node:worker_threads` worker over a MessagePort link:
 * Node's `Worker` is an event emitter (no `addEventListener`), its
 * `parentPort` a `MessagePort`. Runs on Node, Deno and Bun alike.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { Worker } from "node:worker_threads";
import { channel, initiate } from "../../mod.ts";
import { messagePortLink } from "../../transports/message_port.ts";
import { Threaded } from "../fixtures/thread_service.ts";

test("a session with a node:worker_threads Worker calls, streams and closes", {
  timeout: 30_000,
}, async () => {
  const worker = new Worker(new URL("../fixtures/thread_service.ts", import.meta.url));
  const exited = new Promise<number>((resolve) => worker.once("exit", resolve));
  try {
    const session = await initiate(messagePortLink(worker));
    const client = session.client(Threaded);
    assert.equal(await client.greet("Ada"), "Hello, Ada, from a worker thread");
    const bytes = await client.bytes(100_000);
    assert.equal(bytes.length, 100_000);
    assert.equal(bytes[99_999], 99_999 & 0xff);
    const [tx, rx] = channel<number>();
    const total = client.sum(rx);
    for (let i = 0; i < 1000; i++) await tx.send(i);
    await tx.close();
    assert.equal(await total, 499_500n);
    await session.close();
    assert.equal(await session.closed, undefined);
  } finally {
    await worker.terminate();
  }
  assert.equal(typeof await exited, "number");
});

test("a node:worker_threads Worker that fails ends the link with its error", {
  timeout: 30_000,
}, async () => {
  const worker = new Worker("throw new Error('worker broke');", { eval: true });
  try {
    const link = messagePortLink(worker);
    const reader = link.readable.getReader();
    await assert.rejects(reader.read(), /The worker failed: .*worker broke/);
  } finally {
    await worker.terminate();
  }
});
