/**
 * `roam spy`, run as a child process of this runtime between real clients
 * and servers: a client in this process and a server in a child of the
 * other runtime (over TCP with the human output, over WebSocket with
 * `--json`), Unix sockets, raw clients that break the protocol, send a
 * huge length prefix or vanish, and the usage errors.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { channel, connect, SENSITIVE, serve } from "../../mod.ts";
import { listenTcpStream } from "../../transports/tcp.ts";
import {
  API,
  type CliProcess,
  concat,
  delay,
  frame,
  HELLO,
  RawSocket,
  residentBytes,
  runCli,
  startCli,
  targetOf,
  u32le,
} from "../_helpers/mod.ts";
import { Lab, labImpl } from "../fixtures/cli_api.ts";
import { findRuntime, OTHER, SELF, startFixture } from "../fixtures/runtimes.ts";

const SERVER = fileURLToPath(new URL("../fixtures/cli_server.ts", import.meta.url));
const other = await findRuntime(OTHER);
const skipOther = !other.found && !other.misconfigured
  ? `the other runtime is not available: ${other.reason}`
  : false;
if (skipOther !== false) {
  console.log(`SKIPPED ${OTHER} server cases of the spy tests: ${skipOther}`);
}

const SECRET = "s3cret-token-value";

/** Starts a spy and returns it with the address it listens on. */
async function startSpy(args: string[]): Promise<{ spy: CliProcess; url: string }> {
  const spy = startCli(["spy", ...args]);
  const m = await spy.waitFor("stderr", /listening on (\S+), forwarding/, 30_000);
  return { spy, url: m[1]! };
}

/** Stops a spy with SIGTERM; it must exit with 0. */
async function stopSpy(spy: CliProcess): Promise<void> {
  spy.kill("SIGTERM");
  assert.equal(await spy.exited, 0, spy.stderr());
}

/** Makes the calls every spy test makes through the spy, checking their results. */
async function exercise(url: string): Promise<void> {
  const session = await connect(url);
  try {
    const lab = session.client(Lab);
    assert.equal(await lab.add(2, 3), 5);
    assert.deepEqual(await lab.divide(1n, 0n), { ok: false, error: { tag: "DivisionByZero" } });
    const [tx, rx] = channel<number>();
    const result = lab.countdown(3, tx);
    const items: number[] = [];
    for await (const n of rx) items.push(n);
    assert.deepEqual([items, await result], [[3, 2, 1], "liftoff"]);
    const [tx2, rx2] = channel<bigint>();
    const sum = lab.sum(rx2);
    await tx2.send(40n);
    await tx2.send(2n);
    await tx2.close();
    assert.equal(await sum, 42n);
    const who = await lab.whoami({
      metadata: [
        { key: "user", value: "ada", flags: 0 },
        { key: "token", value: SECRET, flags: SENSITIVE },
      ],
    });
    assert.equal(who, "ada");
    const bytes = Uint8Array.from({ length: 1024 }, (_, i) => i & 0xff);
    assert.deepEqual(await lab.echoBytes(bytes), bytes);
  } finally {
    await session.close();
  }
}

test(
  `spy between a ${SELF} client and a ${OTHER} server: every message both ways, calls unchanged`,
  {
    skip: skipOther,
    timeout: 60_000,
  },
  async (t) => {
    assert.ok(other.found);
    const sock = `/tmp/roam-spy-test-${process.pid}-${Date.now()}.sock`;
    const server = startFixture(OTHER, other.path, SERVER, [sock]);
    const spies: CliProcess[] = [];
    try {
      const urls = await server.nextLine(30_000, "the server's addresses") as {
        tcp: string;
        ws: string;
      };
      const [human, json] = await Promise.all([
        startSpy(["--listen", "tcp://127.0.0.1:0", "--to", urls.tcp, "--services", API]),
        startSpy([
          "--listen",
          "ws://127.0.0.1:0/spy",
          "--to",
          urls.ws,
          "--services",
          API,
          "--json",
        ]),
      ]);
      spies.push(human.spy, json.spy);
      await Promise.all([exercise(human.url), exercise(json.url)]);
      await Promise.all([
        human.spy.waitFor("stdout", / closed +client ended; server ended/, 10_000),
        json.spy.waitFor("stdout", /"kind":"closed"/, 10_000),
      ]);

      await t.test("over TCP, one aligned line per message", () => {
        const out = human.spy.stdout();
        const line = (pattern: RegExp): string => {
          const found = out.split("\n").find((l) => pattern.test(l));
          assert.ok(found !== undefined, `no line matches ${pattern}:\n${out}`);
          return found;
        };
        const time = String.raw`\d\d:\d\d:\d\d\.\d{3}`;
        line(new RegExp(`^${time} #1  · +open +client connected, relaying to tcp://`));
        line(new RegExp(`^${time} #1  → c0  hello +v7 odd, max 64 in flight$`));
        line(new RegExp(`^${time} #1  ← c0  hello-yourself +even, max 64 in flight$`));
        line(/→ c0 {2}call {11}r1 {5}Lab\.add\(2, 3\)$/);
        line(/← c0 {2}response {7}r1 {5}Lab\.add → 5 \(\d+\.?\d* ms\)$/);
        line(/← c0 {2}response +r\d+ +Lab\.divide → Err\(DivisionByZero\) /);
        const call = line(/→ c0 {2}call +r\d+ +Lab\.countdown\(3, tx#(\d+)\)$/);
        const ch = call.match(/tx#(\d+)/)![1];
        for (const n of [3, 2, 1]) {
          line(new RegExp(`← c0  item +ch${ch} +Lab\\.countdown tx: ${n}$`));
        }
        line(new RegExp(`← c0  close +ch${ch} +Lab\\.countdown tx$`));
        line(/← c0 {2}response +r\d+ +Lab\.countdown → "liftoff"/);
        const sum = line(/→ c0 {2}call +r\d+ +Lab\.sum\(rx#(\d+)\)$/).match(/rx#(\d+)/)![1];
        line(new RegExp(`→ c0  item +ch${sum} +Lab\\.sum rx: 40$`));
        line(new RegExp(`→ c0  close +ch${sum} +Lab\\.sum rx$`));
        line(/→ c0 {2}call +r\d+ +Lab\.whoami\(\) \[user="ada", token=<redacted>\]$/);
        line(
          /→ c0 {2}call +r\d+ +Lab\.echoBytes\(<000102030405060708090a0b0c0d0e0f1011121314151617… 1024 bytes>\)$/,
        );
        assert.ok(!out.includes(SECRET), "the SENSITIVE value is printed");
        // Columns line up: the kind always starts at the same place.
        for (const l of out.trimEnd().split("\n")) {
          assert.match(l, /^.{12} #1 {2}[·→←] (c0 | {3}) \S/);
        }
      });

      await t.test("over WebSocket with --json, one object a line", () => {
        const out = json.spy.stdout();
        assert.ok(!out.includes(SECRET), "the SENSITIVE value is printed");
        const events = out.trimEnd().split("\n").map((l) => JSON.parse(l));
        for (const e of events) {
          assert.equal(e.link, 1);
          assert.ok(!Number.isNaN(Date.parse(e.time)));
        }
        assert.equal(events[0].kind, "open");
        assert.equal(events.at(-1).kind, "closed");
        const find = (kind: string, f: (e: Record<string, unknown>) => boolean = () => true) => {
          const found = events.find((e) => e.kind === kind && f(e));
          assert.ok(found !== undefined, `no ${kind} event`);
          return found;
        };
        const hello = find("hello");
        assert.deepEqual(
          { from: hello.from, conn: hello.conn, version: hello.version, parity: hello.parity },
          { from: "client", conn: 0, version: 7, parity: "odd" },
        );
        const add = find("call", (e) => e.method === "Lab.add");
        assert.deepEqual(add.args, [2, 3]);
        assert.equal(add.methodId, `0x${Lab.methods.add.id.toString(16).padStart(16, "0")}`);
        assert.equal(add.size, 17);
        const added = find("response", (e) => e.request === add.request);
        assert.deepEqual([added.from, added.method, added.result], ["server", "Lab.add", {
          ok: 5,
        }]);
        assert.deepEqual(find("response", (e) => e.method === "Lab.divide").result, {
          err: { tag: "DivisionByZero" },
        });
        const countdown = find("call", (e) => e.method === "Lab.countdown");
        assert.deepEqual(countdown.args, [3, { tx: countdown.channels[0] }]);
        const items = events.filter((e) =>
          e.kind === "item" && e.channel === countdown.channels[0]
        );
        assert.deepEqual(items.map((e) => [e.from, e.method, e.item]), [
          ["server", "Lab.countdown", 3],
          ["server", "Lab.countdown", 2],
          ["server", "Lab.countdown", 1],
        ]);
        const sum = find("call", (e) => e.method === "Lab.sum");
        const sent = events.filter((e) => e.kind === "item" && e.channel === sum.channels[0]);
        assert.deepEqual(sent.map((e) => [e.from, e.item]), [["client", "40"], ["client", "2"]]);
        assert.deepEqual(find("response", (e) => e.method === "Lab.sum").result, { ok: "42" });
        assert.deepEqual(find("call", (e) => e.method === "Lab.whoami").metadata, [
          { key: "user", value: "ada" },
          { key: "token", value: "<redacted>", flags: SENSITIVE },
        ]);
        const echo = find("call", (e) => e.method === "Lab.echoBytes");
        assert.equal(
          (echo.args as string[])[0],
          Array.from({ length: 1024 }, (_, i) => (i & 0xff).toString(16).padStart(2, "0")).join(""),
        );
      });
    } finally {
      await Promise.all(spies.map(stopSpy));
      assert.deepEqual(await server.stop(), { code: 0, killed: false });
    }
  },
);

test("spy relays Unix sockets and shows hex without a services module", {
  timeout: 30_000,
}, async () => {
  const base = `/tmp/roam-spy-unix-${process.pid}-${Date.now()}`;
  const server = await serve(`unix:${base}-server.sock`, { services: [labImpl()] });
  const { spy, url } = await startSpy(["--listen", `unix:${base}-spy.sock`, "--to", server.url]);
  try {
    assert.equal(url, `unix:${base}-spy.sock`);
    const session = await connect(url);
    assert.equal(await session.client(Lab).add(2, 3), 5);
    await session.close();
    await spy.waitFor("stdout", / closed /, 10_000);
    const out = spy.stdout();
    const id = `0x${Lab.methods.add.id.toString(16).padStart(16, "0")}`;
    assert.match(out, new RegExp(`→ c0  call +r1 +${id} <0406>$`, "m"));
    assert.match(out, /← c0 {2}response +r1 +0x[0-9a-f]{16} → ok <0a> \(/);
  } finally {
    await stopSpy(spy);
    await server.close();
  }
});

test("spy passes a protocol violation and a huge length prefix on byte for byte, memory bounded", {
  timeout: 60_000,
}, async () => {
  const upstream = await listenTcpStream({ port: 0 });
  const port = (upstream.address as { port: number }).port;
  const { spy, url } = await startSpy([
    "--listen",
    "tcp://127.0.0.1:0",
    "--to",
    `tcp://127.0.0.1:${port}`,
  ]);
  const TOTAL = 96 * 1024 * 1024;
  const BLOCK = 64 * 1024;
  const HUGE = 0xffff_fff0;
  // A Hello, a message with an unknown variant (99), then a frame of almost 4 GiB.
  const head = concat(frame(HELLO), frame(Uint8Array.of(0, 99, 1, 2)), u32le(HUGE));
  const client = await RawSocket.connect(targetOf(url));
  const server = (await upstream.accept())!;
  try {
    client.write(head);
    await spy.waitFor("stdout", /oversized/, 10_000);
    const before = await residentBytes(spy.pid);
    // A flood the server does not read yet: the spy must stop reading too, not buffer it.
    // Measured: it grows by about 20-30 MiB (read buffers, queues, garbage) whatever the
    // volume; a spy that buffered the flood would grow by most of its 96 MiB.
    for (let i = 0; i < TOTAL / BLOCK; i++) client.write(new Uint8Array(BLOCK).fill(i & 0xff));
    client.end();
    let peak = before ?? 0;
    for (let i = 0; i < 10; i++) {
      await delay(50);
      peak = Math.max(peak, (await residentBytes(spy.pid)) ?? 0);
    }
    if (before !== undefined) {
      assert.ok(peak - before < 48 * 1024 * 1024, `the spy grew by ${(peak - before) >> 20} MiB`);
    }
    // Now the server reads, and every byte arrives as it was sent.
    const reader = server.readable.getReader();
    let got = 0;
    let seenHead: Uint8Array = new Uint8Array(0);
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      let i = 0;
      if (got < head.length) {
        i = Math.min(head.length - got, value.length);
        seenHead = concat(seenHead, value.subarray(0, i));
      }
      for (; i < value.length; i++) {
        const at = got + i - head.length;
        if (value[i] !== (Math.floor(at / BLOCK) & 0xff)) assert.fail(`byte ${got + i} changed`);
      }
      got += value.length;
    }
    assert.equal(got, head.length + TOTAL);
    assert.deepEqual(seenHead, head);
    server.close(); // as a roam server would at the end of the stream
    await spy.waitFor("stdout", / closed /, 10_000);
    const out = spy.stdout();
    assert.match(out, /→ c0 {2}hello /);
    assert.match(out, /→ {5}violation {6,}Cannot decode .*: <00630102>$/m);
    assert.match(
      out,
      new RegExp(`→ {5}oversized {6,}frame of ${HUGE} bytes passed on without decoding`),
    );
    assert.match(out, new RegExp(`truncated .*ended inside a frame: ${TOTAL} of ${HUGE} bytes`));
  } finally {
    server.close();
    await client.destroy();
    await stopSpy(spy);
    await upstream.close();
  }
});

test("spy: each client has its own upstream, and one that vanishes ends only its own link", {
  timeout: 30_000,
}, async () => {
  const server = await serve("tcp://127.0.0.1:0", { services: [labImpl()], onError: () => {} });
  const { spy, url } = await startSpy([
    "--listen",
    "tcp://127.0.0.1:0",
    "--to",
    server.url,
    "--json",
  ]);
  try {
    const session = await connect(url);
    const lab = session.client(Lab);
    assert.equal(await lab.add(1, 1), 2);
    const rude = await RawSocket.connect(targetOf(url));
    rude.write(concat(frame(HELLO), u32le(100), Uint8Array.of(1, 2, 3)));
    await spy.waitFor("stdout", /"link":2,"from":"client","conn":0,"kind":"hello"/, 10_000);
    await rude.destroy();
    await spy.waitFor("stdout", /"link":2,"kind":"closed"/, 10_000);
    assert.equal(await lab.add(2, 2), 4);
    await session.close();
    await spy.waitFor("stdout", /"link":1,"kind":"closed"/, 10_000);
    const events = spy.stdout().trimEnd().split("\n").map((l) => JSON.parse(l));
    const truncated = events.find((e) => e.kind === "truncated");
    assert.deepEqual(
      {
        link: truncated.link,
        from: truncated.from,
        expected: truncated.expected,
        got: truncated.got,
      },
      { link: 2, from: "client", expected: 100, got: 3 },
    );
    const link1 = events.filter((e) => e.link === 1).map((e) => e.kind);
    assert.deepEqual(link1, [
      "open",
      "hello",
      "hello-yourself",
      "call",
      "response",
      "call",
      "response",
      "closed",
    ]);
  } finally {
    await stopSpy(spy);
    await server.close();
  }
});

test("spy: usage errors exit with 2, a port in use with 1", { timeout: 30_000 }, async () => {
  const busy = await listenTcpStream({ port: 0 });
  const port = (busy.address as { port: number }).port;
  try {
    const [wss, mixed, missing, inUse] = await Promise.all([
      runCli(["spy", "--listen", "wss://127.0.0.1:0/", "--to", "ws://127.0.0.1:1/"]),
      runCli(["spy", "--listen", "tcp://127.0.0.1:0", "--to", "ws://127.0.0.1:1/"]),
      runCli(["spy", "--listen", "tcp://127.0.0.1:0"]),
      runCli(["spy", "--listen", `tcp://127.0.0.1:${port}`, "--to", "tcp://127.0.0.1:1"]),
    ]);
    assert.deepEqual([wss.code, mixed.code, missing.code, inUse.code], [2, 2, 2, 1]);
    assert.match(wss.stderr, /wss:\/\/ is for connecting only/);
    assert.match(mixed.stderr, /both be WebSocket addresses or both be stream addresses/);
    assert.match(missing.stderr, /Missing --to/);
    assert.match(inUse.stderr, /Cannot listen on tcp:\/\/127\.0\.0\.1:\d+/);
  } finally {
    await busy.close();
  }
});
