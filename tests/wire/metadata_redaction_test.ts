/**
 * `SENSITIVE` metadata values received from the peer stay readable on
 * purpose (`entry.value`, `getMetadata`) but never show when anything that
 * carries them is printed: call contexts, results and errors, channel
 * resets and closes, connection requests, acceptances, rejections and
 * closes, session Hello metadata, and `decodeMessage` output; through
 * `util.inspect` (even with `showHidden` and without custom inspection),
 * the runtime's inspect, `util.format` placeholders, `JSON.stringify`,
 * `String`, error messages and stacks, and, in a child process, the real
 * console (`log`, `error`, `dir`, `table`, `%o`/`%O`/`%s`).
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { format, inspect } from "node:util";
import {
  type CallResult,
  CancelledError,
  ChannelResetError,
  ClosedError,
  type Connection,
  ConnectionRejectedError,
  type ConnectionRequest,
  getMetadata,
  type Metadata,
  metadataEntry,
  type Rx,
  SENSITIVE,
  type Session,
} from "../../mod.ts";
import type { Message } from "../../wire.ts";
import {
  metadataCarriers,
  SECRET,
  SECRET_BYTE_SHAPES,
  SECRET_BYTES,
} from "../fixtures/metadata_carriers.ts";
import { SELF, selfExecPath } from "../fixtures/runtimes.ts";

/** `JSON.stringify`, with bigints as strings (a decoded message has some). */
function json(value: unknown): string {
  return JSON.stringify(value, (_, v) => (typeof v === "bigint" ? `${v}n` : v));
}

/** Every way the tests render a value in process. */
function renderings(value: unknown): string[] {
  const out = [
    inspect(value),
    inspect(value, { depth: 10, showHidden: true }),
    inspect(value, { depth: 10, showHidden: true, getters: true }),
    inspect(value, { depth: 10, showHidden: true, customInspect: false }),
    format("%o", value),
    format("%O", value),
    format("%s", value),
    format("%j", value === undefined ? null : JSON.parse(json(value) ?? "null")),
    json(value),
    String(value),
    `${value}`,
  ];
  const g = globalThis as unknown as {
    Deno?: { inspect(v: unknown, o?: unknown): string };
    Bun?: { inspect(v: unknown, o?: unknown): string };
  };
  const runtimeInspect = g.Deno?.inspect ?? g.Bun?.inspect;
  if (runtimeInspect !== undefined) {
    out.push(
      runtimeInspect(value, { depth: 10 }),
      runtimeInspect(value, { depth: 10, showHidden: true }),
      runtimeInspect(value, { depth: 10, showHidden: true, getters: true }),
    );
  }
  if (value instanceof Error) {
    out.push(value.message, String(value.stack));
    const m = (value as { metadata?: unknown }).metadata;
    out.push(...renderings(m));
  }
  return out;
}

function assertNoSecret(shown: string, where: string): void {
  assert.ok(!shown.includes(SECRET), `${where} leaked: ${shown}`);
  for (const shape of SECRET_BYTE_SHAPES) {
    assert.ok(!shown.includes(shape), `${where} leaked the bytes: ${shown}`);
  }
}

test("every object carrying received metadata shows no SENSITIVE value, however it is printed", async () => {
  const { carriers, close } = await metadataCarriers();
  try {
    assert.equal(Object.keys(carriers).length, 16);
    for (const [name, value] of Object.entries(carriers)) {
      assert.ok(value !== undefined, `${name} is missing`);
      for (const [i, shown] of renderings(value).entries()) {
        assertNoSecret(shown, `${name} (rendering ${i})`);
      }
    }
    // Redacted, the entries still say what they are.
    assert.match(inspect(carriers["ctx.metadata"]), /request-token.*<redacted>/s);
  } finally {
    await close();
  }
});

test("every object carrying received metadata still gives its SENSITIVE values to code that asks", async () => {
  const { carriers, close } = await metadataCarriers();
  try {
    const bytes = (m: Metadata, what: string): unknown => getMetadata(m, `${what}-key`);
    const check = (m: Metadata, what: string): void => {
      assert.equal(getMetadata(m, `${what}-token`), `${SECRET}-${what}`, what);
      assert.deepEqual(bytes(m, what), SECRET_BYTES, what);
      assert.equal(getMetadata(m, `${what}-trace`), "visible", what);
      assert.equal(m.find((e) => e.key === `${what}-token`)?.flags, SENSITIVE);
    };
    check(carriers["ctx.metadata"] as Metadata, "request");
    check((carriers["CallResult"] as CallResult<string>).metadata, "response");
    const cancelled = carriers["CancelledError"];
    assert.ok(cancelled instanceof CancelledError, String(cancelled));
    check(cancelled.metadata, "error-response");
    const reset = carriers["ChannelResetError"];
    assert.ok(reset instanceof ChannelResetError, String(reset));
    check(reset.metadata, "reset");
    check((carriers["Rx"] as Rx<number>).closeMetadata!, "close");
    check((carriers["ConnectionRequest"] as ConnectionRequest).metadata, "open");
    check((carriers["Connection"] as Connection).peerMetadata, "accept");
    check((carriers["Session"] as Session).peerMetadata, "hello");
    check(carriers["Session.peerMetadata (initiator)"] as Metadata, "hello-yourself");
    const rejected = carriers["ConnectionRejectedError"];
    assert.ok(rejected instanceof ConnectionRejectedError, String(rejected));
    check(rejected.metadata, "reject");
    const closed = carriers["ClosedError (ConnectionClose)"];
    assert.ok(closed instanceof ClosedError, String(closed));
    assert.equal(closed.code, "connection-closed");
    check(closed.metadata, "connection-close");
    assert.match(closed.message, /connection-close-token=<redacted>/);
    const call = (carriers["decodeMessage() Call"] as Message).payload;
    assert.ok(call.type === "request" && call.body.type === "call");
    check(call.body.metadata, "wire-call");
    const wireReset = (carriers["decodeMessage() Reset"] as Message).payload;
    assert.ok(wireReset.type === "channel" && wireReset.body.type === "reset");
    check(wireReset.body.metadata, "wire");
  } finally {
    await close();
  }
});

test("a SENSITIVE entry holds its value in no property, so spreading or cloning it drops the value", () => {
  const entry = metadataEntry("auth", `${SECRET}-local`, SENSITIVE);
  assert.equal(entry.value, `${SECRET}-local`);
  assert.deepEqual(Object.getOwnPropertyNames(entry).sort(), ["flags", "key"]);
  assert.deepEqual({ ...entry }, { key: "auth", flags: SENSITIVE });
  assert.deepEqual(structuredClone(entry), { key: "auth", flags: SENSITIVE });
  for (const shown of renderings(entry)) assertNoSecret(shown, "metadataEntry");
});

const PRINTER = fileURLToPath(new URL("../fixtures/print_metadata_carriers.ts", import.meta.url));

test("printing every metadata carrier through the real console shows no SENSITIVE value", {
  timeout: 60_000,
}, async () => {
  const args = SELF === "deno" ? ["run", "-A", "--quiet", PRINTER] : [PRINTER];
  const { code, stdout, stderr } = await new Promise<
    { code: number; stdout: string; stderr: string }
  >((resolve) => {
    execFile(
      selfExecPath(),
      args,
      { timeout: 45_000, maxBuffer: 16 << 20, env: { ...process.env, NO_COLOR: "1" } },
      (error, out, err) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1;
        resolve({ code, stdout: String(out), stderr: String(err) });
      },
    );
  });
  assert.equal(code, 0, `the printer failed: ${stderr.slice(-2000)}`);
  assert.match(stdout, /PRINTED 16/);
  assert.ok((stdout.match(/<redacted>/g) ?? []).length >= 100, "few <redacted> markers");
  assertNoSecret(stdout, "stdout");
  assertNoSecret(stderr, "stderr");
});
