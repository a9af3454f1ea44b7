/**
 * Checks that the public types users hold show only the user API: runs
 * `deno doc --json` on the entry points and compares the members of
 * `Session`, `Connection`, `Tx`, `Rx` and every exported class with the
 * lists below, so an internal method (a `handle*`, `fail`, `start`…) that
 * leaks onto the public surface, or a constructor taking internals, fails
 * the check. A new public member is added here on purpose.
 * Run: `deno run --allow-run --allow-read scripts/check_surface.ts`.
 *
 * @module
 */

import process from "node:process";

/** The members each public type may show (constructors are listed as `constructor(<params>)`). */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  Session: [
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
    "open",
    "ping",
    "stats",
    "close",
  ],
  Connection: [
    "id",
    "peerMetadata",
    "settings",
    "peerSettings",
    "inFlight",
    "isClosed",
    "closed",
    "client",
    "call",
    "serve",
    "callRaw",
    "serveFallback",
    "rawChannel",
    "stats",
    "close",
  ],
  RawChannel: ["id", "listen", "send"],
  Tx: [
    "constructor()",
    "id",
    "credit",
    "signal",
    "send",
    "close",
    "keep",
    "writable",
    "[Symbol.asyncDispose]",
  ],
  Rx: [
    "constructor()",
    "id",
    "buffered",
    "closeMetadata",
    "recv",
    "reset",
    "keep",
    "[Symbol.asyncIterator]",
    "readable",
  ],
};

/** Members every error class may show on top of `Error`'s. */
const ERROR_MEMBERS = [
  "code",
  "metadata",
  "remote",
  "protocolViolation",
  "offset",
  "what",
  "reason",
  "peerClosed",
];

interface DocNode {
  name: string;
  declarations: {
    kind: string;
    def?: {
      constructors?: { params: { name?: string; kind: string }[]; accessibility?: string }[];
      methods?: { name: string; accessibility?: string; isStatic?: boolean }[];
      properties?: { name: string; accessibility?: string; isStatic?: boolean }[];
      extends?: unknown;
    };
  }[];
}

/** The members a class or interface shows in its docs. */
export function membersOf(node: DocNode): string[] {
  const out: string[] = [];
  for (const decl of node.declarations) {
    const def = decl.def;
    if (def === undefined || (decl.kind !== "class" && decl.kind !== "interface")) continue;
    for (const c of def.constructors ?? []) {
      if (c.accessibility === "private") continue;
      out.push(`constructor(${c.params.map((p) => p.name ?? p.kind).join(", ")})`);
    }
    for (const m of [...(def.methods ?? []), ...(def.properties ?? [])]) {
      if (m.accessibility === "private" || m.isStatic === true) continue;
      out.push(m.name);
    }
  }
  return [...new Set(out)];
}

/** What is wrong with the public members of `name`, if anything. */
export function problemsOf(name: string, kind: string, members: readonly string[]): string[] {
  const allowed = ALLOWED[name];
  if (allowed !== undefined) {
    return members.filter((m) => !allowed.includes(m)).map((m) => `${name}.${m} is not user API`);
  }
  if (kind === "class" && name.endsWith("Error")) {
    return members
      .filter((m) => !m.startsWith("constructor(") && !ERROR_MEMBERS.includes(m))
      .map((m) => `${name}.${m} is not user API`);
  }
  return [];
}

if (import.meta.main) {
  const entries = [
    "mod.ts",
    "wire.ts",
    "tracing.ts",
    "postcard.ts",
    "transports/tcp.ts",
    "transports/unix.ts",
    "transports/websocket.ts",
    "transports/websocket_server.ts",
    "transports/stdio.ts",
    "transports/message_port.ts",
  ];
  const { execFileSync } = await import("node:child_process");
  const json = execFileSync(process.execPath, ["doc", "--json", ...entries], {
    encoding: "utf8",
    maxBuffer: 64 << 20,
  });
  const doc = JSON.parse(json) as { nodes: Record<string, { symbols: DocNode[] }> };
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const { symbols } of Object.values(doc.nodes)) {
    for (const node of symbols) {
      const kind = node.declarations[0]?.kind ?? "";
      if (kind !== "class" && kind !== "interface") continue;
      if (seen.has(node.name)) continue;
      seen.add(node.name);
      problems.push(...problemsOf(node.name, kind, membersOf(node)));
    }
  }
  for (const name of Object.keys(ALLOWED)) {
    if (!seen.has(name)) problems.push(`${name} is not exported from any entry point`);
  }
  for (const p of problems) console.error(p);
  console.log(
    problems.length === 0
      ? `surface: ${seen.size} public classes and interfaces show only their user API`
      : `surface: ${problems.length} problem(s)`,
  );
  process.exit(problems.length === 0 ? 0 : 1);
}
