/**
 * A raw channel made for a raw call tells the peer of nothing before the
 * call does: messages sent on it before the call goes out (the call waits
 * for the peer's concurrency limit, or a forwarder waits for its target)
 * wait for the call, and a call dropped unsent fails its channels.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  accept,
  channel,
  encode,
  forwarder,
  implement,
  initiate,
  memoryLink,
  service,
  type Session,
  t,
} from "../../mod.ts";

const Lab = service("RawOrderLab", {
  sum: { args: [t.rx(t.u32)], returns: t.u64 },
  hold: { args: [], returns: t.unit },
});

function lab(release: Promise<void>) {
  return implement(Lab, {
    async sum(rx) {
      let total = 0n;
      for await (const n of rx) total += BigInt(n);
      return total;
    },
    hold: () => release,
  });
}

async function pair(
  release: Promise<void>,
  maxConcurrentRequests?: number,
): Promise<{ client: Session; server: Session; close(): Promise<void> }> {
  const [a, b] = memoryLink();
  const [client, server] = await Promise.all([
    initiate(a),
    accept(b, {
      services: [lab(release)],
      ...(maxConcurrentRequests === undefined ? {} : { maxConcurrentRequests }),
    }),
  ]);
  return {
    client,
    server,
    async close() {
      await client.close();
      await server.closed;
    },
  };
}

const item = (n: number) => ({ type: "item" as const, item: encode(t.u32, n) });
const OK_11 = [0, ...encode(t.u64, 11n)];

test("items sent on a raw channel before its call is made wait for the call", async () => {
  const p = await pair(Promise.resolve());
  try {
    const ch = p.client.root.rawChannel();
    const early = [ch.send(item(5)), ch.send(item(6)), ch.send({ type: "close", metadata: [] })];
    const r = await p.client.root.callRaw(Lab.methods.sum.id, new Uint8Array(), {
      channels: [ch],
    });
    await Promise.all(early);
    assert.deepEqual([...r.ret], OK_11);
    assert.equal(p.server.isClosed, false, "no protocol violation");
  } finally {
    await p.close();
  }
});

test("items of a raw call queued behind the peer's concurrency limit wait until it is sent", async () => {
  let release!: () => void;
  const p = await pair(new Promise<void>((r) => (release = r)), 1);
  try {
    const held = p.client.client(Lab).hold();
    const ch = p.client.root.rawChannel();
    const call = p.client.root.callRaw(Lab.methods.sum.id, new Uint8Array(), { channels: [ch] });
    const sent = [ch.send(item(5)), ch.send(item(6)), ch.send({ type: "close", metadata: [] })];
    await new Promise((r) => setTimeout(r, 20));
    release();
    await held;
    assert.deepEqual([...(await call).ret], OK_11);
    await Promise.all(sent);
    assert.equal(p.server.isClosed, false, "no protocol violation");
  } finally {
    await p.close();
  }
});

test("a raw call dropped before it is sent fails its channels", async () => {
  let release!: () => void;
  const p = await pair(new Promise<void>((r) => (release = r)), 1);
  try {
    const held = p.client.client(Lab).hold();
    const ch = p.client.root.rawChannel();
    const controller = new AbortController();
    const call = p.client.root.callRaw(Lab.methods.sum.id, new Uint8Array(), {
      channels: [ch],
      signal: controller.signal,
    });
    const sent = ch.send(item(5));
    controller.abort(new Error("never mind"));
    await assert.rejects(call, /never mind/);
    await assert.rejects(sent, /never mind/);
    const refused = p.client.root.rawChannel();
    await assert.rejects(
      p.client.root.callRaw(Lab.methods.sum.id, new Uint8Array(), {
        channels: [refused],
        timeout: -1,
      }),
      RangeError,
    );
    await assert.rejects(refused.send(item(1)), RangeError);
    release();
    await held;
  } finally {
    await p.close();
  }
});

test("a channel's first items reach the backend when a forwarder's target is bound after they came", async () => {
  const p = await pair(Promise.resolve());
  const [cl, fl] = memoryLink();
  const [client, front] = await Promise.all([initiate(cl), accept(fl)]);
  try {
    const f = forwarder({ whileUnbound: "wait" });
    f.serve(front.root);
    const [tx, rx] = channel<number>();
    const total = client.client(Lab).sum(rx);
    for (const n of [1, 2, 3, 5]) await tx.send(n); // within the first credit
    await tx.close();
    await new Promise((r) => setTimeout(r, 20)); // they reached the forwarder, unbound
    f.bind(p.client.root);
    assert.equal(await total, 11n);
    assert.equal(p.server.isClosed, false, "no protocol violation");
  } finally {
    await client.close();
    await front.closed;
    await p.close();
  }
});
