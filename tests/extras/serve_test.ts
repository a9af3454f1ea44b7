import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { accept, HandshakeError, memoryLink, serve } from "../../mod.ts";
import { delay } from "../_helpers/mod.ts";

test("accept() stops waiting for a Hello when its signal aborts", async () => {
  const [, b] = memoryLink();
  const controller = new AbortController();
  const pending = accept(b, { signal: controller.signal });
  controller.abort(new Error("shutting down"));
  await assert.rejects(
    pending,
    (e: unknown) => e instanceof HandshakeError && /aborted/.test(e.message),
  );
});

test("accept() with an already aborted signal fails at once", async () => {
  const [, b] = memoryLink();
  const started = performance.now();
  await assert.rejects(accept(b, { signal: AbortSignal.abort() }), HandshakeError);
  assert.ok(performance.now() - started < 1000);
});

test("server.close() does not wait for a connected peer that never says Hello", async () => {
  const errors: unknown[] = [];
  const server = await serve("tcp://127.0.0.1:0", { onError: (e) => errors.push(e) });
  const port = Number(new URL(server.url).port);
  const silent = net.createConnection({ host: "127.0.0.1", port });
  await new Promise<void>((resolve, reject) => {
    silent.once("connect", () => resolve());
    silent.once("error", reject);
  });
  // Let the server accept the connection and start its handshake.
  await delay(50);
  const started = performance.now();
  await server.close();
  const took = performance.now() - started;
  assert.ok(took < 2000, `close() took ${took.toFixed(0)} ms (the handshake timeout is 10 s)`);
  assert.deepEqual(errors, [], "an aborted handshake is not reported as an error");
  silent.destroy();
});
