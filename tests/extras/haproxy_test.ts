/**
 * Behind a real load balancer: HAProxy in TCP mode (a configuration this
 * test writes, loopback ports only) in front of two backend processes.
 * A reconnecting client keeps working when the backend it uses is killed;
 * with source-affine balancing a stable session resumes through HAProxy;
 * a resume that lands on the other backend is rejected, and the
 * reconnecting client starts a fresh session there. Needs the `haproxy`
 * binary (Debian's package; `.ci/run` installs it when it runs as root):
 * without it the tests are skipped, visibly.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import {
  ClosedError,
  connect,
  reconnect,
  type ReconnectEvent,
  type ReconnectingClient,
  type ReconnectState,
} from "../../mod.ts";
import { CutProxy, delay, within } from "../_helpers/mod.ts";
import { Backend } from "../fixtures/backend_server.ts";
import { type Child, SELF, selfExecPath, startFixture } from "../fixtures/runtimes.ts";

const BACKEND = fileURLToPath(new URL("../fixtures/backend_server.ts", import.meta.url));
const TEST_MS = 60_000;

/** The haproxy binary, or undefined. */
function findHaproxy(): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/usr/local/sbin"];
  for (const dir of dirs) {
    if (dir === "") continue;
    const file = join(dir, "haproxy");
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

const HAPROXY = findHaproxy();
const skip = HAPROXY === undefined
  ? "haproxy is not installed (Debian: apt-get install haproxy; .ci/run installs it as root)"
  : false;
if (skip !== false) console.log(`SKIPPED the HAProxy tests on ${SELF}: ${skip}`);

/** A free port on 127.0.0.1 (closed again at once). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts TCP connections on `port`. */
async function listening(port: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect({ host: "127.0.0.1", port });
      c.once("connect", () => {
        c.destroy();
        resolve(true);
      });
      c.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`Nothing listens on port ${port} after ${ms} ms`);
    await delay(20);
  }
}

/** A backend process: its name, its port, and a way to kill it. */
interface BackendProcess {
  readonly name: string;
  readonly port: number;
  readonly child: Child;
}

async function startBackend(name: string, conduit: "bare" | "stable"): Promise<BackendProcess> {
  const child = startFixture(SELF, selfExecPath(), BACKEND, [name, conduit]);
  const hello = await child.nextLine(30_000, `backend ${name}'s address`) as { url: string };
  return { name, port: Number(new URL(hello.url).port), child };
}

/** HAProxy running a configuration written for two backends. */
class Haproxy {
  readonly port: number;
  readonly #process: ChildProcess;
  readonly #dir: string;
  readonly #exited: Promise<void>;
  #log = "";

  private constructor(port: number, proc: ChildProcess, dir: string) {
    this.port = port;
    this.#process = proc;
    this.#dir = dir;
    proc.stderr?.setEncoding("utf8");
    proc.stderr?.on("data", (s: string) => (this.#log = (this.#log + s).slice(-4000)));
    proc.stdout?.resume();
    this.#exited = new Promise((resolve) => proc.once("exit", () => resolve()));
  }

  /** Starts HAProxy in TCP mode on a free port, balancing over `backends`. */
  static async start(
    balance: "roundrobin" | "source",
    backends: readonly BackendProcess[],
  ): Promise<Haproxy> {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), "roam-haproxy-"));
    const config = [
      "global",
      "  maxconn 256",
      "  log stderr format raw local0",
      "defaults",
      "  mode tcp",
      "  log global",
      "  option tcplog",
      "  timeout connect 1s",
      "  timeout client 60s",
      "  timeout server 60s",
      "  retries 2",
      "  option redispatch",
      "frontend roam",
      `  bind 127.0.0.1:${port}`,
      "  default_backend servers",
      "backend servers",
      `  balance ${balance}`,
      ...backends.map((b) =>
        `  server ${b.name} 127.0.0.1:${b.port} check inter 100ms fall 1 rise 1`
      ),
      "",
    ].join("\n");
    const file = join(dir, "haproxy.cfg");
    writeFileSync(file, config);
    const proc = spawn(HAPROXY!, ["-f", file, "-db"], { stdio: ["ignore", "pipe", "pipe"] });
    const h = new Haproxy(port, proc, dir);
    try {
      await listening(port, 10_000);
    } catch (e) {
      await h.stop();
      throw new Error(`HAProxy did not start: ${(e as Error).message}\n${h.#log}`);
    }
    return h;
  }

  /** The end of HAProxy's stderr. */
  get log(): string {
    return this.#log;
  }

  async stop(): Promise<void> {
    this.#process.kill("SIGTERM");
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#exited,
      new Promise<void>((r) => (timer = setTimeout(r, 5000))),
    ]);
    clearTimeout(timer);
    if (this.#process.exitCode === null && this.#process.signalCode === null) {
      this.#process.kill("SIGKILL");
      await this.#exited;
    }
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

/** Kills a backend outright (no graceful close: its sockets just go). */
async function kill(backend: BackendProcess): Promise<void> {
  process.kill(backend.child.pid, "SIGKILL");
  await backend.child.stop(1000);
}

/** Resolves when the client reaches `state`. */
function reaching(client: ReconnectingClient, state: ReconnectState): Promise<ReconnectEvent> {
  return new Promise((resolve) => {
    const on = (e: Event): void => {
      if ((e as ReconnectEvent).state !== state) return;
      client.removeEventListener("state", on);
      resolve(e as ReconnectEvent);
    };
    client.addEventListener("state", on);
  });
}

/** Runs `body` with two backends and HAProxy, and tears everything down. */
async function withCluster(
  conduit: "bare" | "stable",
  balance: "roundrobin" | "source",
  body: (haproxy: Haproxy, backends: Map<string, BackendProcess>) => Promise<void>,
): Promise<void> {
  const started = await Promise.all([startBackend("a", conduit), startBackend("b", conduit)]);
  const backends = new Map(started.map((b) => [b.name, b]));
  let haproxy: Haproxy | undefined;
  try {
    haproxy = await Haproxy.start(balance, started);
    await body(haproxy, backends);
  } catch (e) {
    // HAProxy's connection log (option tcplog) says where each connection went.
    if (haproxy !== undefined) console.log(`HAProxy's log:\n${haproxy.log}`);
    throw e;
  } finally {
    await haproxy?.stop();
    await Promise.all(started.map((b) => b.child.stop(2000)));
  }
}

test("A reconnecting client keeps working through HAProxy when its backend is killed", {
  skip,
  timeout: TEST_MS,
}, async () => {
  await withCluster("bare", "roundrobin", async (haproxy, backends) => {
    const client = reconnect(`tcp://127.0.0.1:${haproxy.port}`, {
      keepalive: false,
      retry: { initialDelay: 20, maxDelay: 200 },
    });
    try {
      const backend = client.client(Backend);
      const first = await within(backend.whoami({ timeout: 10_000 }), 10_000, "the first call");
      const inFlight = backend.slow(5000).then(() => undefined, (e: unknown) => e);
      const reconnecting = reaching(client, "reconnecting");
      await kill(backends.get(first)!);
      const e = await within(inFlight, 5000, "the call in flight");
      assert.ok(e instanceof ClosedError, `the call in flight fails: ${String(e)}`);
      await within(reconnecting, 5000, "reconnecting");
      const second = await within(backend.whoami({ timeout: 10_000 }), 10_000, "after the kill");
      assert.notEqual(second, first, "the new session is on the other backend");
      assert.equal(client.state, "connected");
    } finally {
      await client.close();
    }
  });
});

test("With source-affine balancing, a stable session resumes through HAProxy", {
  skip,
  timeout: TEST_MS,
}, async () => {
  await withCluster("stable", "source", async (haproxy) => {
    // A cutting proxy in front of HAProxy drops the client's connections.
    const cutter = await CutProxy.start(haproxy.port);
    const session = await connect(`tcp://127.0.0.1:${cutter.port}`, {
      conduit: "stable",
      keepalive: false,
      stable: { retry: { initialDelay: 20, maxElapsed: 10_000 } },
    });
    try {
      const backend = session.client(Backend);
      const first = await backend.whoami();
      for (let i = 0; i < 3; i++) {
        const inFlight = backend.slow(50);
        await delay(10);
        cutter.cutNow();
        assert.equal(await within(inFlight, 10_000, "the call in flight"), 50);
        assert.equal(await backend.whoami(), first, "the same backend, the same session");
      }
      assert.equal(session.isClosed, false);
      assert.ok(cutter.accepted >= 4, `${cutter.accepted} links`);
    } finally {
      await session.close();
      await cutter.close();
    }
  });
});

test(
  "A stable resume that HAProxy sends to the other backend is rejected, and the reconnecting client starts fresh",
  {
    skip,
    timeout: TEST_MS,
  },
  async () => {
    await withCluster("stable", "source", async (haproxy, backends) => {
      const client = reconnect(`tcp://127.0.0.1:${haproxy.port}`, {
        conduit: "stable",
        keepalive: false,
        retry: { initialDelay: 20, maxDelay: 200 },
        stable: { retry: { initialDelay: 20, maxElapsed: 5000 } },
      });
      try {
        const backend = client.client(Backend);
        const first = await within(backend.whoami({ timeout: 10_000 }), 10_000, "the first call");
        const firstSession = client.session;
        const reconnecting = reaching(client, "reconnecting");
        await kill(backends.get(first)!);
        const ended = await within(reconnecting, 10_000, "the session to end");
        assert.ok(ended.error instanceof ClosedError, String(ended.error));
        assert.equal(ended.error.code, "session-lost", ended.error.message);
        const second = await within(backend.whoami({ timeout: 10_000 }), 10_000, "after the kill");
        assert.notEqual(second, first);
        assert.notEqual(client.session, firstSession, "a fresh session");
      } finally {
        await client.close();
      }
    });
  },
);
