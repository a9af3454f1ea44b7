/**
 * The `roam` command line's `id`, `call` and `ping`, and what every
 * command shares (help, strict options, exit codes), each run as a child
 * process of this runtime against real servers: one in this process and
 * one in a child of the other runtime (skipped, visibly, without it).
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { serve } from "../../mod.ts";
import { API, runCli } from "../_helpers/mod.ts";
import { Echo, echoImpl, Lab, labImpl } from "../fixtures/cli_api.ts";
import { findRuntime, OTHER, SELF, startFixture } from "../fixtures/runtimes.ts";

const SERVER = fileURLToPath(new URL("../fixtures/cli_server.ts", import.meta.url));
const other = await findRuntime(OTHER);
const skipOther = !other.found && !other.misconfigured
  ? `the other runtime is not available: ${other.reason}`
  : false;
if (skipOther !== false) {
  console.log(`SKIPPED ${OTHER} server cases of the CLI tests: ${skipOther}`);
}

const COMMANDS = ["spy", "id", "call", "ping"];

test("roam --help lists the commands and exit codes; no command at all is a usage error", {
  timeout: 30_000,
}, async () => {
  const [help, bare, unknown] = await Promise.all([
    runCli(["--help"]),
    runCli([]),
    runCli(["frobnicate"]),
  ]);
  assert.equal(help.code, 0, help.stderr);
  for (const c of COMMANDS) assert.match(help.stdout, new RegExp(`^  ${c} `, "m"));
  assert.match(help.stdout, /Exit codes:\n {2}0 +success\n {2}1 .*\n {2}2 +usage error/);
  assert.equal(bare.code, 2);
  assert.match(bare.stderr, /Usage: roam <command>/);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command "frobnicate"/);
});

test("every command has --help and rejects an unknown option with exit code 2", {
  timeout: 30_000,
}, async () => {
  const runs = await Promise.all(
    COMMANDS.flatMap((c) => [runCli([c, "--help"]), runCli([c, "--no-such-option"])]),
  );
  COMMANDS.forEach((c, i) => {
    const [help, bad] = [runs[2 * i]!, runs[2 * i + 1]!];
    assert.equal(help.code, 0, `${c} --help: ${help.stderr}`);
    assert.match(help.stdout, new RegExp(`^Usage: roam ${c} `));
    assert.match(help.stdout, /Example:\n {2}roam /);
    assert.match(help.stdout, /Exit codes:/);
    assert.equal(bad.code, 2, `${c} --no-such-option`);
    assert.match(bad.stderr, /--no-such-option/);
    assert.match(bad.stderr, new RegExp(`Run 'roam ${c} --help'`));
  });
});

function spaced(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join(" ");
}

test("roam id prints each method's id in hex and decimal with its signature bytes", {
  timeout: 30_000,
}, async () => {
  const [all, json, one, unknown] = await Promise.all([
    runCli(["id", API]),
    runCli(["id", API, "--json"]),
    runCli(["id", API, "Echo"]),
    runCli(["id", API, "Nope"]),
  ]);
  assert.equal(all.code, 0, all.stderr);
  const lines = all.stdout.trimEnd().split("\n");
  // Services come in the order of their export names (a module namespace's order).
  assert.deepEqual(lines.filter((l) => !l.startsWith(" ")), ["Echo", "Lab"]);
  for (const m of Object.values(Lab.methods)) {
    const hex = `0x${m.id.toString(16).padStart(16, "0")}`;
    const line = lines.find((l) => l.trimStart().startsWith(`${m.name} `));
    assert.ok(line !== undefined, `no line for ${m.name}`);
    assert.match(line, new RegExp(`${hex} +${m.id} +sig ${spaced(m.signature)}$`));
  }

  const objects = json.stdout.trimEnd().split("\n").map((l) => JSON.parse(l));
  const echo = Echo.methods.echo;
  assert.deepEqual(objects[0], {
    service: "Echo",
    method: "echo",
    id: `0x${echo.id.toString(16).padStart(16, "0")}`,
    decimal: echo.id.toString(),
    signature: spaced(echo.signature).replaceAll(" ", ""),
  });
  assert.equal(objects.length, Object.keys(Lab.methods).length + 1);

  assert.equal(one.code, 0);
  assert.equal(one.stdout.split("\n")[0], "Echo");
  assert.doesNotMatch(one.stdout, /Lab/);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /Unknown service "Nope": the module exports Echo, Lab/);
});

/** Runs `roam call <url> <method> --services API [...extra] -- <args>`. */
function call(url: string, method: string, args?: string, extra: string[] = [], stdin?: string) {
  return runCli([
    "call",
    url,
    method,
    "--services",
    API,
    ...extra,
    ...(args === undefined ? [] : ["--", args]),
  ], stdin === undefined ? {} : { stdin });
}

test(`roam call against a ${SELF} server: results as JSON, errors with codes, usage errors`, {
  timeout: 30_000,
}, async () => {
  // This server has no Lab: its calls are unknown methods.
  const server = await serve("tcp://127.0.0.1:0", { services: [echoImpl()], onError: () => {} });
  try {
    const [echo, unknown, badJson, badArg, badMethod, refused] = await Promise.all([
      call(server.url, "Echo.echo", '["héllo 🦀"]'),
      call(server.url, "Lab.add", "[1, 2]"),
      call(server.url, "Echo.echo", '["unterminated'),
      call(server.url, "Lab.add", "[1, 2147483648]"),
      call(server.url, "Lab.subtract", "[1, 2]"),
      call("tcp://127.0.0.1:1", "Echo.echo", '["x"]'),
    ]);
    assert.deepEqual([echo.code, echo.stdout], [0, '"héllo 🦀"\n'], echo.stderr);
    assert.equal(unknown.code, 1);
    assert.equal(JSON.parse(unknown.stdout).error.code, "unknown-method");
    assert.equal(badJson.code, 2);
    assert.match(badJson.stderr, /Invalid JSON arguments/);
    assert.equal(badArg.code, 2);
    assert.match(badArg.stderr, /Cannot call Lab\.add: .*args\[1\].*2147483648/);
    assert.equal(badMethod.code, 2);
    assert.match(badMethod.stderr, /Unknown method "subtract" of Lab/);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /Cannot connect to tcp:\/\/127\.0\.0\.1:1/);
    assert.equal(refused.stdout, "");
  } finally {
    await server.close();
  }
});

test(`roam call against a ${OTHER} server over TCP, WebSocket and a Unix socket`, {
  skip: skipOther,
  timeout: 60_000,
}, async () => {
  assert.ok(other.found);
  const sock = `/tmp/roam-cli-test-${process.pid}-${Date.now()}.sock`;
  const child = startFixture(OTHER, other.path, SERVER, [sock]);
  try {
    const urls = await child.nextLine(30_000, "the server's addresses") as {
      runtime: string;
      tcp: string;
      ws: string;
      unix: string;
    };
    assert.equal(urls.runtime, OTHER);
    const profile = {
      name: "ada",
      id: "18446744073709551614",
      avatar: "00ff",
      scores: { maths: 9.5 },
      flags: [[7, true]],
      role: { tag: "Admin", value: { level: 3 } },
    };
    const [runtime, big, zero, touched, countdown, sum, who, late, fails] = await Promise.all([
      call(urls.tcp, "Lab.runtime"),
      call(urls.ws, "Lab.divide", '["9223372036854775807", 2]'),
      call(urls.unix, "Lab.divide", "[1, 0]"),
      call(urls.tcp, "Lab.touch", JSON.stringify([profile])),
      call(urls.ws, "Lab.countdown", "[3]"),
      call(urls.unix, "Lab.sum", undefined, [], '1\n"9007199254740993"\n-4\n'),
      call(urls.tcp, "Lab.whoami", undefined, ["--metadata", "user=ada", "--metadata", "x=y"]),
      call(urls.tcp, "Lab.sleep", "[5000]", ["--timeout", "100"]),
      call(urls.ws, "Lab.fail"),
    ]);
    assert.deepEqual([runtime.code, runtime.stdout], [0, `"${OTHER}"\n`], runtime.stderr);
    assert.deepEqual([big.code, big.stdout], [0, '{"ok":"4611686018427387903"}\n'], big.stderr);
    assert.deepEqual([zero.code, zero.stdout], [1, '{"err":{"tag":"DivisionByZero"}}\n']);
    assert.equal(touched.code, 0, touched.stderr);
    assert.deepEqual(JSON.parse(touched.stdout), {
      ...profile,
      id: "18446744073709551615",
      email: "touched ada",
    });
    // A Tx argument: one line per item as it comes, then the result.
    assert.deepEqual([countdown.code, countdown.stdout], [0, '3\n2\n1\n"liftoff"\n']);
    // An Rx argument: the items come from stdin.
    assert.deepEqual([sum.code, sum.stdout], [0, '"9007199254740990"\n'], sum.stderr);
    assert.deepEqual([who.code, who.stdout], [0, '"ada"\n']);
    assert.equal(late.code, 1);
    assert.equal(JSON.parse(late.stdout).error.code, "timeout");
    assert.equal(fails.code, 1);
    assert.equal(JSON.parse(fails.stdout).error.code, "cancelled");
  } finally {
    const exit = await child.stop();
    assert.deepEqual(exit, { code: 0, killed: false });
  }
});

test(`roam ping reports the handshake and round trips (${SELF} and ${OTHER} servers)`, {
  timeout: 60_000,
}, async () => {
  const server = await serve("ws://127.0.0.1:0/", { services: [labImpl()] });
  const sock = `/tmp/roam-cli-ping-${process.pid}-${Date.now()}.sock`;
  const child = skipOther === false && other.found
    ? startFixture(OTHER, other.path, SERVER, [sock])
    : undefined;
  try {
    const remote = child === undefined
      ? undefined
      : (await child.nextLine(30_000, "the server's addresses") as { tcp: string }).tcp;
    const [human, json] = await Promise.all([
      runCli(["ping", server.url, "--count", "3", "--interval", "5"]),
      runCli(["ping", remote ?? server.url, "--count", "4", "--interval", "0", "--json"]),
    ]);
    assert.equal(human.code, 0, human.stderr);
    const lines = human.stdout.trimEnd().split("\n");
    assert.match(
      lines[0]!,
      /^connected to ws:\/\/.*: transport \d+\.\d{3} ms, handshake \d+\.\d{3} ms$/,
    );
    assert.deepEqual(lines.slice(1, 4).map((l) => l.replace(/\d+\.\d{3}/, "T")), [
      "pong 1: T ms",
      "pong 2: T ms",
      "pong 3: T ms",
    ]);
    assert.match(
      lines[4]!,
      /^3 pongs: min \d+\.\d{3} ms, median \d+\.\d{3} ms, max \d+\.\d{3} ms$/,
    );
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout);
    assert.equal(report.rttMs.length, 4);
    const sorted = [...report.rttMs].sort((a: number, b: number) => a - b);
    assert.deepEqual([report.minMs, report.maxMs], [sorted[0], sorted[3]]);
    assert.ok(Math.abs(report.medianMs - (sorted[1] + sorted[2]) / 2) <= 0.001);
    assert.ok(report.handshakeMs > 0 && report.transportMs > 0);
  } finally {
    await child?.stop();
    await server.close();
  }
});
