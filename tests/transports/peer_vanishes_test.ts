/**
 * No peer can crash a server: clients that vanish mid-write, mid-read,
 * mid-handshake and mid-stream, against servers made every way a user
 * makes one (TCP, Unix socket and WebSocket; `listen*` + `accept` and
 * `serve(url)`). The servers run in a child process of the runtime running
 * the test, because an unhandled rejection ends a Deno process: after the
 * attacks the child must still answer a well-behaved client, have closed
 * every vanished peer's session, and exit with code 0.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";
import net from "node:net";
import { tmpdir } from "node:os";
import { ClosedError, connect, initiate, serve } from "../../mod.ts";
import { encodeMessage } from "../../wire.ts";
import { STREAM_ITEM, Vanish, vanishImpl } from "../fixtures/vanish_service.ts";
import { spawnLink } from "../../transports/stdio.ts";
import {
  type Child,
  findRuntime,
  scriptCommand,
  SELF,
  selfExecPath,
  startFixture,
} from "../fixtures/runtimes.ts";
import {
  callBytes,
  concat,
  delay,
  frame,
  HELLO,
  RawSocket,
  targetOf,
  u32Args,
  within,
  wsFrame,
} from "../_helpers/mod.ts";

const SERVER = fileURLToPath(new URL("../fixtures/vanish_server.ts", import.meta.url));
const STDIO = fileURLToPath(new URL("../fixtures/vanish_stdio.ts", import.meta.url));

/** The servers the fixture runs, by how they were made. */
const SERVERS = [
  "listenTcp + accept",
  "listenUnix + accept",
  "listenWebSocket + accept",
  "serve(tcp://)",
  "serve(unix:)",
  "serve(ws://)",
] as const;

/** What the vanishing writers ask for: more than any socket buffer holds. */
const BIG = 8 * 1024 * 1024;

let child: Child | undefined;
let urls: Promise<Record<string, string>> | undefined;

/** Starts the fixture once, for all the tests of this file. */
function servers(): Promise<Record<string, string>> {
  return urls ??= (async () => {
    const self = await findRuntime(SELF);
    assert.ok(self.found);
    child = startFixture(SELF, self.path, SERVER, []);
    const hello = await child.nextLine(30_000, "the servers' addresses") as {
      runtime: string;
      servers: Record<string, string>;
    };
    assert.equal(hello.runtime, SELF);
    return hello.servers;
  })();
}

// ------------------------------------------------------------------ the vanishing peers

/** A raw peer's way in: framed bytes over a socket, or WebSocket messages. */
interface Wire {
  connect(): Promise<RawSocket>;
  /** Sends one roam message as this wire frames it. */
  message(payload: Uint8Array): Uint8Array;
  /** Reads the next roam message's type. */
  read(s: RawSocket, ms: number): Promise<string>;
}

function wireFor(url: string): Wire {
  const target = targetOf(url);
  if (url.startsWith("ws:")) {
    const path = new URL(url).pathname;
    return {
      async connect() {
        const s = await RawSocket.connect(target);
        await s.upgrade(path);
        return s;
      },
      message: (payload) => wsFrame(payload),
      read: async (s, ms) => (await s.readWsRoam(ms)).payload.type,
    };
  }
  return {
    connect: () => RawSocket.connect(target),
    message: frame,
    read: async (s, ms) => (await s.readMessage(ms)).payload.type,
  };
}

/** A `Hello` and a call for `big(8 MiB)`, each framed by `message`. */
function bigCall(message: (payload: Uint8Array) => Uint8Array): Uint8Array {
  return concat(message(HELLO), message(callBytes(1, Vanish.methods.big.id, u32Args(BIG))));
}

/** Each attack connects, misbehaves and vanishes. */
const ATTACKS: Record<string, (wire: Wire, url: string) => Promise<void>> = {
  "mid-write: reads nothing, then closes with unread data (a reset)": async (wire) => {
    const s = await wire.connect();
    s.pause();
    s.write(bigCall(wire.message));
    await delay(300);
    await s.destroy();
  },
  "mid-write: reads nothing, ends its side, then closes": async (wire) => {
    const s = await wire.connect();
    s.pause();
    s.write(bigCall(wire.message));
    await delay(300);
    s.end();
    await delay(100);
    await s.destroy();
  },
  "mid-read: half a frame, then a reset": async (wire) => {
    const s = await wire.connect();
    s.write(wire.message(HELLO));
    assert.equal(await wire.read(s, 3000), "helloYourself");
    s.write(wire.message(new Uint8Array(100)).subarray(0, 12));
    await delay(20);
    await s.destroy();
  },
  "mid-read: half a frame, then its end": async (wire) => {
    const s = await wire.connect();
    s.write(wire.message(HELLO));
    assert.equal(await wire.read(s, 3000), "helloYourself");
    s.write(wire.message(new Uint8Array(100)).subarray(0, 12));
    s.end();
    await s.waitFor(() => s.ended, 3000, "the server to end the connection");
    await s.destroy();
  },
  "mid-handshake: connects and closes": async (wire, url) => {
    const s = await RawSocket.connect(targetOf(url)); // for WebSocket: before the upgrade
    await s.destroy();
    const t = await wire.connect(); // for WebSocket: just after the upgrade
    await t.destroy();
  },
  "mid-handshake: half an HTTP request or half a Hello, then gone": async (wire, url) => {
    const s = await RawSocket.connect(targetOf(url));
    s.write(new TextEncoder().encode("GET /roam HTTP/1.1\r\nHost: 127.0.0.1\r\nUpg"));
    await delay(20);
    await s.destroy();
    const t = await wire.connect();
    t.write(wire.message(HELLO).subarray(0, 3));
    await delay(20);
    await t.destroy();
  },
  "mid-handshake: a Hello, then gone before the answer": async (wire) => {
    const s = await wire.connect();
    s.write(wire.message(HELLO));
    await s.destroy();
  },
  "mid-stream: a channel streaming, then a reset": async (wire) => {
    const s = await wire.connect();
    s.write(wire.message(HELLO));
    assert.equal(await wire.read(s, 3000), "helloYourself");
    // stream(1000, tx) with the Tx on channel 1: the server sends up to its credit.
    s.write(wire.message(callBytes(1, Vanish.methods.stream.id, u32Args(1000), [1])));
    await s.waitFor(() => s.total >= 2 * STREAM_ITEM, 3000, "two items");
    s.pause();
    await delay(50);
    await s.destroy();
  },
};

// ------------------------------------------------------------------ tests

for (const name of SERVERS) {
  test(
    `a ${SELF} server made with ${name} survives peers that vanish mid-write, mid-read, mid-handshake and mid-stream`,
    {
      timeout: 40_000,
    },
    async (t) => {
      const url = (await servers())[name];
      assert.ok(url !== undefined, `the fixture serves ${name}`);
      const wire = wireFor(url);
      // Each attack twice, all at once.
      const attacks = Object.entries(ATTACKS).flatMap(([what, attack]) => [
        { what, run: attack(wire, url) },
        { what, run: attack(wire, url) },
      ]);
      const outcomes = await Promise.allSettled(attacks.map((a) => a.run));
      outcomes.forEach((o, i) => {
        if (o.status === "rejected") {
          assert.fail(`${attacks[i]!.what}: the attack itself failed: ${o.reason}`);
        }
      });
      await t.test("then the server still serves a well-behaved client", async () => {
        const session = await within(connect(url), 5000, "a well-behaved client to connect");
        try {
          const client = session.client(Vanish);
          assert.equal(await within(client.add(40, 2), 3000, "add()"), 42);
          // The vanished peers' sessions are all gone: only this one is left.
          const deadline = performance.now() + 5000;
          let open = await client.sessions();
          while (open !== 1 && performance.now() < deadline) {
            await delay(20);
            open = await client.sessions();
          }
          assert.equal(open, 1, "sessions open in the server besides this client's");
        } finally {
          await session.close();
        }
      });
    },
  );
}

const fdLimits = process.platform === "linux" && existsSync("/proc/self/fd") &&
    spawnSync("prlimit", ["--version"]).status === 0
  ? false
  : "needs Linux's /proc and prlimit";

test(
  `a ${SELF} server made with listenTcp + accept outlives peers that use up its file descriptors`,
  {
    skip: fdLimits,
    timeout: 40_000,
  },
  async () => {
    const self = await findRuntime(SELF);
    assert.ok(self.found);
    const starved = startFixture(SELF, self.path, SERVER, []);
    let exit: { code: number | null; killed: boolean } | undefined;
    try {
      const { servers } = await starved.nextLine(30_000, "the servers' addresses") as {
        servers: Record<string, string>;
      };
      // Room for 16 more descriptors: the flood below takes them all.
      const limit = readdirSync(`/proc/${starved.pid}/fd`).length + 16;
      const set = spawnSync("prlimit", [`--pid=${starved.pid}`, `--nofile=${limit}:${limit}`]);
      assert.equal(set.status, 0, `prlimit failed: ${set.stderr}`);
      {
        const name = "listenTcp + accept";
        const url = servers[name]!;
        const flood = await Promise.all(
          Array.from({ length: 48 }, () => RawSocket.connect(targetOf(url))),
        );
        await delay(200);
        await Promise.all(flood.map((s) => s.destroy()));
        const session = await within(connect(url), 5000, `a client of ${name} to connect`);
        try {
          const client = session.client(Vanish);
          assert.equal(await within(client.add(1, 2), 3000, "add()"), 3);
          const deadline = performance.now() + 5000;
          while (await client.sessions() !== 1 && performance.now() < deadline) await delay(20);
          assert.equal(await client.sessions(), 1, "sessions open besides this client's");
        } finally {
          await session.close();
        }
      }
    } finally {
      exit = await starved.stop(5000);
    }
    assert.deepEqual(exit, { code: 0, killed: false });
  },
);

test(`the ${SELF} server process exits with code 0 after all the vanishing peers`, {
  timeout: 40_000,
}, async () => {
  await servers();
  const exit = await child!.stop(5000);
  assert.deepEqual(exit, { code: 0, killed: false });
});

test("a serve() server whose onError and onSession hooks throw still serves, and closes cleanly", {
  timeout: 10_000,
}, async () => {
  let hooks = 0;
  const server = await serve("tcp://127.0.0.1:0", {
    services: [vanishImpl(() => 0)],
    onError: () => {
      hooks++;
      throw new Error("a broken onError hook");
    },
    onSession: () => {
      hooks++;
      throw new Error("a broken onSession hook");
    },
  });
  try {
    // A peer that vanishes mid-handshake makes the server report a failed handshake.
    const s = await RawSocket.connect(targetOf(server.url));
    s.write(frame(HELLO).subarray(0, 3));
    await delay(20);
    await s.destroy();
    for (let i = 0; i < 2; i++) {
      const session = await within(connect(server.url), 3000, "a client to connect");
      assert.equal(await session.client(Vanish).add(i, 1), i + 1);
      await session.close();
    }
    await within(
      (async () => {
        while (hooks < 3) await delay(5);
      })(),
      3000,
      "the hooks to run",
    );
  } finally {
    await within(server.close(), 3000, "server.close()");
  }
});

// ------------------------------------------------------------------ clients

const HELLO_YOURSELF = encodeMessage({
  connectionId: 0,
  payload: {
    type: "helloYourself",
    settings: { parity: "even", maxConcurrentRequests: 64 },
    metadata: [],
  },
}).slice();

/** The `Sec-WebSocket-Accept` answer to a `Sec-WebSocket-Key`. */
async function acceptKey(key: string): Promise<string> {
  const guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  const digest = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(key + guid));
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}

/**
 * A server that completes the handshake (after a WebSocket upgrade for
 * `ws`), then reads nothing more and closes 300 ms later: a server that
 * vanishes while its client writes.
 */
async function vanishingServer(
  kind: "tcp" | "unix" | "ws",
): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    let buf: Uint8Array = new Uint8Array(0);
    let upgraded = kind !== "ws";
    const onData = async (d: Uint8Array): Promise<void> => {
      buf = concat(buf, d);
      if (!upgraded) {
        const head = new TextDecoder().decode(buf);
        const end = head.indexOf("\r\n\r\n");
        if (end < 0) return;
        upgraded = true;
        buf = buf.slice(end + 4);
        const key = /sec-websocket-key: *(\S+)/i.exec(head)?.[1] ?? "";
        socket.write(
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            `Sec-WebSocket-Accept: ${await acceptKey(key)}\r\n\r\n`,
        );
      }
      if (buf.length < 8) return; // the client's Hello, framed either way
      socket.off("data", onData);
      socket.pause();
      const n = HELLO_YOURSELF.length;
      socket.write(
        kind === "ws" ? concat(Uint8Array.of(0x82, n), HELLO_YOURSELF) : frame(HELLO_YOURSELF),
      );
      setTimeout(() => socket.destroy(), 300);
    };
    socket.on("data", onData);
  });
  const path = `${tmpdir()}/roam-vanishing-${crypto.randomUUID().slice(0, 8)}.sock`;
  await new Promise<void>((resolve) => {
    if (kind === "unix") srv.listen(path, () => resolve());
    else srv.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (srv.address() as { port: number }).port;
  return {
    url: kind === "unix"
      ? `unix:${path}`
      : kind === "ws"
      ? `ws://127.0.0.1:${port}/roam`
      : `tcp://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        srv.close(() => resolve());
      }),
  };
}

for (const kind of ["tcp", "unix", "ws"] as const) {
  test(
    `a ${SELF} ${kind} client whose server vanishes while a call's 8 MiB are written fails the call with a ClosedError`,
    {
      timeout: 15_000,
    },
    async () => {
      const server = await vanishingServer(kind);
      try {
        const session = await within(connect(server.url), 3000, "the handshake");
        const error = await within(
          session.client(Vanish).sink(new Uint8Array(BIG)).then(
            () => assert.fail("the call cannot succeed"),
            (e: unknown) => e,
          ),
          5000,
          "the call to fail",
        );
        assert.ok(error instanceof ClosedError, `a ClosedError, got ${error}`);
        assert.ok(
          (await within(session.closed, 3000, "the session to end")) instanceof ClosedError,
        );
        await session.close();
      } finally {
        await server.close();
      }
    },
  );
}

// ------------------------------------------------------------------ stdio

/** A stdio child run by hand: its pipes, and how it ended. */
function stdioChild(): {
  write(bytes: Uint8Array): void;
  /** Bytes the child wrote to stdout so far (unless `stopReading` was called). */
  readonly received: () => number;
  stopReading(): void;
  /** Closes both pipes from this side (stdout unread: the child's writes then fail). */
  vanish(): void;
  endInput(): void;
  exit: Promise<{ code: number | null; stderr: string }>;
} {
  const [cmd, args] = scriptCommand(SELF, selfExecPath(), STDIO, ["serve"]);
  const proc = spawn(cmd, args, {
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  let received = 0;
  let stderr = "";
  proc.stdout!.on("data", (d: Uint8Array) => (received += d.length));
  proc.stderr!.setEncoding("utf8");
  proc.stderr!.on("data", (d: string) => (stderr += d));
  proc.stdin!.on("error", () => {});
  proc.stdout!.on("error", () => {});
  const exit = new Promise<{ code: number | null; stderr: string }>((resolve) => {
    proc.on("close", (code) => resolve({ code, stderr }));
  });
  // A child that never exits fails the test rather than hanging it.
  const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
  const guarded = exit.finally(() => clearTimeout(timer));
  return {
    write: (bytes) => void proc.stdin!.write(bytes, () => {}),
    received: () => received,
    stopReading: () => proc.stdout!.pause(),
    vanish() {
      proc.stdout!.destroy();
      proc.stdin!.destroy();
    },
    endInput: () => void proc.stdin!.end(),
    exit: guarded,
  };
}

const STDIO_ATTACKS: Record<string, (c: ReturnType<typeof stdioChild>) => Promise<void>> = {
  "mid-write": async (c) => {
    c.stopReading();
    c.write(bigCall(frame));
    await delay(300);
    c.vanish();
  },
  "mid-read": async (c) => {
    c.write(frame(HELLO));
    await delay(100);
    c.write(frame(new Uint8Array(100)).subarray(0, 12));
    c.endInput();
  },
  "mid-handshake": async (c) => {
    c.write(frame(HELLO).subarray(0, 3));
    await delay(50);
    c.vanish();
  },
  "mid-stream": async (c) => {
    c.write(frame(HELLO));
    c.write(frame(callBytes(1, Vanish.methods.stream.id, u32Args(1000), [1])));
    const deadline = performance.now() + 3000;
    while (c.received() < 2 * STREAM_ITEM && performance.now() < deadline) await delay(5);
    c.stopReading();
    await delay(50);
    c.vanish();
  },
};

test(
  `a ${SELF} stdio server whose parent vanishes mid-write, mid-read, mid-handshake or mid-stream exits with code 0`,
  {
    timeout: 30_000,
  },
  async () => {
    const runs = Object.entries(STDIO_ATTACKS).map(async ([what, attack]) => {
      const c = stdioChild();
      await attack(c);
      return { what, ...await c.exit };
    });
    for (const r of await Promise.all(runs)) {
      assert.equal(r.code, 0, `${r.what}: the child exited with ${r.code}:\n${r.stderr}`);
    }
  },
);

test(
  `a ${SELF} parent whose stdio child vanishes while a call's 8 MiB are written fails the call with a ClosedError`,
  {
    timeout: 30_000,
  },
  async () => {
    const [cmd, args] = scriptCommand(SELF, selfExecPath(), STDIO, ["vanish"]);
    await using child = await spawnLink(cmd, args, { stderr: "null" });
    const session = await initiate(child);
    const error = await within(
      session.client(Vanish).sink(new Uint8Array(BIG)).then(
        () => assert.fail("the call cannot succeed"),
        (e: unknown) => e,
      ),
      5000,
      "the call to fail",
    );
    assert.ok(error instanceof ClosedError, `a ClosedError, got ${error}`);
    assert.equal((await session.closed) instanceof ClosedError, true);
    assert.equal((await child.status).code, 0);
  },
);
