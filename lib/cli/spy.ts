/**
 * `roam spy --listen <url> --to <url>`: a transparent proxy that prints
 * every roam v7 message going through it, both ways, and passes the bytes
 * on unchanged.
 *
 * @module
 */

import process from "node:process";
import { parseArgs } from "node:util";
import type { MethodDescriptor } from "../../mod.ts";
import { type Address, parseAddress } from "./_address.ts";
import { humanLine, jsonLine } from "./_output.ts";
import { dial, type Ending, FrameSplitter, listen, type Port, relay } from "./_relay.ts";
import { loadServices, methodsById } from "./_services.ts";
import { type Side, type SpyEvent, Tracker } from "./_tracker.ts";
import {
  type Command,
  EXIT_FAILED,
  EXIT_HELP,
  EXIT_OK,
  integerOption,
  type Io,
  messageOf,
  parsing,
  UsageError,
} from "./_usage.ts";

/** Frames above this size are passed on without being decoded (default of `--max-decode`). */
const DEFAULT_MAX_DECODE = 4 * 1024 * 1024;
/** The largest WebSocket message relayed; a larger one ends its connection. */
const WS_MAX_MESSAGE = 64 * 1024 * 1024;
/** Clients relayed at once; more are turned away. */
const MAX_CLIENTS = 1024;

const HELP = `Usage: roam spy --listen <url> --to <url> [--services <module>] [--json]

A transparent proxy: every client that connects to --listen gets its own
connection to --to, and the bytes go through unchanged, both ways. Every
roam v7 message is decoded and printed on the way: time, link number,
direction (→ client to server, ← server to client), connection id, kind,
request or channel id, and what it says. With --services, calls show the
method name and decoded arguments, responses their decoded result, and
channel items their decoded value; without it, method ids and hex.
Metadata values flagged SENSITIVE are shown as <redacted>. A message that
breaks the protocol is printed as a violation and passed on as it is.

TCP and Unix socket addresses can be mixed; WebSocket relays to WebSocket,
one message for one message.

Options:
  --listen <url>       where clients connect: tcp://host:port, unix:/path or ws://host:port/path
  --to <url>           the server: tcp://, unix:, ws:// or wss://
  --services <module>  a TS/JS module exporting service descriptors (made with service())
  --json               one JSON object a line (64-bit integers as strings, bytes as hex)
  --max-decode <bytes> frames above this are passed on without being decoded
                       (default ${DEFAULT_MAX_DECODE}); a link holds at most one frame a direction
  -h, --help           this help

At most ${MAX_CLIENTS} clients are relayed at once. The listening address goes
to stderr. Stop with Ctrl-C (SIGINT) or SIGTERM.

Example:
  roam spy --listen tcp://127.0.0.1:9000 --to tcp://127.0.0.1:7700 --services ./api.ts

${EXIT_HELP}`;

function isStream(a: Address): boolean {
  return a.kind === "tcp" || a.kind === "unix";
}

/** Drops a port that is not being relayed. */
function drop(port: Port): void {
  port.close();
  port.writable.abort().catch(() => {});
  port.readable.cancel().catch(() => {});
}

function endingText(side: Side, e: Ending): string {
  if (e.ok) return `${side} ended`;
  return `${side} ${e.where === "read" ? "read" : "write"} failed: ${messageOf(e.error)}`;
}

async function run(argv: string[], io: Io): Promise<number> {
  const { values } = parsing(() =>
    parseArgs({
      args: argv,
      options: {
        listen: { type: "string" },
        to: { type: "string" },
        services: { type: "string" },
        json: { type: "boolean" },
        "max-decode": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: false,
      strict: true,
    })
  );
  if (values.help) {
    await io.out.line(HELP);
    return EXIT_OK;
  }
  if (values.listen === undefined) throw new UsageError("Missing --listen <url>");
  if (values.to === undefined) throw new UsageError("Missing --to <url>");
  const from = parseAddress(values.listen, "listen");
  const to = parseAddress(values.to, "connect");
  if (isStream(from) !== isStream(to)) {
    throw new UsageError(
      "--listen and --to must both be WebSocket addresses or both be stream addresses (tcp:, unix:)",
    );
  }
  const maxDecode = integerOption(
    values["max-decode"],
    "--max-decode",
    DEFAULT_MAX_DECODE,
    0,
    0xffff_ffff,
  );
  const methods: ReadonlyMap<bigint, MethodDescriptor> = values.services === undefined
    ? new Map()
    : methodsById(await loadServices(values.services));
  const json = values.json === true;
  const emit = (e: SpyEvent): Promise<void> | undefined =>
    io.out.line(json ? jsonLine(e) : humanLine(e));

  let stopping = false;
  // Listening for signals before the address is printed: a script may send one at once.
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => {
    stop = (): void => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      stopping = true;
      resolve();
    };
  });
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  let listener;
  try {
    listener = await listen(from, WS_MAX_MESSAGE);
  } catch (e) {
    await io.err.line(`roam spy: Cannot listen on ${from.text}: ${messageOf(e)}`);
    stop();
    return EXIT_FAILED;
  }
  await io.err.line(`roam spy: listening on ${listener.url}, forwarding to ${to.text}`);

  const active = new Set<Port>();
  let links = 0;
  const serveClient = async (client: Port, n: number): Promise<void> => {
    const tracker = new Tracker(methods, n);
    const say = async (e: SpyEvent): Promise<void> => {
      const wait = emit(e);
      if (wait !== undefined) await wait;
    };
    if (active.size >= MAX_CLIENTS) {
      drop(client);
      await say(tracker.note("refused", `more than ${MAX_CLIENTS} clients at once`));
      return;
    }
    active.add(client);
    let server: Port;
    try {
      server = await dial(to, WS_MAX_MESSAGE);
    } catch (e) {
      active.delete(client);
      drop(client);
      await say(tracker.note("upstream-failed", `cannot connect to ${to.text}: ${messageOf(e)}`, {
        error: messageOf(e),
      }));
      return;
    }
    active.add(server);
    await say(tracker.note("open", `client connected, relaying to ${to.text}`, { to: to.text }));
    const splitters = isStream(from)
      ? { client: new FrameSplitter(maxDecode), server: new FrameSplitter(maxDecode) }
      : undefined;
    const look = (side: Side, frame: Uint8Array): SpyEvent => {
      try {
        return tracker.frame(side, frame);
      } catch (e) {
        return tracker.note("spy-error", `cannot show this frame: ${messageOf(e)}`, {}, side);
      }
    };
    const oversized = (side: Side, length: number): SpyEvent =>
      tracker.note(
        "oversized",
        `frame of ${length} bytes passed on without decoding (above --max-decode ${maxDecode})`,
        { length },
        side,
      );
    const ends = await relay(client, server, async (side, chunk) => {
      if (splitters === undefined) {
        await say(chunk.length > maxDecode ? oversized(side, chunk.length) : look(side, chunk));
        return;
      }
      for (const piece of splitters[side].push(chunk)) {
        await say(piece.type === "frame" ? look(side, piece.bytes) : oversized(side, piece.length));
      }
    });
    active.delete(client);
    active.delete(server);
    for (const side of ["client", "server"] as const) {
      const left = splitters?.[side].unfinished();
      if (left !== undefined) {
        await say(tracker.note(
          "truncated",
          `the stream ended inside a frame: ${left.got} of ${left.expected} bytes`,
          { expected: left.expected, got: left.got },
          side,
        ));
      }
    }
    await say(tracker.note(
      "closed",
      `${endingText("client", ends.client)}; ${endingText("server", ends.server)}`,
      {
        client: ends.client.ok ? "ended" : messageOf(ends.client.error),
        server: ends.server.ok ? "ended" : messageOf(ends.server.error),
      },
    ));
  };

  const accepting = (async () => {
    for (;;) {
      let client: Port | undefined;
      try {
        client = await listener.accept();
      } catch (e) {
        if (stopping) return;
        await io.err.line(`roam spy: accepting a client failed: ${messageOf(e)}`);
        await new Promise((r) => setTimeout(r, 50)); // out of file descriptors, say
        continue;
      }
      if (client === undefined) return;
      void serveClient(client, ++links).catch((e) =>
        io.err.line(`roam spy: link #${links} failed: ${messageOf(e)}`)
      );
    }
  })();
  await stopped;
  await listener.close();
  await accepting;
  for (const port of active) drop(port);
  await io.err.line("roam spy: stopped");
  return EXIT_OK;
}

/** The `spy` command. */
export const spyCommand: Command = {
  name: "spy",
  summary: "a transparent proxy that prints every roam message going through it",
  help: HELP,
  run,
};
