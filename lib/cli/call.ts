/**
 * `roam call <url> Service.method --services ./api.ts -- '<JSON args>'`:
 * one call with arguments from JSON, its result printed as JSON.
 *
 * @module
 */

import process from "node:process";
import { parseArgs } from "node:util";
import {
  channel,
  connect,
  encode,
  type MetadataEntry,
  type MethodDescriptor,
  RpcError,
  type Rx,
  type Schema,
  type Session,
  type Tx,
} from "../../mod.ts";
import { parseAddress } from "./_address.ts";
import { findMethod, loadServices } from "./_services.ts";
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
import { fromJson, type Json, toJson, ValueError } from "./_json.ts";
import { resolve } from "./_walk.ts";

const HELP = `Usage: roam call <url> Service.method --services <module> [options] [-- '<JSON args>']

Makes one call and prints its result as one line of JSON.

The arguments are one JSON array, in the method's order (none: omit it).
64-bit integers are strings or numbers, bytes are hex strings or arrays of
numbers, enums are {"tag": …, "value": …} (a unit variant may be its bare
tag), maps are objects or arrays of [key, value] pairs, options are null
when absent, structs are objects. A channel argument is null (or left out
at the end): for a Tx (the method sends to the caller) each item is printed
as a line of JSON as it arrives, before the result; for an Rx (the method
receives) items are read from stdin, one JSON value a line, until its end.

Output: the result as JSON (64-bit integers and bigger as strings, bytes as
hex). A fallible method prints {"ok": value} or {"err": error}; a failed
call prints {"error": {"code": "unknown-method", "message": …}}. Both of
those exit with 1.

Options:
  --services <module>  the TS/JS module exporting the service (required)
  --metadata k=v       request metadata, a string value (repeatable)
  --timeout ms         cancel the call after this long (code "timeout")
  -h, --help           this help

Example:
  roam call tcp://127.0.0.1:7700 Calculator.add --services ./api.ts -- '[2, 3]'

${EXIT_HELP}`;

/** A channel end the command keeps: items to print, or items to send from stdin. */
type Kept =
  | { readonly kind: "print"; readonly rx: Rx<unknown>; readonly item: Schema<unknown> }
  | { readonly kind: "send"; readonly tx: Tx<unknown>; readonly item: Schema<unknown> };

function parseMetadata(items: readonly string[]): MetadataEntry[] {
  return items.map((item) => {
    const eq = item.indexOf("=");
    if (eq <= 0) throw new UsageError(`--metadata expects key=value, got ${JSON.stringify(item)}`);
    return { key: item.slice(0, eq), value: item.slice(eq + 1), flags: 0 };
  });
}

/** Reads the arguments from JSON; fills `kept` with the caller's channel ends. */
function readArgs(method: MethodDescriptor, text: string, kept: Kept[]): unknown[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`Invalid JSON arguments: ${messageOf(e)}`);
  }
  const items = method.args.items;
  const where = `${method.service}.${method.name}`;
  if (!Array.isArray(json)) {
    throw new UsageError(`The arguments of ${where} are a JSON array of ${items.length}`);
  }
  const channelOnly = (s: Schema<unknown>) => ["tx", "rx"].includes(resolve(s).kind);
  if (json.length > items.length || items.slice(json.length).some((s) => !channelOnly(s))) {
    throw new UsageError(`${where} takes ${items.length} arguments, got ${json.length}`);
  }
  try {
    const args = items.map((schema, i) =>
      fromJson(schema, json[i], `args[${i}]`, (slot) => {
        const [tx, rx] = channel<unknown>();
        if (slot.kind === "tx") {
          kept.push({ kind: "print", rx, item: slot.item });
          return tx;
        }
        kept.push({ kind: "send", tx, item: slot.item });
        return rx;
      })
    );
    encode(method.args, args); // range checks and anything else the codec rejects
    return args;
  } catch (e) {
    if (e instanceof ValueError || e instanceof TypeError || e instanceof RangeError) {
      // The codec names the argument tuple `value`; on the command line it is `args`.
      throw new UsageError(`Cannot call ${where}: ${e.message.replace(" at value[", " at args[")}`);
    }
    throw e;
  }
}

/** Sends the JSON lines of stdin on `tx`, then closes it. */
async function sendStdin(tx: Tx<unknown>, item: Schema<unknown>): Promise<void> {
  const decoder = new TextDecoder();
  let pending = "";
  let line = 0;
  const send = async (text: string): Promise<void> => {
    line++;
    if (text.trim() === "") return;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new UsageError(`stdin line ${line}: invalid JSON: ${messageOf(e)}`);
    }
    let value: unknown;
    try {
      value = fromJson(item, json, `stdin line ${line}`, () => undefined);
      encode(item, value);
    } catch (e) {
      throw new UsageError(messageOf(e));
    }
    await tx.send(value);
  };
  for await (const chunk of process.stdin as AsyncIterable<Uint8Array | string>) {
    pending += typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      const text = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      await send(text);
    }
  }
  pending += decoder.decode();
  if (pending !== "") await send(pending);
  await tx.close();
}

function failure(e: unknown): Json {
  if (e instanceof RpcError) return { error: { code: e.code, message: e.message } };
  if (e instanceof DOMException && e.name === "TimeoutError") {
    return { error: { code: "timeout", message: e.message } };
  }
  return { error: { code: "failed", message: messageOf(e) } };
}

async function run(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parsing(() =>
    parseArgs({
      args: argv,
      options: {
        services: { type: "string" },
        metadata: { type: "string", multiple: true },
        timeout: { type: "string" },
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
  if (positionals.length < 2) {
    throw new UsageError(
      positionals.length === 0 ? "Missing the server's address" : "Missing Service.method",
    );
  }
  if (positionals.length > 3) {
    throw new UsageError(
      `Unexpected argument ${JSON.stringify(positionals[3])}: give the arguments as one JSON array`,
    );
  }
  const address = parseAddress(positionals[0]!, "connect");
  if (values.services === undefined) throw new UsageError("Missing --services <module>");
  const method = findMethod(await loadServices(values.services), positionals[1]!);
  const kept: Kept[] = [];
  const args = readArgs(method, positionals[2] ?? "[]", kept);
  if (kept.filter((k) => k.kind === "send").length > 1) {
    throw new UsageError(
      `${method.service}.${method.name} receives on several channels: stdin can feed only one`,
    );
  }
  const metadata = parseMetadata(values.metadata ?? []);
  const timeout = values.timeout === undefined
    ? undefined
    : integerOption(values.timeout, "--timeout", 0, 1, 0x7fff_ffff);

  let session: Session;
  try {
    session = await connect(address.text, { keepalive: false });
  } catch (e) {
    await io.err.line(`roam call: Cannot connect to ${address.text}: ${messageOf(e)}`);
    return EXIT_FAILED;
  }
  try {
    return await callWith(session, method, args, kept, { metadata, timeout }, io);
  } finally {
    await session.close();
  }
}

async function callWith(
  session: Session,
  method: MethodDescriptor,
  args: unknown[],
  kept: Kept[],
  options: { metadata: MetadataEntry[]; timeout: number | undefined },
  io: Io,
): Promise<number> {
  const printers = kept.filter((k) => k.kind === "print");
  const streams = printers.map(async (k, index) => {
    for await (const item of k.rx) {
      const json = toJson(k.item, item);
      await io.out.line(
        JSON.stringify(printers.length === 1 ? json : { channel: index, item: json }),
      );
    }
  });
  // Items for an Rx come from stdin; a bad line cancels the call and is a usage error.
  const abort = new AbortController();
  let inputError: unknown;
  const sender = kept.find((k) => k.kind === "send");
  if (sender !== undefined) {
    sendStdin(sender.tx, sender.item).catch((e) => {
      inputError = e;
      abort.abort(e);
    });
  }
  const call = session.root.call(method, args as never, {
    signal: abort.signal,
    metadata: options.metadata,
    ...(options.timeout === undefined ? {} : { timeout: options.timeout }),
  });
  // A stream that fails with the call must not be an unhandled rejection.
  const printed = Promise.allSettled(streams);
  let value: unknown;
  try {
    value = (await call).value;
  } catch (e) {
    if (inputError instanceof UsageError) throw inputError;
    await io.out.line(JSON.stringify(failure(e)));
    return EXIT_FAILED;
  }
  for (const r of await printed) {
    if (r.status === "rejected") {
      await io.out.line(JSON.stringify(failure(r.reason)));
      return EXIT_FAILED;
    }
  }
  if (method.error === undefined) {
    await io.out.line(JSON.stringify(toJson(method.returns, value)));
    return EXIT_OK;
  }
  const result = value as { ok: true; value: unknown } | { ok: false; error: unknown };
  if (result.ok) {
    await io.out.line(JSON.stringify({ ok: toJson(method.returns, result.value) }));
    return EXIT_OK;
  }
  await io.out.line(JSON.stringify({ err: toJson(method.error, result.error) }));
  return EXIT_FAILED;
}

/** The `call` command. */
export const callCommand: Command = {
  name: "call",
  summary: "make one call with JSON arguments and print the result as JSON",
  help: HELP,
  run,
};
