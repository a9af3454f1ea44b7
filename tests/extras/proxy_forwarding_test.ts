/**
 * What a proxy hop keeps while it forwards calls the short way (bytes from
 * one connection to the other, inside the connection layer): calls queued
 * behind the proxy's own concurrency limit keep their arguments,
 * cancelled calls give their slot back, and a call whose target goes
 * away is answered with the reason.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  accept,
  CancelledError,
  getMetadata,
  implement,
  initiate,
  memoryLink,
  proxy,
  PROXY_ERROR_KEY,
  service,
  type Session,
  t,
} from "../../mod.ts";

const Lab = service("ForwardLab", {
  pair: { args: [t.u32, t.string], returns: t.string },
  hold: { args: [], returns: t.unit },
});

/** A client, a proxy whose front accepts `frontLimit` calls at once, and a backend. */
async function hop(frontLimit: number, hold: Promise<void> = new Promise(() => {})) {
  const [bl, sl] = memoryLink();
  const [back, backend] = await Promise.all([
    initiate(bl),
    accept(sl, {
      services: [implement(Lab, { pair: (n, s) => `${n}:${s}`, hold: () => hold })],
    }),
  ]);
  const [cl, pl] = memoryLink();
  const [client, front] = await Promise.all([
    initiate(cl),
    accept(pl, { maxConcurrentRequests: frontLimit }),
  ]);
  proxy(front.root, back.root);
  const sessions: Session[] = [client, front, back, backend];
  return {
    client,
    back,
    async close() {
      for (const s of sessions) await s.close();
    },
  };
}

test("calls queued behind the proxy's concurrency limit keep their own arguments", async () => {
  const h = await hop(2, Promise.resolve());
  try {
    const lab = h.client.client(Lab);
    const words = Array.from({ length: 200 }, (_, i) => `word-${i}-${"x".repeat(i % 97)}`);
    const answers = await Promise.all(words.map((w, i) => lab.pair(i, w)));
    assert.deepEqual(answers, words.map((w, i) => `${i}:${w}`));
  } finally {
    await h.close();
  }
});

test("cancelled calls through a proxy give their slots back", async () => {
  const h = await hop(2);
  try {
    const lab = h.client.client(Lab);
    for (let round = 0; round < 3; round++) {
      const controller = new AbortController();
      const held = [
        lab.hold({ signal: controller.signal }),
        lab.hold({ signal: controller.signal }),
      ];
      await new Promise((r) => setTimeout(r, 10));
      controller.abort(new Error("enough"));
      for (const p of held) await assert.rejects(p, /enough/);
    }
    // With two slots leaked per round this would wait for good.
    assert.equal(await lab.pair(7, "still", { timeout: 2000 }), "7:still");
  } finally {
    await h.close();
  }
});

test("a call in flight through a proxy whose target goes away fails with the reason", async () => {
  const h = await hop(8);
  try {
    const lab = h.client.client(Lab);
    const held = lab.hold();
    await new Promise((r) => setTimeout(r, 10));
    await h.back.close({ timeout: 0 });
    const e = await held.then(() => assert.fail("the call succeeded"), (e: unknown) => e);
    assert.ok(e instanceof CancelledError, `got ${e}`);
    assert.match(String(getMetadata(e.metadata, PROXY_ERROR_KEY)), /^the target failed the call: /);
  } finally {
    await h.close();
  }
});
