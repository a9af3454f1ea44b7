import { test } from "node:test";
import assert from "node:assert/strict";
import { ClosedError, HandshakeError, initiate, ProtocolError } from "../../mod.ts";
import { FramingError } from "../../lib/link/framing/errors.ts";
import { type ChildLink, spawnLink, stdioLink } from "../../transports/stdio.ts";
import { StdioFixture } from "../fixtures/stdio_server.ts";
import { rejection, within } from "../_helpers/mod.ts";

const FIXTURE = decodeURIComponent(
  new URL("../fixtures/stdio_server.ts", import.meta.url).pathname,
);
const IS_DENO = "Deno" in globalThis;

/** Spawns the fixture with the runtime running this test. */
function spawnFixture(...args: string[]): Promise<ChildLink> {
  if (IS_DENO) return spawnLink(Deno.execPath(), ["run", "-A", "--quiet", FIXTURE, ...args]);
  const exec = (globalThis as unknown as { process: { execPath: string } }).process.execPath;
  return spawnLink(exec, [FIXTURE, ...args]);
}

test("spawnLink() serves typed calls, a 1 MiB echo and 1,000 pipelined calls; the child exits 0", async () => {
  await using child = await spawnFixture();
  assert.ok(Number.isInteger(child.pid) && child.pid > 0);
  const session = await initiate(child);
  const fixture = session.client(StdioFixture);

  assert.equal(await fixture.echo("héllo 🦀"), "héllo 🦀");
  assert.equal(await fixture.add(40, 2), 42);

  const big = new Uint8Array(1024 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >>> 8)) & 0xff;
  const back = await fixture.echoBytes(big);
  assert.equal(back.length, big.length);
  assert.ok(back.every((v, i) => v === big[i]), "the echoed bytes differ");

  const calls = Array.from({ length: 1000 }, (_, i) => fixture.add(i, 1000));
  const sums = await within(Promise.all(calls), 10_000, "1,000 pipelined calls");
  assert.deepEqual(sums, Array.from({ length: 1000 }, (_, i) => i + 1000));

  await session.close();
  assert.equal(await session.closed, undefined);
  const status = await within(child.status, 5000, "the child's exit");
  assert.deepEqual(status, { code: 0, signal: null, success: true });
  assert.deepEqual(await child.close(), status);
});

test("a child that closes its session ends the parent's session and exits 0", async () => {
  await using child = await spawnFixture();
  const session = await initiate(child);
  await session.client(StdioFixture).bye();
  const reason = await within(session.closed, 5000, "the parent's session end");
  assert.ok(reason instanceof ClosedError, `expected a ClosedError, got ${reason}`);
  assert.match(reason.message, /peer closed the link/);
  assert.deepEqual(await within(child.status, 5000, "the child's exit"), {
    code: 0,
    signal: null,
    success: true,
  });
});

test("a child that prints text instead of frames fails the handshake with a FramingError", async () => {
  await using child = await spawnFixture("garbage");
  const e = await rejection(initiate(child, { handshakeTimeout: 5000 }), 6000);
  assert.ok(e instanceof HandshakeError, `expected a HandshakeError, got ${e}`);
  assert.ok(e.cause instanceof FramingError, `expected a FramingError cause, got ${e.cause}`);
  assert.match(e.cause.message, /frame of \d+ bytes exceeds the limit/);
  assert.equal((await within(child.status, 5000, "the child's exit")).code, 0);
});

test("a child that prints to stdout mid-session fails the call and the session with a ProtocolError", async () => {
  await using child = await spawnFixture();
  const session = await initiate(child);
  const fixture = session.client(StdioFixture);
  assert.equal(await fixture.echo("before"), "before");
  const e = await rejection(fixture.shout("debug output"), 5000);
  assert.ok(e instanceof ProtocolError, `expected a ProtocolError, got ${e}`);
  assert.match(e.message, /exceeds the limit/);
  const reason = await within(session.closed, 2000, "the session's end");
  assert.ok(reason instanceof ProtocolError);
  // Our ProtocolError and end of stream reach the child, which exits normally.
  assert.equal((await within(child.status, 5000, "the child's exit")).code, 0);
});

test("a child that exits mid-call fails the pending call promptly", async () => {
  await using child = await spawnFixture();
  const session = await initiate(child);
  const fixture = session.client(StdioFixture);
  assert.equal(await fixture.add(1, 2), 3);
  const started = performance.now();
  const e = await rejection(fixture.crash(3), 5000);
  assert.ok(e instanceof ClosedError, `expected a ClosedError, got ${e}`);
  assert.ok(performance.now() - started < 3000, "the call did not fail promptly");
  assert.deepEqual(await within(child.status, 5000, "the child's exit"), {
    code: 3,
    signal: null,
    success: false,
  });
  assert.ok((await session.closed) instanceof ClosedError);
  const after = await rejection(fixture.add(1, 1));
  assert.ok(after instanceof ClosedError);
});

test("close() ends a child that ignores the end of its stdin with SIGTERM", async () => {
  const child = await spawnLink("sleep", ["30"], { exitTimeout: 50 });
  const status = await within(child.close(), 5000, "close()");
  assert.deepEqual(status, { code: null, signal: "SIGTERM", success: false });
  assert.equal(child.close(), child.close(), "close() returns the same promise");
  child.kill(); // a no-op once the child has exited
});

test("kill() sends a signal; the link's readable then ends", async () => {
  await using child = await spawnLink("sleep", ["30"]);
  const reader = child.readable.getReader();
  assert.throws(() => child.kill("SIGFOO" as "SIGTERM"), TypeError);
  child.kill("SIGKILL");
  assert.deepEqual(await within(child.status, 5000, "the child's exit"), {
    code: null,
    signal: "SIGKILL",
    success: false,
  });
  assert.equal((await within(reader.read(), 2000, "the end of stdout")).done, true);
  await child.writable.abort().catch(() => {});
});

test('stderr: "piped" makes the child\'s stderr readable', async () => {
  await using child = await spawnLink("sh", ["-c", "echo oops >&2"], { stderr: "piped" });
  assert.ok(child.stderr !== null);
  let text = "";
  for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) text += chunk;
  assert.equal(text, "oops\n");
  assert.equal((await child.status).code, 0);
  await child.writable.close().catch(() => {});
  await child.readable.cancel();
});

test("spawnLink() rejects bad input before starting anything", async () => {
  await assert.rejects(spawnLink(""), { name: "TypeError", message: /command is empty/ });
  await assert.rejects(spawnLink("sh", [1 as unknown as string]), {
    name: "TypeError",
    message: /args must be an array of strings/,
  });
  await assert.rejects(
    spawnLink("sh", [], { stderr: "pipe" as unknown as "piped" }),
    { name: "TypeError", message: /stderr must be/ },
  );
  await assert.rejects(
    spawnLink("sh", [], { env: { A: 1 as unknown as string } }),
    { name: "TypeError", message: /env variable A is not a string/ },
  );
  await assert.rejects(spawnLink("sh", [], { maxFrameSize: 0 }), RangeError);
  await assert.rejects(spawnLink("sh", [], { exitTimeout: -1 }), RangeError);
  await assert.rejects(spawnLink("/nonexistent/roam-no-such-program"), (e: unknown) => {
    assert.ok(e instanceof Error);
    assert.match(e.message, /^Cannot spawn "\/nonexistent\/roam-no-such-program": /);
    assert.ok(e.cause !== undefined);
    return true;
  });
});

test("spawnLink() passes cwd and env to the child", async () => {
  await using child = await spawnLink("sh", ["-c", 'printf "%s %s" "$PWD" "$ROAM_TEST_VAR" >&2'], {
    cwd: "/",
    env: { ROAM_TEST_VAR: "set" },
    stderr: "piped",
  });
  let text = "";
  for await (const chunk of child.stderr!.pipeThrough(new TextDecoderStream())) text += chunk;
  assert.equal(text, "/ set");
  await child.writable.close().catch(() => {});
  await child.readable.cancel();
});

test("stdioLink() rejects an invalid maxFrameSize", async () => {
  await assert.rejects(stdioLink({ maxFrameSize: 1.5 }), RangeError);
});
