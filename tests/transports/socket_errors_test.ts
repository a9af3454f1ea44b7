/**
 * Socket errors name the operation and the address, in the same words on
 * Deno, Bun and Node, and keep the runtime's own error as `cause`.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { connect, serve } from "../../mod.ts";
import { connectTcp, connectTcpStream, listenTcp } from "../../transports/tcp.ts";
import { connectUnix, listenUnix } from "../../transports/unix.ts";

/** The `code` of an error's cause (every runtime sets one: `ECONNREFUSED`…). */
function causeCode(e: unknown): unknown {
  return ((e as Error).cause as { code?: unknown } | undefined)?.code;
}

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof Error, `not an Error: ${String(e)}`);
    return e;
  }
  assert.fail("it did not fail");
}

/** Nothing listens on port 1 of the loopback address. */
const CLOSED_PORT = 1;

test("connectTcp() to a closed port says where it connected and that it was refused", async () => {
  const e = await failure(connectTcp({ port: CLOSED_PORT }));
  assert.equal(e.message, `Cannot connect to tcp://127.0.0.1:${CLOSED_PORT}: connection refused`);
  assert.equal(causeCode(e), "ECONNREFUSED");
  const raw = await failure(connectTcpStream({ port: CLOSED_PORT }));
  assert.equal(raw.message, e.message);
});

test("connect(url) to a closed port gives the same error", async () => {
  const e = await failure(connect(`tcp://127.0.0.1:${CLOSED_PORT}`));
  assert.equal(e.message, `Cannot connect to tcp://127.0.0.1:${CLOSED_PORT}: connection refused`);
  assert.ok(e.cause instanceof Error);
});

test("listenTcp() on a port in use says where it listened and why it could not", async () => {
  const first = await listenTcp({ port: 0 });
  try {
    const { port } = first.address as { port: number };
    const e = await failure(listenTcp({ port }));
    assert.equal(e.message, `Cannot listen on tcp://127.0.0.1:${port}: address already in use`);
    assert.equal(causeCode(e), "EADDRINUSE");
    const viaServe = await failure(serve(`tcp://127.0.0.1:${port}`));
    assert.equal(viaServe.message, e.message);
  } finally {
    await first.close();
  }
});

test("connectUnix() to a missing socket file names the path", async () => {
  const path = join(tmpdir(), `roam-missing-${process.pid}-${Date.now()}.sock`);
  const e = await failure(connectUnix({ path }));
  assert.equal(e.message, `Cannot connect to unix:${path}: no such file or directory`);
  assert.equal(causeCode(e), "ENOENT");
});

test("listenUnix() in a missing folder names the path", async () => {
  const path = join(tmpdir(), `roam-no-such-dir-${process.pid}-${Date.now()}`, "x.sock");
  const e = await failure(listenUnix({ path }));
  assert.match(e.message, new RegExp(`^Cannot listen on unix:${path.replace(/[.]/g, "\\.")}: `));
  assert.ok(e.cause instanceof Error);
});

test("listenUnix() on a path that is taken names it and keeps the file", async () => {
  const path = join(tmpdir(), `roam-taken-${process.pid}-${Date.now()}.sock`);
  const listener = await listenUnix({ path });
  try {
    const e = await failure(listenUnix({ path }));
    assert.equal(e.message, `Cannot listen on unix:${path}: address already in use`);
    assert.equal(causeCode(e), "EADDRINUSE");
    const [client, server] = await Promise.all([connectUnix({ path }), listener.accept()]);
    await client.writable.close();
    await server!.writable.close();
  } finally {
    await listener.close();
    rmSync(path, { force: true });
  }
});

test("listenUnix() over an ordinary file does not remove it", async () => {
  const path = join(tmpdir(), `roam-plain-${process.pid}-${Date.now()}`);
  writeFileSync(path, "not a socket");
  try {
    const e = await failure(listenUnix({ path }));
    assert.match(e.message, new RegExp(`^Cannot listen on unix:${path.replace(/[.]/g, "\\.")}: `));
    assert.equal(readFileSync(path, "utf8"), "not a socket");
  } finally {
    rmSync(path, { force: true });
  }
});
