/**
 * The receive window: a receiver grants beyond its schema's credit, so a
 * stream over a network link is not held to a round trip per few items,
 * up to `receiveWindowItems` items and about `receiveWindowBytes` bytes by
 * their average size; a slow consumer still bounds what is buffered.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  accept,
  channel,
  implement,
  initiate,
  memoryLink,
  service,
  type Session,
  t,
} from "../../mod.ts";
import { encode } from "../../postcard.ts";
import type { Message } from "../../wire.ts";
import { rawAcceptor, type RawPeer, within } from "../_helpers/mod.ts";

const Stream = service("Stream", {
  give: { args: [t.tx(t.i32)], returns: t.unit },
  giveBytes: { args: [t.tx(t.bytes)], returns: t.unit },
});

/** Grants the library's Rx sends on `channelId`, in total, within `ms`. */
async function grantsWithin(peer: RawPeer, channelId: number, ms: number): Promise<number> {
  let total = 0;
  const end = performance.now() + ms;
  for (;;) {
    const left = end - performance.now();
    if (left <= 0) return total;
    let m: Message;
    try {
      m = await peer.next(left);
    } catch {
      return total;
    }
    const p = m.payload;
    if (p.type === "channel" && p.id === channelId && p.body.type === "grantCredit") {
      total += p.body.additional;
    }
  }
}

/** A raw peer that sends `items` (encoded) on channel `id` of the library's call. */
async function sendItems(peer: RawPeer, id: number, items: Uint8Array[]): Promise<void> {
  for (const item of items) {
    await peer.send({
      connectionId: 0,
      payload: { type: "channel", id, body: { type: "item", item } },
    });
  }
}

async function libraryReceiver(
  limits: Record<string, number>,
  bytes = false,
): Promise<{ peer: RawPeer; session: Session; channelId: number; done: Promise<unknown> }> {
  const { peer, session } = await rawAcceptor({ limits });
  const [tx, rx] = channel<number | Uint8Array>();
  // The library calls and keeps rx; the raw peer is the handler and sends the items.
  const client = session.client(Stream);
  const done = (bytes ? client.giveBytes(tx as never) : client.give(tx as never)).catch(() => {});
  const call = await peer.expect("request");
  assert.equal(call.payload.body.type, "call");
  const channelId = (call.payload.body as { channels: readonly number[] }).channels[0]!;
  // Read everything the library's Rx receives as fast as it comes.
  void (async () => {
    for await (const _ of rx) { /* consume */ }
  })().catch(() => {}); // the session ends with the test
  return { peer, session, channelId, done };
}

test("a receiver of small items widens its window past the schema's credit", async () => {
  const r = await libraryReceiver({});
  try {
    await sendItems(r.peer, r.channelId, [encode(t.i32, 1)]);
    const granted = await grantsWithin(r.peer, r.channelId, 200);
    // 16 from the schema, less the one item, plus the grants: the window of 256 items.
    assert.equal(16 - 1 + granted, 256);
  } finally {
    await r.peer.close();
    await within(r.session.closed, 2000, "session.closed");
  }
});

test("a receiver of 64 KiB items keeps to about its byte window", async () => {
  const r = await libraryReceiver({}, true);
  try {
    const big = encode(t.bytes, new Uint8Array(64 * 1024));
    await sendItems(r.peer, r.channelId, [big, big, big, big, big, big, big, big, big]);
    const granted = await grantsWithin(r.peer, r.channelId, 200);
    // 1 MiB / 64 KiB = 16 items: the schema's credit already, so grants only replace what was used.
    assert.ok(16 - 9 + granted <= 16, `window of ${16 - 9 + granted} items of 64 KiB`);
  } finally {
    await r.peer.close();
    await within(r.session.closed, 2000, "session.closed");
  }
});

test("receiveWindowItems: 0 keeps to the schema's credit, granted back half at a time", async () => {
  const r = await libraryReceiver({ receiveWindowItems: 0 });
  try {
    await sendItems(r.peer, r.channelId, Array.from({ length: 8 }, (_, i) => encode(t.i32, i)));
    assert.equal(await grantsWithin(r.peer, r.channelId, 200), 8);
  } finally {
    await r.peer.close();
    await within(r.session.closed, 2000, "session.closed");
  }
});

test("a slow consumer bounds what its receive window lets the sender put in front of it", async () => {
  const Source = service("Source", { pour: { args: [t.tx(t.i32)], returns: t.unit } });
  let sent = 0;
  const [a, b] = memoryLink();
  const [client, server] = await Promise.all([
    initiate(a, { limits: { receiveWindowItems: 100 } }),
    accept(b, {
      services: [implement(Source, {
        async pour(tx) {
          for (let i = 0; i < 10_000; i++) {
            await tx.send(i);
            sent++;
          }
          await tx.close();
        },
      })],
    }),
  ]);
  try {
    const [tx, rx] = channel<number>();
    const done = client.client(Source).pour(tx);
    const it = rx[Symbol.asyncIterator]();
    await it.next();
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(sent <= 101, `the sender ran ${sent} items ahead`);
    assert.ok(rx.buffered <= 100, `${rx.buffered} items buffered`);
    let n = 1;
    for (let r = await it.next(); !r.done; r = await it.next()) n++;
    assert.equal(n, 10_000);
    await done;
  } finally {
    await client.close();
    await server.closed;
  }
});

test("a bad receive window is a RangeError", async () => {
  const [a] = memoryLink();
  await assert.rejects(initiate(a, { limits: { receiveWindowItems: -1 } }), RangeError);
  await assert.rejects(initiate(a, { limits: { receiveWindowBytes: 0 } }), RangeError);
});
