/**
 * The reconnecting client over real TCP on loopback: new sessions when the
 * server goes away and comes back, calls made meanwhile waiting within
 * their own timeout and signal (or failing at once, by choice), calls in
 * flight on a dead bare link failing at once, services served again on
 * every session, observable states, giving up by the policy, and nothing
 * left behind by `close()`.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  ClosedError,
  implement,
  reconnect,
  type ReconnectEvent,
  type ReconnectingClient,
  type ReconnectState,
  serve,
  type Server,
  service,
  t,
} from "../../mod.ts";
import { connectTcp } from "../../transports/tcp.ts";
import { CutProxy, delay, pendingTimersAfter, rejection, within } from "../_helpers/mod.ts";

const Calc = service("Calc", {
  add: { args: [t.u32, t.u32], returns: t.u32 },
  slow: { args: [t.u32], returns: t.u32 },
});
const Greeter = service("Greeter", { hello: { args: [t.string], returns: t.string } });

function calcServer(): Promise<Server> {
  return serve("tcp://127.0.0.1:0", {
    keepalive: false,
    services: [
      implement(Calc, {
        add: (a, b) => a + b,
        slow: async (ms) => {
          await delay(ms);
          return ms;
        },
      }),
    ],
    onError: () => {},
  });
}

function portOf(server: Server): number {
  return Number(new URL(server.url).port);
}

/** Records the client's states. */
function statesOf(client: ReconnectingClient): ReconnectState[] {
  const seen: ReconnectState[] = [client.state];
  client.addEventListener("state", (e) => seen.push((e as ReconnectEvent).state));
  return seen;
}

/** Resolves when the client reaches `state`. */
function reaching(client: ReconnectingClient, state: ReconnectState): Promise<void> {
  if (client.state === state) return Promise.resolve();
  return new Promise((resolve) => {
    const on = (e: Event): void => {
      if ((e as ReconnectEvent).state !== state) return;
      client.removeEventListener("state", on);
      resolve();
    };
    client.addEventListener("state", on);
  });
}

const FAST = { initialDelay: 10, maxDelay: 40, jitter: 0 };

test("A reconnecting client makes a new session when its server comes back, and calls made meanwhile wait for it", async () => {
  let server = await calcServer();
  let port = portOf(server);
  const client = reconnect(() => connectTcp({ port }), { keepalive: false, retry: FAST });
  const states = statesOf(client);
  const calc = client.client(Calc);
  assert.equal(await within(calc.add(2, 3), 5000, "the first call"), 5);
  const first = client.session;
  await server.close();
  await within(reaching(client, "reconnecting"), 5000, "reconnecting");
  const waiting = calc.add(20, 22, { timeout: 10_000 });
  await delay(60); // a few failed attempts
  server = await calcServer();
  port = portOf(server);
  assert.equal(await within(waiting, 10_000, "the call made while reconnecting"), 42);
  assert.notEqual(client.session, first, "a new session");
  await client.close();
  assert.equal(client.state, "closed");
  assert.equal(await client.closed, undefined);
  assert.deepEqual(
    states.filter((s, i) => s !== states[i - 1]),
    ["connecting", "connected", "reconnecting", "connected", "closed"],
  );
  await server.close();
});

test("Calls in flight when a bare link dies fail at once; calls made while reconnecting honour their timeout and signal", async () => {
  const server = await calcServer();
  const proxy = await CutProxy.start(portOf(server));
  const client = reconnect(`tcp://127.0.0.1:${proxy.port}`, { keepalive: false, retry: FAST });
  const calc = client.client(Calc);
  await within(client.ready(), 5000, "the first session");
  const inFlight = calc.slow(5000);
  await delay(20);
  proxy.retarget(1); // nothing listens on port 1: every new attempt fails
  const started = performance.now();
  proxy.cutNow();
  const e = await rejection(inFlight, 2000);
  assert.ok(e instanceof ClosedError, String(e));
  assert.equal(e.code, "link-lost");
  assert.ok(performance.now() - started < 1500, "at once, not at the call's end");

  const timedOut = await rejection(calc.add(1, 1, { timeout: 50 }), 2000);
  assert.equal((timedOut as Error).name, "TimeoutError");
  const stop = new AbortController();
  const aborted = calc.add(1, 1, { signal: stop.signal });
  stop.abort(new Error("the caller gave up"));
  assert.equal(((await rejection(aborted)) as Error).message, "the caller gave up");

  proxy.retarget(portOf(server));
  assert.equal(await within(calc.add(1, 2, { timeout: 5000 }), 5000, "after the link is back"), 3);
  await client.close();
  await proxy.close();
  await server.close();
});

test("With whileDisconnected: fail, calls made while reconnecting fail at once", async () => {
  const server = await calcServer();
  const proxy = await CutProxy.start(portOf(server));
  const client = reconnect(`tcp://127.0.0.1:${proxy.port}`, {
    keepalive: false,
    retry: FAST,
    whileDisconnected: "fail",
  });
  await within(client.ready(), 5000, "the first session");
  proxy.retarget(1);
  proxy.cutNow();
  await within(reaching(client, "reconnecting"), 5000, "reconnecting");
  const e = await rejection(client.client(Calc).add(1, 1), 500);
  assert.ok(e instanceof ClosedError);
  assert.match(e.message, /Cannot call Calc\.add: not connected \(reconnecting\)/);
  await client.close();
  await proxy.close();
  await server.close();
});

test("A reconnecting client serves its services again on every new session", async () => {
  const greeted: string[] = [];
  const server = await serve("tcp://127.0.0.1:0", {
    keepalive: false,
    onSession: (s) => {
      s.client(Greeter).hello("server").then((g) => greeted.push(g), () => {});
    },
  });
  const proxy = await CutProxy.start(portOf(server));
  let n = 0;
  const client = reconnect(`tcp://127.0.0.1:${proxy.port}`, {
    keepalive: false,
    retry: FAST,
    services: [implement(Greeter, { hello: (who) => `hello ${who} #${++n}` })],
  });
  await within(client.ready(), 5000, "the first session");
  while (greeted.length < 1) await delay(5);
  proxy.cutNow();
  await within(reaching(client, "reconnecting"), 5000, "reconnecting");
  await within(client.ready(), 5000, "the second session");
  while (greeted.length < 2) await delay(5);
  assert.deepEqual(greeted, ["hello server #1", "hello server #2"]);
  await client.close();
  await proxy.close();
  await server.close();
});

test("A reconnecting client gives up by its policy and reports the last error", async () => {
  let attempts = 0;
  const client = reconnect(() => {
    attempts++;
    throw new Error(`refused #${attempts}`);
  }, { retry: { initialDelay: 1, maxAttempts: 3 } });
  const states = statesOf(client);
  const pending = client.client(Calc).add(1, 2);
  const last = await within(client.closed, 2000, "giving up");
  assert.equal((last as Error).message, "refused #3");
  assert.equal(attempts, 3);
  assert.equal(client.state, "gave-up");
  const e = await rejection(pending);
  assert.ok(e instanceof ClosedError);
  assert.match(e.message, /gave up reconnecting: refused #3/);
  assert.ok((await rejection(client.client(Calc).add(1, 2))) instanceof ClosedError);
  assert.deepEqual(states, ["connecting", "gave-up"]);
  await client.close();

  let tries = 0;
  const timed = reconnect(() => {
    tries++;
    throw new Error("refused");
  }, { retry: { initialDelay: 5, maxDelay: 5, maxElapsed: 40, jitter: 0 } });
  await within(timed.closed, 2000, "giving up by time");
  assert.ok(tries >= 2 && tries <= 12, `${tries} attempts in 40 ms`);
});

test("close() while reconnecting leaves no timer, socket or waiting call behind", async () => {
  const server = await calcServer();
  const proxy = await CutProxy.start(portOf(server));
  const left = await pendingTimersAfter(async () => {
    const client = reconnect(`tcp://127.0.0.1:${proxy.port}`, {
      keepalive: false,
      retry: { initialDelay: 200, maxDelay: 200 },
    });
    await within(client.ready(), 5000, "the first session");
    proxy.retarget(1);
    proxy.cutNow();
    await within(reaching(client, "reconnecting"), 5000, "reconnecting");
    const waiting = client.client(Calc).add(1, 2);
    await delay(30); // in the backoff's sleep
    await client.close();
    const e = await rejection(waiting);
    assert.ok(e instanceof ClosedError && e.code === "session-closed");
  });
  assert.equal(left, 0, "timers left behind");
  assert.equal(proxy.open, 0, "connections left open");
  await proxy.close();
  await server.close();
});
