/**
 * The public surface check (`scripts/check_surface.ts`) on made-up
 * `deno doc --json` nodes: a member missing from a type's list, such as
 * an internal `handle*` method or a constructor taking internals, is
 * reported; private and static members are not part of the surface.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { membersOf, problemsOf } from "../../scripts/check_surface.ts";

type DocNode = Parameters<typeof membersOf>[0];

/** A doc node for a class or an interface with the given members. */
function node(
  name: string,
  kind: "class" | "interface",
  members: {
    constructors?: { params: { name?: string; kind: string }[]; accessibility?: string }[];
    methods?: { name: string; accessibility?: string; isStatic?: boolean }[];
    properties?: { name: string; accessibility?: string; isStatic?: boolean }[];
  },
): DocNode {
  return { name, declarations: [{ kind, def: members }] };
}

const SESSION_API = [
  "role",
  "parity",
  "peerMetadata",
  "root",
  "connectionCount",
  "isClosed",
  "closed",
  "client",
  "serve",
  "openConnection",
  "ping",
  "close",
];

test("problemsOf() reports a member of Session that is not on its list", () => {
  assert.deepEqual(problemsOf("Session", "interface", SESSION_API), []);
  assert.deepEqual(problemsOf("Session", "interface", [...SESSION_API, "start"]), [
    "Session.start is not user API",
  ]);
});

test("a leaked handle* method on Connection goes from the doc node to a reported problem", () => {
  const connection = node("Connection", "interface", {
    methods: [{ name: "call" }, { name: "close" }, { name: "handleRequest" }],
    properties: [{ name: "id" }, { name: "closed" }],
  });
  assert.deepEqual(problemsOf("Connection", "interface", membersOf(connection)), [
    "Connection.handleRequest is not user API",
  ]);
});

test("a constructor of Tx that takes internals is reported, a parameterless one is not", () => {
  const leaky = node("Tx", "class", {
    constructors: [{
      params: [{ name: "id", kind: "identifier" }, { name: "host", kind: "identifier" }],
    }],
    methods: [{ name: "send" }],
  });
  assert.deepEqual(problemsOf("Tx", "class", membersOf(leaky)), [
    "Tx.constructor(id, host) is not user API",
  ]);
  const fine = node("Tx", "class", { constructors: [{ params: [] }], methods: [{ name: "send" }] });
  assert.deepEqual(problemsOf("Tx", "class", membersOf(fine)), []);
});

test("membersOf() leaves out private and static members and names unnamed parameters by kind", () => {
  const rx = node("Rx", "class", {
    constructors: [
      { params: [{ name: "core", kind: "identifier" }], accessibility: "private" },
      { params: [{ kind: "object" }] },
    ],
    methods: [
      { name: "recv" },
      { name: "deliver", accessibility: "private" },
      { name: "from", isStatic: true },
    ],
    properties: [{ name: "id" }, { name: "queue", accessibility: "private" }],
  });
  assert.deepEqual(membersOf(rx), ["constructor(object)", "recv", "id"]);
});

test("membersOf() reads only classes and interfaces, and lists a member once", () => {
  const merged: DocNode = {
    name: "Session",
    declarations: [
      { kind: "interface", def: { methods: [{ name: "close" }] } },
      { kind: "class", def: { methods: [{ name: "close" }, { name: "ping" }] } },
      { kind: "variable", def: { methods: [{ name: "start" }] } },
    ],
  };
  assert.deepEqual(membersOf(merged), ["close", "ping"]);
});

test("an error class may show only the shared error members", () => {
  assert.deepEqual(
    problemsOf("CustomError", "class", ["constructor(message, options)", "code", "metadata"]),
    [],
  );
  assert.deepEqual(problemsOf("CustomError", "class", ["code", "connection"]), [
    "CustomError.connection is not user API",
  ]);
});

test("types without a list and not errors are not checked", () => {
  assert.deepEqual(problemsOf("ServeOptions", "interface", ["anything", "at", "all"]), []);
  assert.deepEqual(problemsOf("Helper", "class", ["internal"]), []);
  assert.deepEqual(problemsOf("NotAnError", "interface", ["internal"]), []);
});
