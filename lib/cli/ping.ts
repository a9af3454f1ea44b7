/**
 * `roam ping <url>`: connects, then measures round trips with `Ping` /
 * `Pong` messages.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { initiate, type Session } from "../../mod.ts";
import { openLink, parseAddress } from "./_address.ts";
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

const HELP = `Usage: roam ping <url> [--count n] [--interval ms] [--json]

Connects to a roam server, then sends Ping messages and times each Pong.
Prints the time to open the transport and to complete the handshake, each
round trip, and their minimum, median and maximum.

Options:
  --count n        pings to send (default 5, 1 to 100000)
  --interval ms    wait between pings (default 200)
  --timeout ms     give up on a pong after this long (default 5000)
  --json           print one JSON object at the end instead
  -h, --help       this help

Example:
  roam ping tcp://127.0.0.1:7700 --count 3

${EXIT_HELP}`;

function ms(n: number): string {
  return `${n.toFixed(3)} ms`;
}

function median(sorted: readonly number[]): number {
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** `promise`, or a rejection after `ms` milliseconds. */
async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`No pong within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

async function run(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parsing(() =>
    parseArgs({
      args: argv,
      options: {
        count: { type: "string" },
        interval: { type: "string" },
        timeout: { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: true,
      strict: true,
    })
  );
  if (values.help) {
    await io.out.line(HELP);
    return EXIT_OK;
  }
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0
        ? "Missing the server's address"
        : `Unexpected argument ${JSON.stringify(positionals[1])}`,
    );
  }
  const address = parseAddress(positionals[0]!, "connect");
  const count = integerOption(values.count, "--count", 5, 1, 100_000);
  const interval = integerOption(values.interval, "--interval", 200, 0, 3_600_000);
  const timeout = integerOption(values.timeout, "--timeout", 5000, 1, 0x7fff_ffff);

  const t0 = performance.now();
  let session: Session;
  let t1: number;
  try {
    const link = await openLink(address);
    t1 = performance.now();
    session = await initiate(link, { keepalive: false });
  } catch (e) {
    await io.err.line(`roam ping: Cannot connect to ${address.text}: ${messageOf(e)}`);
    return EXIT_FAILED;
  }
  const t2 = performance.now();
  if (!values.json) {
    await io.out.line(
      `connected to ${address.text}: transport ${ms(t1 - t0)}, handshake ${ms(t2 - t1)}`,
    );
  }
  const rtts: number[] = [];
  try {
    for (let i = 1; i <= count; i++) {
      if (i > 1 && interval > 0) await new Promise((r) => setTimeout(r, interval));
      const rtt = await withTimeout(session.ping(), timeout);
      rtts.push(rtt);
      if (!values.json) await io.out.line(`pong ${i}: ${ms(rtt)}`);
    }
  } catch (e) {
    await io.err.line(`roam ping: ${messageOf(e)}`);
    await session.close().catch(() => {});
    return EXIT_FAILED;
  }
  await session.close();
  const sorted = [...rtts].sort((a, b) => a - b);
  const [min, mid, max] = [sorted[0]!, median(sorted), sorted[sorted.length - 1]!];
  await io.out.line(
    values.json
      ? JSON.stringify({
        url: address.text,
        transportMs: round(t1 - t0),
        handshakeMs: round(t2 - t1),
        rttMs: rtts.map(round),
        minMs: round(min),
        medianMs: round(mid),
        maxMs: round(max),
      })
      : `${count} ${count === 1 ? "pong" : "pongs"}: min ${ms(min)}, median ${ms(mid)}, max ${
        ms(max)
      }`,
  );
  return EXIT_OK;
}

/** The `ping` command. */
export const pingCommand: Command = {
  name: "ping",
  summary: "connect, then time the handshake and Ping/Pong round trips",
  help: HELP,
  run,
};
