/**
 * Mistakes in wiring a service fail where they are made: `implement()`
 * with a missing handler throws at once (not at every handshake), and a
 * client method called with too few or too many arguments rejects with a
 * `TypeError` naming the method and the counts, sending nothing.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { implement, service, t } from "../../mod.ts";
import { rawAcceptor, rejection } from "../_helpers/mod.ts";

const Inventory = service("Inventory", {
  count: { args: [t.string], returns: t.u32 },
  watch: { args: [t.string, t.u32], returns: t.unit },
});

test("implement() with a missing handler throws a TypeError naming the method", () => {
  assert.throws(
    () => implement(Inventory, { count: () => 1 } as never),
    { name: "TypeError", message: "Cannot serve Inventory: no handler function for watch" },
  );
  assert.throws(
    () => implement(Inventory, { count: () => 1, watch: "later" } as never),
    { name: "TypeError", message: "Cannot serve Inventory: no handler function for watch" },
  );
});

test("implement() with handlers that are not an object throws a TypeError", () => {
  for (const [handlers, shown] of [[undefined, "undefined"], [null, "null"], [7, "number"]]) {
    assert.throws(() => implement(Inventory, handlers as never), {
      name: "TypeError",
      message: `Cannot serve Inventory: expected an object of handler functions, got ${shown}`,
    });
  }
});

test("implement() accepts a class instance whose methods are the handlers", () => {
  class Store {
    #items = new Map<string, number>([["apple", 3]]);
    count(name: string): number {
      return this.#items.get(name) ?? 0;
    }
    watch(): undefined {
      return undefined;
    }
  }
  assert.equal(implement(Inventory, new Store()).name, "Inventory");
});

test("a client method called with extra arguments rejects with a TypeError and sends nothing", async () => {
  const raw = await rawAcceptor({}, { readAhead: false });
  try {
    const watch = raw.session.client(Inventory).watch as unknown as (
      ...a: unknown[]
    ) => Promise<undefined>;
    const cases: [unknown[], string][] = [
      [["a", 1, {}, "extra"], "got 4 arguments"],
      [["a", 1, 2], "got 3 arguments (the last one is neither call options nor undefined)"],
      [
        ["a", 1, "options?"],
        "got 3 arguments (the last one is neither call options nor undefined)",
      ],
      [["a", 1, [1]], "got 3 arguments (the last one is neither call options nor undefined)"],
      [
        ["a", 1, new Date()],
        "got 3 arguments (the last one is neither call options nor undefined)",
      ],
      [["a", 1, null], "got 3 arguments (the last one is neither call options nor undefined)"],
    ];
    for (const [args, got] of cases) {
      const e = await rejection(watch(...args));
      assert.ok(e instanceof TypeError, String(e));
      assert.equal(
        e.message,
        `Cannot call Inventory.watch: expected 2 arguments and optional call options, ${got}`,
      );
    }
    assert.deepEqual(await raw.peer.sync(), []);
  } finally {
    await raw.close();
  }
});

test("a client method called with too few arguments rejects with a TypeError and sends nothing", async () => {
  const raw = await rawAcceptor({}, { readAhead: false });
  try {
    const count = raw.session.client(Inventory).count as unknown as (
      ...a: unknown[]
    ) => Promise<number>;
    const e0 = await rejection(count());
    assert.ok(e0 instanceof TypeError, String(e0));
    assert.equal(
      e0.message,
      "Cannot call Inventory.count: expected 1 argument and optional call options, got 0 arguments",
    );
    const watch = raw.session.client(Inventory).watch as unknown as (
      ...a: unknown[]
    ) => Promise<undefined>;
    const e = await rejection(watch("a"));
    assert.ok(e instanceof TypeError, String(e));
    assert.match(e.message, /expected 2 arguments and optional call options, got 1 argument$/);
    assert.deepEqual(await raw.peer.sync(), []);
  } finally {
    await raw.close();
  }
});

test("a client method takes a plain object, a null-prototype object or undefined as call options", async () => {
  const raw = await rawAcceptor({}, { readAhead: false });
  try {
    const count = raw.session.client(Inventory).count;
    const calls = [
      count("a", undefined),
      count("b", {}),
      count("c", Object.assign(Object.create(null), { timeout: 1000 })),
    ];
    const sent = await raw.peer.sync();
    assert.equal(sent.length, 3);
    for (const p of calls) p.catch(() => {});
  } finally {
    await raw.close();
  }
});
